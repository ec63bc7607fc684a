import { EventEmitter } from 'node:events';

/** Who and where, as events may say it: the phone number keeps only its last two digits. */
interface Subject {
  userId: string;
  /** The phone number with all but its last two digits masked, e.g. `********78`. */
  phone?: string;
}

/**
 * The audit events of {@link OtpChallenges}. None carries a code, a secret or a
 * full phone number; each carries the user id, and what counts and reasons it has.
 */
export interface SmsOtpEvents {
  'challenge.issued': Subject & { challengeId: string; kind: 'start' | 'resend' };
  'sms.sent': Subject & { challengeId: string; kind: 'start' | 'resend' };
  'sms.failed': Subject & { challengeId: string; kind: 'start' | 'resend'; reason: string; providerCode?: string; retryable: boolean; counted: boolean };
  'send.throttled': Subject & {
    kind: 'start' | 'resend';
    reason: 'cooldown' | 'send_limit' | 'user_budget' | 'phone_budget' | 'locked' | 'country' | 'before_send';
    retryAfterSeconds?: number;
  };
  'verify.succeeded': Subject & { challengeId: string; attempts: number };
  'verify.failed': Subject & { challengeId: string; reason: string; attempts?: number; consecutiveFailures?: number };
  'verify.locked': Subject & { challengeId: string; retryAfterSeconds: number };
  /**
   * A right code was consumed, but the strategy could not hand on a user: `loadUser` found none
   * (`USER_NOT_FOUND`) or threw (`USER_LOOKUP_FAILED`). A failure after that (in `req.logIn`, the
   * session store) is the app's to log.
   */
  'login.failed': Subject & { challengeId: string; reason: 'USER_NOT_FOUND' | 'USER_LOOKUP_FAILED' };
}

export type SmsOtpEventName = keyof SmsOtpEvents;

/**
 * A typed event emitter for {@link SmsOtpEvents}. A listener that throws, or an async listener
 * whose promise rejects, never breaks a login: either becomes a process warning.
 */
export class SmsOtpEventEmitter {
  private readonly emitter = new EventEmitter();

  on<K extends SmsOtpEventName>(name: K, listener: (event: SmsOtpEvents[K] & { type: K; at: string }) => unknown): this {
    this.emitter.on(name, listener as (...args: unknown[]) => void);
    return this;
  }

  off<K extends SmsOtpEventName>(name: K, listener: (event: SmsOtpEvents[K] & { type: K; at: string }) => unknown): this {
    this.emitter.off(name, listener as (...args: unknown[]) => void);
    return this;
  }

  /** Every event, for a single log sink. */
  onAny(listener: (event: { [K in SmsOtpEventName]: SmsOtpEvents[K] & { type: K; at: string } }[SmsOtpEventName]) => unknown): this {
    for (const name of EVENT_NAMES) this.emitter.on(name, listener as (...args: unknown[]) => void);
    return this;
  }

  /** Removes a listener given to {@link onAny} from every event. */
  offAny(listener: (event: { [K in SmsOtpEventName]: SmsOtpEvents[K] & { type: K; at: string } }[SmsOtpEventName]) => unknown): this {
    for (const name of EVENT_NAMES) this.emitter.off(name, listener as (...args: unknown[]) => void);
    return this;
  }

  emit<K extends SmsOtpEventName>(name: K, event: SmsOtpEvents[K]): void {
    if (this.emitter.listenerCount(name) === 0) return;
    const payload = { type: name, at: new Date().toISOString(), ...event };
    for (const listener of this.emitter.listeners(name)) {
      try {
        const result: unknown = (listener as (e: unknown) => unknown)(payload);
        // An async listener (a log forwarder whose sink is down) rejects later: an unhandled
        // rejection would end the process, so it is a warning, as a listener that throws.
        if (result !== null && typeof result === 'object' && typeof (result as PromiseLike<unknown>).then === 'function') {
          Promise.resolve(result as PromiseLike<unknown>).catch((err: unknown) => listenerFailed(name, err));
        }
      } catch (err) {
        listenerFailed(name, err);
      }
    }
  }
}

function listenerFailed(name: SmsOtpEventName, err: unknown): void {
  process.emitWarning(`passport-sms-otp: a "${name}" listener threw: ${err instanceof Error ? err.message : String(err)}`);
}

export const EVENT_NAMES: readonly SmsOtpEventName[] = Object.freeze(['challenge.issued', 'sms.sent', 'sms.failed', 'send.throttled', 'verify.succeeded', 'verify.failed', 'verify.locked', 'login.failed']);
