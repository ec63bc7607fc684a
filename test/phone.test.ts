import { expect } from 'chai';
import { SmsOtpError } from '../src/errors.js';
import { normalizePhoneNumber, phoneNumberRegion } from '../src/phone.js';
import { OtpChallenges } from '../src/challenge.js';
import { OutboxSender } from '../src/senders/outbox.js';
import { MemoryOtpStore } from '../src/stores/memory.js';

const accepted: Array<[input: string, e164: string, msisdn: number]> = [
  ['+4512345678', '+4512345678', 4512345678], // demo user alice; GatewayAPI's documentation number
  ['+4587654321', '+4587654321', 4587654321], // demo user bob
  ['+45 12 34 56 78', '+4512345678', 4512345678],
  ['+45-1234-5678', '+4512345678', 4512345678],
  ['+447911123456', '+447911123456', 447911123456],
  ['+12015550123', '+12015550123', 12015550123],
  ['+4915112345678', '+4915112345678', 4915112345678],
  ['+393123456789', '+393123456789', 393123456789],
  ['+390612345678', '+390612345678', 390612345678], // Italian fixed line keeps its leading 0
];

const refused: Array<[name: string, input: unknown]> = [
  ['a national number', '12345678'],
  ['a 00 international prefix', '004512345678'],
  ['a tel: URI', 'tel:+4512345678'],
  ['an extension', '+4512345678;ext=5'],
  ['an extension in words', '+4512345678 ext. 5'],
  ['parentheses and a trunk prefix', '+44 (0) 7911 123456'],
  // libphonenumber reads these as +442079460018 and +447911123456; what is sent must be what was stored.
  ['a trunk 0 kept after the country code', '+4402079460018'],
  ['a mobile with its trunk 0 kept', '+4407911123456'],
  ['dots', '+45.12.34.56.78'],
  ['two separators in a row', '+45  12345678'],
  ['a separator after +', '+ 4512345678'],
  ['a trailing separator', '+4512345678 '],
  ['a leading space', ' +4512345678'],
  ['Arabic-Indic digits', '+٤٥12345678'],
  ['full-width digits', '+４５12345678'],
  ['letters', '+45CALLME12'],
  ['too short for Denmark', '+451234567'],
  ['too long for Denmark', '+45123456789'],
  ['an unknown country calling code', '+999123456789'],
  ['more than 15 digits', '+4512345678901234'],
  ['a huge string', `+45${'1'.repeat(10_000)}`],
  ['just +', '+'],
  ['an empty string', ''],
  ['a number', 4512345678],
  ['null', null],
  ['undefined', undefined],
  ['an array', ['+4512345678']],
  ['an object', { e164: '+4512345678' }],
];

describe('phone numbers', () => {
  for (const [input, e164, msisdn] of accepted) {
    it(`accepts ${JSON.stringify(input)} as ${e164}`, () => {
      expect(normalizePhoneNumber(input)).to.deep.equal({ e164, msisdn });
    });
  }

  for (const [name, input] of refused) {
    it(`refuses ${name} with PHONE_NUMBER_INVALID`, () => {
      let caught: unknown;
      try {
        normalizePhoneNumber(input);
      } catch (err) {
        caught = err;
      }
      expect(caught).to.be.instanceOf(SmsOtpError);
      const error = caught as SmsOtpError;
      expect(error.code).to.equal('PHONE_NUMBER_INVALID');
      expect(error.status).to.equal(422);
      // At most the last two digits of whatever was given may appear.
      const digits = typeof input === 'string' ? input.replace(/\D/g, '') : '';
      if (digits.length > 2) expect(error.message).to.not.contain(digits.slice(0, -2));
      expect(error.message.length).to.be.below(300);
    });
  }

  it('shows only the last two digits of a refused number', () => {
    expect(() => normalizePhoneNumber('+451234567')).to.throw(SmsOtpError, /\*{7}67/);
  });

  it('check: "valid" refuses a possible but unallocated number that the default accepts', () => {
    expect(normalizePhoneNumber('+4512345678').e164).to.equal('+4512345678');
    expect(() => normalizePhoneNumber('+4512345678', { check: 'valid' })).to.throw(SmsOtpError);
    expect(normalizePhoneNumber('+4587654321', { check: 'valid' }).msisdn).to.equal(4587654321);
  });

  it('returns a frozen result whose msisdn is the same digits as a number', () => {
    // 15 digits (the E.164 maximum) stay below Number.MAX_SAFE_INTEGER, so the integer is exact.
    expect(Number.MAX_SAFE_INTEGER).to.be.above(999_999_999_999_999);
    const result = normalizePhoneNumber('+4915112345678');
    expect(result.msisdn).to.equal(4915112345678);
    expect(String(result.msisdn)).to.equal(result.e164.slice(1));
    expect(Object.isFrozen(result)).to.equal(true);
  });

  const regions: Array<[string, string | undefined]> = [
    ['+4512345678', 'DK'],
    ['+4587654321', 'DK'],
    ['+12015550123', 'US'],
    ['+4915112345678', 'DE'],
    ['+80012345678', undefined], // international freephone: no region
  ];
  for (const [input, region] of regions) {
    it(`phoneNumberRegion(${input}) is ${String(region)}`, () => {
      expect(phoneNumberRegion(input)).to.equal(region);
    });
  }

  it('phoneNumberRegion refuses what normalizePhoneNumber refuses', () => {
    expect(() => phoneNumberRegion('12345678')).to.throw(SmsOtpError);
  });

  it('refuses a check option other than "possible" or "valid" as INVALID_OPTIONS, naming it', () => {
    for (const check of ['bogus', 'VALID', 1]) {
      expect(() => normalizePhoneNumber('+4512345678', { check } as never)).to.throw(SmsOtpError, /'possible' or 'valid'/).with.property('code', 'INVALID_OPTIONS');
    }
    expect(normalizePhoneNumber('+4512345678', undefined).e164).to.equal('+4512345678');
    // A phone number passed as the options by mistake is not repeated in the message.
    expect(() => normalizePhoneNumber('+4512345678', '+4587654321' as never)).to.throw(SmsOtpError, /got string$/);
    expect(() => normalizePhoneNumber('+4512345678', { check: '+4587654321' } as never)).to.throw(SmsOtpError, /got string$/);
    // A misspelled name would silently run the default check; null is no options object.
    expect(() => normalizePhoneNumber('+4512345678', { chek: 'valid' } as never)).to.throw(SmsOtpError, /unknown option "chek" \(did you mean check\?\)/);
    expect(() => normalizePhoneNumber('+4512345678', null as never)).to.throw(SmsOtpError).with.property('code', 'INVALID_OPTIONS');
    expect(normalizePhoneNumber('+4512345678', { check: undefined }).e164).to.equal('+4512345678');
  });

  it('allowedRegions: refuses, when OtpChallenges is built, a region code libphonenumber does not know (it would refuse every number)', () => {
    const base = { store: new MemoryOtpStore(), sender: new OutboxSender(), encryptionKey: 'a'.repeat(64) };
    for (const allowedRegions of [['XX'], ['DK', 'ZZ'], [], ['dk'], 'DK']) {
      expect(() => new OtpChallenges({ ...base, allowedRegions } as never), JSON.stringify(allowedRegions)).to.throw(SmsOtpError, /allowedRegions/).with.property('code', 'INVALID_OPTIONS');
    }
    expect(() => new OtpChallenges({ ...base, allowedRegions: ['DK', 'ZZ'] })).to.throw(/"ZZ"/);
    expect(() => new OtpChallenges({ ...base, allowedRegions: ['DK', 'SE', 'GB'] })).not.to.throw();
  });
});
