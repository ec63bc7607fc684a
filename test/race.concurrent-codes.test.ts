import { expect } from 'chai';
import request from 'supertest';
import { OtpChallenges } from '../src/challenge.js';
import { OutboxSender } from '../src/senders/outbox.js';
import { MemoryOtpStore } from '../src/stores/memory.js';
import { RedisOtpStore } from '../src/stores/redis.js';
import type { OtpStore } from '../src/store.js';
import { buildApp, codeIn, sessionCookie, TEST_KEY } from './helpers/app.js';
import { redisForSuite } from './helpers/redis.js';

const PARALLEL = 50;

describe('Races: concurrent submissions of the right code', () => {
  const redis = redisForSuite('race');

  const stores: Array<[string, () => OtpStore]> = [
    ['RedisOtpStore', () => new RedisOtpStore(redis.client, { prefix: redis.prefix() })],
    ['MemoryOtpStore', () => new MemoryOtpStore()],
  ];

  for (const [name, makeStore] of stores) {
    it(`${name}: ${PARALLEL} parallel HTTP submissions on one session, exactly one succeeds`, async () => {
      const sender = new OutboxSender();
      const { app } = buildApp({ store: makeStore(), sender });
      const login = await request(app).post('/login').send({ username: 'bob', password: 'bob-password' });
      const cookie = sessionCookie(login) as string;
      const code = codeIn(sender.lastTo('+4587654321')?.text);
      const results = await Promise.all(Array.from({ length: PARALLEL }, () => request(app).post('/login/otp').set('Cookie', cookie).send({ code })));
      const statuses = results.map((r) => r.status);
      expect(statuses.filter((s) => s === 200)).to.have.length(1);
      // Losers get a 401 (wrong, used) or a 429 (the per-user backoff the burst itself set off); never a 5xx.
      expect(statuses.filter((s) => s !== 200 && s !== 401 && s !== 429), 'no 5xx').to.have.length(0);
    });

    it(`${name}: ${PARALLEL} parallel verifies straight on OtpChallenges, exactly one ok`, async () => {
      const sender = new OutboxSender();
      const challenges = new OtpChallenges({ store: makeStore(), sender, encryptionKey: TEST_KEY });
      const { challengeId } = await challenges.start({ userId: 'racer', phoneNumber: '+4512345678' });
      const code = codeIn(sender.lastTo('+4512345678')?.text);
      const results = await Promise.all(Array.from({ length: PARALLEL }, () => challenges.verify({ userId: 'racer', challengeId, code })));
      expect(results.filter((r) => r.ok)).to.have.length(1);
    });

    it(`${name}: counts every wrong attempt: of 50 parallel wrong codes at most 5 are compared, and the user backoff stops the rest`, async () => {
      const sender = new OutboxSender();
      const challenges = new OtpChallenges({ store: makeStore(), sender, encryptionKey: TEST_KEY });
      const { challengeId } = await challenges.start({ userId: 'guesser', phoneNumber: '+4512345678' });
      const code = codeIn(sender.lastTo('+4512345678')?.text);
      const guesses = Array.from({ length: PARALLEL }, (_, i) => String((Number(code) + 1 + i) % 1_000_000).padStart(6, '0'));
      const results = await Promise.all(guesses.map((guess) => challenges.verify({ userId: 'guesser', challengeId, code: guess })));
      const codes = results.map((r) => (r.ok ? 'OK' : r.error.code));
      expect(codes.filter((c) => c === 'CODE_WRONG')).to.have.length(4);
      expect(codes.filter((c) => c === 'CHALLENGE_EXHAUSTED')).to.have.length(1);
      expect(codes.filter((c) => c === 'LOCKED')).to.have.length(PARALLEL - 5);
      expect((await challenges.verify({ userId: 'guesser', challengeId, code })).ok).to.equal(false);
    });
  }
});
