import { expect } from 'chai';
import { OtpChallenges } from '../src/challenge.js';
import { SmsOtpError } from '../src/errors.js';
import { OutboxSender } from '../src/senders/outbox.js';
import { MemoryOtpStore } from '../src/stores/memory.js';
import { SmsOtpStrategy } from '../src/strategy.js';
import { codeIn, TEST_KEY } from './helpers/app.js';
import { fakeRequest, runStrategy } from './helpers/run-strategy.js';

describe('SmsOtpStrategy: success', () => {
  const user = { id: 'u1', name: 'Alice' };

  async function started(options: { loadUser?: (id: string) => unknown } = {}) {
    const sender = new OutboxSender();
    const challenges = new OtpChallenges({ store: new MemoryOtpStore(), sender, encryptionKey: TEST_KEY });
    const strategy = new SmsOtpStrategy({ challenges, loadUser: options.loadUser ?? ((id: string) => (id === 'u1' ? user : null)) });
    const { challengeId, expiresAtMs } = await challenges.start({ userId: 'u1', phoneNumber: '+4512345678' });
    const req = fakeRequest({ code: codeIn(sender.lastTo('+4512345678')?.text) }, { smsOtp: { userId: 'u1', challengeId, startedAtMs: Date.now(), expiresAtMs } });
    const events: Array<{ type: string; reason?: string; challengeId?: string }> = [];
    challenges.events.onAny((e) => { events.push(e); });
    return { strategy, req, events, challengeId };
  }

  it('is named sms-otp', () => {
    const challenges = new OtpChallenges({ store: new MemoryOtpStore(), sender: new OutboxSender(), encryptionKey: TEST_KEY });
    expect(new SmsOtpStrategy({ challenges, loadUser: () => null }).name).to.equal('sms-otp');
  });

  it('calls success(user) with the loaded user and removes the pending record first', async () => {
    const { strategy, req } = await started();
    const outcome = await runStrategy(strategy, req);
    expect(outcome).to.deep.equal({ kind: 'success', user });
    expect(req.session).to.not.have.property('smsOtp');
  });

  it('accepts an async loadUser', async () => {
    const { strategy, req } = await started({ loadUser: async () => user });
    expect(await runStrategy(strategy, req)).to.deep.equal({ kind: 'success', user });
  });

  it('fails with USER_NOT_FOUND when the user is gone', async () => {
    const { strategy, req, events, challengeId } = await started({ loadUser: () => undefined });
    const outcome = await runStrategy(strategy, req);
    expect(outcome).to.deep.include({ kind: 'fail', status: 401 });
    expect((outcome as { challenge: { code: string } }).challenge.code).to.equal('USER_NOT_FOUND');
    // The code was right (verify.succeeded); the audit log also says that no login followed.
    expect(events.map((e) => [e.type, e.reason])).to.deep.equal([['verify.succeeded', undefined], ['login.failed', 'USER_NOT_FOUND']]);
    expect(events[1]).to.include({ userId: 'u1', challengeId });
  });

  it('a loadUser that throws: error() with its error, and login.failed (USER_LOOKUP_FAILED) after verify.succeeded', async () => {
    const { strategy, req, events } = await started({ loadUser: async () => { throw new Error('users db down'); } });
    const outcome = await runStrategy(strategy, req);
    expect(outcome).to.have.property('kind', 'error');
    expect(events.map((e) => [e.type, e.reason])).to.deep.equal([['verify.succeeded', undefined], ['login.failed', 'USER_LOOKUP_FAILED']]);
  });

  it('refuses to be built without challenges or loadUser', () => {
    expect(() => new SmsOtpStrategy({} as never)).to.throw(SmsOtpError, /challenges/).with.property('code', 'INVALID_OPTIONS');
    const challenges = new OtpChallenges({ store: new MemoryOtpStore(), sender: new OutboxSender(), encryptionKey: TEST_KEY });
    expect(() => new SmsOtpStrategy({ challenges } as never)).to.throw(SmsOtpError, /loadUser/).with.property('code', 'INVALID_OPTIONS');
  });
});
