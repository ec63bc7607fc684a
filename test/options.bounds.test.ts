import { expect } from 'chai';
import { OtpChallenges } from '../src/challenge.js';
import { ERROR_CODES, SmsOtpError } from '../src/errors.js';
import { BOUNDS, DEFAULTS, resolveNumbers } from '../src/options.js';
import { GATEWAYAPI_ERROR_CODES } from '../src/senders/gatewayapi-errors.js';
import { OutboxSender } from '../src/senders/outbox.js';
import { MemoryOtpStore } from '../src/stores/memory.js';
import { TEST_KEY } from './helpers/app.js';

describe('Options: defaults and bounds, checked at construction', () => {
  it('has DESIGN.md\'s defaults', () => {
    expect(resolveNumbers()).to.deep.equal({
      digits: 6, codeTtlSeconds: 300, pendingTtlSeconds: 600, maxAttempts: 5, resendCooldownSeconds: 30, maxSendsPerChallenge: 3,
      maxSendsPerUser: 5, maxSendsPerPhoneNumber: 5, sendWindowSeconds: 900,
      backoffAfterFailures: 5, lockAfterFailures: 10, lockSeconds: 900, failureMemorySeconds: 86_400,
    });
    expect(Object.isFrozen(DEFAULTS)).to.equal(true);
  });

  const BAD: Array<[string, Record<string, unknown>, RegExp]> = [
    ['a code lifetime over 600 s (NIST)', { codeTtlSeconds: 601 }, /codeTtlSeconds must be a whole number from 1 to 600 \(NIST/],
    ['5 digits', { digits: 5 }, /digits must be a whole number from 6 to 10/],
    ['11 digits', { digits: 11 }, /digits/],
    ['fractional seconds', { codeTtlSeconds: 1.5 }, /codeTtlSeconds/],
    ['a string number', { maxAttempts: '5' }, /maxAttempts .* got "5"/],
    ['NaN', { maxAttempts: Number.NaN }, /maxAttempts/],
    ['zero attempts', { maxAttempts: 0 }, /maxAttempts/],
    ['a negative cooldown', { resendCooldownSeconds: -1 }, /resendCooldownSeconds/],
    ['a pending login shorter than the code', { codeTtlSeconds: 300, pendingTtlSeconds: 200 }, /pendingTtlSeconds \(200\) must be at least codeTtlSeconds \(300\)/],
    ['a lock threshold over NIST\'s 100', { lockAfterFailures: 101 }, /lockAfterFailures must be a whole number from 1 to 100 \(NIST/],
    ['a lock before the backoff', { backoffAfterFailures: 8, lockAfterFailures: 6 }, /lockAfterFailures \(6\) must be at least backoffAfterFailures \(8\)/],
    ['a zero send budget', { maxSendsPerUser: 0 }, /maxSendsPerUser/],
  ];
  for (const [name, options, message] of BAD) {
    it(`refuses ${name} with INVALID_OPTIONS`, () => {
      expect(() => resolveNumbers(options)).to.throw(SmsOtpError, message).with.property('code', 'INVALID_OPTIONS');
    });
  }

  it('the published tables cannot be changed at runtime (the bounds are what construction checks against)', () => {
    const tryTo = (change: () => void) => { try { change(); } catch { /* strict mode: TypeError */ } };
    tryTo(() => { (BOUNDS.codeTtlSeconds as unknown as number[])[1] = 3600; });
    tryTo(() => { (BOUNDS.lockAfterFailures as unknown as number[])[1] = 1e6; });
    tryTo(() => { (ERROR_CODES as Record<string, string>).CODE_WRONG = 'changed'; });
    tryTo(() => { (GATEWAYAPI_ERROR_CODES['0x0216'] as { configuration: boolean }).configuration = false; });
    expect(BOUNDS.codeTtlSeconds[1]).to.equal(600);
    expect(BOUNDS.lockAfterFailures[1]).to.equal(100);
    expect(ERROR_CODES.CODE_WRONG).to.equal('The code is not correct.');
    expect(GATEWAYAPI_ERROR_CODES['0x0216']?.configuration).to.equal(true);
    expect(() => resolveNumbers({ codeTtlSeconds: 3600 })).to.throw(SmsOtpError, /codeTtlSeconds/);
    expect(() => resolveNumbers({ lockAfterFailures: 1000 })).to.throw(SmsOtpError, /lockAfterFailures/);
  });

  it('accepts the bounds themselves', () => {
    expect(resolveNumbers({ digits: 10, codeTtlSeconds: 600, pendingTtlSeconds: 600 })).to.include({ digits: 10, codeTtlSeconds: 600 });
  });

  it('OtpChallenges refuses a missing store, sender or key, and a key of the wrong size', () => {
    const store = new MemoryOtpStore();
    const sender = new OutboxSender();
    expect(() => new OtpChallenges({ sender, encryptionKey: TEST_KEY } as never)).to.throw(SmsOtpError, /store/);
    expect(() => new OtpChallenges({ store, encryptionKey: TEST_KEY } as never)).to.throw(SmsOtpError, /sender/);
    expect(() => new OtpChallenges({ store, sender } as never)).to.throw(SmsOtpError, /encryptionKey/);
    expect(() => new OtpChallenges({ store, sender, encryptionKey: 'abcd' })).to.throw(SmsOtpError, /32 bytes/);
    expect(() => new OtpChallenges({ store, sender, encryptionKey: TEST_KEY, codeTtlSeconds: 900 })).to.throw(SmsOtpError, /600/);
  });

  it('refuses an invalid phone number or user id before anything is stored or sent', async () => {
    const sender = new OutboxSender();
    const store = new MemoryOtpStore();
    const challenges = new OtpChallenges({ store, sender, encryptionKey: TEST_KEY });
    for (const phoneNumber of ['4512345678', '+45', '', '0045 1234 5678', '+0123456789']) {
      const err = await challenges.start({ userId: 'u', phoneNumber }).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(SmsOtpError).with.property('code', 'PHONE_NUMBER_INVALID');
      expect(String((err as Error).message)).to.not.include(phoneNumber || 'never');
    }
    const err = await challenges.start({ userId: '', phoneNumber: '+4512345678' }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(SmsOtpError).with.property('code', 'INVALID_OPTIONS');
    expect(store.size.users).to.equal(0);
    expect(sender.messages).to.have.length(0);
  });
});
