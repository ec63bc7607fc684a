import { expect } from 'chai';
import { OtpChallenges } from '../src/challenge.js';
import { SmsOtpError, SmsSendError } from '../src/errors.js';
import type { SmsMessage, SmsSender } from '../src/sender.js';
import { TEST_KEY } from './helpers/app.js';
import { bothStores } from './helpers/stores.js';

/** Keeps every code it is handed; fails the sends it is told to. */
class RecordingSender implements SmsSender {
  codes: string[] = [];
  failWith: Error | undefined;
  async send(message: SmsMessage): Promise<void> {
    this.codes.push(message.code);
    if (this.failWith !== undefined) throw this.failWith;
  }
}

const PHONE = '+4512345678';

/** What a promise rejects with; undefined if it resolves. */
const rejection = (promise: Promise<unknown>): Promise<unknown> => promise.then(() => undefined, (err: unknown) => err);

describe('A send that does not go out leaves the login in progress as it was', () => {
  const stores = bothStores('cancel');
  for (const [name, makeStore] of stores) {
    /** One user's login started, with the code it texted and a surely wrong one. */
    const started = async (options: Partial<ConstructorParameters<typeof OtpChallenges>[0]> = {}, userId = 'u') => {
      const sender = new RecordingSender();
      const challenges = new OtpChallenges({ store: makeStore(), sender, encryptionKey: TEST_KEY, ...options });
      const { challengeId } = await challenges.start({ userId, phoneNumber: PHONE });
      const first = sender.codes.at(-1) as string;
      return { sender, challenges, challengeId, first, wrong: first === '000000' ? '111111' : '000000' };
    };

    it(`${name}: refused for the number's budget (SEND_THROTTLED), the first code still logs the user in`, async () => {
      const { sender, challenges, challengeId, first } = await started({ resendCooldownSeconds: 0, maxSendsPerPhoneNumber: 2 }, 'victim');
      // Another account on the same number spends the number's budget.
      await challenges.start({ userId: 'other', phoneNumber: PHONE });
      const refused = await rejection(challenges.resend({ userId: 'victim', challengeId, phoneNumber: PHONE }));
      expect(refused).to.be.instanceOf(SmsOtpError).with.property('code', 'SEND_THROTTLED');
      expect(sender.codes).to.have.length(2);
      const result = await challenges.verify({ userId: 'victim', challengeId, code: first });
      expect(result).to.deep.equal({ ok: true });
    });

    it(`${name}: a text that surely did not go out gives the old code back, and attempts still carry over`, async () => {
      const { sender, challenges, challengeId, first, wrong } = await started({ resendCooldownSeconds: 0 });
      expect(await challenges.verify({ userId: 'u', challengeId, code: wrong })).to.have.nested.property('error.attemptsLeft', 4);
      sender.failWith = new SmsSendError('refused', { httpStatus: 403, mayHaveBeenSent: false });
      await challenges.resend({ userId: 'u', challengeId, phoneNumber: PHONE }).then(() => { throw new Error('resolved'); }, (err: unknown) => {
        expect(err).to.be.instanceOf(SmsSendError);
      });
      const withdrawn = sender.codes.at(-1) as string;
      if (withdrawn !== first) expect((await challenges.verify({ userId: 'u', challengeId, code: withdrawn })).ok).to.equal(false);
      expect(await challenges.verify({ userId: 'u', challengeId, code: first })).to.deep.equal({ ok: true });
    });

    it(`${name}: a new login refused for the number's budget leaves the login in progress alive, cooldown and attempts included`, async () => {
      const { challenges, challengeId, first, wrong } = await started({ maxSendsPerPhoneNumber: 2 }, 'victim');
      expect(await challenges.verify({ userId: 'victim', challengeId, code: wrong })).to.have.nested.property('error.attemptsLeft', 4);
      await challenges.start({ userId: 'other', phoneNumber: PHONE });
      const refused = await rejection(challenges.start({ userId: 'victim', phoneNumber: PHONE }));
      expect(refused).to.be.instanceOf(SmsOtpError).with.property('code', 'SEND_THROTTLED');
      const early = await rejection(challenges.resend({ userId: 'victim', challengeId, phoneNumber: PHONE }));
      expect(early, 'the cooldown of the login in progress still runs').to.be.instanceOf(SmsOtpError).with.property('code', 'RESEND_COOLDOWN');
      expect(await challenges.verify({ userId: 'victim', challengeId, code: wrong })).to.have.nested.property('error.attemptsLeft', 3);
      expect(await challenges.verify({ userId: 'victim', challengeId, code: first })).to.deep.equal({ ok: true });
    });

    it(`${name}: a resend that went out still kills the old code`, async () => {
      const { sender, challenges, challengeId, first } = await started({ resendCooldownSeconds: 0 });
      await challenges.resend({ userId: 'u', challengeId, phoneNumber: PHONE });
      const second = sender.codes.at(-1) as string;
      if (second !== first) expect((await challenges.verify({ userId: 'u', challengeId, code: first })).ok).to.equal(false);
      expect(await challenges.verify({ userId: 'u', challengeId, code: second })).to.deep.equal({ ok: true });
    });

    it(`${name}: SECRET_UNREADABLE (armed under a key this instance lacks) uses up none of the login's attempts`, async () => {
      const store = makeStore();
      const sender = new RecordingSender();
      const newKey = 'c'.repeat(64);
      const lacking = new OtpChallenges({ store, sender, encryptionKey: TEST_KEY });
      const rotated = new OtpChallenges({ store, sender, encryptionKeys: [{ id: 'next', key: newKey }, { id: 'current', key: TEST_KEY }] });
      const { challengeId } = await rotated.start({ userId: 'u', phoneNumber: PHONE });
      const code = sender.codes.at(-1) as string;
      for (let i = 0; i < 6; i++) {
        const err = await rejection(lacking.verify({ userId: 'u', challengeId, code }));
        expect(err).to.be.instanceOf(SmsOtpError).with.property('code', 'SECRET_UNREADABLE');
      }
      const wrong = code === '000000' ? '111111' : '000000';
      // The first counted attempt: four are left.
      expect(await rotated.verify({ userId: 'u', challengeId, code: wrong })).to.have.nested.property('error.attemptsLeft', 4);
      expect(await rotated.verify({ userId: 'u', challengeId, code })).to.deep.equal({ ok: true });
    });
  }
});
