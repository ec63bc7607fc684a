import { expect } from 'chai';
import { OtpChallenges } from '../src/challenge.js';
import { SmsOtpError } from '../src/errors.js';
import { OutboxSender } from '../src/senders/outbox.js';
import { TEST_KEY } from './helpers/app.js';
import { bothStores } from './helpers/stores.js';

describe('Send budgets: a send refused for the user\'s own reasons holds no slot of the number\'s budget', () => {
  const stores = bothStores('slots');
  for (const [name, makeStore] of stores) {
    it(`${name}: concurrent resends inside the cooldown are all RESEND_COOLDOWN, and another user's start to the number still goes out`, async () => {
      const sender = new OutboxSender();
      const challenges = new OtpChallenges({ store: makeStore(), sender, encryptionKey: TEST_KEY, maxSendsPerPhoneNumber: 2 });
      const { challengeId } = await challenges.start({ userId: 'u1', phoneNumber: '+4512345678' });
      const [results] = await Promise.all([
        Promise.all(Array.from({ length: 6 }, () => challenges.resend({ userId: 'u1', challengeId, phoneNumber: '+4512345678' }).catch((err: unknown) => err))),
        challenges.start({ userId: 'u2', phoneNumber: '+4512345678' }),
      ]);
      expect(results.map((r) => (r instanceof SmsOtpError ? r.code : 'sent'))).to.deep.equal(Array(6).fill('RESEND_COOLDOWN'));
      expect(sender.messages).to.have.length(2);
      // The number's budget (2) is now spent: a third user is refused, and nothing of theirs is left behind.
      const third = await challenges.start({ userId: 'u3', phoneNumber: '+4512345678' }).catch((err: unknown) => err);
      expect(third).to.be.instanceOf(SmsOtpError).with.property('code', 'SEND_THROTTLED');
      expect((third as SmsOtpError).retryAfterSeconds).to.be.within(1, 900);
      expect(sender.messages).to.have.length(2);
    });
  }
});
