import { expect } from 'chai';
import { OtpChallenges } from '../src/challenge.js';
import { SmsOtpError } from '../src/errors.js';
import { OutboxSender } from '../src/senders/outbox.js';
import { MemoryOtpStore } from '../src/stores/memory.js';
import { RedisOtpStore } from '../src/stores/redis.js';
import { SmsOtpStrategy } from '../src/strategy.js';
import { TEST_KEY } from './helpers/app.js';
import { fakeRequest, runStrategy } from './helpers/run-strategy.js';

// Far in the future: mocha loads every file before it runs any test, so a module-level 'now' goes stale.
const session = { smsOtp: { userId: 'u1', challengeId: 'c1', startedAtMs: Date.now(), expiresAtMs: Date.now() + 24 * 3600_000 } };

describe('SmsOtpStrategy: error', () => {
  it('a store that throws: error(STORE_UNAVAILABLE), never success', async () => {
    const broken = { eval: async () => { throw new Error('ECONNREFUSED'); }, evalSha: async () => { throw new Error('ECONNREFUSED'); } };
    const challenges = new OtpChallenges({ store: new RedisOtpStore(broken), sender: new OutboxSender(), encryptionKey: TEST_KEY });
    const outcome = await runStrategy(new SmsOtpStrategy({ challenges, loadUser: () => ({ id: 'u1' }) }), fakeRequest({ code: '123456' }, session));
    expect(outcome.kind).to.equal('error');
    expect((outcome as { error: SmsOtpError }).error).to.be.instanceOf(SmsOtpError).with.property('code', 'STORE_UNAVAILABLE');
  });

  it('a store that never answers: error(STORE_UNAVAILABLE) after the command timeout', async () => {
    const hanging = { eval: () => new Promise<never>(() => undefined), evalSha: () => new Promise<never>(() => undefined) };
    const challenges = new OtpChallenges({ store: new RedisOtpStore(hanging, { commandTimeoutMs: 50 }), sender: new OutboxSender(), encryptionKey: TEST_KEY });
    const outcome = await runStrategy(new SmsOtpStrategy({ challenges, loadUser: () => ({ id: 'u1' }) }), fakeRequest({ code: '123456' }, session));
    expect(outcome).to.have.property('kind', 'error');
    expect((outcome as { error: SmsOtpError }).error).to.be.instanceOf(SmsOtpError).with.property('code', 'STORE_UNAVAILABLE');
  });

  it('loadUser that throws: error(), never success', async () => {
    const sender = new OutboxSender();
    const challenges = new OtpChallenges({ store: new MemoryOtpStore(), sender, encryptionKey: TEST_KEY });
    const { challengeId, expiresAtMs } = await challenges.start({ userId: 'u1', phoneNumber: '+4512345678' });
    const code = /\d{6}/.exec(sender.lastTo('+4512345678')?.text ?? '')?.[0];
    const strategy = new SmsOtpStrategy({ challenges, loadUser: () => { throw new Error('db down'); } });
    const outcome = await runStrategy(strategy, fakeRequest({ code }, { smsOtp: { userId: 'u1', challengeId, startedAtMs: 0, expiresAtMs } }));
    expect(outcome.kind).to.equal('error');
  });

  it('a key dropped from the configuration: its codes are error(SECRET_UNREADABLE) (never success, not the user\'s failure), its secrets make no new codes', async () => {
    const store = new MemoryOtpStore();
    const sender = new OutboxSender();
    const before = new OtpChallenges({ store, sender, encryptionKey: 'b'.repeat(64) });
    const { challengeId, expiresAtMs } = await before.start({ userId: 'u1', phoneNumber: '+4512345678' });
    const code = /\d{6}/.exec(sender.lastTo('+4512345678')?.text ?? '')?.[0];
    const after = new OtpChallenges({ store, sender, encryptionKey: TEST_KEY });
    const outcome = await runStrategy(new SmsOtpStrategy({ challenges: after, loadUser: () => ({ id: 'u1' }) }), fakeRequest({ code }, { smsOtp: { userId: 'u1', challengeId, startedAtMs: 0, expiresAtMs } }));
    expect(outcome.kind).to.equal('error');
    expect((outcome as { error: SmsOtpError }).error.code).to.equal('SECRET_UNREADABLE');
    const refused = await after.start({ userId: 'u1', phoneNumber: '+4512345678' }).then(() => undefined, (err: unknown) => err);
    expect(refused).to.be.instanceOf(SmsOtpError);
    expect((refused as SmsOtpError).code).to.equal('SECRET_UNREADABLE');
  });
});

describe('SmsOtpStrategy: exactly one action', () => {
  it('an app callback that throws inside success() is not followed by error(); the throw goes to next()', async () => {
    const sender = new OutboxSender();
    const challenges = new OtpChallenges({ store: new MemoryOtpStore(), sender, encryptionKey: TEST_KEY });
    const { challengeId, expiresAtMs } = await challenges.start({ userId: 'u1', phoneNumber: '+4512345678' });
    const code = /\d{6}/.exec(sender.lastTo('+4512345678')?.text ?? '')?.[0];
    const strategy = new SmsOtpStrategy({ challenges, loadUser: () => ({ id: 'u1' }) });
    const actions: string[] = [];
    const run = Object.create(strategy) as SmsOtpStrategy & Record<string, unknown>;
    run.success = () => { actions.push('success'); throw new Error('app callback broke'); };
    run.error = () => { actions.push('error'); };
    run.fail = () => { actions.push('fail'); };
    const passedOn = new Promise<unknown>((resolve) => {
      run.authenticate({ method: 'POST', body: { code }, session: { smsOtp: { userId: 'u1', challengeId, startedAtMs: 0, expiresAtMs } }, next: resolve } as never);
    });
    expect(String(await passedOn)).to.include('app callback broke');
    expect(actions).to.deep.equal(['success']);
  });
});
