import { expect } from 'chai';
import { OtpChallenges } from '../src/challenge.js';
import { OutboxSender } from '../src/senders/outbox.js';
import { MemoryOtpStore } from '../src/stores/memory.js';
import { TEST_KEY } from './helpers/app.js';

/** The process warnings emitted while `run` goes, and whether any rejection went unhandled. */
async function watch(run: () => Promise<void>): Promise<{ warnings: string[]; unhandled: unknown[] }> {
  const warnings: string[] = [];
  const unhandled: unknown[] = [];
  const onWarning = (w: Error) => { warnings.push(w.message); };
  const onUnhandled = (reason: unknown) => { unhandled.push(reason); };
  // Mocha's own handler would fail the run at once; this test wants to count them instead.
  const mochaHandlers = process.listeners('unhandledRejection');
  process.removeAllListeners('unhandledRejection');
  process.on('warning', onWarning);
  process.on('unhandledRejection', onUnhandled);
  try {
    await run();
    // Rejections and warnings are reported on later ticks.
    await new Promise((r) => setTimeout(r, 50));
  } finally {
    process.off('warning', onWarning);
    process.off('unhandledRejection', onUnhandled);
    for (const h of mochaHandlers) process.on('unhandledRejection', h);
  }
  return { warnings, unhandled };
}

describe('Audit events: a listener that fails never breaks a login', () => {
  const rig = () => {
    const outbox = new OutboxSender();
    return { outbox, challenges: new OtpChallenges({ store: new MemoryOtpStore(), sender: outbox, encryptionKey: TEST_KEY }) };
  };

  it('a listener that throws: the login goes on, the error becomes a warning', async () => {
    const { outbox, challenges } = rig();
    challenges.events.on('sms.sent', () => { throw new Error('log sink down'); });
    const { warnings, unhandled } = await watch(async () => {
      await challenges.start({ userId: 'u1', phoneNumber: '+4512345678' });
    });
    expect(outbox.messages).to.have.length(1);
    expect(unhandled).to.deep.equal([]);
    expect(warnings.some((w) => w.includes('"sms.sent" listener threw: log sink down'))).to.equal(true);
  });

  it('an async listener that rejects: no unhandled rejection (it would end the process), a warning instead', async () => {
    const { outbox, challenges } = rig();
    const seen: string[] = [];
    challenges.events.on('sms.sent', async () => { await Promise.resolve(); throw new Error('SIEM unreachable'); });
    challenges.events.onAny(async (event) => { seen.push(event.type); await Promise.reject(new Error(`forwarding ${event.type} failed`)); });
    const { warnings, unhandled } = await watch(async () => {
      const started = await challenges.start({ userId: 'u2', phoneNumber: '+4512345678' });
      const code = /\d{6}/.exec(outbox.messages[0]?.text ?? '')?.[0] ?? '';
      expect((await challenges.verify({ userId: 'u2', challengeId: started.challengeId, code })).ok).to.equal(true);
    });
    expect(unhandled).to.deep.equal([]);
    expect(seen).to.include.members(['challenge.issued', 'sms.sent', 'verify.succeeded']);
    expect(warnings.some((w) => w.includes('"sms.sent" listener threw: SIEM unreachable'))).to.equal(true);
    expect(warnings.some((w) => w.includes('"verify.succeeded" listener threw: forwarding verify.succeeded failed'))).to.equal(true);
  });
});

describe('Audit events: listeners come and go', () => {
  it('offAny removes an onAny listener from every event; off removes one from its event', async () => {
    const challenges = new OtpChallenges({ store: new MemoryOtpStore(), sender: new OutboxSender(), encryptionKey: TEST_KEY, resendCooldownSeconds: 0 });
    const all: string[] = [];
    const sent: string[] = [];
    const any = (event: { type: string }) => { all.push(event.type); };
    const onSent = (event: { type: string }) => { sent.push(event.type); };
    challenges.events.onAny(any).on('sms.sent', onSent);
    const { challengeId } = await challenges.start({ userId: 'u1', phoneNumber: '+4512345678' });
    expect(all).to.deep.equal(['challenge.issued', 'sms.sent']);
    challenges.events.offAny(any).off('sms.sent', onSent);
    await challenges.resend({ userId: 'u1', phoneNumber: '+4512345678', challengeId });
    await challenges.verify({ userId: 'u1', challengeId, code: '000000' });
    expect(all).to.deep.equal(['challenge.issued', 'sms.sent']);
    expect(sent).to.deep.equal(['sms.sent']);
  });
});
