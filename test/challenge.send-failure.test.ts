import { expect } from 'chai';
import { OtpChallenges } from '../src/challenge.js';
import { SmsOtpError, SmsSendError } from '../src/errors.js';
import type { SmsMessage, SmsSender } from '../src/sender.js';
import { MemoryOtpStore } from '../src/stores/memory.js';
import { TEST_KEY } from './helpers/app.js';

/** A sender that fails the next sends the way it is told, and remembers every code it was handed. */
class FlakySender implements SmsSender {
  codes: string[] = [];
  failWith: Error | undefined;
  async send(message: SmsMessage): Promise<void> {
    this.codes.push(message.code);
    const err = this.failWith;
    if (err !== undefined) throw err;
  }
}

describe('OtpChallenges: when a send fails', () => {
  const make = (sender: SmsSender) => new OtpChallenges({ store: new MemoryOtpStore(), sender, encryptionKey: TEST_KEY, resendCooldownSeconds: 0, maxSendsPerChallenge: 2 });

  it('surely not sent (a refusal): the code is withdrawn and the send given back', async () => {
    const sender = new FlakySender();
    const challenges = make(sender);
    const { challengeId } = await challenges.start({ userId: 'u', phoneNumber: '+4512345678' });
    sender.failWith = new SmsSendError('refused', { httpStatus: 403, mayHaveBeenSent: false });
    await challenges.resend({ userId: 'u', challengeId, phoneNumber: '+4512345678' }).then(() => { throw new Error('resolved'); }, (err: unknown) => {
      expect(err).to.be.instanceOf(SmsSendError);
    });
    const withdrawn = sender.codes.at(-1) as string;
    const result = await challenges.verify({ userId: 'u', challengeId, code: withdrawn });
    expect(result.ok).to.equal(false);
    sender.failWith = undefined;
    await challenges.resend({ userId: 'u', challengeId, phoneNumber: '+4512345678' });
    expect((await challenges.verify({ userId: 'u', challengeId, code: sender.codes.at(-1) })).ok).to.equal(true);
  });

  it('maybe sent (timeout, 5xx): the send stays counted and the code stays live', async () => {
    const sender = new FlakySender();
    const challenges = make(sender);
    const { challengeId } = await challenges.start({ userId: 'u', phoneNumber: '+4512345678' });
    sender.failWith = new SmsSendError('timeout', { retryable: true, mayHaveBeenSent: true });
    await challenges.resend({ userId: 'u', challengeId, phoneNumber: '+4512345678' }).catch(() => undefined);
    sender.failWith = undefined;
    const again = await challenges.resend({ userId: 'u', challengeId, phoneNumber: '+4512345678' }).catch((err: unknown) => err);
    expect(again).to.be.instanceOf(SmsOtpError).with.property('code', 'SEND_LIMIT');
    expect((await challenges.verify({ userId: 'u', challengeId, code: sender.codes.at(-1) })).ok).to.equal(true);
  });

  it('a sender that throws a plain error: SEND_FAILED, and the send stays counted (it may have gone out)', async () => {
    const sender = new FlakySender();
    sender.failWith = new Error('ETIMEDOUT after the provider took it');
    const challenges = new OtpChallenges({ store: new MemoryOtpStore(), sender, encryptionKey: TEST_KEY, resendCooldownSeconds: 0, maxSendsPerUser: 2 });
    const codes: string[] = [];
    for (let i = 0; i < 4; i++) {
      const err = await challenges.start({ userId: 'u', phoneNumber: '+4512345678' }).catch((e: unknown) => e);
      codes.push(err instanceof SmsOtpError ? err.code : 'sent');
    }
    expect(codes).to.deep.equal(['SEND_FAILED', 'SEND_FAILED', 'SEND_THROTTLED', 'SEND_THROTTLED']);
    expect(sender.codes).to.have.length(2);
  });

  it('a failure before the sender is called (an unreadable secret) gives the send back', async () => {
    const store = new MemoryOtpStore();
    const sender = new FlakySender();
    const options = { store, sender, resendCooldownSeconds: 0, maxSendsPerUser: 2 };
    const right = new OtpChallenges({ ...options, encryptionKey: 'b'.repeat(64) });
    const wrongKey = new OtpChallenges({ ...options, encryptionKey: TEST_KEY });
    await right.start({ userId: 'u', phoneNumber: '+4512345678' });
    const err = await wrongKey.start({ userId: 'u', phoneNumber: '+4512345678' }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(SmsOtpError).with.property('code', 'SECRET_UNREADABLE');
    expect(sender.codes).to.have.length(1);
    // Had the failed send been charged, the budget of 2 would be spent now.
    await right.start({ userId: 'u', phoneNumber: '+4512345678' });
    expect(sender.codes).to.have.length(2);
  });
});
