import { expect } from 'chai';
import crypto from 'node:crypto';
import { syncBuiltinESMExports } from 'node:module';
import { OtpChallenges } from '../src/challenge.js';
import { codesEqual } from '../src/hotp.js';
import { OutboxSender } from '../src/senders/outbox.js';
import { MemoryOtpStore } from '../src/stores/memory.js';
import { codeIn, TEST_KEY } from './helpers/app.js';

describe('HOTP: codes are compared in constant time', () => {
  const original = crypto.timingSafeEqual;
  let calls = 0;
  before(() => {
    // Replace the builtin for the named imports too, so the test sees what the package calls.
    crypto.timingSafeEqual = (a, b) => { calls++; return original(a, b); };
    syncBuiltinESMExports();
  });
  after(() => {
    crypto.timingSafeEqual = original;
    syncBuiltinESMExports();
  });
  beforeEach(() => { calls = 0; });

  it('codesEqual goes through crypto.timingSafeEqual', () => {
    expect(codesEqual('123456', '123456')).to.equal(true);
    expect(codesEqual('123456', '123457')).to.equal(false);
    expect(calls).to.equal(2);
  });

  it('a wrong and a right code are both compared with timingSafeEqual in verify()', async () => {
    const sender = new OutboxSender();
    const challenges = new OtpChallenges({ store: new MemoryOtpStore(), sender, encryptionKey: TEST_KEY });
    const { challengeId } = await challenges.start({ userId: 'u', phoneNumber: '+4512345678' });
    const code = codeIn(sender.lastTo('+4512345678')?.text);
    calls = 0;
    await challenges.verify({ userId: 'u', challengeId, code: code === '000000' ? '111111' : '000000' });
    expect(calls).to.equal(1);
    expect((await challenges.verify({ userId: 'u', challengeId, code })).ok).to.equal(true);
    expect(calls).to.equal(2);
  });
});
