/**
 * Storage behind the challenge logic. Every method is one atomic step in the
 * store (one Lua script on Redis), and all of a user's data lives in one Redis
 * hash slot; only the per-phone-number send budget has its own key (and slot).
 * {@link MemoryOtpStore} and {@link RedisOtpStore} pass the same contract test.
 * Times are the store's own clock (Redis `TIME`), so app instances with
 * skewed clocks agree.
 *
 * Per user the store keeps: the sealed HOTP secret and its counter (together,
 * no expiry: deleting one deletes both, or old codes would come back); the
 * live challenge (id, attempts, sends; lives as long as the pending login);
 * the live code (challenge id, counter; lives as long as the code); the resend
 * cooldown; the consecutive failures (with the time the next attempt is
 * allowed); and the sends of the rolling window.
 */
export interface OtpStore {
  /** Starts a new challenge (replacing any other of the user's) and issues its first code. */
  issue(input: IssueInput): Promise<IssueResult>;
  /** Issues a new code for a live challenge; the old code dies, attempts carry over. */
  resend(input: ResendInput): Promise<ResendResult>;
  /** Counts one attempt (on the challenge and as a user failure), then hands back what the comparison needs. */
  attempt(input: AttemptInput): Promise<AttemptResult>;
  /** Ends the challenge if `counter` is still its live code, and clears the user's failures; true for exactly one caller. */
  consume(input: CodeRef): Promise<boolean>;
  /** A send surely failed: forget that code, give the send, the budget and the cooldown back. */
  cancelSend(input: CodeRef & { sendId: string }): Promise<void>;
  /** Takes one send from a phone number's rolling budget, unless it is spent. */
  reservePhoneSend(input: PhoneSendInput): Promise<BudgetResult>;
  /** Gives a reserved phone send back (the send did not happen). */
  releasePhoneSend(input: { phoneKey: string; sendId: string }): Promise<void>;
  /**
   * Replaces the user's sealed secret with the same secret sealed under the current key, if it is
   * still `expected` (key rotation: old keys can be dropped once every secret is re-sealed).
   */
  reseal(input: { userId: string; expected: string; replacement: string }): Promise<boolean>;
  /** Deletes everything kept for a user: secret, counter, challenge, code, failures, sends. */
  deleteUser(userId: string): Promise<void>;
  /** Resolves when the store answers. */
  ping(): Promise<void>;
}

/** A rolling budget: at most `max` sends in any `windowMs`. */
export interface SendBudget {
  max: number;
  windowMs: number;
}

/** Consecutive wrong codes per user, across challenges: a wait after `backoffAfter`, a lock after `lockAfter`. */
export interface FailurePolicy {
  /** From this many consecutive failures on, wait `baseDelayMs`, doubling with each further failure. */
  backoffAfter: number;
  /** From this many, locked for `lockMs` (and again after each further failure). */
  lockAfter: number;
  lockMs: number;
  baseDelayMs: number;
  /** How long failures are remembered after the wait that followed the last one (so a lock never ends with a clean slate). */
  memoryMs: number;
}

export interface IssueInput {
  userId: string;
  challengeId: string;
  /** Names this send in the rolling budgets, so a failed send can be given back. */
  sendId: string;
  /** Stored only when the user has no secret yet. */
  newSealedSecret: string;
  pendingTtlMs: number;
  codeTtlMs: number;
  cooldownMs: number;
  /** No code is issued while the user is locked (failures at or above this). */
  lockAfter: number;
  userBudget: SendBudget;
}

export interface CodeIssued {
  /** The HOTP counter of the new code. */
  counter: number;
  /** The user's sealed secret. */
  sealedSecret: string;
}

export type IssueResult =
  | ({ status: 'issued' } & CodeIssued)
  | { status: 'locked'; retryAfterMs: number }
  | { status: 'over_budget'; retryAfterMs: number };

export interface ResendInput {
  userId: string;
  challengeId: string;
  sendId: string;
  codeTtlMs: number;
  cooldownMs: number;
  maxSends: number;
  maxAttempts: number;
  lockAfter: number;
  userBudget: SendBudget;
}

export type ResendResult =
  | IssueResult
  | { status: 'no_challenge' }
  | { status: 'exhausted' }
  | { status: 'cooldown'; retryAfterMs: number }
  | { status: 'send_limit' };

export interface AttemptInput {
  userId: string;
  challengeId: string;
  maxAttempts: number;
  failures: FailurePolicy;
}

export type AttemptResult =
  | { status: 'compare'; attempts: number; counter: number; sealedSecret: string; failures: number }
  | { status: 'no_challenge' }
  | { status: 'exhausted' }
  | { status: 'locked'; retryAfterMs: number }
  | { status: 'expired'; attempts: number; failures: number };

export interface CodeRef {
  userId: string;
  challengeId: string;
  counter: number;
}

export interface PhoneSendInput {
  /** A keyed hash of the number, never the number itself. */
  phoneKey: string;
  sendId: string;
  budget: SendBudget;
}

export type BudgetResult = { ok: true } | { ok: false; retryAfterMs: number };

/** The wait after `failures` consecutive failures under `policy`, in ms (0: none). */
export function failureDelayMs(failures: number, policy: FailurePolicy): number {
  if (failures >= policy.lockAfter) return policy.lockMs;
  if (failures >= policy.backoffAfter) return Math.min(policy.lockMs, policy.baseDelayMs * 2 ** (failures - policy.backoffAfter));
  return 0;
}
