import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { ERROR_CODES, SmsOtpError, smsOtpFailure } from './errors.js';
import { checkOptionNames, type OptionNames } from './options.js';
import { readPending, sessionKeyOption } from './session.js';

export interface GuardOptions {
  /** @default 'smsOtp' */
  sessionKey?: string | undefined;
  /**
   * What to do with a request the guard refuses (e.g. redirect a browser to `/login`).
   * @default answers 401 with `{"error": <code>, "message": …}`
   */
  onDenied?: ((req: Request, res: Response, next: NextFunction, error: SmsOtpError) => void) | undefined;
}

const GUARD_OPTION_NAMES = Object.keys({ sessionKey: true, onDenied: true } satisfies OptionNames<GuardOptions>);

/**
 * Admits only fully logged-in users: Passport must be initialised, say the
 * request is authenticated, hold a user, and the session must hold no pending
 * (half-authenticated) login. Anything else, including a missing Passport, is
 * refused: deny by default.
 */
export function requireAuthenticated(options: GuardOptions = {}): RequestHandler {
  checkOptionNames('passport-sms-otp: requireAuthenticated', options, GUARD_OPTION_NAMES);
  const sessionKey = sessionKeyOption(options.sessionKey);
  const deny = onDeniedOption('requireAuthenticated', options.onDenied);
  return (req, res, next) => {
    const check = (req as { isAuthenticated?: unknown }).isAuthenticated;
    const authenticated = typeof check === 'function' && check.call(req) === true
      && (req as { user?: unknown }).user != null
      && readPending(req, sessionKey) === undefined;
    if (authenticated) return next();
    return deny(req, res, next, smsOtpFailure('NOT_AUTHENTICATED'));
  };
}

/** Admits only sessions with a live pending login: the code-entry page and its resend. */
export function requirePendingLogin(options: GuardOptions = {}): RequestHandler {
  checkOptionNames('passport-sms-otp: requirePendingLogin', options, GUARD_OPTION_NAMES);
  const sessionKey = sessionKeyOption(options.sessionKey);
  const deny = onDeniedOption('requirePendingLogin', options.onDenied);
  return (req, res, next) => {
    if (readPending(req, sessionKey) !== undefined) return next();
    return deny(req, res, next, smsOtpFailure('NO_PENDING_LOGIN'));
  };
}

/**
 * An Express error handler for this package's errors: the suggested status, a
 * `Retry-After` header when the error has one, and `{"error": <code>, "message": …}`.
 * Any other error passes on to the app's own handler.
 */
export function smsOtpErrorHandler(): (err: unknown, req: Request, res: Response, next: NextFunction) => void {
  return (err, req, res, next) => {
    if (!(err instanceof SmsOtpError) || res.headersSent) return next(err);
    answerWith(req, res, next, err);
  };
}

/** The `onDenied` option: a function, or the default answer; anything else fails here, not as a 500 at every request. */
function onDeniedOption(owner: string, value: unknown): NonNullable<GuardOptions['onDenied']> {
  if (value === undefined) return answerWith;
  if (typeof value !== 'function') {
    throw new SmsOtpError('INVALID_OPTIONS', `passport-sms-otp: ${owner}'s onDenied must be a function (req, res, next, error); got ${value === null ? 'null' : `a ${typeof value}`}`);
  }
  return value as NonNullable<GuardOptions['onDenied']>;
}

function answerWith(_req: Request, res: Response, _next: NextFunction, error: SmsOtpError): void {
  // A server-side failure gets the generic text of its code: provider codes, incident ids and key ids are for logs.
  const body: Record<string, unknown> = { error: error.code, message: error.status >= 500 ? ERROR_CODES[error.code] : error.message };
  if (error.retryAfterSeconds !== undefined) {
    res.setHeader('Retry-After', String(error.retryAfterSeconds));
    body.retryAfterSeconds = error.retryAfterSeconds;
  }
  if (error.attemptsLeft !== undefined) body.attemptsLeft = error.attemptsLeft;
  res.statusCode = error.status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.end(JSON.stringify(body));
}
