import { SmsOtpError } from './errors.js';

/** The numbers of the code step. Every one is in seconds or a plain count. */
export interface ChallengeNumbers {
  /**
   * Digits per code (RFC 4226 §5.3: at least 6).
   * @default 6
   */
  digits: number;
  /**
   * How long one code can be used. NIST SP 800-63B allows at most 10 minutes;
   * more than 600 is refused at construction.
   * @default 300
   */
  codeTtlSeconds: number;
  /**
   * How long a half-authenticated login lives; then the password step starts over.
   * At least `codeTtlSeconds`.
   * @default 600
   */
  pendingTtlSeconds: number;
  /**
   * Codes compared per challenge (right or wrong); after that many wrong ones the
   * challenge is dead and the password step starts over. Resends do not reset it.
   * @default 5
   */
  maxAttempts: number;
  /**
   * Seconds between two sends for one login.
   * @default 30
   */
  resendCooldownSeconds: number;
  /**
   * Texts sent per login, the first one included.
   * @default 3
   */
  maxSendsPerChallenge: number;
  /**
   * Texts per user in any rolling `sendWindowSeconds`, across logins (SMS-pumping defence).
   * @default 5
   */
  maxSendsPerUser: number;
  /**
   * Texts per phone number in any rolling `sendWindowSeconds`, whoever asks (SMS-pumping defence).
   * @default 5
   */
  maxSendsPerPhoneNumber: number;
  /**
   * The rolling window of the two send budgets.
   * @default 900
   */
  sendWindowSeconds: number;
  /**
   * Consecutive wrong codes per user (across logins, sessions and IPs) after
   * which each further attempt waits, 1 s doubling with each failure.
   * @default 5
   */
  backoffAfterFailures: number;
  /**
   * Consecutive wrong codes after which the user is locked for `lockSeconds`
   * (again after each further failure); no code is sent while locked. A success
   * resets the count. At most 100 (NIST SP 800-63B's ceiling); never permanent.
   * @default 10
   */
  lockAfterFailures: number;
  /**
   * How long a lock lasts.
   * @default 900
   */
  lockSeconds: number;
  /**
   * How long consecutive failures are remembered once the wait after the last one is over.
   * @default 86400
   */
  failureMemorySeconds: number;
}

/** The defaults, from DESIGN.md's table. */
export const DEFAULTS: Readonly<ChallengeNumbers> = Object.freeze({
  digits: 6,
  codeTtlSeconds: 300,
  pendingTtlSeconds: 600,
  maxAttempts: 5,
  resendCooldownSeconds: 30,
  maxSendsPerChallenge: 3,
  maxSendsPerUser: 5,
  maxSendsPerPhoneNumber: 5,
  sendWindowSeconds: 900,
  backoffAfterFailures: 5,
  lockAfterFailures: 10,
  lockSeconds: 900,
  failureMemorySeconds: 86_400,
});

/** Inclusive bounds of each number, and why where a standard sets them. */
export const BOUNDS: Readonly<Record<keyof ChallengeNumbers, readonly [min: number, max: number, why?: string]>> = Object.freeze({
  digits: [6, 10, 'RFC 4226 §5.3 asks for at least 6; HOTP yields at most 10'],
  codeTtlSeconds: [1, 600, 'NIST SP 800-63B allows a code at most 10 minutes'],
  pendingTtlSeconds: [1, 3600],
  maxAttempts: [1, 10],
  resendCooldownSeconds: [0, 3600],
  maxSendsPerChallenge: [1, 10],
  maxSendsPerUser: [1, 100],
  maxSendsPerPhoneNumber: [1, 100],
  sendWindowSeconds: [1, 86_400],
  backoffAfterFailures: [1, 100],
  lockAfterFailures: [1, 100, 'NIST SP 800-63B: at most 100 consecutive failures'],
  lockSeconds: [1, 86_400],
  failureMemorySeconds: [60, 2_592_000],
});

/**
 * Fills in defaults and checks every number once, at construction. A value out
 * of bounds is an `INVALID_OPTIONS` error naming the option, the bound and the value.
 */
export function resolveNumbers(input: Partial<ChallengeNumbers> = {}): Readonly<ChallengeNumbers> {
  if (input === null || typeof input !== 'object') {
    throw new SmsOtpError('INVALID_OPTIONS', 'passport-sms-otp: options must be an object');
  }
  const resolved = { ...DEFAULTS };
  for (const name of Object.keys(DEFAULTS) as Array<keyof ChallengeNumbers>) {
    const value = input[name];
    if (value === undefined) continue;
    const [min, max, why] = BOUNDS[name];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      throw new SmsOtpError(
        'INVALID_OPTIONS',
        `passport-sms-otp: ${name} must be a whole number from ${min} to ${max}${why ? ` (${why})` : ''}, got ${describe(value)}`,
      );
    }
    resolved[name] = value;
  }
  if (resolved.pendingTtlSeconds < resolved.codeTtlSeconds) {
    throw new SmsOtpError(
      'INVALID_OPTIONS',
      `passport-sms-otp: pendingTtlSeconds (${resolved.pendingTtlSeconds}) must be at least codeTtlSeconds (${resolved.codeTtlSeconds}), or a code would outlive its login`,
    );
  }
  if (resolved.lockAfterFailures < resolved.backoffAfterFailures) {
    throw new SmsOtpError(
      'INVALID_OPTIONS',
      `passport-sms-otp: lockAfterFailures (${resolved.lockAfterFailures}) must be at least backoffAfterFailures (${resolved.backoffAfterFailures})`,
    );
  }
  return Object.freeze(resolved);
}

/** A short, safe description of a bad option value for an error message. */
export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) return String(value);
  return Array.isArray(value) ? 'an array' : `a ${typeof value}`;
}
