import { randomBytes } from 'node:crypto';
import { SmsOtpError, SmsSendError } from './errors.js';
import { codesEqual, hotpCode, isWellFormedCode } from './hotp.js';
import { resolveNumbers, type ChallengeNumbers } from './options.js';
import { normalizePhoneNumber } from './phone.js';
import { SecretSealer, type EncryptionKey } from './secrets.js';
import type { SmsSender } from './sender.js';
import type { OtpStore } from './store.js';

/** Options of {@link OtpChallenges}: where codes live, how they travel, and the numbers. */
export interface OtpChallengesOptions extends Partial<ChallengeNumbers> {
  /** Where counters, challenges and sealed secrets live: {@link RedisOtpStore} or {@link MemoryOtpStore}. */
  store: OtpStore;
  /** How codes reach the user: {@link GatewayApiSender}, or {@link OutboxSender} in development. */
  sender: SmsSender;
  /**
   * The AES-256-GCM key that seals per-user secrets: 32 bytes, as bytes, 64 hex
   * characters or base64. Give `encryptionKeys` instead to rotate keys.
   */
  encryptionKey?: Uint8Array | string;
  /** Several keys with ids; the first seals, all open. Replaces `encryptionKey`. */
  encryptionKeys?: ReadonlyArray<EncryptionKey>;
}

/** A challenge that was started: what the session keeps. */
export interface StartedChallenge {
  challengeId: string;
  expiresAtMs: number;
}

/** The outcome of one code submission: a success, or the client-facing reason it failed. */
export type VerifyResult = { ok: true } | { ok: false; error: SmsOtpError };

/** What makes one user's code: who they are and where the text goes. */
export interface Recipient {
  userId: string;
  /** E.164, e.g. `+4512345678` (single spaces or hyphens between digits are tolerated). */
  phoneNumber: string;
}

const MAX_USER_ID_LENGTH = 256;
/** A string with one is not well-formed UTF-16: it has no UTF-8 form, so no Redis key. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * The code step without HTTP: start a challenge, resend its code, verify a
 * submission. Takes and returns plain values, so it can be used and tested
 * without Express. Store failures are thrown (`STORE_UNAVAILABLE`); client
 * mistakes are returned by {@link verify} as values.
 */
export class OtpChallenges {
  readonly numbers: Readonly<ChallengeNumbers>;
  private readonly store: OtpStore;
  private readonly sender: SmsSender;
  private readonly sealer: SecretSealer;

  constructor(options: OtpChallengesOptions) {
    if (options === null || typeof options !== 'object') throw new SmsOtpError('INVALID_OPTIONS', 'passport-sms-otp: options must be an object');
    const { store, sender, encryptionKey, encryptionKeys, ...numbers } = options;
    if (store === null || typeof store !== 'object' || typeof store.attempt !== 'function') {
      throw new SmsOtpError('INVALID_OPTIONS', 'passport-sms-otp: options.store must be an OtpStore (RedisOtpStore or MemoryOtpStore)');
    }
    if (sender === null || typeof sender !== 'object' || typeof sender.send !== 'function') {
      throw new SmsOtpError('INVALID_OPTIONS', 'passport-sms-otp: options.sender must be an SmsSender (an object with send())');
    }
    if ((encryptionKey === undefined) === (encryptionKeys === undefined)) {
      throw new SmsOtpError('INVALID_OPTIONS', 'passport-sms-otp: give exactly one of options.encryptionKey (32 bytes) or options.encryptionKeys');
    }
    this.numbers = resolveNumbers(numbers);
    this.store = store;
    this.sender = sender;
    this.sealer = new SecretSealer(encryptionKeys ?? (encryptionKey as Uint8Array | string));
  }

  /**
   * Starts a challenge for a user who passed the password step: a new counter,
   * a new code, one text. Any earlier challenge of the user dies. If the send
   * fails, the code is withdrawn and the send not counted; the error is thrown.
   */
  async start(recipient: Recipient): Promise<StartedChallenge> {
    const { userId, phoneNumber } = checkRecipient(recipient);
    const challengeId = randomBytes(16).toString('base64url');
    const startedAtMs = Date.now();
    const issued = await this.store.issue({
      userId,
      challengeId,
      newSealedSecret: this.sealer.sealNew(userId),
      pendingTtlMs: this.numbers.pendingTtlSeconds * 1000,
      codeTtlMs: this.numbers.codeTtlSeconds * 1000,
      cooldownMs: this.numbers.resendCooldownSeconds * 1000,
    });
    await this.deliver({ userId, challengeId, phoneNumber }, issued.counter, issued.sealedSecret);
    return { challengeId, expiresAtMs: startedAtMs + this.numbers.pendingTtlSeconds * 1000 };
  }

  /**
   * Sends a new code for a live challenge. The old code dies; wrong attempts
   * carry over. Throws `RESEND_COOLDOWN` (with `retryAfterSeconds`), `SEND_LIMIT`,
   * `CHALLENGE_EXHAUSTED` or `NO_PENDING_LOGIN`.
   */
  async resend(recipient: Recipient & { challengeId: string }): Promise<void> {
    const { userId, phoneNumber } = checkRecipient(recipient);
    const { challengeId } = recipient;
    const result = await this.store.resend({
      userId,
      challengeId,
      codeTtlMs: this.numbers.codeTtlSeconds * 1000,
      cooldownMs: this.numbers.resendCooldownSeconds * 1000,
      maxSends: this.numbers.maxSendsPerChallenge,
      maxAttempts: this.numbers.maxAttempts,
    });
    switch (result.status) {
      case 'issued': return this.deliver({ userId, challengeId, phoneNumber }, result.counter, result.sealedSecret);
      case 'cooldown': throw new SmsOtpError('RESEND_COOLDOWN', undefined, { retryAfterSeconds: Math.max(1, Math.ceil(result.retryAfterMs / 1000)) });
      case 'send_limit': throw new SmsOtpError('SEND_LIMIT');
      case 'exhausted': throw new SmsOtpError('CHALLENGE_EXHAUSTED');
      case 'no_challenge': throw new SmsOtpError('NO_PENDING_LOGIN');
    }
  }

  /**
   * Checks one submitted code. The input is checked first (no store call, no
   * crypto, for anything that is not `digits` ASCII digits); then the attempt is
   * counted in the store before the comparison; a right code is then consumed
   * atomically, so of many concurrent right submissions exactly one succeeds.
   * A wrong code costs one store round trip, a right one two.
   */
  async verify(input: { userId: string; challengeId: string; code: unknown }): Promise<VerifyResult> {
    if (!isWellFormedCode(input.code, this.numbers.digits)) return failure('CODE_MALFORMED');
    const ref = { userId: input.userId, challengeId: input.challengeId };
    const maxAttempts = this.numbers.maxAttempts;
    const attempt = await this.store.attempt({ ...ref, maxAttempts });
    switch (attempt.status) {
      case 'no_challenge': return failure('NO_PENDING_LOGIN');
      case 'exhausted': return failure('CHALLENGE_EXHAUSTED');
      case 'expired': return failure(attempt.attempts >= maxAttempts ? 'CHALLENGE_EXHAUSTED' : 'CODE_EXPIRED', maxAttempts - attempt.attempts);
      case 'compare': break;
    }
    const secret = this.sealer.open(input.userId, attempt.sealedSecret);
    const expected = hotpCode(secret, attempt.counter, this.numbers.digits);
    secret.fill(0);
    if (!codesEqual(expected, input.code)) {
      return failure(attempt.attempts >= maxAttempts ? 'CHALLENGE_EXHAUSTED' : 'CODE_WRONG', maxAttempts - attempt.attempts);
    }
    // Another submission of the same code, or a resend, got there first since our attempt was counted.
    // CODE_EXPIRED keeps the pending login: if a resend won, the new code still works.
    if (!(await this.store.consume({ ...ref, counter: attempt.counter }))) return failure('CODE_EXPIRED');
    return { ok: true };
  }

  /** Deletes a user's secret, counter and live challenge (e.g. when the user or their phone number is removed). */
  async forgetUser(userId: string): Promise<void> {
    await this.store.deleteUser(checkUserId(userId));
  }

  /** Resolves when the store answers; for health checks. */
  async ping(): Promise<void> {
    await this.store.ping();
  }

  private async deliver(ref: { userId: string; challengeId: string; phoneNumber: string }, counter: number, sealedSecret: string): Promise<void> {
    const secret = this.sealer.open(ref.userId, sealedSecret);
    const code = hotpCode(secret, counter, this.numbers.digits);
    secret.fill(0);
    try {
      await this.sender.send({ to: ref.phoneNumber, code, ttlSeconds: this.numbers.codeTtlSeconds });
    } catch (err) {
      // A text that surely did not go out is given back (the code withdrawn, the send and the cooldown
      // returned) so the user can simply try again. One that may have gone out stays counted and its
      // code stays live: refunding it would make every resend free while the provider is slow.
      if (!(err instanceof SmsSendError && err.mayHaveBeenSent)) {
        await this.store.cancelSend({ userId: ref.userId, challengeId: ref.challengeId, counter }).catch(() => undefined);
      }
      if (err instanceof SmsOtpError) throw err;
      throw new SmsOtpError('SEND_FAILED', undefined, { cause: err });
    }
  }
}

function failure(code: SmsOtpError['code'], attemptsLeft?: number): VerifyResult {
  return { ok: false, error: new SmsOtpError(code, undefined, attemptsLeft === undefined ? {} : { attemptsLeft: Math.max(0, attemptsLeft) }) };
}

function checkUserId(userId: unknown): string {
  if (typeof userId !== 'string' || userId.length === 0 || userId.length > MAX_USER_ID_LENGTH || LONE_SURROGATE.test(userId)) {
    throw new SmsOtpError('INVALID_OPTIONS', `passport-sms-otp: a user id must be a non-empty, well-formed string of at most ${MAX_USER_ID_LENGTH} characters (convert numeric ids with String())`);
  }
  return userId;
}

function checkRecipient(recipient: Recipient): Recipient {
  const userId = checkUserId(recipient.userId);
  // Checked before anything is stored or sent; senders get the canonical E.164 form.
  return { userId, phoneNumber: normalizePhoneNumber(recipient.phoneNumber).e164 };
}
