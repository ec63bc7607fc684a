import { randomBytes } from 'node:crypto';
import { SmsOtpError, SmsSendError, type SmsOtpErrorCode } from './errors.js';
import type { SmsOtpEventEmitter, SmsOtpEvents } from './events.js';
import { hotpCode } from './hotp.js';
import type { ChallengeNumbers } from './options.js';
import { normalizePhoneNumber, phoneNumberRegion } from './phone.js';
import type { SecretSealer } from './secrets.js';
import { redactPhoneNumber, type SmsSender } from './sender.js';
import type { IssueResult, OtpStore, ResendResult, SendBudget } from './store.js';

/** What a `beforeSend` hook is told about the send it may refuse. */
export interface SendContext {
  userId: string;
  /** E.164, the full number: the hook may need it for a risk check. Never log it. */
  phoneNumber: string;
  /** ISO 3166-1 alpha-2 region of the number, when it has exactly one. */
  region: string | undefined;
  kind: 'start' | 'resend';
}

/** What makes one user's code: who they are and where the text goes. */
export interface Recipient {
  userId: string;
  /** E.164, e.g. `+4512345678` (single spaces or hyphens between digits are tolerated). */
  phoneNumber: string;
}

/** What the send side shares with {@link OtpChallenges}. */
export interface DeliveryParts {
  store: OtpStore;
  sender: SmsSender;
  sealer: SecretSealer;
  events: SmsOtpEventEmitter;
  numbers: Readonly<ChallengeNumbers>;
  allowedRegions: ReadonlySet<string> | undefined;
  beforeSend: ((context: SendContext) => boolean | void | Promise<boolean | void>) | undefined;
  phoneBudget: SendBudget;
}

type Kind = 'start' | 'resend';
type Issued = { sendId: string; phoneKey: string; result: IssueResult | ResendResult };

const MAX_USER_ID_LENGTH = 256;
/** A string with one is not well-formed UTF-16: it has no UTF-8 form, so no Redis key. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * The send side of a challenge, in the order a send goes through it: the checks
 * before anything is stored, the user's step in the store, the phone number's
 * budget, arming the code, and the text. Refusals are thrown as {@link SmsOtpError}s.
 */
export class CodeDelivery {
  constructor(private readonly parts: DeliveryParts) {}

  /** Input, region and the app's hook, before anything is stored or sent. */
  async check(recipient: Recipient, kind: Kind): Promise<Recipient> {
    const { userId, phoneNumber } = checkRecipient(recipient);
    const region = phoneNumberRegion(phoneNumber);
    const phone = redactPhoneNumber(phoneNumber);
    const { allowedRegions, beforeSend, events } = this.parts;
    if (allowedRegions !== undefined && (region === undefined || !allowedRegions.has(region))) {
      events.emit('send.throttled', { userId, phone, kind, reason: 'country' });
      throw new SmsOtpError('COUNTRY_NOT_ALLOWED');
    }
    if (beforeSend !== undefined && (await beforeSend({ userId, phoneNumber, region, kind })) === false) {
      events.emit('send.throttled', { userId, phone, kind, reason: 'before_send' });
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
  async withPhoneBudget<R extends IssueResult | ResendResult>(
    ref: { userId: string; challengeId: string; phoneNumber: string; kind: Kind },
    step: (sendId: string) => Promise<R>,
  ): Promise<{ sendId: string; phoneKey: string; result: R }> {
    const { store, sealer, events, phoneBudget } = this.parts;
    const sendId = randomBytes(12).toString('base64url');
    const phoneKey = sealer.phoneKey(ref.phoneNumber);
    let result: R;
    try {
      result = await step(sendId);
    } catch (err) {
      // No answer from the store (a timeout, a dropped connection), so no counter: yet the code may
      // still be issued, late (a command that timed out here runs when a hung Redis wakes up), and
      // would replace the login in progress, or the code in hand, for a text never sent. It is
      // withdrawn by its send id, which the store keeps with the code: sent after it on the same
      // connection, the withdrawal puts back what it replaced, or finds nothing if it never ran.
      // Not waited for: the answer is this failure either way, and a store that did not answer
      // would only make it later.
      void this.refund({ userId: ref.userId, challengeId: ref.challengeId, sendId });
      throw err;
    }
    if (result.status !== 'issued') return { sendId, phoneKey, result };
    let reserved: Awaited<ReturnType<OtpStore['reservePhoneSend']>>;
    try {
      reserved = await store.reservePhoneSend({ phoneKey, sendId, budget: phoneBudget });
    } catch (err) {
      // Nothing was sent: the user's step is given back (and the number's, had it landed after all).
      const given = await this.refund({ userId: ref.userId, challengeId: ref.challengeId, counter: result.counter, sendId, phoneKey });
      throw given.withdrawn ? err : keptLive(err);
    }
    if (!reserved.ok) {
      const given = await this.refund({ userId: ref.userId, challengeId: ref.challengeId, counter: result.counter, sendId });
      const retryAfterSeconds = seconds(reserved.retryAfterMs);
      events.emit('send.throttled', { userId: ref.userId, phone: redactPhoneNumber(ref.phoneNumber), kind: ref.kind, reason: 'phone_budget', retryAfterSeconds });
      // SEND_THROTTLED promises the code in hand still works: with the user's step not given back it
      // may not (the unsent code replaced it), and the store is what failed.
      if (!given.withdrawn) throw keptLive(new SmsOtpError('STORE_UNAVAILABLE', 'The one-time-code store failed while giving back a send the number\'s budget refused'));
      throw new SmsOtpError('SEND_THROTTLED', undefined, { retryAfterSeconds });
    }
    return { sendId, phoneKey, result };
  }

  /**
   * Turns the store's answer into a refusal, or computes the code (HOTP of the
   * secret and the new counter), arms it in the store with its MAC and sends it.
   */
  async deliver(ref: { userId: string; challengeId: string; phoneNumber: string; kind: Kind }, { sendId, phoneKey, result }: Issued): Promise<void> {
    const { userId, challengeId, kind } = ref;
    const { store, sender, sealer, events, numbers } = this.parts;
    const phone = redactPhoneNumber(ref.phoneNumber);
    const refuse = (code: SmsOtpErrorCode, reason: SmsOtpEvents['send.throttled']['reason'] | undefined, retryAfterMs?: number): never => {
      const retryAfterSeconds = retryAfterMs === undefined ? undefined : seconds(retryAfterMs);
      if (reason !== undefined) events.emit('send.throttled', { userId, phone, kind, reason, ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }) });
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
    events.emit('challenge.issued', { userId, phone, challengeId, kind });
    let handedToSender = false;
    try {
      const secret = sealer.open(userId, result.sealedSecret);
      const code = hotpCode(secret, result.counter, numbers.digits);
      // Sealed under an older key: re-sealed under the current one as the code is armed, so the old key can be retired.
      const reseal = sealer.isStale(result.sealedSecret) ? { expected: result.sealedSecret, replacement: sealer.seal(userId, secret) } : undefined;
      secret.fill(0);
      // A code replaced meanwhile (a newer login or resend of the same user) is not armed, so it can
      // never be accepted; it is sent all the same, as it was counted in the budgets like any other.
      await store.arm({ userId, challengeId, counter: result.counter, codeDigest: sealer.codeDigest(userId, challengeId, code), ...(reseal === undefined ? {} : { reseal }) });
      handedToSender = true;
      await sender.send({ to: ref.phoneNumber, code, ttlSeconds: numbers.codeTtlSeconds });
    } catch (err) {
      // Only a text that surely did not go out is given back (the code withdrawn, the sends, budgets
      // and cooldown returned) so the user can simply try again: a failure before the sender was
      // called, a sender's own refusal of its input, or an SmsSendError that says it was not sent.
      // Anything else (a timeout, a plain Error from a custom sender) may have reached the phone and
      // stays counted with its code live: refunding it would make every send free while it fails.
      const surelyNotSent = !handedToSender
        || (err instanceof SmsSendError ? !err.mayHaveBeenSent : err instanceof SmsOtpError && err.code !== 'SEND_FAILED');
      // `counted` says what happened: a refund the store did not take leaves the send counted.
      const given = surelyNotSent ? await this.refund({ userId, challengeId, counter: result.counter, sendId, phoneKey }) : { withdrawn: false, all: false };
      const refunded = given.all;
      const failure = err instanceof SmsOtpError ? err : new SmsOtpError('SEND_FAILED', undefined, { cause: err });
      events.emit('sms.failed', {
        userId, phone, challengeId, kind, reason: failure.code, counted: !refunded,
        retryable: failure instanceof SmsSendError ? failure.retryable : false,
        ...(failure instanceof SmsSendError && failure.providerCode !== undefined ? { providerCode: failure.providerCode } : {}),
      });
      throw given.withdrawn ? failure : keptLive(failure);
    }
    events.emit('sms.sent', { userId, phone, challengeId, kind });
  }

  /**
   * Gives back what a send that surely did not go out took: its code, its sends, the user's budget
   * and cooldown (`cancelSend`), and with `phoneKey` the number's budget. The failure that led here is
   * often a Redis blip (a dropped connection that node-redis is re-opening, where every command fails
   * at once), so a failed call is tried again twice, 100 ms and then 400 ms later, but not once a
   * second has passed since its first try (a Redis that hangs). Both store calls are idempotent
   * (a send id and a counter name what they give back). `withdrawn`: the code is withdrawn and what
   * the send replaced is back (`cancelSend` took); `all`: everything was given back.
   */
  private async refund(send: { userId: string; challengeId: string; counter?: number; sendId: string; phoneKey?: string }): Promise<{ withdrawn: boolean; all: boolean }> {
    const { store } = this.parts;
    const { phoneKey, ...code } = send;
    const withdrawn = await retried(() => store.cancelSend(code));
    const released = phoneKey === undefined || await retried(() => store.releasePhoneSend({ phoneKey, sendId: send.sendId }));
    return { withdrawn, all: withdrawn && released };
  }
}

/** Failures of a send whose code was not withdrawn: see {@link sendKeptLive}. */
const keptLiveFailures = new WeakSet<object>();
function keptLive<E>(err: E): E {
  if (typeof err === 'object' && err !== null) keptLiveFailures.add(err);
  return err;
}

/**
 * True for the error of a failed send whose code stays live (the text may have gone out, or the
 * store did not take it back): what that send replaced, the code of a resend or the same user's
 * login in progress, is gone from the store. Otherwise the store put it back.
 */
export function sendKeptLive(err: unknown): boolean {
  return typeof err === 'object' && err !== null && keptLiveFailures.has(err);
}

const REFUND_RETRY_DELAYS_MS = [100, 400];
const REFUND_GIVE_UP_AFTER_MS = 1000;

/**
 * Runs `call`, again after each of the delays while it fails, unless a second has passed since the
 * first try (a Redis that hangs, whatever the store's timeout); true once it succeeds.
 */
async function retried(call: () => Promise<unknown>): Promise<boolean> {
  const firstTryAt = performance.now();
  for (let i = 0; ; i++) {
    try {
      await call();
      return true;
    } catch {
      const delay = REFUND_RETRY_DELAYS_MS[i];
      if (delay === undefined || performance.now() - firstTryAt > REFUND_GIVE_UP_AFTER_MS) return false;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

/** Milliseconds as whole seconds to wait, at least 1. */
export function seconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

export function checkUserId(userId: unknown): string {
  if (typeof userId !== 'string' || userId.length === 0 || userId.length > MAX_USER_ID_LENGTH || LONE_SURROGATE.test(userId)) {
    throw new SmsOtpError('INVALID_OPTIONS', `passport-sms-otp: a user id must be a non-empty, well-formed string of at most ${MAX_USER_ID_LENGTH} characters (convert numeric ids with String())`);
  }
  return userId;
}

function checkRecipient(recipient: Recipient): Recipient {
  if (recipient === null || typeof recipient !== 'object') {
    throw new SmsOtpError('INVALID_OPTIONS', 'passport-sms-otp: start() and resend() take an object: { userId, phoneNumber } (and challengeId for resend())');
  }
  const userId = checkUserId(recipient.userId);
  // Checked before anything is stored or sent; senders get the canonical E.164 form.
  return { userId, phoneNumber: normalizePhoneNumber(recipient.phoneNumber).e164 };
}
