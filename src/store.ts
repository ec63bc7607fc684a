/**
 * Storage behind the challenge logic. Every method is one atomic step in the
 * store (one Lua script on Redis), and all of a user's data can live in one
 * Redis hash slot. {@link MemoryOtpStore} and {@link RedisOtpStore} pass the
 * same contract test.
 *
 * Per user the store keeps: the sealed HOTP secret and its counter (together,
 * no expiry: deleting one deletes both, or old codes would come back); the
 * live challenge (id, attempts, sends; lives as long as the pending login);
 * the live code (challenge id, counter; lives as long as the code); and the
 * resend cooldown.
 */
export interface OtpStore {
  /** Starts a new challenge (replacing any other of the user's) and issues its first code. */
  issue(input: IssueInput): Promise<CodeIssued>;
  /** Issues a new code for a live challenge; the old code dies, attempts carry over. */
  resend(input: ResendInput): Promise<ResendResult>;
  /** Counts one attempt, then hands back what the comparison needs. */
  attempt(input: AttemptInput): Promise<AttemptResult>;
  /** Ends the challenge if `counter` is still its live code; true for exactly one caller. */
  consume(input: CodeRef): Promise<boolean>;
  /** A send failed: forget that code, give the send and the cooldown back. */
  cancelSend(input: CodeRef): Promise<void>;
  /** Deletes everything kept for a user: secret, counter, challenge, code. */
  deleteUser(userId: string): Promise<void>;
  /** Resolves when the store answers. */
  ping(): Promise<void>;
}

export interface IssueInput {
  userId: string;
  challengeId: string;
  /** Stored only when the user has no secret yet. */
  newSealedSecret: string;
  pendingTtlMs: number;
  codeTtlMs: number;
  cooldownMs: number;
}

export interface CodeIssued {
  /** The HOTP counter of the new code. */
  counter: number;
  /** The user's sealed secret. */
  sealedSecret: string;
}

export interface ResendInput {
  userId: string;
  challengeId: string;
  codeTtlMs: number;
  cooldownMs: number;
  maxSends: number;
  maxAttempts: number;
}

export type ResendResult =
  | ({ status: 'issued' } & CodeIssued)
  | { status: 'no_challenge' }
  | { status: 'exhausted' }
  | { status: 'cooldown'; retryAfterMs: number }
  | { status: 'send_limit' };

export interface AttemptInput {
  userId: string;
  challengeId: string;
  maxAttempts: number;
}

export type AttemptResult =
  | { status: 'compare'; attempts: number; counter: number; sealedSecret: string }
  | { status: 'no_challenge' }
  | { status: 'exhausted' }
  | { status: 'expired'; attempts: number };

export interface CodeRef {
  userId: string;
  challengeId: string;
  counter: number;
}
