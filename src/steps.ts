import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { IncomingMessage } from 'node:http';
import { OtpChallenges, type StartedChallenge } from './challenge.js';
import { sendKeptLive } from './delivery.js';
import { SmsOtpError } from './errors.js';
import { checkOptionNames, type OptionNames } from './options.js';
import { clearPending, propertyNameOption, readPending, regenerableSession, regenerate, save, sessionKeyOption, writePending } from './session.js';
import type { LoadUser } from './strategy.js';

/** How to read a user object the app's own user store returns. */
export interface UserAccessors<User> {
  /** The user's stable id, as a string; `loadUser` must find the user by it. */
  userId: (user: User) => string;
  /** The user's phone number in E.164 (`+4512345678`). */
  phoneNumber: (user: User) => string | Promise<string>;
}

export interface StartStepOptions<User> extends UserAccessors<User> {
  challenges: OtpChallenges;
  /**
   * The request property where the password step left the user: `'user'` after
   * `passport.authenticate('local', { session: false })`, or the name given to
   * Passport's `assignProperty`. It is deleted once read, so the rest of the
   * request does not look logged in.
   * @default 'user'
   */
  userProperty?: string | undefined;
  /** @default 'smsOtp' */
  sessionKey?: string | undefined;
}

export interface ResendStepOptions<User> {
  challenges: OtpChallenges;
  loadUser: LoadUser<User>;
  phoneNumber: (user: User) => string | Promise<string>;
  /** @default 'smsOtp' */
  sessionKey?: string | undefined;
}

/**
 * What a request holds already: Express's, express-session's, Passport's and the usual parsers'
 * properties, and Node's own (the rest of them are on IncomingMessage.prototype). The start step deletes `userProperty`
 * once read, so it must not name one of them: `'session'` would end the request's session.
 */
const REQUEST_NAMES: ReadonlySet<string> = new Set([
  'session', 'sessionID', 'sessionStore', 'body', 'query', 'params', 'cookies', 'signedCookies', 'secret', 'files', 'file',
  'res', 'next', 'app', 'route', 'baseUrl', 'originalUrl', 'path', 'ip', 'ips', 'protocol', 'secure', 'hostname', 'host', 'subdomains', 'xhr', 'fresh', 'stale',
  'login', 'logIn', 'logout', 'logOut', 'isAuthenticated', 'isUnauthenticated', 'authInfo', '_passport', '_sessionManager', 'csrfToken',
  // Node's own, set on each request rather than its prototype.
  'url', 'method', 'socket', 'client', 'httpVersion', 'httpVersionMajor', 'httpVersionMinor', 'complete', 'rawHeaders', 'rawTrailers', 'upgrade', 'statusCode', 'statusMessage',
]);

/** The start step's `userProperty`: a name of the app's own on the request, never one the request needs. */
function userPropertyOption(value: unknown): string {
  const name = propertyNameOption('userProperty', value, 'user', REQUEST_NAMES);
  if (name in IncomingMessage.prototype) {
    throw new SmsOtpError('INVALID_OPTIONS', `passport-sms-otp: userProperty must be where the password step left the user, a property of the app's own; ${JSON.stringify(name)} is one of Node's request properties`);
  }
  return name;
}

const START_OPTION_NAMES = Object.keys({ challenges: true, userId: true, phoneNumber: true, userProperty: true, sessionKey: true } satisfies OptionNames<StartStepOptions<unknown>>);
const RESEND_OPTION_NAMES = Object.keys({ challenges: true, loadUser: true, phoneNumber: true, sessionKey: true } satisfies OptionNames<ResendStepOptions<unknown>>);

/**
 * The step right after the password check: regenerates the session (a new id,
 * nothing carried over), starts a challenge (a new counter, a new code, one
 * text), writes the half-authenticated record, saves the session, then calls
 * `next()`. `req.user` stays unset. Failures go to `next(err)` as
 * {@link SmsOtpError}s (`SEND_FAILED`, `STORE_UNAVAILABLE`, …) with no record
 * of the new login left behind, so the user can simply try again; the same
 * user's login that was in progress in the session stays in it (under the new id).
 */
export function startSmsOtp<User>(options: StartStepOptions<User>): RequestHandler {
  if (options === undefined) throw new SmsOtpError('INVALID_OPTIONS', 'passport-sms-otp: startSmsOtp requires an options object');
  checkOptionNames('passport-sms-otp: startSmsOtp', options, START_OPTION_NAMES);
  const userProperty = userPropertyOption(options.userProperty);
  const sessionKey = sessionKeyOption(options.sessionKey);
  if (typeof options.userId !== 'function' || typeof options.phoneNumber !== 'function') {
    throw new SmsOtpError('INVALID_OPTIONS', 'passport-sms-otp: startSmsOtp requires userId(user) and phoneNumber(user) functions');
  }
  if (!(options.challenges instanceof OtpChallenges)) throw new SmsOtpError('INVALID_OPTIONS', 'passport-sms-otp: startSmsOtp requires options.challenges (an OtpChallenges)');
  return (req: Request, _res: Response, next: NextFunction): void => {
    const holder = req as unknown as Record<string, unknown>;
    const user = holder[userProperty] as User | undefined;
    delete holder[userProperty];
    run(async () => {
      if (user === undefined || user === null || (user as unknown) === false) throw new SmsOtpError('NO_PASSWORD_USER');
      const session = regenerableSession(req);
      const userId = options.userId(user);
      const phoneNumber = await options.phoneNumber(user);
      const oldId = sessionIdOf(req);
      if (oldId === undefined) throw new SmsOtpError('SESSION_UNSUPPORTED');
      // The login in progress in this session, if it is this user's: a new login of theirs that does
      // not start leaves it as it was (another user's login attempt ends it, as before).
      const pending = readPending(req, sessionKey);
      const inProgress = pending?.userId === userId ? pending : undefined;
      await regenerate(session);
      const fresh = regenerableSession(req);
      // A stubbed regenerate (the usual cookie-session workaround) keeps the id: refuse it, the id must change.
      if (sessionIdOf(req) === oldId) throw new SmsOtpError('SESSION_UNSUPPORTED');
      let started: StartedChallenge;
      try {
        started = await options.challenges.start({ userId, phoneNumber });
      } catch (err) {
        // Refused (a send budget, a lock, beforeSend, the region) or surely not sent: the store put
        // the user's login in progress back, so its record goes on under the new session id (a
        // browser's double submit must not end the login it is in). A text that may have gone out
        // (or a give-back the store did not take) replaced that login in the store: its record
        // would only say there is a login where there is none, so it goes too.
        if (inProgress !== undefined && !sendKeptLive(err)) {
          writePending(fresh, sessionKey, inProgress);
          await save(fresh).catch(() => undefined);
        }
        throw err;
      }
      try {
        writePending(fresh, sessionKey, { userId, challengeId: started.challengeId, startedAtMs: Date.now(), expiresAtMs: started.expiresAtMs });
        await save(fresh);
      } catch (err) {
        clearPending(req, sessionKey);
        throw err;
      }
    }, next);
  };
}

/**
 * Sends a new code for the session's pending login. The old code dies; wrong
 * attempts carry over. Failures go to `next(err)`: `RESEND_COOLDOWN` (429, with
 * `retryAfterSeconds`), `SEND_LIMIT`, `NO_PENDING_LOGIN`, `CHALLENGE_EXHAUSTED`,
 * `SEND_FAILED`, `STORE_UNAVAILABLE`.
 */
export function resendSmsOtp<User>(options: ResendStepOptions<User>): RequestHandler {
  if (options === undefined) throw new SmsOtpError('INVALID_OPTIONS', 'passport-sms-otp: resendSmsOtp requires an options object');
  checkOptionNames('passport-sms-otp: resendSmsOtp', options, RESEND_OPTION_NAMES);
  const sessionKey = sessionKeyOption(options.sessionKey);
  if (typeof options.loadUser !== 'function' || typeof options.phoneNumber !== 'function') {
    throw new SmsOtpError('INVALID_OPTIONS', 'passport-sms-otp: resendSmsOtp requires loadUser(id) and phoneNumber(user) functions');
  }
  if (!(options.challenges instanceof OtpChallenges)) throw new SmsOtpError('INVALID_OPTIONS', 'passport-sms-otp: resendSmsOtp requires options.challenges (an OtpChallenges)');
  return (req: Request, _res: Response, next: NextFunction): void => {
    run(async () => {
      const pending = readPending(req, sessionKey);
      if (pending === undefined) throw new SmsOtpError('NO_PENDING_LOGIN');
      const user = await options.loadUser(pending.userId);
      if (user === null || user === undefined || (user as unknown) === false) {
        clearPending(req, sessionKey);
        throw new SmsOtpError('USER_NOT_FOUND');
      }
      try {
        await options.challenges.resend({ userId: pending.userId, challengeId: pending.challengeId, phoneNumber: await options.phoneNumber(user) });
      } catch (err) {
        if (err instanceof SmsOtpError && (err.code === 'NO_PENDING_LOGIN' || err.code === 'CHALLENGE_EXHAUSTED')) clearPending(req, sessionKey);
        throw err;
      }
    }, next);
  };
}

function sessionIdOf(req: Request): string | undefined {
  const id = (req as { sessionID?: unknown }).sessionID;
  return typeof id === 'string' && id !== '' ? id : undefined;
}

/** Runs an async step and hands its outcome to `next`, exactly once. */
function run(step: () => Promise<void>, next: NextFunction): void {
  step().then(() => next(), (err: unknown) => next(err instanceof Error ? err : new Error(String(err))));
}
