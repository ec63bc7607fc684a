import { randomBytes } from 'node:crypto';
import { CodeDelivery, checkUserId, seconds, type Recipient, type SendContext } from './delivery.js';
import { SmsOtpError, smsOtpFailure, type SmsOtpErrorCode } from './errors.js';
import { SmsOtpEventEmitter } from './events.js';
import { isWellFormedCode } from './hotp.js';
import { CHALLENGE_OPTION_NAMES, DEFAULTS, resolveNumbers, unknownOptions, type ChallengeNumbers, type NumberOptions } from './options.js';
import { checkAllowedRegions } from './phone.js';
import { SecretSealer, type EncryptionKey } from './secrets.js';
import type { SmsSender } from './sender.js';
import { OTP_STORE_METHODS, type FailurePolicy, type OtpStore, type SendBudget } from './store.js';

export type { Recipient, SendContext } from './delivery.js';

/** Options of {@link OtpChallenges}: where codes live, how they travel, and the numbers. */
export interface OtpChallengesOptions extends NumberOptions {
  /** Where counters, challenges and sealed secrets live: {@link RedisOtpStore} or {@link MemoryOtpStore}. */
  store: OtpStore;
  /** How codes reach the user: {@link GatewayApiSender}, or {@link OutboxSender} in development. */
  sender: SmsSender;
  /**
   * The AES-256-GCM key that seals per-user secrets: 32 bytes, as bytes, 64 hex
   * characters or base64. Give `encryptionKeys` instead to rotate keys.
   */
  encryptionKey?: Uint8Array | string | undefined;
  /** Several keys with ids; the first seals, all open. Replaces `encryptionKey`. */
  encryptionKeys?: ReadonlyArray<EncryptionKey> | undefined;
  /**
   * Regions (ISO 3166-1 alpha-2, e.g. `['DK', 'SE']`) whose numbers may get a
   * code; any other number is refused with `COUNTRY_NOT_ALLOWED` before anything
   * is stored or sent. Regions sharing a calling code are told apart.
   * @default undefined (every region)
   */
  allowedRegions?: readonly string[] | undefined;
  /**
   * Runs before every send (start and resend), after the input checks: put a
   * CAPTCHA or a risk check here. Resolve `false` to refuse (`SEND_REFUSED`), or
   * throw an {@link SmsOtpError} of your own.
   * @default undefined
   */
  beforeSend?: ((context: SendContext) => boolean | void | Promise<boolean | void>) | undefined;
}

/** A challenge that was started: what the session keeps. */
export interface StartedChallenge {
  challengeId: string;
  expiresAtMs: number;
}

/** The outcome of one code submission: a success, or the client-facing reason it failed. */
export type VerifyResult = { ok: true } | { ok: false; error: SmsOtpError };

const ACCEPTED: VerifyResult = Object.freeze({ ok: true });

/**
 * The code step without HTTP: start a challenge, resend its code, verify a
 * submission. Takes and returns plain values, so it can be used and tested
 * without Express. Store failures are thrown (`STORE_UNAVAILABLE`); client
 * mistakes are returned by {@link verify} as values.
 */
export class OtpChallenges {
  readonly numbers: Readonly<ChallengeNumbers>;
  /** Audit events; see {@link SmsOtpEvents}. */
  readonly events = new SmsOtpEventEmitter();
  private readonly store: OtpStore;
  private readonly sealer: SecretSealer;
  private readonly delivery: CodeDelivery;
  private readonly failurePolicy: FailurePolicy;
  private readonly userBudget: SendBudget;

  constructor(options: OtpChallengesOptions) {
    if (options === null || typeof options !== 'object') throw new SmsOtpError('INVALID_OPTIONS', 'passport-sms-otp: options must be an object');
    // A misspelled store, sender or key is named as such, not reported missing.
    const unknown = unknownOptions('passport-sms-otp', options, [...Object.keys(CHALLENGE_OPTION_NAMES), ...Object.keys(DEFAULTS)]);
    if (unknown !== undefined) throw new SmsOtpError('INVALID_OPTIONS', unknown);
    const { store, sender, encryptionKey, encryptionKeys, allowedRegions, beforeSend, ...numbers } = options;
    if (store === null || typeof store !== 'object') {
      throw new SmsOtpError('INVALID_OPTIONS', 'passport-sms-otp: options.store must be an OtpStore (RedisOtpStore or MemoryOtpStore)');
    }
    // A store of your own is checked whole now, not found lacking at the first login (a TypeError, a 500).
    const lacking = OTP_STORE_METHODS.filter((method) => typeof (store as unknown as Record<string, unknown>)[method] !== 'function');
    if (lacking.length > 0) {
      throw new SmsOtpError('INVALID_OPTIONS', `passport-sms-otp: options.store must be an OtpStore (RedisOtpStore or MemoryOtpStore); it has no ${lacking.join(', ')} method${lacking.length > 1 ? 's' : ''}`);
    }
    if (sender === null || typeof sender !== 'object' || typeof sender.send !== 'function') {
      throw new SmsOtpError('INVALID_OPTIONS', 'passport-sms-otp: options.sender must be an SmsSender (an object with send())');
    }
    if ((encryptionKey === undefined) === (encryptionKeys === undefined)) {
      throw new SmsOtpError('INVALID_OPTIONS', 'passport-sms-otp: give exactly one of options.encryptionKey (32 bytes) or options.encryptionKeys');
    }
    if (encryptionKeys !== undefined && !Array.isArray(encryptionKeys)) {
      throw new SmsOtpError('INVALID_OPTIONS', 'passport-sms-otp: encryptionKeys must be a list of { id, key }, the sealing key first; give a single key as encryptionKey');
    }
    const regions = allowedRegions === undefined ? undefined : checkAllowedRegions(allowedRegions);
    if (beforeSend !== undefined && typeof beforeSend !== 'function') throw new SmsOtpError('INVALID_OPTIONS', 'passport-sms-otp: beforeSend must be a function');
    this.numbers = resolveNumbers(numbers);
    this.store = store;
    this.sealer = new SecretSealer(encryptionKeys ?? (encryptionKey as Uint8Array | string));
    const n = this.numbers;
    this.failurePolicy = { backoffAfter: n.backoffAfterFailures, lockAfter: n.lockAfterFailures, lockMs: n.lockSeconds * 1000, baseDelayMs: 1000, memoryMs: n.failureMemorySeconds * 1000 };
    this.userBudget = { max: n.maxSendsPerUser, windowMs: n.sendWindowSeconds * 1000 };
    this.delivery = new CodeDelivery({
      store,
      sender,
      sealer: this.sealer,
      events: this.events,
      numbers: this.numbers,
      allowedRegions: regions,
      beforeSend,
      phoneBudget: { max: n.maxSendsPerPhoneNumber, windowMs: n.sendWindowSeconds * 1000 },
    });
  }

  /**
   * Starts a challenge for a user who passed the password step: a new counter,
   * a new code, one text. Any earlier challenge of the user dies. Refused
   * (thrown) while the user is locked, over a send budget, outside the allowed
   * regions, or when `beforeSend` says no. If the send surely failed, the code
   * is withdrawn and nothing is counted; the error is thrown.
   */
  async start(recipient: Recipient): Promise<StartedChallenge> {
    const { userId, phoneNumber } = await this.delivery.check(recipient, 'start');
    const challengeId = randomBytes(16).toString('base64url');
    const startedAtMs = Date.now();
    const n = this.numbers;
    const result = await this.delivery.withPhoneBudget({ userId, challengeId, phoneNumber, kind: 'start' }, (sendId) => this.store.issue({
      userId,
      challengeId,
      sendId,
      newSealedSecret: this.sealer.sealNew(userId),
      pendingTtlMs: n.pendingTtlSeconds * 1000,
      codeTtlMs: n.codeTtlSeconds * 1000,
      cooldownMs: n.resendCooldownSeconds * 1000,
      lockAfter: n.lockAfterFailures,
      userBudget: this.userBudget,
    }));
    await this.delivery.deliver({ userId, challengeId, phoneNumber, kind: 'start' }, result);
    return { challengeId, expiresAtMs: startedAtMs + n.pendingTtlSeconds * 1000 };
  }

  /**
   * Sends a new code for a live challenge. The old code dies; wrong attempts
   * carry over. Throws `RESEND_COOLDOWN` (with `retryAfterSeconds`), `SEND_LIMIT`,
   * `SEND_THROTTLED`, `LOCKED`, `CHALLENGE_EXHAUSTED` or `NO_PENDING_LOGIN`.
   */
  async resend(recipient: Recipient & { challengeId: string }): Promise<void> {
    // No challenge, no login to resend for: said before the region check and beforeSend run
    // (delivery.check refuses a recipient that is no object at all).
    const given: unknown = (recipient as { challengeId?: unknown } | null | undefined)?.challengeId;
    if (recipient !== null && typeof recipient === 'object' && (typeof given !== 'string' || given.length === 0)) throw new SmsOtpError('NO_PENDING_LOGIN');
    const { userId, phoneNumber } = await this.delivery.check(recipient, 'resend');
    const challengeId = given as string;
    const n = this.numbers;
    const result = await this.delivery.withPhoneBudget({ userId, challengeId, phoneNumber, kind: 'resend' }, (sendId) => this.store.resend({
      userId,
      challengeId,
      sendId,
      codeTtlMs: n.codeTtlSeconds * 1000,
      cooldownMs: n.resendCooldownSeconds * 1000,
      maxSends: n.maxSendsPerChallenge,
      maxAttempts: n.maxAttempts,
      lockAfter: n.lockAfterFailures,
      userBudget: this.userBudget,
    }));
    return this.delivery.deliver({ userId, challengeId, phoneNumber, kind: 'resend' }, result);
  }

  /**
   * Checks one submitted code. The input is checked first (no store call, no
   * crypto, for anything that is not `digits` ASCII digits); then one atomic
   * store step counts the attempt (on the challenge and, unless it is right, as
   * a user failure) before it compares the code's MAC with the one stored when
   * the code was sent, and consumes the challenge on a match: of many concurrent
   * right submissions exactly one succeeds. One store round trip either way.
   */
  async verify(input: { userId: string; challengeId: string; code: unknown }): Promise<VerifyResult> {
    if (input === null || typeof input !== 'object') throw new SmsOtpError('INVALID_OPTIONS', 'passport-sms-otp: verify() takes an object: { userId, challengeId, code }');
    const { userId, challengeId } = input;
    const failed = (code: SmsOtpErrorCode, details: { attemptsLeft?: number; retryAfterSeconds?: number; attempts?: number; consecutiveFailures?: number } = {}): VerifyResult => {
      const { attempts, consecutiveFailures, ...shown } = details;
      if (code === 'LOCKED') this.events.emit('verify.locked', { userId, challengeId, retryAfterSeconds: shown.retryAfterSeconds ?? 0 });
      else this.events.emit('verify.failed', { userId, challengeId, reason: code, ...(attempts === undefined ? {} : { attempts }), ...(consecutiveFailures === undefined ? {} : { consecutiveFailures }) });
      if (shown.attemptsLeft !== undefined) shown.attemptsLeft = Math.max(0, shown.attemptsLeft);
      return { ok: false, error: smsOtpFailure(code, undefined, shown) };
    };
    if (!isWellFormedCode(input.code, this.numbers.digits)) return failed('CODE_MALFORMED');
    if (typeof userId !== 'string' || typeof challengeId !== 'string') return failed('NO_PENDING_LOGIN');
    const maxAttempts = this.numbers.maxAttempts;
    const codeDigests = this.sealer.codeDigests(userId, challengeId, input.code);
    const attempt = await this.store.attempt({ userId, challengeId, codeDigests, maxAttempts, failures: this.failurePolicy });
    switch (attempt.status) {
      case 'accepted':
        this.events.emit('verify.succeeded', { userId, challengeId, attempts: attempt.attempts });
        return ACCEPTED;
      case 'unknown_key':
        // A server fault, not the user's: thrown (a 500 through Passport's error()), and not counted as a failure.
        throw new SmsOtpError('SECRET_UNREADABLE', 'The code was armed under an encryption key this instance does not have: give every instance a new key (not first) before any instance seals with it');
      case 'no_challenge': return failed('NO_PENDING_LOGIN');
      case 'exhausted': return failed('CHALLENGE_EXHAUSTED');
      case 'locked': return failed('LOCKED', { retryAfterSeconds: seconds(attempt.retryAfterMs) });
      case 'expired':
      case 'wrong': {
        const code = attempt.attempts >= maxAttempts ? 'CHALLENGE_EXHAUSTED' : attempt.status === 'wrong' ? 'CODE_WRONG' : 'CODE_EXPIRED';
        return failed(code, { attemptsLeft: maxAttempts - attempt.attempts, attempts: attempt.attempts, consecutiveFailures: attempt.failures });
      }
    }
  }

  /** Deletes a user's secret, counter, live challenge, failures and sends (e.g. when the user or their phone number is removed). */
  async forgetUser(userId: string): Promise<void> {
    await this.store.deleteUser(checkUserId(userId));
  }

  /** Resolves when the store answers; for health checks. */
  async ping(): Promise<void> {
    await this.store.ping();
  }
}
