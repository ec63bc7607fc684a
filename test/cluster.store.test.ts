import { expect } from 'chai';
import request from 'supertest';
import { OtpChallenges } from '../src/challenge.js';
import { OutboxSender } from '../src/senders/outbox.js';
import { RedisOtpStore } from '../src/stores/redis.js';
import { buildApp, codeIn, TEST_KEY } from './helpers/app.js';
import { LocalRedisCluster, type TestClusterClient } from './helpers/cluster.js';
import { uniquePrefix } from './helpers/redis.js';
import { storeContract } from './helpers/store-contract.js';

const JSON_ACCEPT = { Accept: 'application/json' };
const IDS = ['1', 'alice', 'a}b{c', '{x}', '}{', '{', 'user@example.com', 'name with spaces', 'ünïcødé', '😀', 'x'.repeat(200)];

describe('RedisOtpStore on a 3-primary Redis Cluster', function () {
  this.timeout(30_000);
  let cluster: LocalRedisCluster;
  let client: TestClusterClient;
  before(async () => {
    cluster = await LocalRedisCluster.start();
    client = await cluster.connect();
  });
  after(async () => {
    if (client?.isOpen) await client.close();
    await cluster?.stop();
  });

  /** The slots of keys, as one node computes them (`CLUSTER KEYSLOT`). */
  const keySlots = async (keys: string[]): Promise<number[]> => {
    const [slots] = await cluster.eachNode(async (node) => Promise.all(keys.map(async (key) => Number(await node.sendCommand(['CLUSTER', 'KEYSLOT', key])))));
    return slots as number[];
  };

  describe('keys', () => {
    it('puts every key of a user in one slot, braces in the id or not', async () => {
      const store = new RedisOtpStore(client, { prefix: 'sms-otp' });
      for (const id of IDS) {
        const slots = new Set(await keySlots(Object.values(store.keysOf(id))));
        expect(slots.size, `keys of ${JSON.stringify(id)}`).to.equal(1);
      }
    });

    it('spreads users over the slots, and so over the primaries', async () => {
      const store = new RedisOtpStore(client, { prefix: uniquePrefix('spread') });
      const ids = Array.from({ length: 30 }, (_, i) => `spread-${i}`);
      expect(new Set(await keySlots(ids.map((id) => store.keysOf(id).hotp))).size).to.be.greaterThan(20);
      for (const id of ids) {
        await store.issue({ userId: id, challengeId: 'c', sendId: 's', newSealedSecret: 'sealed', pendingTtlMs: 60_000, codeTtlMs: 60_000, cooldownMs: 0, lockAfter: 10, userBudget: { max: 5, windowMs: 60_000 } });
      }
      const perNode = await cluster.eachNode((node) => node.dbSize());
      expect(perNode.every((keys) => keys > 0), `keys per primary: ${perNode.join(', ')}`).to.equal(true);
      for (const id of ids) await store.deleteUser(id);
    });
  });

  storeContract('RedisOtpStore on a node-redis cluster client (3 primaries)', async () => ({
    store: new RedisOtpStore(client, { prefix: uniquePrefix('cluster') }),
    close: async () => undefined,
  }));

  describe('a whole login', () => {
    it('password, code from the text, account: every step on the cluster', async () => {
      const outbox = new OutboxSender();
      const store = new RedisOtpStore(client, { prefix: uniquePrefix('cluster-login') });
      const { app } = buildApp({ store, sender: outbox, numbers: { resendCooldownSeconds: 0 } });
      const agent = request.agent(app);
      expect((await agent.post('/login').set(JSON_ACCEPT).send({ username: 'alice', password: 'alice-password' })).status).to.equal(200);
      const wrong = await agent.post('/login/otp').set(JSON_ACCEPT).send({ code: codeIn(outbox.lastTo('+4512345678')?.text) === '000000' ? '111111' : '000000' });
      expect([wrong.status, wrong.body.error]).to.deep.equal([401, 'CODE_WRONG']);
      expect((await agent.post('/login/otp/resend').set(JSON_ACCEPT)).status).to.equal(200);
      const right = await agent.post('/login/otp').set(JSON_ACCEPT).send({ code: codeIn(outbox.lastTo('+4512345678')?.text) });
      expect([right.status, right.body]).to.deep.equal([200, { status: 'authenticated' }]);
      expect((await agent.get('/account').set(JSON_ACCEPT)).body).to.deep.equal({ username: 'alice' });
      await store.deleteUser('1');
    });
  });

  describe('CROSSSLOT', () => {
    it('no command of the store was refused with CROSSSLOT (INFO errorstats on every node)', async () => {
      // Traffic of its own first (start, wrong code, resend, forget, for ids that test the hash
      // tag), so the check holds when this test runs alone as well as after the contract.
      const challenges = new OtpChallenges({ store: new RedisOtpStore(client, { prefix: uniquePrefix('crossslot') }), sender: new OutboxSender(), encryptionKey: TEST_KEY, resendCooldownSeconds: 0, maxSendsPerPhoneNumber: 20 });
      for (const userId of IDS.slice(1, 6)) {
        const { challengeId } = await challenges.start({ userId, phoneNumber: '+4512345678' });
        expect((await challenges.verify({ userId, challengeId, code: '000000' })).ok).to.equal(false);
        await challenges.resend({ userId, challengeId, phoneNumber: '+4512345678' });
        await challenges.forgetUser(userId);
      }
      expect(await cluster.errorCount('CROSSSLOT')).to.equal(0);
    });

    it('the check above would see one: a script over two users\' keys is refused and counted', async () => {
      const store = new RedisOtpStore(client, { prefix: 'sms-otp' });
      const [a, b] = [store.keysOf('alice').hotp, store.keysOf('bob').hotp];
      const [slotA, slotB] = await keySlots([a, b]);
      expect(slotA).to.not.equal(slotB);
      const err = await cluster.eachNode((node) => node.eval('return 1', { keys: [a, b], arguments: [] }).then(() => undefined, (e: unknown) => e));
      expect(err.every((e) => e instanceof Error)).to.equal(true);
      expect(await cluster.errorCount('CROSSSLOT')).to.be.greaterThan(0);
    });
  });
});
