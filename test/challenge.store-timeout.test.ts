import { expect } from 'chai';
import { createClient } from 'redis';
import { OtpChallenges } from '../src/challenge.js';
import { SmsOtpError } from '../src/errors.js';
import { OutboxSender } from '../src/senders/outbox.js';
import { RedisOtpStore } from '../src/stores/redis.js';
import { codeIn, TEST_KEY } from './helpers/app.js';
import { ThrowawayRedis } from './helpers/redis.js';

const PHONE = '+4512345678';

/**
 * A Redis that hangs (paused, or a network that drops packets) answers nothing, and the store gives
 * up after its timeout; but node-redis still holds the command, and Redis runs it when it wakes up.
 * A new login refused that way must not, late, end the login in progress for a text never sent.
 */
describe('OtpChallenges: a new login whose store call timed out', function () {
  this.timeout(20_000);
  let redis: ThrowawayRedis;
  let client: ReturnType<typeof createClient>;

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

  it('leaves the login in progress as it was, its code working and the user\'s sends as they were, once Redis answers again', async () => {
    const store = new RedisOtpStore(client, { commandTimeoutMs: 300 });
    const sender = new OutboxSender();
    const challenges = new OtpChallenges({ store, sender, encryptionKey: TEST_KEY });
    const userId = `timeout-${Date.now()}`;

    const inProgress = await challenges.start({ userId, phoneNumber: PHONE });
    const code = codeIn(sender.lastTo(PHONE)?.text);

    redis.pause();
    let refused: unknown;
    try {
      await challenges.start({ userId, phoneNumber: PHONE });
    } catch (err) {
      refused = err;
    } finally {
      redis.resume();
    }
    expect(refused).to.be.instanceOf(SmsOtpError).with.property('code', 'STORE_UNAVAILABLE');
    expect(sender.messages).to.have.length(1);

    // Commands on one connection run in order: once a ping answers, the late login and anything
    // sent after it have run.
    await store.ping();
    // The new login's send is not counted against the user (one slot: the first login's).
    expect(await client.zCard(store.keysOf(userId).sent)).to.equal(1);
    expect(await challenges.verify({ userId, challengeId: inProgress.challengeId, code })).to.deep.equal({ ok: true });
    await challenges.forgetUser(userId);
  });
});
