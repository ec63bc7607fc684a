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
 * the live code (challenge id, counter, the send that issued it, and the code's keyed MAC once it is
 * armed; lives as long as the code); the resend cooldown; the consecutive
 * failures (with the time the next attempt is allowed); and the sends of the
 * rolling window. The code itself is never stored: only a MAC under a key the
 * store does not have (see `SecretSealer.codeDigest`).
 */
export interface OtpStore {
  /** Starts a new challenge (replacing any other of the user's) and issues its first code. */
  issue(input: IssueInput): Promise<IssueResult>;
  /** Issues a new code for a live challenge; the old code dies, attempts carry over. */
  resend(input: ResendInput): Promise<ResendResult>;
  /**
   * Gives an issued code its MAC, if `counter` is still the challenge's live code (false otherwise:
   * a newer code or login replaced it). A code is accepted only once armed. `reseal` replaces the
   * user's sealed secret in the same step if it is still `expected` (key rotation: old keys can be
   * dropped once every secret is re-sealed).
   */
  arm(input: ArmInput): Promise<boolean>;
  /**
   * One submission, in one atomic step: counts the attempt on the challenge, then compares the
   * submitted MACs with the live code's. A match ends the challenge and clears the user's
   * failures (of concurrent right submissions exactly one is accepted); anything else is
   * counted as a user failure, except `unknown_key` (the code was armed under a key the caller
   * lacks, so nothing could be compared), which takes its attempt back and counts no failure.
   */
  attempt(input: AttemptInput): Promise<AttemptResult>;
  /**
   * A send did not go out (the number's budget was spent, or the text surely failed): forget that
   * code, give the send, the budget and the cooldown back, and, if a resend had replaced a live,
   * armed code of the same challenge, make that code live again until its own expiry. The send's
   * slot of the user's budget is given back even when its code is gone (expired, or replaced by a
   * newer send, whose code and cooldown stay as they are). It may be called again for the same
   * send after a failure (a Redis blip): a repeat changes nothing. Without `counter`: a send whose
   * `issue()` or `resend()` never answered (a timeout: it may still run, late), so the store keeps
   * each code's `sendId` to find it by; the call gives back only the budget slot if it never ran.
   */
  cancelSend(input: CancelSendInput): Promise<void>;
  /** Takes one send from a phone number's rolling budget, unless it is spent. */
  reservePhoneSend(input: PhoneSendInput): Promise<BudgetResult>;
  /** Gives a reserved phone send back (the send did not happen). Like `cancelSend`, it may be called again for the same send after a failure: a repeat changes nothing. */
  releasePhoneSend(input: { phoneKey: string; sendId: string }): Promise<void>;
  /** Deletes everything kept for a user: secret, counter, challenge, code, failures, sends. */
  deleteUser(userId: string): Promise<void>;
  /** Resolves when the store answers. */
  ping(): Promise<void>;
}

/** Every method of {@link OtpStore}: a store given to OtpChallenges must have them all. */
export const OTP_STORE_METHODS = Object.freeze(['issue', 'resend', 'arm', 'attempt', 'cancelSend', 'reservePhoneSend', 'releasePhoneSend', 'deleteUser', 'ping'] as const satisfies ReadonlyArray<keyof OtpStore>);
// Fails to compile when OtpStore gains a method the list above does not name.
const everyStoreMethodListed: [Exclude<keyof OtpStore, (typeof OTP_STORE_METHODS)[number]>] extends [never] ? true : never = true;
void everyStoreMethodListed;

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
  /** MACs of the submitted code, `<key id>.<mac>`, one per configured key (usually one); any may match the armed code's. */
  codeDigests: readonly string[];
  maxAttempts: number;
  failures: FailurePolicy;
}

export type AttemptResult =
  | { status: 'accepted'; attempts: number }
  /** The live code was armed under a key none of the submitted MACs used (an instance lacks a key): counted, not a user failure. */
  | { status: 'unknown_key'; attempts: number }
  | { status: 'wrong'; attempts: number; failures: number }
  | { status: 'no_challenge' }
  | { status: 'exhausted' }
  | { status: 'locked'; retryAfterMs: number }
  | { status: 'expired'; attempts: number; failures: number };

export interface CodeRef {
  userId: string;
  challengeId: string;
  counter: number;
}

export interface CancelSendInput {
  userId: string;
  challengeId: string;
  /** The counter of the send's code, as issue() or resend() answered; omitted for a send whose issue() or resend() never answered (the code is then found by `sendId`). */
  counter?: number | undefined;
  sendId: string;
}

export interface ArmInput extends CodeRef {
  /** The code's MAC under the current key (`SecretSealer.codeDigest`). */
  codeDigest: string;
  /** The user's secret sealed under the current key, to replace `expected`. */
  reseal?: { expected: string; replacement: string };
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
