import { randomBytes } from 'node:crypto';
import { SmsOtpError, SmsSendError, type SmsOtpErrorCode } from './errors.js';
import { SmsOtpEventEmitter, type SmsOtpEvents } from './events.js';
import { codesEqual, hotpCode, isWellFormedCode } from './hotp.js';
import { resolveNumbers, type ChallengeNumbers } from './options.js';
import { normalizePhoneNumber, phoneNumberRegion } from './phone.js';
import { SecretSealer, type EncryptionKey } from './secrets.js';
import { redactPhoneNumber, type SmsSender } from './sender.js';
import type { FailurePolicy, IssueResult, OtpStore, ResendResult, SendBudget } from './store.js';

/** What a `beforeSend` hook is told about the send it may refuse. */
export interface SendContext {
  userId: string;
  /** E.164, the full number: the hook may need it for a risk check. Never log it. */
  phoneNumber: string;
  /** ISO 3166-1 alpha-2 region of the number, when it has exactly one. */
  region: string | undefined;
  kind: 'start' | 'resend';
}

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
  /**
   * Regions (ISO 3166-1 alpha-2, e.g. `['DK', 'SE']`) whose numbers may get a
   * code; any other number is refused with `COUNTRY_NOT_ALLOWED` before anything
   * is stored or sent. Regions sharing a calling code are told apart.
   * @default undefined (every region)
   */
  allowedRegions?: readonly string[];
  /**
   * Runs before every send (start and resend), after the input checks: put a
   * CAPTCHA or a risk check here. Resolve `false` to refuse (`SEND_REFUSED`), or
   * throw an {@link SmsOtpError} of your own.
   * @default undefined
   */
  beforeSend?: (context: SendContext) => boolean | void | Promise<boolean | void>;
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
  /** Audit events; see {@link SmsOtpEvents}. */
  readonly events = new SmsOtpEventEmitter();
  private readonly store: OtpStore;
  private readonly sender: SmsSender;
  private readonly sealer: SecretSealer;
  private readonly allowedRegions: ReadonlySet<string> | undefined;
  private readonly beforeSend: OtpChallengesOptions['beforeSend'];
  private readonly failurePolicy: FailurePolicy;
  private readonly userBudget: SendBudget;
  private readonly phoneBudget: SendBudget;

  constructor(options: OtpChallengesOptions) {
    if (options === null || typeof options !== 'object') throw new SmsOtpError('INVALID_OPTIONS', 'passport-sms-otp: options must be an object');
    const { store, sender, encryptionKey, encryptionKeys, allowedRegions, beforeSend, ...numbers } = options;
    if (store === null || typeof store !== 'object' || typeof store.attempt !== 'function') {
      throw new SmsOtpError('INVALID_OPTIONS', 'passport-sms-otp: options.store must be an OtpStore (RedisOtpStore or MemoryOtpStore)');
    }
    if (sender === null || typeof sender !== 'object' || typeof sender.send !== 'function') {
      throw new SmsOtpError('INVALID_OPTIONS', 'passport-sms-otp: options.sender must be an SmsSender (an object with send())');
    }
    if ((encryptionKey === undefined) === (encryptionKeys === undefined)) {
      throw new SmsOtpError('INVALID_OPTIONS', 'passport-sms-otp: give exactly one of options.encryptionKey (32 bytes) or options.encryptionKeys');
    }
    if (allowedRegions !== undefined && (!Array.isArray(allowedRegions) || allowedRegions.length === 0 || !allowedRegions.every((r) => typeof r === 'string' && /^[A-Z]{2}$/.test(r)))) {
      throw new SmsOtpError('INVALID_OPTIONS', 'passport-sms-otp: allowedRegions must be a non-empty list of ISO 3166-1 alpha-2 codes such as "DK"');
    }
    if (beforeSend !== undefined && typeof beforeSend !== 'function') throw new SmsOtpError('INVALID_OPTIONS', 'passport-sms-otp: beforeSend must be a function');
    this.numbers = resolveNumbers(numbers);
    this.store = store;
    this.sender = sender;
    this.sealer = new SecretSealer(encryptionKeys ?? (encryptionKey as Uint8Array | string));
    this.allowedRegions = allowedRegions === undefined ? undefined : new Set(allowedRegions);
    this.beforeSend = beforeSend;
    const n = this.numbers;
    this.failurePolicy = { backoffAfter: n.backoffAfterFailures, lockAfter: n.lockAfterFailures, lockMs: n.lockSeconds * 1000, baseDelayMs: 1000, memoryMs: n.failureMemorySeconds * 1000 };
    this.userBudget = { max: n.maxSendsPerUser, windowMs: n.sendWindowSeconds * 1000 };
    this.phoneBudget = { max: n.maxSendsPerPhoneNumber, windowMs: n.sendWindowSeconds * 1000 };
  }

  /**
   * Starts a challenge for a user who passed the password step: a new counter,
   * a new code, one text. Any earlier challenge of the user dies. Refused
   * (thrown) while the user is locked, over a send budget, outside the allowed
   * regions, or when `beforeSend` says no. If the send surely failed, the code
   * is withdrawn and nothing is counted; the error is thrown.
   */
  async start(recipient: Recipient): Promise<StartedChallenge> {
    const { userId, phoneNumber } = await this.checkSend(recipient, 'start');
    const challengeId = randomBytes(16).toString('base64url');
    const startedAtMs = Date.now();
    const n = this.numbers;
    const result = await this.withPhoneBudget({ userId, challengeId, phoneNumber, kind: 'start' }, (sendId) => this.store.issue({
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
    await this.deliver({ userId, challengeId, phoneNumber, kind: 'start', sends: 1 }, result);
    return { challengeId, expiresAtMs: startedAtMs + n.pendingTtlSeconds * 1000 };
  }

  /**
   * Sends a new code for a live challenge. The old code dies; wrong attempts
   * carry over. Throws `RESEND_COOLDOWN` (with `retryAfterSeconds`), `SEND_LIMIT`,
   * `SEND_THROTTLED`, `LOCKED`, `CHALLENGE_EXHAUSTED` or `NO_PENDING_LOGIN`.
   */
  async resend(recipient: Recipient & { challengeId: string }): Promise<void> {
    const { userId, phoneNumber } = await this.checkSend(recipient, 'resend');
    const { challengeId } = recipient;
    const n = this.numbers;
    const result = await this.withPhoneBudget({ userId, challengeId, phoneNumber, kind: 'resend' }, (sendId) => this.store.resend({
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
    return this.deliver({ userId, challengeId, phoneNumber, kind: 'resend' }, result);
  }

  /**
   * Checks one submitted code. The input is checked first (no store call, no
   * crypto, for anything that is not `digits` ASCII digits); then the attempt is
   * counted in the store (on the challenge and as a user failure) before the
   * comparison; a right code is then consumed atomically, so of many concurrent
   * right submissions exactly one succeeds. A wrong code costs one store round
   * trip, a right one two.
   */
  async verify(input: { userId: string; challengeId: string; code: unknown }): Promise<VerifyResult> {
    const { userId, challengeId } = input;
    const failed = (code: SmsOtpErrorCode, details: { attemptsLeft?: number; retryAfterSeconds?: number; attempts?: number; consecutiveFailures?: number } = {}): VerifyResult => {
      const { attempts, consecutiveFailures, ...shown } = details;
      if (code === 'LOCKED') this.events.emit('verify.locked', { userId, challengeId, retryAfterSeconds: shown.retryAfterSeconds ?? 0 });
      else this.events.emit('verify.failed', { userId, challengeId, reason: code, ...(attempts === undefined ? {} : { attempts }), ...(consecutiveFailures === undefined ? {} : { consecutiveFailures }) });
      if (shown.attemptsLeft !== undefined) shown.attemptsLeft = Math.max(0, shown.attemptsLeft);
      return { ok: false, error: new SmsOtpError(code, undefined, shown) };
    };
    if (!isWellFormedCode(input.code, this.numbers.digits)) return failed('CODE_MALFORMED');
    const maxAttempts = this.numbers.maxAttempts;
    const attempt = await this.store.attempt({ userId, challengeId, maxAttempts, failures: this.failurePolicy });
    switch (attempt.status) {
      case 'no_challenge': return failed('NO_PENDING_LOGIN');
      case 'exhausted': return failed('CHALLENGE_EXHAUSTED');
      case 'locked': return failed('LOCKED', { retryAfterSeconds: seconds(attempt.retryAfterMs) });
      case 'expired': {
        const code = attempt.attempts >= maxAttempts ? 'CHALLENGE_EXHAUSTED' : 'CODE_EXPIRED';
        return failed(code, { attemptsLeft: maxAttempts - attempt.attempts, attempts: attempt.attempts, consecutiveFailures: attempt.failures });
      }
      case 'compare': break;
    }
    const secret = this.sealer.open(userId, attempt.sealedSecret);
    const expected = hotpCode(secret, attempt.counter, this.numbers.digits);
    secret.fill(0);
    if (!codesEqual(expected, input.code)) {
      const code = attempt.attempts >= maxAttempts ? 'CHALLENGE_EXHAUSTED' : 'CODE_WRONG';
      return failed(code, { attemptsLeft: maxAttempts - attempt.attempts, attempts: attempt.attempts, consecutiveFailures: attempt.failures });
    }
    // Another submission of the same code, or a resend, got there first since our attempt was counted.
    // CODE_EXPIRED keeps the pending login: if a resend won, the new code still works.
    if (!(await this.store.consume({ userId, challengeId, counter: attempt.counter }))) return failed('CODE_EXPIRED', { attempts: attempt.attempts });
    this.events.emit('verify.succeeded', { userId, challengeId, attempts: attempt.attempts });
    return { ok: true };
  }

  /** Deletes a user's secret, counter, live challenge, failures and sends (e.g. when the user or their phone number is removed). */
  async forgetUser(userId: string): Promise<void> {
    await this.store.deleteUser(checkUserId(userId));
  }

  /** Resolves when the store answers; for health checks. */
  async ping(): Promise<void> {
    await this.store.ping();
  }

  /** Input, region and the app's hook, before anything is stored or sent. */
  private async checkSend(recipient: Recipient, kind: 'start' | 'resend'): Promise<Recipient> {
    const { userId, phoneNumber } = checkRecipient(recipient);
    const region = phoneNumberRegion(phoneNumber);
    const phone = redactPhoneNumber(phoneNumber);
    if (this.allowedRegions !== undefined && (region === undefined || !this.allowedRegions.has(region))) {
      this.events.emit('send.throttled', { userId, phone, kind, reason: 'country' });
      throw new SmsOtpError('COUNTRY_NOT_ALLOWED');
    }
    if (this.beforeSend !== undefined && (await this.beforeSend({ userId, phoneNumber, region, kind })) === false) {
      this.events.emit('send.throttled', { userId, phone, kind, reason: 'before_send' });
      throw new SmsOtpError('SEND_REFUSED');
    }
    return { userId, phoneNumber };
  }

  /**
   * Runs the user's step first (it checks the user's lock, cooldown, sends and budget atomically),
   * then takes one send from the phone number's budget; if that is spent, the user's step is given
   * back and the send refused. In this order a request refused for the user's own reasons never
   * holds a slot of the number's budget, not even for a moment.
   */
  private async withPhoneBudget<R extends IssueResult | ResendResult>(
    ref: { userId: string; challengeId: string; phoneNumber: string; kind: 'start' | 'resend' },
    step: (sendId: string) => Promise<R>,
  ): Promise<{ sendId: string; phoneKey: string; result: R }> {
    const sendId = randomBytes(12).toString('base64url');
    const phoneKey = this.sealer.phoneKey(ref.phoneNumber);
    const result = await step(sendId);
    if (result.status !== 'issued') return { sendId, phoneKey, result };
    const reserved = await this.store.reservePhoneSend({ phoneKey, sendId, budget: this.phoneBudget });
    if (!reserved.ok) {
      await this.store.cancelSend({ userId: ref.userId, challengeId: ref.challengeId, counter: result.counter, sendId });
      const retryAfterSeconds = seconds(reserved.retryAfterMs);
      this.events.emit('send.throttled', { userId: ref.userId, phone: redactPhoneNumber(ref.phoneNumber), kind: ref.kind, reason: 'phone_budget', retryAfterSeconds });
      throw new SmsOtpError('SEND_THROTTLED', undefined, { retryAfterSeconds });
    }
    return { sendId, phoneKey, result };
  }

  private async deliver(
    ref: { userId: string; challengeId: string; phoneNumber: string; kind: 'start' | 'resend'; sends?: number },
    { sendId, phoneKey, result }: { sendId: string; phoneKey: string; result: IssueResult | ResendResult },
  ): Promise<void> {
    const { userId, challengeId, kind } = ref;
    const phone = redactPhoneNumber(ref.phoneNumber);
    const refuse = (code: SmsOtpErrorCode, reason: SmsOtpEvents['send.throttled']['reason'] | undefined, retryAfterMs?: number): never => {
      const retryAfterSeconds = retryAfterMs === undefined ? undefined : seconds(retryAfterMs);
      if (reason !== undefined) this.events.emit('send.throttled', { userId, phone, kind, reason, ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }) });
      throw new SmsOtpError(code, undefined, retryAfterSeconds === undefined ? {} : { retryAfterSeconds });
    };
    switch (result.status) {
      case 'locked': return refuse('LOCKED', 'locked', result.retryAfterMs);
      case 'over_budget': return refuse('SEND_THROTTLED', 'user_budget', result.retryAfterMs);
      case 'cooldown': return refuse('RESEND_COOLDOWN', 'cooldown', result.retryAfterMs);
      case 'send_limit': return refuse('SEND_LIMIT', 'send_limit');
      case 'exhausted': return refuse('CHALLENGE_EXHAUSTED', undefined);
      case 'no_challenge': return refuse('NO_PENDING_LOGIN', undefined);
      case 'issued': break;
    }
    this.events.emit('challenge.issued', { userId, phone, challengeId, kind, sends: ref.sends ?? 0 });
    let handedToSender = false;
    try {
      const secret = this.sealer.open(userId, result.sealedSecret);
      if (this.sealer.isStale(result.sealedSecret)) {
        // Sealed under an older key: re-seal under the current one so the old key can be retired.
        await this.store.reseal({ userId, expected: result.sealedSecret, replacement: this.sealer.seal(userId, secret) });
      }
      const code = hotpCode(secret, result.counter, this.numbers.digits);
      secret.fill(0);
      handedToSender = true;
      await this.sender.send({ to: ref.phoneNumber, code, ttlSeconds: this.numbers.codeTtlSeconds });
    } catch (err) {
      // Only a text that surely did not go out is given back (the code withdrawn, the sends, budgets
      // and cooldown returned) so the user can simply try again: a failure before the sender was
      // called, a sender's own refusal of its input, or an SmsSendError that says it was not sent.
      // Anything else (a timeout, a plain Error from a custom sender) may have reached the phone and
      // stays counted with its code live: refunding it would make every send free while it fails.
      const surelyNotSent = !handedToSender
        || (err instanceof SmsSendError ? !err.mayHaveBeenSent : err instanceof SmsOtpError && err.code !== 'SEND_FAILED');
      if (surelyNotSent) {
        await this.store.cancelSend({ userId, challengeId, counter: result.counter, sendId }).catch(() => undefined);
        await this.store.releasePhoneSend({ phoneKey, sendId }).catch(() => undefined);
      }
      const failure = err instanceof SmsOtpError ? err : new SmsOtpError('SEND_FAILED', undefined, { cause: err });
      this.events.emit('sms.failed', {
        userId, phone, challengeId, kind, reason: failure.code, counted: !surelyNotSent,
        retryable: failure instanceof SmsSendError ? failure.retryable : false,
        ...(failure instanceof SmsSendError && failure.providerCode !== undefined ? { providerCode: failure.providerCode } : {}),
      });
      throw failure;
    }
    this.events.emit('sms.sent', { userId, phone, challengeId, kind });
  }
}

function seconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
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
