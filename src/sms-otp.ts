import type { RequestHandler } from 'express';
import { OtpChallenges, type OtpChallengesOptions } from './challenge.js';
import { SmsOtpError } from './errors.js';
import { requireAuthenticated, requirePendingLogin, type GuardOptions } from './guards.js';
import { CHALLENGE_OPTION_NAMES, checkOptionNames, DEFAULTS, type OptionNames } from './options.js';
import { sessionKeyOption } from './session.js';
import { resendSmsOtp, startSmsOtp, type UserAccessors } from './steps.js';
import { SmsOtpStrategy, type LoadUser } from './strategy.js';

/** Everything {@link SmsOtp} needs: the challenge options plus how to find and read users. */
export interface SmsOtpOptions<User> extends OtpChallengesOptions, UserAccessors<User> {
  /** Finds a user by the id `userId(user)` gave. */
  loadUser: LoadUser<User>;
  /** @default 'code' */
  codeField?: string | undefined;
  /** @default 'smsOtp' */
  sessionKey?: string | undefined;
}

/** SmsOtp's own options; the rest go to {@link OtpChallenges}. */
const OWN_OPTION_NAMES = Object.freeze({
  loadUser: true,
  userId: true,
  phoneNumber: true,
  codeField: true,
  sessionKey: true,
} satisfies OptionNames<Omit<SmsOtpOptions<unknown>, keyof OtpChallengesOptions>>);

/** Every option {@link SmsOtp} takes: its own, OtpChallenges' and the numbers. */
const OPTION_NAMES: readonly string[] = Object.freeze([...Object.keys(OWN_OPTION_NAMES), ...Object.keys(CHALLENGE_OPTION_NAMES), ...Object.keys(DEFAULTS)]);

/** The guards' options when SmsOtp gives the session key. */
const GUARD_OPTION_NAMES: readonly string[] = Object.freeze(Object.keys({ onDenied: true } satisfies OptionNames<Omit<GuardOptions, 'sessionKey'>>));

/**
 * The whole second factor wired once: the challenge logic, the Passport
 * strategy, the start and resend steps, and the guards, all sharing one store,
 * sender, key and session key.
 *
 * @example
 * const smsOtp = new SmsOtp({ store, sender, encryptionKey, loadUser, userId: (u) => u.id, phoneNumber: (u) => u.phone });
 * passport.use(smsOtp.strategy);
 * app.post('/login', passport.authenticate('local', { session: false }), smsOtp.start(), (req, res) => res.json({ status: 'otp_required' }));
 */
export class SmsOtp<User> {
  readonly challenges: OtpChallenges;
  readonly strategy: SmsOtpStrategy<User>;
  private readonly options: SmsOtpOptions<User>;
  private readonly sessionKey: string;

  constructor(options: SmsOtpOptions<User>) {
    if (options === null || typeof options !== 'object') throw new SmsOtpError('INVALID_OPTIONS', 'passport-sms-otp: SmsOtp requires an options object');
    // Before anything else: a misspelled loadUser should be named as one, not reported missing.
    checkOptionNames('passport-sms-otp: SmsOtp', options, OPTION_NAMES);
    const { loadUser, userId, phoneNumber, codeField, sessionKey, ...challengeOptions } = options;
    if (typeof loadUser !== 'function' || typeof userId !== 'function' || typeof phoneNumber !== 'function') {
      throw new SmsOtpError('INVALID_OPTIONS', 'passport-sms-otp: SmsOtp requires loadUser(id), userId(user) and phoneNumber(user) functions');
    }
    this.options = options;
    this.sessionKey = sessionKeyOption(sessionKey);
    this.challenges = new OtpChallenges(challengeOptions);
    this.strategy = new SmsOtpStrategy<User>({ challenges: this.challenges, loadUser, sessionKey: this.sessionKey, ...(codeField === undefined ? {} : { codeField }) });
  }

  /** The step after the password check; see {@link startSmsOtp}. */
  start(options: { userProperty?: string | undefined } = {}): RequestHandler {
    // Only userProperty: the rest is SmsOtp's, and a sessionKey here would part the step from the strategy.
    checkOptionNames('passport-sms-otp: SmsOtp#start', options, ['userProperty']);
    const { userId, phoneNumber } = this.options;
    return startSmsOtp<User>({ challenges: this.challenges, userId, phoneNumber, sessionKey: this.sessionKey, ...options });
  }

  /** The resend step; see {@link resendSmsOtp}. */
  resend(): RequestHandler {
    const { loadUser, phoneNumber } = this.options;
    return resendSmsOtp<User>({ challenges: this.challenges, loadUser, phoneNumber, sessionKey: this.sessionKey });
  }

  /** See {@link requireAuthenticated}. */
  requireAuthenticated(options: Omit<GuardOptions, 'sessionKey'> = {}): RequestHandler {
    checkOptionNames('passport-sms-otp: SmsOtp#requireAuthenticated', options, GUARD_OPTION_NAMES);
    return requireAuthenticated({ ...options, sessionKey: this.sessionKey });
  }

  /** See {@link requirePendingLogin}. */
  requirePendingLogin(options: Omit<GuardOptions, 'sessionKey'> = {}): RequestHandler {
    checkOptionNames('passport-sms-otp: SmsOtp#requirePendingLogin', options, GUARD_OPTION_NAMES);
    return requirePendingLogin({ ...options, sessionKey: this.sessionKey });
  }
}
