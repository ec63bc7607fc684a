import { expect } from 'chai';
import { createClient as createClient6 } from 'redis6';
import { OtpChallenges } from '../src/challenge.js';
import { SmsOtpError } from '../src/errors.js';
import { OutboxSender } from '../src/senders/outbox.js';
import { RedisOtpStore } from '../src/stores/redis.js';
import { connectRedis, REDIS_URL, uniquePrefix } from './helpers/redis.js';
import { storeContract } from './helpers/store-contract.js';

storeContract('RedisOtpStore on node-redis 5', async () => {
  const client = await connectRedis();
  return { store: new RedisOtpStore(client, { prefix: uniquePrefix('contract5') }), close: async () => { await client.quit(); } };
});

storeContract('RedisOtpStore on node-redis 6', async () => {
  const client = createClient6({ url: REDIS_URL });
  client.on('error', () => undefined);
  await client.connect();
  return { store: new RedisOtpStore(client, { prefix: uniquePrefix('contract6') }), close: async () => { await client.close(); } };
});

describe('RedisOtpStore: a code lives no longer than its secret', () => {
  it('a live, armed code whose secret-and-counter hash is gone is refused as no challenge', async () => {
    const client = await connectRedis();
    try {
      const store = new RedisOtpStore(client, { prefix: uniquePrefix('orphan') });
      const issued = await store.issue({ userId: 'u', challengeId: 'c', sendId: 's', newSealedSecret: 's', pendingTtlMs: 600_000, codeTtlMs: 300_000, cooldownMs: 0, lockAfter: 10, userBudget: { max: 5, windowMs: 900_000 } });
      expect(issued.status).to.equal('issued');
      expect(await store.arm({ userId: 'u', challengeId: 'c', counter: 1, codeDigest: 'mac-right' })).to.equal(true);
      await client.del(store.keysOf('u').hotp);
      const policy = { backoffAfter: 5, lockAfter: 10, lockMs: 900_000, baseDelayMs: 1000, memoryMs: 86_400_000 };
      expect(await store.attempt({ userId: 'u', challengeId: 'c', codeDigests: ['mac-right'], maxAttempts: 5, failures: policy })).to.deep.equal({ status: 'no_challenge' });
      await store.deleteUser('u');
    } finally {
      await client.quit();
    }
  });

  it('a resend whose secret-and-counter hash is gone is refused as no challenge, ends the login, and leaves no secret-less counter behind', async () => {
    const client = await connectRedis();
    try {
      const store = new RedisOtpStore(client, { prefix: uniquePrefix('orphan') });
      const budget = { max: 5, windowMs: 900_000 };
      await store.issue({ userId: 'u', challengeId: 'c', sendId: 's', newSealedSecret: 's', pendingTtlMs: 600_000, codeTtlMs: 300_000, cooldownMs: 0, lockAfter: 10, userBudget: budget });
      const k = store.keysOf('u');
      await client.del(k.hotp);
      const resend = { userId: 'u', challengeId: 'c', sendId: 's2', codeTtlMs: 300_000, cooldownMs: 0, maxSends: 3, maxAttempts: 5, lockAfter: 10, userBudget: budget };
      expect(await store.resend(resend)).to.deep.equal({ status: 'no_challenge' });
      expect(await client.exists([k.hotp, k.challenge, k.code])).to.equal(0);
      // The next login makes a new secret, counted from 1.
      expect(await store.issue({ userId: 'u', challengeId: 'c2', sendId: 's3', newSealedSecret: 'new', pendingTtlMs: 600_000, codeTtlMs: 300_000, cooldownMs: 0, lockAfter: 10, userBudget: budget }))
        .to.deep.equal({ status: 'issued', counter: 1, sealedSecret: 'new' });
      await store.deleteUser('u');
    } finally {
      await client.quit();
    }
  });
});

describe('RedisOtpStore: keys', () => {
  it('puts all of a user\'s keys under one hash tag, braces in the id escaped', () => {
    const store = new RedisOtpStore({ eval: async () => 1, evalSha: async () => 1 }, { prefix: 'p' });
    const keys = Object.values(store.keysOf('a}b{c'));
    const tags = keys.map((key) => /\{([^}]*)\}/.exec(key)?.[1]);
    expect(new Set(tags)).to.deep.equal(new Set(['a%7Db%7Bc']));
  });

  it('gives a TTL to every key but the secret-and-counter hash', async () => {
    const client = await connectRedis();
    try {
      const store = new RedisOtpStore(client, { prefix: uniquePrefix('ttl') });
      await store.issue({ userId: 'u', challengeId: 'c', sendId: 's1', newSealedSecret: 's', pendingTtlMs: 600_000, codeTtlMs: 300_000, cooldownMs: 30_000, lockAfter: 10, userBudget: { max: 5, windowMs: 900_000 } });
      // Arming keeps the code's lifetime.
      expect(await store.arm({ userId: 'u', challengeId: 'c', counter: 1, codeDigest: 'mac-right' })).to.equal(true);
      await store.attempt({ userId: 'u', challengeId: 'c', codeDigests: ['mac'], maxAttempts: 5, failures: { backoffAfter: 5, lockAfter: 10, lockMs: 900_000, baseDelayMs: 1000, memoryMs: 86_400_000 } });
      await store.reservePhoneSend({ phoneKey: 'pk', sendId: 's1', budget: { max: 5, windowMs: 900_000 } });
      const k = store.keysOf('u');
      expect(await client.pTTL(k.hotp)).to.equal(-1);
      expect(await client.pTTL(k.challenge)).to.be.within(590_000, 600_000);
      expect(await client.pTTL(k.code)).to.be.within(290_000, 300_000);
      expect(await client.pTTL(k.cooldown)).to.be.within(20_000, 30_000);
      expect(await client.pTTL(k.sent)).to.be.within(890_000, 900_000);
      expect(await client.pTTL(k.failures)).to.be.within(86_390_000, 86_400_000);
      expect(await client.pTTL(store.phoneKeyOf('pk'))).to.be.within(890_000, 900_000);
      await client.del(store.phoneKeyOf('pk'));
      expect(await client.hGetAll(k.hotp)).to.deep.equal({ sealed: 's', counter: '1' });
      await store.deleteUser('u');
      expect(await client.exists(Object.values(k))).to.equal(0);
    } finally {
      await client.quit();
    }
  });

  it('loads its scripts by itself after SCRIPT FLUSH', async () => {
    const client = await connectRedis();
    try {
      const store = new RedisOtpStore(client, { prefix: uniquePrefix('flush') });
      await client.scriptFlush();
      await store.ping();
      await store.deleteUser('u');
    } finally {
      await client.quit();
    }
  });

  it('a call fails closed as STORE_UNAVAILABLE: on a timeout (a late answer is ignored, a late NOSCRIPT sends nothing), a thrown or rejected call, a failed EVAL after NOSCRIPT, an unreadable error', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => { unhandled.push(reason); };
    process.on('unhandledRejection', onUnhandled);
    try {
      let late: ((err: Error) => void) | undefined;
      const hanging = new RedisOtpStore({ eval: async () => 1, evalSha: () => new Promise((_, reject) => { late = reject; }) }, { commandTimeoutMs: 30 });
      const timedOut = await hanging.ping().catch((e: unknown) => e);
      expect(timedOut).to.be.instanceOf(SmsOtpError).with.property('code', 'STORE_UNAVAILABLE');
      expect((timedOut as Error).message).to.match(/did not answer within 30 ms/);
      late?.(new Error('connection lost'));

      const throwing = new RedisOtpStore({ eval: async () => 1, evalSha: () => { throw new Error('client is closed'); } });
      const thrown = await throwing.ping().catch((e: unknown) => e);
      expect(thrown).to.be.instanceOf(SmsOtpError).with.property('code', 'STORE_UNAVAILABLE');
      expect((thrown as { cause?: Error }).cause?.message).to.equal('client is closed');

      const calls: string[] = [];
      const noScript = new RedisOtpStore({
        evalSha: async () => { calls.push('evalsha'); throw new Error('NOSCRIPT No matching script'); },
        eval: async () => { calls.push('eval'); throw new Error('OOM command not allowed'); },
      });
      const failedEval = await noScript.ping().catch((e: unknown) => e);
      expect(calls).to.deep.equal(['evalsha', 'eval']);
      expect(failedEval).to.be.instanceOf(SmsOtpError).with.property('code', 'STORE_UNAVAILABLE');
      expect((failedEval as { cause?: Error }).cause?.message).to.equal('OOM command not allowed');

      const loaded = new RedisOtpStore({ evalSha: async () => { throw new Error('NOSCRIPT No matching script'); }, eval: async () => 1 });
      await loaded.ping();

      // An error whose message cannot be read still fails the call, at once and handled.
      const strange = new Error('x');
      Object.defineProperty(strange, 'message', { get: () => { throw new Error('no message'); } });
      const odd = new RedisOtpStore({ eval: async () => 1, evalSha: async () => { throw strange; } }, { commandTimeoutMs: 5_000 });
      const started = Date.now();
      const oddErr = await odd.ping().catch((e: unknown) => e);
      expect(oddErr).to.be.instanceOf(SmsOtpError).with.property('code', 'STORE_UNAVAILABLE');
      // At once, not after the 5 s command timeout.
      expect(Date.now() - started).to.be.below(4_000);

      // TRYAGAIN (a cluster slot being moved, the script's keys split between two nodes): Redis ran
      // nothing, so the script is sent again shortly, through EVAL too, until the call times out.
      const tries: string[] = [];
      let busy = 2;
      const moving = new RedisOtpStore({
        evalSha: async () => { tries.push('evalsha'); throw new Error(busy-- > 0 ? 'TRYAGAIN Multiple keys request during rehashing of slot' : 'NOSCRIPT No matching script'); },
        eval: async () => { tries.push('eval'); if (tries.filter((t) => t === 'eval').length < 2) throw new Error('TRYAGAIN Multiple keys request during rehashing of slot'); return 1; },
      }, { commandTimeoutMs: 2_000 });
      await moving.ping();
      expect(tries).to.deep.equal(['evalsha', 'evalsha', 'evalsha', 'eval', 'eval']);
      const stuck = new RedisOtpStore({ evalSha: async () => { throw new Error('TRYAGAIN Multiple keys request during rehashing of slot'); }, eval: async () => 1 }, { commandTimeoutMs: 300 });
      const stuckErr = await stuck.ping().catch((e: unknown) => e);
      expect(stuckErr).to.be.instanceOf(SmsOtpError).with.property('code', 'STORE_UNAVAILABLE');
      expect((stuckErr as Error).message).to.match(/did not answer within 300 ms/);

      // NOSCRIPT after the caller was told the store timed out: the script is not sent again.
      const sent: string[] = [];
      let answerLate: ((err: Error) => void) | undefined;
      const slow = new RedisOtpStore({
        evalSha: () => { sent.push('evalsha'); return new Promise((_, reject) => { answerLate = reject; }); },
        eval: async () => { sent.push('eval'); return 1; },
      }, { commandTimeoutMs: 30 });
      expect(await slow.ping().catch((e: unknown) => (e as SmsOtpError).code)).to.equal('STORE_UNAVAILABLE');
      answerLate?.(new Error('NOSCRIPT No matching script'));
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(sent).to.deep.equal(['evalsha']);

      // A give-back (cancelSend, releasePhoneSend) is sent again all the same, through EVAL after a
      // late NOSCRIPT and again after a late TRYAGAIN: Redis has run what it gives back by then.
      // Any other script answered TRYAGAIN after its timeout is not.
      const lateAnswer = (first: string, then: string[]) => {
        const calls: string[] = [];
        let answer: ((err: Error) => void) | undefined;
        const client = {
          evalSha: (): Promise<unknown> => {
            calls.push('evalsha');
            if (calls.length === 1) return new Promise((_, reject) => { answer = reject; });
            const next = then.shift();
            return next === undefined ? Promise.resolve(1) : Promise.reject(new Error(next));
          },
          eval: async () => { calls.push('eval'); return 1; },
        };
        return { store: new RedisOtpStore(client, { commandTimeoutMs: 30 }), calls, answerLate: () => answer?.(new Error(first)) };
      };
      const settle = () => new Promise((resolve) => setTimeout(resolve, 250));
      const cancelled = lateAnswer('NOSCRIPT No matching script', []);
      expect(await cancelled.store.cancelSend({ userId: 'u', challengeId: 'c', sendId: 's' }).catch((e: unknown) => (e as SmsOtpError).code)).to.equal('STORE_UNAVAILABLE');
      cancelled.answerLate();
      await settle();
      expect(cancelled.calls).to.deep.equal(['evalsha', 'eval']);
      const TRYAGAIN = 'TRYAGAIN Multiple keys request during rehashing of slot';
      const released = lateAnswer(TRYAGAIN, [TRYAGAIN]);
      expect(await released.store.releasePhoneSend({ phoneKey: 'k', sendId: 's' }).catch((e: unknown) => (e as SmsOtpError).code)).to.equal('STORE_UNAVAILABLE');
      released.answerLate();
      await settle();
      expect(released.calls).to.deep.equal(['evalsha', 'evalsha', 'evalsha']);
      const pinged = lateAnswer(TRYAGAIN, []);
      expect(await pinged.store.ping().catch((e: unknown) => (e as SmsOtpError).code)).to.equal('STORE_UNAVAILABLE');
      pinged.answerLate();
      await settle();
      expect(pinged.calls).to.deep.equal(['evalsha']);
      expect(unhandled).to.deep.equal([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('refuses something that is not a node-redis client, and a prefix with braces', () => {
    expect(() => new RedisOtpStore({} as never)).to.throw(SmsOtpError, /node-redis client/);
    expect(() => new RedisOtpStore({ eval: async () => 1, evalSha: async () => 1 }, { prefix: 'a{b}' })).to.throw(SmsOtpError, /prefix/);
  });

  it('refuses a command timeout that is not a whole number of ms from 1 to 60 000 (setTimeout would turn a huge one into 1 ms and fail every call)', () => {
    const client = { eval: async () => 1, evalSha: async () => 1 };
    for (const commandTimeoutMs of [0, -5, 1.5, 60_001, 3e9, Number.NaN, '2000']) {
      expect(() => new RedisOtpStore(client, { commandTimeoutMs } as never), String(commandTimeoutMs)).to.throw(SmsOtpError, /commandTimeoutMs must be a whole number of ms from 1 to 60000/);
    }
    expect(() => new RedisOtpStore(client, { commandTimeoutMs: 60_000 })).not.to.throw();
  });
});

describe('User ids that cannot be keys', () => {
  it('a lone surrogate in a user id is refused as INVALID_OPTIONS before any store call', async () => {
    const broken = { eval: async () => { throw new Error('must not be called'); }, evalSha: async () => { throw new Error('must not be called'); } };
    const challenges = new OtpChallenges({ store: new RedisOtpStore(broken), sender: new OutboxSender(), encryptionKey: 'a'.repeat(64) });
    const err = await challenges.start({ userId: 'bad\uD800id', phoneNumber: '+4512345678' }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(SmsOtpError).with.property('code', 'INVALID_OPTIONS');
    expect(() => new RedisOtpStore(broken).keysOf('x\uDC00')).to.throw(SmsOtpError, /well-formed/);
  });
});
