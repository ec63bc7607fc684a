import { deepFreeze } from './freeze.js';
import type { OtpChallengesOptions } from './challenge.js';
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
export const BOUNDS: Readonly<Record<keyof ChallengeNumbers, readonly [min: number, max: number, why?: string]>> = deepFreeze({
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
export function resolveNumbers(input: NumberOptions = {}): Readonly<ChallengeNumbers> {
  if (input === null || typeof input !== 'object') {
    throw new SmsOtpError('INVALID_OPTIONS', 'passport-sms-otp: options must be an object');
  }
  // OtpChallenges hands over every option it does not read itself: a misspelled one lands here.
  const unknown = unknownOptions('passport-sms-otp', input, Object.keys(DEFAULTS), Object.keys(CHALLENGE_OPTION_NAMES));
  if (unknown !== undefined) throw new SmsOtpError('INVALID_OPTIONS', unknown);
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

/** Every key of an options type, for a construction-time check of the names given: the type keeps the list complete. */
export type OptionNames<Options> = Readonly<Record<keyof Options, true>>;

/**
 * The numbers as options: each may be left out or given as `undefined` (its default), so
 * `{ codeTtlSeconds: env.TTL ? Number(env.TTL) : undefined }` type-checks under
 * `exactOptionalPropertyTypes` too.
 */
export type NumberOptions = { [K in keyof ChallengeNumbers]?: ChallengeNumbers[K] | undefined };

/**
 * {@link OtpChallenges}' options besides the numbers. OtpChallenges reads them itself, so they
 * never reach {@link resolveNumbers}, but a misspelling of one does, and should be told so.
 */
export const CHALLENGE_OPTION_NAMES = Object.freeze({
  store: true,
  sender: true,
  encryptionKey: true,
  encryptionKeys: true,
  allowedRegions: true,
  beforeSend: true,
} satisfies OptionNames<Omit<OtpChallengesOptions, keyof ChallengeNumbers>>);

const MAX_NAMED = 5;
const MAX_SUGGESTIONS = 3;
const MAX_EDITS = 2;

/**
 * Checks the names of an options object once, at construction. A misspelled option would
 * otherwise be dropped without a word and its default used (a code lifetime of 300 s instead of
 * the 60 asked for), so every own key must be a known name, whatever its value (`undefined`
 * included). Returns the error message, starting with `owner`, naming the unknown keys and the
 * closest known name of each (`also` widens the names suggested, not those allowed); `undefined`
 * when every key is known. The caller throws it as the kind of error its other option mistakes are.
 */
export function unknownOptions(owner: string, options: object, known: Iterable<string>, also: Iterable<string> = []): string | undefined {
  const allowed = new Set(known);
  const unknown = Object.keys(options).filter((name) => !allowed.has(name));
  if (unknown.length === 0) return undefined;
  const candidates = [...new Set([...allowed, ...also])];
  const named = unknown.slice(0, MAX_NAMED).map((name) => {
    const near = closestNames(name, candidates);
    return `${describe(name)}${near.length === 0 ? '' : ` (did you mean ${near.join(' or ')}?)`}`;
  });
  const more = unknown.length > MAX_NAMED ? ` and ${unknown.length - MAX_NAMED} more` : '';
  return `${owner}: unknown option${unknown.length === 1 ? '' : 's'} ${named.join(', ')}${more}`;
}

/**
 * Refuses options that are not an object (`undefined` is no options) and an option name that is not
 * among `known`, as `INVALID_OPTIONS`: `smsOtp.start('passwordUser')` is told it takes an object, not
 * that "0", "1", … are unknown options.
 */
export function checkOptionNames(owner: string, options: unknown, known: Iterable<string>): void {
  if (options === undefined) return;
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new SmsOtpError('INVALID_OPTIONS', `${owner} takes an options object ({ … }); got ${options === null ? 'null' : Array.isArray(options) ? 'an array' : `a ${typeof options}`}`);
  }
  const unknown = unknownOptions(owner, options, known);
  if (unknown !== undefined) throw new SmsOtpError('INVALID_OPTIONS', unknown);
}

/**
 * The known names closest to a misspelled one: those equal to it but for case, else those at the
 * fewest edits (at most 2, case aside), else those it starts or ends, or that start or end it
 * (`timeout` for `timeoutMs`, `senderName` for `sender`), with at least 4 characters in common.
 * At most three: when more fit, none is suggested.
 */
export function closestNames(name: string, candidates: readonly string[]): string[] {
  const lower = name.toLowerCase();
  const others = candidates.filter((candidate) => candidate !== name);
  const sameCase = others.filter((candidate) => candidate.toLowerCase() === lower);
  if (sameCase.length > 0) return sameCase.slice(0, MAX_SUGGESTIONS);
  let best = MAX_EDITS + 1;
  let nearest: string[] = [];
  for (const candidate of others) {
    if (Math.abs(candidate.length - name.length) > MAX_EDITS) continue;
    const distance = editDistance(lower, candidate.toLowerCase());
    if (distance > MAX_EDITS) continue;
    if (distance < best) [best, nearest] = [distance, [candidate]];
    else if (distance === best) nearest.push(candidate);
  }
  if (nearest.length > 0) return nearest.length <= MAX_SUGGESTIONS ? nearest : [];
  const affixed = others.filter((candidate) => {
    const other = candidate.toLowerCase();
    const [short, long] = other.length < lower.length ? [other, lower] : [lower, other];
    return short.length >= 4 && (long.startsWith(short) || long.endsWith(short));
  });
  return affixed.length <= MAX_SUGGESTIONS ? affixed : [];
}

/** Optimal string alignment distance: insertions, deletions, substitutions and swaps of two neighbours, 1 each. */
function editDistance(a: string, b: string): number {
  const width = b.length + 1;
  const cells: number[] = [];
  const cell = (i: number, j: number): number => cells[i * width + j] ?? Number.POSITIVE_INFINITY;
  for (let i = 0; i <= a.length; i++) {
    for (let j = 0; j <= b.length; j++) {
      let value = i === 0 ? j : j === 0 ? i : Math.min(cell(i - 1, j) + 1, cell(i, j - 1) + 1, cell(i - 1, j - 1) + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) value = Math.min(value, cell(i - 2, j - 2) + 1);
      cells.push(value);
    }
  }
  return cell(a.length, b.length);
}
