import { expect } from 'chai';
import { OtpChallenges } from '../src/challenge.js';
import { SmsOtpError, SmsSendError } from '../src/errors.js';
import type { SmsOtpEvents } from '../src/events.js';
import type { SmsMessage, SmsSender } from '../src/sender.js';
import type { OtpStore } from '../src/store.js';
import { sendKeptLive } from '../src/delivery.js';
import { MemoryOtpStore } from '../src/stores/memory.js';
import { TEST_KEY } from './helpers/app.js';
import { bothStores } from './helpers/stores.js';

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

/** A store whose named methods fail (STORE_UNAVAILABLE, as a dropped Redis connection) the next `n` times each. */
function blippingStore(inner: OtpStore): OtpStore & { failNext: (method: keyof OtpStore, n: number) => void } {
  const failures = new Map<keyof OtpStore, number>();
  return new Proxy(inner, {
    get(target, name, receiver) {
      if (name === 'failNext') return (method: keyof OtpStore, n: number) => { failures.set(method, n); };
      const value: unknown = Reflect.get(target, name, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const left = failures.get(name as keyof OtpStore) ?? 0;
        if (left > 0) {
          failures.set(name as keyof OtpStore, left - 1);
          return Promise.reject(new SmsOtpError('STORE_UNAVAILABLE'));
        }
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  }) as OtpStore & { failNext: (method: keyof OtpStore, n: number) => void };
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

  describe('surely not sent: the number\'s budget slot is given back too', () => {
    for (const [name, makeStore] of bothStores('phone-refund')) {
      it(`${name}: the next user of that number still gets a text`, async () => {
        const sender = new FlakySender();
        const challenges = new OtpChallenges({ store: makeStore(), sender, encryptionKey: TEST_KEY, maxSendsPerPhoneNumber: 1 });
        const phoneNumber = '+4529123456';
        sender.failWith = new SmsSendError('refused', { httpStatus: 403, mayHaveBeenSent: false });
        const refused = await challenges.start({ userId: 'a', phoneNumber }).catch((err: unknown) => err);
        expect(refused).to.be.instanceOf(SmsSendError);
        sender.failWith = undefined;
        await challenges.start({ userId: 'b', phoneNumber });
        expect(sender.codes).to.have.length(2);
      });
    }
  });

  it('a sender that refuses its input (an SmsOtpError other than SEND_FAILED): surely not sent, so nothing stays counted', async () => {
    const sender = new FlakySender();
    const challenges = new OtpChallenges({ store: new MemoryOtpStore(), sender, encryptionKey: TEST_KEY, maxSendsPerPhoneNumber: 1, maxSendsPerUser: 1 });
    const counted: boolean[] = [];
    challenges.events.on('sms.failed', (event) => { counted.push(event.counted); });
    sender.failWith = new SmsOtpError('PHONE_NUMBER_INVALID');
    const refused = await challenges.start({ userId: 'u', phoneNumber: '+4512345678' }).catch((err: unknown) => err);
    expect(refused).to.be.instanceOf(SmsOtpError).with.property('code', 'PHONE_NUMBER_INVALID');
    expect(counted).to.deep.equal([false]);
    sender.failWith = undefined;
    await challenges.start({ userId: 'u', phoneNumber: '+4512345678' });
    expect(sender.codes).to.have.length(2);
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

  const maybeSent: Array<[string, () => Error]> = [
    ['a plain error', () => new Error('ETIMEDOUT after the provider took it')],
    // A custom sender's own SEND_FAILED says nothing about whether the text left: counted, like a plain error.
    ['an SmsOtpError SEND_FAILED', () => new SmsOtpError('SEND_FAILED')],
  ];
  for (const [name, failure] of maybeSent) {
    it(`a sender that throws ${name}: SEND_FAILED, and the send stays counted (it may have gone out)`, async () => {
      const sender = new FlakySender();
      sender.failWith = failure();
      const challenges = new OtpChallenges({ store: new MemoryOtpStore(), sender, encryptionKey: TEST_KEY, resendCooldownSeconds: 0, maxSendsPerUser: 2 });
      const counted: boolean[] = [];
      challenges.events.on('sms.failed', (event) => { counted.push(event.counted); });
      const codes: string[] = [];
      for (let i = 0; i < 4; i++) {
        const err = await challenges.start({ userId: 'u', phoneNumber: '+4512345678' }).catch((e: unknown) => e);
        codes.push(err instanceof SmsOtpError ? err.code : 'sent');
      }
      expect(codes).to.deep.equal(['SEND_FAILED', 'SEND_FAILED', 'SEND_THROTTLED', 'SEND_THROTTLED']);
      expect(counted).to.deep.equal([true, true]);
      expect(sender.codes).to.have.length(2);
    });
  }

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

  describe('when the store fails in the middle of a send (a Redis blip)', () => {
    const PHONE = '+4512345678';
    const rig = (numbers: { maxSendsPerUser?: number; resendCooldownSeconds?: number } = {}) => {
      const store = blippingStore(new MemoryOtpStore());
      const sender = new FlakySender();
      const challenges = new OtpChallenges({ store, sender, encryptionKey: TEST_KEY, resendCooldownSeconds: 0, ...numbers });
      const failed: Array<SmsOtpEvents['sms.failed']> = [];
      challenges.events.on('sms.failed', (e) => { failed.push(e); });
      return { store, sender, challenges, failed };
    };

    it('the number\'s budget cannot be read: the user\'s step is given back, and the login in progress stays', async () => {
      const { store, sender, challenges } = rig({ maxSendsPerUser: 2 });
      const first = await challenges.start({ userId: 'u', phoneNumber: PHONE });
      store.failNext('reservePhoneSend', 1);
      const err = await challenges.start({ userId: 'u', phoneNumber: PHONE }).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(SmsOtpError).with.property('code', 'STORE_UNAVAILABLE');
      expect(sender.codes).to.have.length(1);
      expect((await challenges.verify({ userId: 'u', challengeId: first.challengeId, code: sender.codes[0] })).ok, 'the first login\'s code').to.equal(true);
      // One text went out, so one of the user's two slots is taken: one more login, then the budget.
      await challenges.start({ userId: 'u', phoneNumber: PHONE });
      const over = await challenges.start({ userId: 'u', phoneNumber: PHONE }).catch((e: unknown) => e);
      expect(over).to.be.instanceOf(SmsOtpError).with.property('code', 'SEND_THROTTLED');
    });

    it('arming fails and the first try to give the send back fails too: tried again, the code in hand works, nothing counted', async () => {
      const { store, sender, challenges, failed } = rig();
      const { challengeId } = await challenges.start({ userId: 'u', phoneNumber: PHONE });
      store.failNext('arm', 1);
      store.failNext('cancelSend', 1);
      const err = await challenges.resend({ userId: 'u', challengeId, phoneNumber: PHONE }).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(SmsOtpError).with.property('code', 'STORE_UNAVAILABLE');
      expect(sender.codes).to.have.length(1);
      expect(failed.map((e) => [e.reason, e.counted])).to.deep.equal([['STORE_UNAVAILABLE', false]]);
      const result = await challenges.verify({ userId: 'u', challengeId, code: sender.codes[0] });
      expect(result.ok, 'the code the user holds').to.equal(true);
    });

    it('the number\'s budget refuses a resend and giving the step back fails: STORE_UNAVAILABLE, not a SEND_THROTTLED that promises the old code still works', async () => {
      const store = blippingStore(new MemoryOtpStore());
      const sender = new FlakySender();
      const challenges = new OtpChallenges({ store, sender, encryptionKey: TEST_KEY, resendCooldownSeconds: 0, maxSendsPerPhoneNumber: 1 });
      const { challengeId } = await challenges.start({ userId: 'u', phoneNumber: PHONE });
      // The first try and both retries.
      store.failNext('cancelSend', 3);
      const err = await challenges.resend({ userId: 'u', challengeId, phoneNumber: PHONE }).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(SmsOtpError).with.property('code', 'STORE_UNAVAILABLE');
      // With the give-back working, the same refusal is SEND_THROTTLED and the code in hand still works.
      const again = await challenges.resend({ userId: 'u', challengeId, phoneNumber: PHONE }).catch((e: unknown) => e);
      expect(again).to.be.instanceOf(SmsOtpError).with.property('code', 'SEND_THROTTLED');
    });

    // The start step keeps a session's login in progress after a failed new login only when the
    // store put it back; sendKeptLive tells it which. Each way a send can fail, checked against the store.
    const failures: Array<[string, (store: ReturnType<typeof blippingStore>, sender: FlakySender) => void, boolean]> = [
      ['the number\'s budget cannot be read, the give-back takes', (store) => { store.failNext('reservePhoneSend', 1); }, false],
      ['the number\'s budget cannot be read, nor the give-back', (store) => { store.failNext('reservePhoneSend', 1); store.failNext('cancelSend', 3); }, true],
      ['the number\'s budget is spent, the give-back fails', (store) => { store.failNext('cancelSend', 3); }, true],
      ['surely not sent, given back', (_store, sender) => { sender.failWith = new SmsSendError('refused', { mayHaveBeenSent: false }); }, false],
      ['surely not sent, the give-back fails', (store, sender) => { sender.failWith = new SmsSendError('refused', { mayHaveBeenSent: false }); store.failNext('cancelSend', 3); }, true],
      ['may have been sent', (_store, sender) => { sender.failWith = new Error('ETIMEDOUT'); }, true],
    ];
    for (const [name, breakIt, keptLive] of failures) {
      it(`${name}: sendKeptLive is ${keptLive}, and the login before it is ${keptLive ? 'gone' : 'back'}`, async () => {
        const store = blippingStore(new MemoryOtpStore());
        const sender = new FlakySender();
        // The budget case needs the number's one text spent by the first login; the others have room.
        const numbers = name.includes('spent') ? { maxSendsPerPhoneNumber: 1 } : {};
        const challenges = new OtpChallenges({ store, sender, encryptionKey: TEST_KEY, resendCooldownSeconds: 0, ...numbers });
        const first = await challenges.start({ userId: 'u', phoneNumber: PHONE });
        const code = sender.codes[0];
        breakIt(store, sender);
        const err = await challenges.start({ userId: 'u', phoneNumber: PHONE }).then(() => undefined, (e: unknown) => e);
        expect(err).to.be.instanceOf(SmsOtpError);
        expect(sendKeptLive(err)).to.equal(keptLive);
        sender.failWith = undefined;
        expect((await challenges.verify({ userId: 'u', challengeId: first.challengeId, code })).ok).to.equal(!keptLive);
      });
    }

    it('a give-back that hung for over a second is not tried again: the step answers, the send stays counted', async () => {
      const inner = new MemoryOtpStore();
      let calls = 0;
      const store: OtpStore = Object.assign(Object.create(inner) as OtpStore, {
        cancelSend: async () => {
          calls++;
          await new Promise((resolve) => setTimeout(resolve, 1050));
          throw new SmsOtpError('STORE_UNAVAILABLE');
        },
      });
      const sender = new FlakySender();
      const challenges = new OtpChallenges({ store, sender, encryptionKey: TEST_KEY, resendCooldownSeconds: 0 });
      const counted: boolean[] = [];
      challenges.events.on('sms.failed', (event) => { counted.push(event.counted); });
      const { challengeId } = await challenges.start({ userId: 'u', phoneNumber: PHONE });
      sender.failWith = new SmsSendError('refused', { httpStatus: 403, mayHaveBeenSent: false });
      await challenges.resend({ userId: 'u', challengeId, phoneNumber: PHONE }).catch(() => undefined);
      expect([calls, counted]).to.deep.equal([1, [true]]);
    });

    it('a store that keeps failing: the event says the send stayed counted', async () => {
      const { store, challenges, failed } = rig();
      const { challengeId } = await challenges.start({ userId: 'u', phoneNumber: PHONE });
      store.failNext('arm', 1);
      store.failNext('cancelSend', 10);
      await challenges.resend({ userId: 'u', challengeId, phoneNumber: PHONE }).catch(() => undefined);
      expect(failed.map((e) => [e.reason, e.counted])).to.deep.equal([['STORE_UNAVAILABLE', true]]);
    });
  });

  describe('a double-submitted login that the number\'s budget refuses twice', () => {
    for (const [name, makeStore] of bothStores('double-refused')) {
      it(`${name}: the login in progress keeps working, and only the text that went out is counted`, async () => {
        const sender = new FlakySender();
        const inner = makeStore();
        // The two new logins overlap: each takes the number's budget only once both have issued their code.
        let issued = 0;
        let bothIssued: () => void = () => undefined;
        const gate = new Promise<void>((resolve) => { bothIssued = resolve; });
        const store: OtpStore = Object.assign(Object.create(inner) as OtpStore, {
          issue: async (input: Parameters<OtpStore['issue']>[0]) => {
            const result = await inner.issue(input);
            if (++issued === 3) bothIssued();
            return result;
          },
          reservePhoneSend: async (input: Parameters<OtpStore['reservePhoneSend']>[0]) => {
            if (issued >= 2) await gate;
            return inner.reservePhoneSend(input);
          },
        });
        const challenges = new OtpChallenges({ store, sender, encryptionKey: TEST_KEY, maxSendsPerPhoneNumber: 1, maxSendsPerUser: 3, resendCooldownSeconds: 0 });
        const userId = `double-${Date.now()}`;
        const first = await challenges.start({ userId, phoneNumber: '+4512345678' });
        const refused = await Promise.allSettled([challenges.start({ userId, phoneNumber: '+4512345678' }), challenges.start({ userId, phoneNumber: '+4512345678' })]);
        expect(refused.map((r) => (r.status === 'rejected' ? (r.reason as SmsOtpError).code : 'sent'))).to.deep.equal(['SEND_THROTTLED', 'SEND_THROTTLED']);
        expect(sender.codes).to.have.length(1);
        expect((await challenges.verify({ userId, challengeId: first.challengeId, code: sender.codes[0] })).ok).to.equal(true);
        // One of the user's three slots was used (by the text that went out): two more are left (to another number).
        const other = new OtpChallenges({ store, sender, encryptionKey: TEST_KEY, maxSendsPerUser: 3, resendCooldownSeconds: 0 });
        await other.start({ userId, phoneNumber: '+4587654321' });
        await other.start({ userId, phoneNumber: '+4587654321' });
        const over = await other.start({ userId, phoneNumber: '+4587654321' }).catch((e: unknown) => e);
        expect(over).to.be.instanceOf(SmsOtpError).with.property('code', 'SEND_THROTTLED');
      });
    }
  });
});
