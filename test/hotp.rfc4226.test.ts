import { expect } from 'chai';
import { hotpCode, isWellFormedCode } from '../src/hotp.js';
import { SecretSealer } from '../src/secrets.js';

// RFC 4226 Appendix D: secret "12345678901234567890", counters 0-9.
const SECRET = Buffer.from('12345678901234567890', 'ascii');
const APPENDIX_D = ['755224', '287082', '359152', '969429', '338314', '254676', '287922', '162583', '399871', '520489'];

describe('HOTP: RFC 4226 Appendix D', () => {
  APPENDIX_D.forEach((expected, counter) => {
    it(`counter ${counter} gives ${expected}`, () => {
      expect(hotpCode(SECRET, counter, 6)).to.equal(expected);
    });
  });

  it('gives the same codes after the secret is sealed and opened, as the store path does', () => {
    const sealer = new SecretSealer('00'.repeat(32));
    const sealed = sealer.seal('alice', SECRET);
    expect(sealed).to.not.include(SECRET.toString('base64url'));
    const opened = sealer.open('alice', sealed);
    expect(APPENDIX_D.map((_, counter) => hotpCode(opened, counter, 6))).to.deep.equal(APPENDIX_D);
  });

  it('is pure: the same counter always gives the same code, and the counter decides it', () => {
    expect(hotpCode(SECRET, 3, 6)).to.equal(APPENDIX_D[3]);
    expect(hotpCode(Buffer.from(SECRET), 3, 6)).to.equal(APPENDIX_D[3]);
    // Across a thousand counters nearly every code differs (a constant or a counter-blind function would not).
    expect(new Set(Array.from({ length: 1000 }, (_, counter) => hotpCode(SECRET, counter, 6))).size).to.be.greaterThan(990);
  });

  it('makes 8- and 10-digit codes from the same truncation (RFC 4226 §5.3)', () => {
    // Appendix D's truncated decimal values for counters 0 and 1.
    expect(hotpCode(SECRET, 0, 8)).to.equal('84755224');
    expect(hotpCode(SECRET, 0, 10)).to.equal('1284755224');
    expect(hotpCode(SECRET, 1, 10)).to.equal('1094287082');
  });

  it('refuses a length that is no RFC 4226 code: a fraction, under 6 (§5.3), over 10 (a 31-bit value has 10 digits)', () => {
    for (const digits of [6.5, 5, 1, 0, 11, Number.NaN, '6' as unknown as number]) {
      expect(() => hotpCode(SECRET, 0, digits), String(digits)).to.throw(RangeError, /HOTP digits must be a whole number from 6 to 10/);
    }
  });

  it('refuses a negative or fractional counter, and a secret that is not bytes', () => {
    expect(() => hotpCode(SECRET, -1, 6)).to.throw(RangeError);
    expect(() => hotpCode(SECRET, 1.5, 6)).to.throw(RangeError);
    // The secret's bytes go to otpauth as they are: anything but bytes is refused, not hashed as text.
    expect(() => hotpCode('12345678901234567890' as unknown as Uint8Array, 0, 6)).to.throw(TypeError);
    expect(() => hotpCode(new Uint8Array(0), 0, 6)).to.throw(TypeError);
  });
});

describe('HOTP: a well-formed code is exactly its digits in ASCII', () => {
  it('accepts every digit in every place, and refuses the characters either side of 0-9 (/ and :)', () => {
    for (let d = 0; d <= 9; d++) expect(isWellFormedCode(String(d).repeat(6), 6), String(d)).to.equal(true);
    for (const edge of ['/', ':']) {
      for (let i = 0; i < 6; i++) {
        const code = `${'1'.repeat(i)}${edge}${'1'.repeat(5 - i)}`;
        expect(isWellFormedCode(code, 6), code).to.equal(false);
      }
    }
  });

  it('refuses another length, more than 10 digits, and anything that is not a string', () => {
    expect(isWellFormedCode('12345', 6)).to.equal(false);
    expect(isWellFormedCode('1234567', 6)).to.equal(false);
    expect(isWellFormedCode('1'.repeat(11), 11)).to.equal(false);
    expect(isWellFormedCode(123456, 6)).to.equal(false);
    expect(isWellFormedCode(['123456'], 6)).to.equal(false);
    expect(isWellFormedCode('12345678', 8)).to.equal(true);
  });
});
