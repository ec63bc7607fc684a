import { Strategy } from 'passport-strategy';
import type { Request } from 'express';
import { OtpChallenges } from './challenge.js';
import { SmsOtpError, smsOtpFailure } from './errors.js';
import { isWellFormedCode } from './hotp.js';
import { unknownOptions, type OptionNames } from './options.js';
import { clearPending, propertyNameOption, readPending, sessionKeyOption } from './session.js';

/** Finds the user of a pending login by id; `null`/`undefined` when there is none any more. */
export type LoadUser<User> = (userId: string) => Promise<User | null | undefined> | User | null | undefined;

export interface SmsOtpStrategyOptions<User> {
  /** The challenge logic (store, sender, numbers) shared with the start and resend steps. */
  challenges: OtpChallenges;
  /** Loads the user to log in once the code is right. */
  loadUser: LoadUser<User>;
  /**
   * The field of the POST body that holds the code. The code is read from the body only.
   * @default 'code'
   */
  codeField?: string | undefined;
  /**
   * Where the pending record lives in `req.session`.
   * @default 'smsOtp'
   */
  sessionKey?: string | undefined;
  /**
   * The strategy's name for `passport.authenticate()`.
   * @default 'sms-otp'
   */
  name?: string | undefined;
}

const OPTION_NAMES: readonly string[] = Object.freeze(Object.keys({
  challenges: true,
  loadUser: true,
  codeField: true,
  sessionKey: true,
  name: true,
} satisfies OptionNames<SmsOtpStrategyOptions<unknown>>));

/** What `fail()` passes on: the error's stable code and message, plus what a client may be told. */
export interface SmsOtpFailure {
  code: SmsOtpError['code'];
  message: string;
  attemptsLeft?: number;
  retryAfterSeconds?: number;
}

type Outcome<User> = { kind: 'success'; user: User } | { kind: 'fail'; error: SmsOtpError } | { kind: 'error'; error: Error };

/**
 * The code step as a Passport strategy (`passport.authenticate('sms-otp')`).
 * Reads the code from the POST body, checks it against the session's pending
 * login, and on success removes the pending record and calls `success(user)`;
 * Passport then regenerates the session and the user is fully logged in.
 * Client mistakes end in `fail(info, status)` where `info` is an
 * {@link SmsOtpFailure}; store failures end in `error()`.
 */
export class SmsOtpStrategy<User = unknown> extends Strategy {
  name: string;
  private readonly challenges: OtpChallenges;
  private readonly loadUser: LoadUser<User>;
  private readonly codeField: string;
  private readonly sessionKey: string;

  constructor(options: SmsOtpStrategyOptions<User>) {
    super();
    if (options === null || typeof options !== 'object') throw new SmsOtpError('INVALID_OPTIONS', 'passport-sms-otp: SmsOtpStrategy requires an options object');
    // First: a misspelled loadUser is named as one (INVALID_OPTIONS, as a bad codeField is), not reported missing.
    const unknown = unknownOptions('passport-sms-otp: SmsOtpStrategy', options, OPTION_NAMES);
    if (unknown !== undefined) throw new SmsOtpError('INVALID_OPTIONS', unknown);
    if (!(options.challenges instanceof OtpChallenges)) throw new SmsOtpError('INVALID_OPTIONS', 'passport-sms-otp: SmsOtpStrategy requires options.challenges (an OtpChallenges)');
    if (typeof options.loadUser !== 'function') throw new SmsOtpError('INVALID_OPTIONS', 'passport-sms-otp: SmsOtpStrategy requires a loadUser(id) function');
    if (options.name !== undefined && (typeof options.name !== 'string' || options.name.length === 0 || options.name.length > 64)) {
      throw new SmsOtpError('INVALID_OPTIONS', 'passport-sms-otp: SmsOtpStrategy name must be a string of 1-64 characters (the name passport.authenticate() takes)');
    }
    this.name = options.name ?? 'sms-otp';
    this.challenges = options.challenges;
    this.loadUser = options.loadUser;
    this.codeField = propertyNameOption('codeField', options.codeField, 'code');
    this.sessionKey = sessionKeyOption(options.sessionKey);
  }

  override authenticate(req: Request): void {
    // Decide first, act once: an app callback that throws inside success() must not also get error().
    this.decide(req).then(
      (outcome) => this.act(req, outcome),
      (err: unknown) => this.act(req, { kind: 'error', error: err instanceof Error ? err : new Error(String(err)) }),
    );
  }

  private async decide(req: Request): Promise<Outcome<User>> {
    // Input first: nothing malformed reaches the store or a crypto call.
    const body: unknown = req.method === 'POST' ? req.body : undefined;
    const code = body !== null && typeof body === 'object' && Object.hasOwn(body, this.codeField)
      ? (body as Record<string, unknown>)[this.codeField]
      : undefined;
    if (!isWellFormedCode(code, this.challenges.numbers.digits)) {
      // When the session says whose login it is, OtpChallenges#verify audits it (verify.failed); it
      // refuses a malformed code before any store or crypto call.
      const known = readPending(req, this.sessionKey);
      if (known !== undefined) await this.challenges.verify({ userId: known.userId, challengeId: known.challengeId, code });
      return { kind: 'fail', error: smsOtpFailure('CODE_MALFORMED', code === undefined ? 'No code was posted.' : undefined) };
    }

    const pending = readPending(req, this.sessionKey);
    if (pending === undefined) return { kind: 'fail', error: smsOtpFailure('NO_PENDING_LOGIN') };

    const result = await this.challenges.verify({ userId: pending.userId, challengeId: pending.challengeId, code });
    if (!result.ok) {
      if (result.error.code === 'CHALLENGE_EXHAUSTED' || result.error.code === 'NO_PENDING_LOGIN') clearPending(req, this.sessionKey);
      return { kind: 'fail', error: result.error };
    }
    // The code is spent. Remove the pending record before success(): with
    // keepSessionInfo Passport would otherwise carry it into the full session.
    clearPending(req, this.sessionKey);
    // verify.succeeded said the code was right: if no user comes of it, the audit log says so too.
    const loginFailed = (reason: 'USER_NOT_FOUND' | 'USER_LOOKUP_FAILED') => this.challenges.events.emit('login.failed', { userId: pending.userId, challengeId: pending.challengeId, reason });
    let user: User | null | undefined;
    try {
      user = await this.loadUser(pending.userId);
    } catch (err) {
      loginFailed('USER_LOOKUP_FAILED');
      throw err;
    }
    if (user === null || user === undefined || (user as unknown) === false) {
      loginFailed('USER_NOT_FOUND');
      return { kind: 'fail', error: smsOtpFailure('USER_NOT_FOUND') };
    }
    return { kind: 'success', user };
  }

  private act(req: Request, outcome: Outcome<User>): void {
    try {
      if (outcome.kind === 'success') return this.success(outcome.user as object);
      if (outcome.kind === 'error') return this.error(outcome.error);
      return this.failWith(req, outcome.error);
    } catch (err) {
      // The app's own callback threw after our one action. Hand it to Express's error
      // handling rather than act a second time or leave an unhandled rejection.
      const next = (req as { next?: (err: unknown) => void }).next;
      if (typeof next === 'function') return next(err);
      process.emitWarning(`passport-sms-otp: a callback threw after the strategy's action: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private failWith(req: Request, error: SmsOtpError): void {
    const info: SmsOtpFailure = { code: error.code, message: error.message };
    if (error.attemptsLeft !== undefined) info.attemptsLeft = error.attemptsLeft;
    if (error.retryAfterSeconds !== undefined) {
      info.retryAfterSeconds = error.retryAfterSeconds;
      // Passport's own failure answer (no callback) is a bare status: a 429 still says when to come back.
      const res = (req as { res?: { headersSent?: boolean; setHeader?: (name: string, value: string) => unknown } }).res;
      if (res !== undefined && res.headersSent !== true && typeof res.setHeader === 'function') res.setHeader('Retry-After', String(error.retryAfterSeconds));
    }
    return this.fail(info, error.status);
  }
}
