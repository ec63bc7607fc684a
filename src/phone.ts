import { isSupportedCountry, parsePhoneNumberFromString, type PhoneNumber } from 'libphonenumber-js/max';
import { SmsOtpError } from './errors.js';
import { redactPhoneNumber } from './sender.js';
import { checkOptionNames } from './options.js';

/** A phone number in the two forms the package uses. */
export interface NormalizedPhoneNumber {
  /** `+`, country code and subscriber number, digits only: `+4512345678`. */
  readonly e164: string;
  /** The same digits without `+`, as GatewayAPI's `msisdn` wants them (at most 15 digits, so exact). */
  readonly msisdn: number;
}

/** How hard {@link normalizePhoneNumber} checks a number against the numbering plans. */
export interface PhoneNumberCheckOptions {
  /**
   * `'possible'`: the country calling code exists and the length fits that
   * country's numbering plan. `'valid'`: the digits also fall in a range the
   * plan has allocated (libphonenumber's `isValid()`).
   *
   * `'possible'` is the default because numbering plans change faster than
   * the metadata shipped in an installed package, and refusing a real user's
   * number locks that user out of the login; whether a number is live only
   * shows in the delivery report. It also keeps documentation numbers such as
   * GatewayAPI's own `+4512345678` usable in demos and tests.
   * @default 'possible'
   */
  readonly check?: 'possible' | 'valid' | undefined;
}

/** Longer input is refused before any parsing: no real number with separators comes near it. */
const MAX_INPUT_LENGTH = 32;
/** E.164 maximum (ITU-T E.164 §6): country code plus subscriber number. */
const MAX_DIGITS = 15;
/** `+`, then digits; a single space or hyphen may stand between two digits. */
const E164_WITH_SEPARATORS = /^\+[0-9](?:[0-9]|[ -](?=[0-9]))*$/;

function refuse(input: string | undefined, reason: string): SmsOtpError {
  const shown = input === undefined ? 'The phone number' : `Phone number ${redactPhoneNumber(input)}`;
  return new SmsOtpError('PHONE_NUMBER_INVALID', `${shown} is not a valid international (E.164) number: ${reason}.`);
}

/**
 * Checks an `allowedRegions` list once, at construction: a non-empty list of ISO 3166-1 alpha-2
 * codes that libphonenumber's metadata knows (a code it does not know would refuse every number).
 */
export function checkAllowedRegions(regions: unknown): ReadonlySet<string> {
  if (!Array.isArray(regions) || regions.length === 0 || !regions.every((r) => typeof r === 'string' && /^[A-Z]{2}$/.test(r))) {
    throw new SmsOtpError('INVALID_OPTIONS', 'passport-sms-otp: allowedRegions must be a non-empty list of ISO 3166-1 alpha-2 codes such as "DK"');
  }
  const unknown = (regions as string[]).filter((r) => !isSupportedCountry(r));
  if (unknown.length > 0) {
    throw new SmsOtpError('INVALID_OPTIONS', `passport-sms-otp: allowedRegions holds ${unknown.map((r) => JSON.stringify(r)).join(', ')}, not a region with phone numbers that libphonenumber knows; no number would ever match it`);
  }
  return new Set(regions as string[]);
}

function parseChecked(input: unknown, given: PhoneNumberCheckOptions | undefined): { e164: string; parsed: PhoneNumber } {
  // A misspelled name ({ chek: 'valid' }) would silently run the default check.
  if (given === null || typeof given === 'object') checkOptionNames('passport-sms-otp: normalizePhoneNumber', given, ['check']);
  const options = given ?? {};
  const check: unknown = typeof options === 'object' ? options.check : options;
  if (typeof options !== 'object' || (check !== undefined && check !== 'possible' && check !== 'valid')) {
    // Only a short value is shown: a phone number passed here by mistake must not reach a log.
    const shown = typeof check === 'string' && check.length <= 16 && !/\d{3}/.test(check) ? JSON.stringify(check) : typeof check;
    throw new SmsOtpError('INVALID_OPTIONS', `passport-sms-otp: the phone number check must be 'possible' or 'valid', got ${shown}`);
  }
  if (typeof input !== 'string') throw refuse(undefined, `expected a string, got ${input === null ? 'null' : typeof input}`);
  if (input.length > MAX_INPUT_LENGTH) throw refuse(undefined, `longer than ${MAX_INPUT_LENGTH} characters`);
  if (!E164_WITH_SEPARATORS.test(input)) {
    throw refuse(input, 'it must be "+", the country code and the number, ASCII digits only (single spaces or hyphens between digits are allowed)');
  }
  const e164 = input.replace(/[ -]/g, '');
  if (e164.length - 1 > MAX_DIGITS) throw refuse(input, `more than ${MAX_DIGITS} digits`);
  const parsed = parsePhoneNumberFromString(e164);
  if (parsed === undefined) throw refuse(input, 'unknown country calling code or too short');
  // libphonenumber may rewrite what it parses (e.g. drop a national prefix); what we send must be what was stored.
  if (parsed.number !== e164) throw refuse(input, 'the number is not in canonical E.164 form');
  const ok = (options.check ?? 'possible') === 'valid' ? parsed.isValid() : parsed.isPossible();
  if (!ok) {
    throw refuse(input, options.check === 'valid' ? 'not a valid number in its country\'s numbering plan' : 'wrong length for its country');
  }
  return { e164, parsed };
}

/**
 * Checks and normalises a phone number given in E.164 form (`+4512345678`;
 * `+45 12 34 56 78` and `+45-1234-5678` are tolerated). National forms
 * (`12345678`), `00` prefixes, `tel:` URIs, extensions, parentheses and
 * non-ASCII digits are refused: the package never guesses a country.
 *
 * @throws {SmsOtpError} code `PHONE_NUMBER_INVALID`; its message shows at most
 *   the last two digits of the input.
 */
export function normalizePhoneNumber(input: unknown, options: PhoneNumberCheckOptions = {}): NormalizedPhoneNumber {
  const { e164 } = parseChecked(input, options);
  return Object.freeze({ e164, msisdn: Number(e164.slice(1)) });
}

/**
 * The ISO 3166-1 alpha-2 region of a number (`'DK'` for `+4512345678`), for
 * an allow-list of destination countries. `undefined` when the number does
 * not pin down one region: non-geographic numbers (`+800…`, `+882…`), or a
 * shared calling code (`+1`, `+44`, `+7`) with digits the metadata cannot
 * place. Regions that share a calling code are told apart (`+44 7911…` may be
 * `GG`, not `GB`), so an allow-list should name all of them.
 *
 * @throws {SmsOtpError} code `PHONE_NUMBER_INVALID` as {@link normalizePhoneNumber}.
 */
export function phoneNumberRegion(e164: string, options: PhoneNumberCheckOptions = {}): string | undefined {
  return parseChecked(e164, options).parsed.country;
}
