import { timingSafeEqual } from 'node:crypto';
import { HOTP, Secret } from 'otpauth';

/**
 * HOTP(secret, counter) per RFC 4226, SHA-1, truncated to `digits`.
 * A pure function: unlike otpauth's `HOTP#generate()`, nothing advances behind
 * the caller's back; the counter lives in the store and only the store moves it.
 */
export function hotpCode(secret: Uint8Array, counter: number, digits: number): string {
  if (!Number.isSafeInteger(counter) || counter < 0) throw new RangeError('HOTP counter must be a non-negative safe integer');
  return HOTP.generate({ secret: new Secret({ buffer: Uint8Array.from(secret).buffer }), algorithm: 'SHA1', digits, counter });
}

const MAX_DIGITS = 10;

/**
 * True when `input` is a string of exactly `digits` ASCII digits. Checked before
 * any crypto call, so arrays, objects, huge strings, other scripts' digits and
 * surrounding white space all fail here, cheaply and without throwing.
 */
export function isWellFormedCode(input: unknown, digits: number): input is string {
  if (typeof input !== 'string' || input.length !== digits || digits > MAX_DIGITS) return false;
  for (let i = 0; i < input.length; i++) {
    const c = input.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/**
 * Compares two codes in constant time. Only equal lengths are compared; the
 * length is public (it is the configured digit count).
 */
export function codesEqual(expected: string, submitted: string): boolean {
  const a = Buffer.from(expected, 'latin1');
  const b = Buffer.from(submitted, 'latin1');
  return a.length === b.length && timingSafeEqual(a, b);
}
