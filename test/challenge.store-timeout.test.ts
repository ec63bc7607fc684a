import { expect } from 'chai';
import { createClient } from 'redis';
import { OtpChallenges, type OtpChallengesOptions } from '../src/challenge.js';
import { SmsOtpError } from '../src/errors.js';
import { OutboxSender } from '../src/senders/outbox.js';
import type { OtpStore } from '../src/store.js';
import { SCRIPTS } from '../src/stores/redis-scripts.js';
import { RedisOtpStore } from '../src/stores/redis.js';
import { codeIn, TEST_KEY } from './helpers/app.js';
import { ThrowawayRedis } from './helpers/redis.js';

const TIMEOUT_MS = 300;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * A Redis that hangs (paused, or a network that drops packets) answers nothing, and the store gives
 * up after its timeout; but node-redis still holds the command, and Redis runs it when it wakes up.
 * A send refused that way must not, late, end the login in progress or the code in hand for a
 * text never sent.
 */
describe('OtpChallenges: a send whose store call timed out', function () {
  this.timeout(20_000);
  let redis: ThrowawayRedis;
  let client: ReturnType<typeof createClient>;
  let n = 0;

  before(async () => {
    redis = await ThrowawayRedis.start();
    client = createClient({ url: redis.url });
    client.on('error', () => undefined);
    await client.connect();
  });
  after(async () => {
    client.destroy();
    await redis.stop();
  });

  async function setup(numbers: Partial<OtpChallengesOptions> = {}, wrap: (store: OtpStore) => OtpStore = (store) => store) {
    // Redis knows the scripts of the steps (they ran before), not the give-backs (they run only
    // after a failure): a give-back the store sends after the late step is answered NOSCRIPT long
    // after its call timed out.
    // This test's own redis-server: nothing of another test is left in it.
    await client.flushAll();
    await client.scriptFlush();
    for (const step of ['issue', 'resend', 'arm', 'attempt', 'reservePhoneSend', 'deleteUser', 'ping'] as const) await client.scriptLoad(SCRIPTS[step].source);
    const store = new RedisOtpStore(client, { commandTimeoutMs: TIMEOUT_MS });
    const sender = new OutboxSender();
    const challenges = new OtpChallenges({ store: wrap(store), sender, encryptionKey: TEST_KEY, ...numbers });
    n++;
    const userId = `timeout-${Date.now()}-${n}`;
    // A number of its own per test: the number's budget is counted per number.
    const PHONE = `+45123456${10 + n}`;
    const lastCode = () => codeIn(sender.lastTo(PHONE)?.text);
    /**
     * Runs `step` while Redis hangs (from the start, or from where the step pauses it) for well over
     * the store's timeout and its retries; it must fail with STORE_UNAVAILABLE.
     */
    const refusedWhileHung = async (step: () => Promise<unknown>, pauseFirst = true) => {
      if (pauseFirst) redis.pause();
      let refused: unknown;
      try {
        await step();
      } catch (err) {
        refused = err;
      }
      await sleep(2000);
      redis.resume();
      expect(refused).to.be.instanceOf(SmsOtpError).with.property('code', 'STORE_UNAVAILABLE');
      // Replies come in order: once one ping answers, the late step and its give-back have been
      // answered, and a give-back sent again as EVAL after a NOSCRIPT is on its way before a second.
      await store.ping();
      await store.ping();
    };
    const sends = () => client.zCard(store.keysOf(userId).sent);
    /** Sends counted against the number's budget. */
    const numberSends = async () => {
      let total = 0;
      for await (const keys of client.scanIterator({ MATCH: 'sms-otp:{phone:*}:sent' })) for (const key of keys) total += await client.zCard(key);
      return total;
    };
    return { store, sender, challenges, userId, PHONE, lastCode, refusedWhileHung, sends, numberSends };
  }

  it('a new login: the login in progress is as it was, its code works, and the send is not counted', async () => {
    const { challenges, sender, userId, PHONE, lastCode, refusedWhileHung, sends, numberSends } = await setup();
    const inProgress = await challenges.start({ userId, phoneNumber: PHONE });
    const code = lastCode();
    await refusedWhileHung(() => challenges.start({ userId, phoneNumber: PHONE }));
    expect(sender.messages).to.have.length(1);
    expect(await sends()).to.equal(1);
    expect(await numberSends()).to.equal(1);
    expect(await challenges.verify({ userId, challengeId: inProgress.challengeId, code })).to.deep.equal({ ok: true });
  });

  it('a resend: the code in hand still works, and the send is not counted', async () => {
    const { challenges, sender, userId, PHONE, lastCode, refusedWhileHung, sends } = await setup({ resendCooldownSeconds: 0 });
    const { challengeId } = await challenges.start({ userId, phoneNumber: PHONE });
    await challenges.resend({ userId, phoneNumber: PHONE, challengeId });
    const code = lastCode();
    await refusedWhileHung(() => challenges.resend({ userId, phoneNumber: PHONE, challengeId }));
    expect(sender.messages).to.have.length(2);
    expect(await sends()).to.equal(2);
    expect(await challenges.verify({ userId, challengeId, code })).to.deep.equal({ ok: true });
  });

  it('a resend that Redis refuses when it runs late (the login\'s last text spent): the code in hand still works', async () => {
    const { challenges, userId, PHONE, lastCode, refusedWhileHung } = await setup({ resendCooldownSeconds: 0, maxSendsPerChallenge: 2 });
    const { challengeId } = await challenges.start({ userId, phoneNumber: PHONE });
    await challenges.resend({ userId, phoneNumber: PHONE, challengeId });
    const code = lastCode();
    await refusedWhileHung(() => challenges.resend({ userId, phoneNumber: PHONE, challengeId }));
    expect(await challenges.verify({ userId, challengeId, code })).to.deep.equal({ ok: true });
  });

  it('a resend clicked twice while Redis hangs: both withdrawn, the code in hand still works', async () => {
    const { challenges, sender, userId, PHONE, lastCode, refusedWhileHung, sends } = await setup({ resendCooldownSeconds: 0 });
    const { challengeId } = await challenges.start({ userId, phoneNumber: PHONE });
    const code = lastCode();
    await refusedWhileHung(() => Promise.all([
      challenges.resend({ userId, phoneNumber: PHONE, challengeId }),
      challenges.resend({ userId, phoneNumber: PHONE, challengeId }),
    ]));
    expect(sender.messages).to.have.length(1);
    expect(await sends()).to.equal(1);
    expect(await challenges.verify({ userId, challengeId, code })).to.deep.equal({ ok: true });
  });

  it('a new login whose number\'s budget call timed out: the number\'s budget and the user\'s are given back, the login in progress kept', async () => {
    let hangAtNumber = false;
    // Redis hangs just as the number's budget is asked: the user's step has run, the number's runs late.
    const hangBeforeNumber = (inner: OtpStore): OtpStore => Object.assign(Object.create(inner) as OtpStore, {
      reservePhoneSend: (input: Parameters<OtpStore['reservePhoneSend']>[0]) => {
        if (hangAtNumber) redis.pause();
        return inner.reservePhoneSend(input);
      },
    });
    const { challenges, sender, userId, PHONE, lastCode, refusedWhileHung, sends, numberSends } = await setup({}, hangBeforeNumber);
    const inProgress = await challenges.start({ userId, phoneNumber: PHONE });
    const code = lastCode();
    hangAtNumber = true;
    await refusedWhileHung(() => challenges.start({ userId, phoneNumber: PHONE }), false);
    expect(sender.messages).to.have.length(1);
    expect(await numberSends()).to.equal(1);
    expect(await sends()).to.equal(1);
    expect(await challenges.verify({ userId, challengeId: inProgress.challengeId, code })).to.deep.equal({ ok: true });
  });
});
