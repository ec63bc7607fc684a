import { deepFreeze } from './freeze.js';

/**
 * Every error this package reports has a stable `code` from {@link ERROR_CODES}.
 * Apps and tests branch on the code, never on the message text.
 */
export const ERROR_CODES = deepFreeze({
  /** The submitted code is missing, not a string, or not ASCII digits of the configured length. */
  CODE_MALFORMED: 'The code must be a string of ASCII digits of the configured length.',
  /** A well-formed code that does not match the live challenge. */
  CODE_WRONG: 'The code is not correct.',
  /** The code's lifetime has passed; ask for a new one. (A code that a newer one replaced is `CODE_WRONG`: it is compared with the newest code only.) */
  CODE_EXPIRED: 'The code has expired; request a new one.',
  /** The session holds no live half-authenticated login (none started, expired, or already used). */
  NO_PENDING_LOGIN: 'There is no pending login; sign in with your password again.',
  /** The challenge used up its wrong-code budget; the password step must start over. */
  CHALLENGE_EXHAUSTED: 'Too many wrong codes; sign in with your password again.',
  /** A new code was asked for before the resend cooldown passed. */
  RESEND_COOLDOWN: 'A code was sent moments ago; wait before asking for another.',
  /** Too many consecutive wrong codes for this user: wait `retryAfterSeconds` (no code is sent meanwhile). */
  LOCKED: 'Too many wrong codes for this account; wait before trying again.',
  /** The user's or the phone number's rolling send budget is spent; `retryAfterSeconds` says when one frees up. */
  SEND_THROTTLED: 'Too many codes were sent to this account or number; wait before asking for another.',
  /** The number's country is not in `allowedRegions`. */
  COUNTRY_NOT_ALLOWED: 'Codes cannot be sent to phone numbers in this country.',
  /** The app's `beforeSend` hook refused the send (a CAPTCHA or a risk check). */
  SEND_REFUSED: 'The code was not sent.',
  /** The challenge has used all the sends it may. */
  SEND_LIMIT: 'No more codes can be sent for this login; sign in with your password again.',
  /** The OTP store (Redis) failed or timed out; the package fails closed. */
  STORE_UNAVAILABLE: 'The one-time-code store is unavailable.',
  /** The SMS sender refused or failed to send the message. */
  SEND_FAILED: 'The text message could not be sent.',
  /** The user's phone number is missing or not a plausible E.164 number. */
  PHONE_NUMBER_INVALID: 'The phone number is not a valid international (E.164) number.',
  /** `loadUser` found no user for the pending login. */
  USER_NOT_FOUND: 'The user of the pending login no longer exists.',
  /** The stored secret could not be decrypted (wrong or missing encryption key). */
  SECRET_UNREADABLE: 'The stored one-time-code secret cannot be decrypted with the configured keys.',
  /** `req.session` cannot be regenerated (no express-session, or cookie-session). */
  SESSION_UNSUPPORTED: 'passport-sms-otp needs express-session (a session that can be regenerated); cookie-session cannot regenerate and is refused.',
  /** A guarded route was asked for without a full login (half-authenticated sessions included). */
  NOT_AUTHENTICATED: 'Sign in first.',
  /** The step that starts a challenge found no user from the password step. */
  NO_PASSWORD_USER: 'The password step did not provide a user.',
  /** An option is missing, of the wrong type, or outside its bounds. */
  INVALID_OPTIONS: 'Invalid passport-sms-otp options.',
} as const);

/** A stable error code; see {@link ERROR_CODES}. */
export type SmsOtpErrorCode = keyof typeof ERROR_CODES;

/** The HTTP status each code suggests to an app answering a client. */
export const ERROR_STATUS: Readonly<Record<SmsOtpErrorCode, number>> = Object.freeze({
  CODE_MALFORMED: 400,
  CODE_WRONG: 401,
  CODE_EXPIRED: 401,
  NO_PENDING_LOGIN: 401,
  CHALLENGE_EXHAUSTED: 401,
  RESEND_COOLDOWN: 429,
  LOCKED: 429,
  SEND_THROTTLED: 429,
  COUNTRY_NOT_ALLOWED: 422,
  SEND_REFUSED: 403,
  SEND_LIMIT: 429,
  STORE_UNAVAILABLE: 503,
  SEND_FAILED: 502,
  PHONE_NUMBER_INVALID: 422,
  USER_NOT_FOUND: 401,
  SECRET_UNREADABLE: 500,
  SESSION_UNSUPPORTED: 500,
  NOT_AUTHENTICATED: 401,
  NO_PASSWORD_USER: 500,
  INVALID_OPTIONS: 500,
});

/** Extra facts an error may carry; never a code, a secret or a full phone number. */
export interface SmsOtpErrorDetails {
  /** Seconds a client should wait before trying again (cooldowns, limits). */
  retryAfterSeconds?: number;
  /** Wrong codes still allowed on this challenge. */
  attemptsLeft?: number;
  /** The underlying error (a Redis or network error), kept for logs. */
  cause?: unknown;
}

/** The one error class of this package: a stable `code`, a suggested HTTP `status`. */
export class SmsOtpError extends Error {
  readonly code: SmsOtpErrorCode;
  readonly status: number;
  readonly retryAfterSeconds: number | undefined;
  readonly attemptsLeft: number | undefined;

  constructor(code: SmsOtpErrorCode, message: string = ERROR_CODES[code], details: SmsOtpErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'SmsOtpError';
    this.code = code;
    this.status = ERROR_STATUS[code];
    this.retryAfterSeconds = details.retryAfterSeconds;
    this.attemptsLeft = details.attemptsLeft;
  }
}

/**
 * An {@link SmsOtpError} for an expected outcome that is returned or passed on
 * as a value (a wrong code, no pending login), not thrown from a fault: it
 * carries no stack. Capturing one costs more than the rest of a wrong-code
 * check, and it would only ever point into this package.
 */
export function smsOtpFailure(code: SmsOtpErrorCode, message?: string, details?: SmsOtpErrorDetails): SmsOtpError {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new SmsOtpError(code, message, details);
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** True when `err` is an {@link SmsOtpError}, optionally with the given code. */
export function isSmsOtpError(err: unknown, code?: SmsOtpErrorCode): err is SmsOtpError {
  return err instanceof SmsOtpError && (code === undefined || err.code === code);
}

/** Facts about a failed send, as the provider reported them. */
export interface SmsSendErrorDetails extends SmsOtpErrorDetails {
  /** The provider's HTTP status, when an answer came. */
  httpStatus?: number;
  /** The provider's own error code, e.g. GatewayAPI's `0x0216` (insufficient credit). */
  providerCode?: string;
  /** The provider's incident id, to quote to its support. */
  incidentId?: string;
  /** True when trying again later may work (5xx, network failure, timeout). */
  retryable?: boolean;
  /** True when the failure means the sender is misconfigured (bad credentials, IP not allowed). */
  configuration?: boolean;
  /**
   * True when the text may have reached the phone all the same (a timeout, a
   * connection lost after the request went out, a 5xx, a 2xx without the
   * expected body). Such a send is still counted: refunding it would make
   * every resend free while the provider is slow.
   * @default true
   */
  mayHaveBeenSent?: boolean;
}

/**
 * A send that failed: code `SEND_FAILED`, plus what the provider said.
 * Its message never holds the code, the text, a credential or a full phone number.
 */
export class SmsSendError extends SmsOtpError {
  readonly httpStatus: number | undefined;
  readonly providerCode: string | undefined;
  readonly incidentId: string | undefined;
  readonly retryable: boolean;
  readonly configuration: boolean;
  readonly mayHaveBeenSent: boolean;

  constructor(message: string, details: SmsSendErrorDetails = {}) {
    super('SEND_FAILED', message, details);
    this.name = 'SmsSendError';
    this.httpStatus = details.httpStatus;
    this.providerCode = details.providerCode;
    this.incidentId = details.incidentId;
    this.retryable = details.retryable ?? false;
    this.configuration = details.configuration ?? false;
    this.mayHaveBeenSent = details.mayHaveBeenSent ?? true;
  }
}
