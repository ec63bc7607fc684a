import { createHmac } from 'node:crypto';
import { HOTP, Secret } from 'otpauth';
import { BOUNDS } from './options.js';

const [MIN_DIGITS, MAX_DIGITS] = BOUNDS.digits;

/** otpauth's HMAC hook, without the default's copies of key and message. */
const hmac = (algorithm: string, key: Uint8Array, message: Uint8Array): Uint8Array => createHmac(algorithm, key).update(message).digest();

/**
 * HOTP(secret, counter) per RFC 4226, SHA-1, truncated to `digits`, by otpauth's
 * `HOTP.generate`. A pure function: unlike otpauth's `HOTP#generate()`, nothing
 * advances behind the caller's back; the counter lives in the store and only the
 * store moves it.
 *
 * The secret is handed over as it lies: `HOTP.generate` reads nothing of its
 * `Secret` but `bytes`, and a `new Secret()` per code would copy the bytes (a copy
 * the caller could not wipe) and cost more than the HMAC itself. The RFC 4226
 * test vectors (test/hotp.rfc4226.test.ts) hold this to otpauth's behaviour.
 */
export function hotpCode(secret: Uint8Array, counter: number, digits: number): string {
  if (!(secret instanceof Uint8Array) || secret.length === 0) throw new TypeError('HOTP secret must be a non-empty Uint8Array (or Buffer)');
  if (!Number.isSafeInteger(counter) || counter < 0) throw new RangeError('HOTP counter must be a non-negative safe integer');
  // A truncation to 6.5 or 11 digits is no RFC 4226 code (a fraction, or a leading 0 every time).
  if (!Number.isInteger(digits) || digits < MIN_DIGITS || digits > MAX_DIGITS) throw new RangeError(`HOTP digits must be a whole number from ${MIN_DIGITS} to ${MAX_DIGITS}`);
  const view: Pick<Secret, 'bytes'> = { bytes: secret };
  return HOTP.generate({ secret: view as Secret, algorithm: 'SHA1', digits, counter, hmac });
}

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
