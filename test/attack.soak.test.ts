import { expect } from 'chai';
import { OtpChallenges } from '../src/challenge.js';
import type { SmsMessage, SmsSender } from '../src/sender.js';
import { RedisOtpStore } from '../src/stores/redis.js';
import { TEST_KEY } from './helpers/app.js';
import { redisForSuite } from './helpers/redis.js';

const USERS = 1000;
const PER_USER = 10;
const IN_FLIGHT = 200;

/** Runs `work` over `items` with at most `limit` calls in flight. */
async function pool<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await work(items[next++] as T);
  };
  await Promise.all(Array.from({ length: limit }, worker));
}

/** A seeded shuffle, so a failing run can be repeated. */
function shuffle<T>(items: T[], seed: number): T[] {
  let s = seed;
  const rand = (): number => ((s = (s * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}

class CodeSender implements SmsSender {
  readonly codes = new Map<string, string>();
  async send(message: SmsMessage): Promise<void> {
    this.codes.set(message.to, message.code);
  }
}

interface Submission { user: number; right: boolean; code: string }
interface Seen { result: string; right: boolean }

describe('Attack (soak): 10 000 code submissions across 1 000 users at once, real Redis', function () {
  this.timeout(120_000);
  const redis = redisForSuite('soak');
  let store: RedisOtpStore;
  const userId = (i: number): string => `soak-${i}`;
  const phoneOf = (i: number): string => `+452${String(i).padStart(7, '0')}`;


  it('zero double successes, and every attempt that reached the store is counted once, in Redis and in the events', async () => {
    const prefix = redis.prefix();
    const client = redis.client;
    store = new RedisOtpStore(client, { prefix, commandTimeoutMs: 10_000 });
    const sender = new CodeSender();
    // Generous numbers so neither the per-user backoff nor a budget masks the counting: 10 attempts per
    // challenge, no wait before the 100th consecutive failure, a budget that 1 000 starts do not reach.
    const challenges = new OtpChallenges({ store, sender, encryptionKey: TEST_KEY, maxAttempts: PER_USER, backoffAfterFailures: 100, lockAfterFailures: 100, maxSendsPerUser: 100, maxSendsPerPhoneNumber: 100 });
    const attemptsSeen = new Map<number, number[]>();
    const failuresSeen = new Map<number, number[]>();
    const note = (map: Map<number, number[]>, id: string, value: number | undefined): void => {
      if (value === undefined) return;
      const i = Number(id.slice('soak-'.length));
      map.set(i, [...(map.get(i) ?? []), value]);
    };
    challenges.events.on('verify.failed', (e) => { note(attemptsSeen, e.userId, e.attempts); note(failuresSeen, e.userId, e.consecutiveFailures); });
    challenges.events.on('verify.succeeded', (e) => note(attemptsSeen, e.userId, e.attempts));

    const users = Array.from({ length: USERS }, (_, i) => i);
    const challengeIds = new Map<number, string>();
    await pool(users, IN_FLIGHT, async (i) => {
      challengeIds.set(i, (await challenges.start({ userId: userId(i), phoneNumber: phoneOf(i) })).challengeId);
    });
    expect(sender.codes.size).to.equal(USERS);

    // Even users only guess wrong; odd users send the right code 1-10 times among their 10 submissions.
    const submissions: Submission[] = [];
    for (const i of users) {
      const right = sender.codes.get(phoneOf(i)) as string;
      const rights = i % 2 === 0 ? 0 : 1 + (Math.floor(i / 2) % PER_USER);
      for (let j = 0; j < PER_USER; j++) {
        const isRight = j < rights;
        const code = isRight ? right : String((Number(right) + 1 + j) % 1_000_000).padStart(6, '0');
        submissions.push({ user: i, right: isRight, code });
      }
    }
    expect(submissions).to.have.length(USERS * PER_USER);

    const seen = new Map<number, Seen[]>();
    const thrown: unknown[] = [];
    await pool(shuffle(submissions, 20_240_601), IN_FLIGHT, async ({ user, right, code }) => {
      try {
        const r = await challenges.verify({ userId: userId(user), challengeId: challengeIds.get(user) as string, code });
        seen.set(user, [...(seen.get(user) ?? []), { result: r.ok ? 'OK' : r.error.code, right }]);
      } catch (err) {
        thrown.push(err);
      }
    });
    expect(thrown, 'no store error under load').to.deep.equal([]);

    const range = (n: number): number[] => Array.from({ length: n }, (_, k) => k + 1);
    const sorted = (xs: number[] | undefined): number[] => [...(xs ?? [])].sort((a, b) => a - b);
    let counted = 0;
    for (const i of users) {
      const results = seen.get(i) ?? [];
      expect(results, `user ${i}`).to.have.length(PER_USER);
      const successes = results.filter((r) => r.result === 'OK');
      expect(successes.every((r) => r.right), `user ${i}: only a right code succeeds`).to.equal(true);
      // Submissions after the success find no challenge; every one before it was counted.
      const reached = results.filter((r) => r.result !== 'NO_PENDING_LOGIN').length;
      counted += reached;
      expect(sorted(attemptsSeen.get(i)), `user ${i}: attempt numbers 1..n, each once`).to.deep.equal(range(reached));
      if (i % 2 === 0) {
        expect(successes, `user ${i}`).to.have.length(0);
        expect(reached).to.equal(PER_USER);
        expect(results.filter((r) => r.result === 'CODE_WRONG')).to.have.length(PER_USER - 1);
        expect(results.filter((r) => r.result === 'CHALLENGE_EXHAUSTED')).to.have.length(1);
        expect(sorted(failuresSeen.get(i)), `user ${i}: consecutive failures 1..10`).to.deep.equal(range(PER_USER));
      } else {
        expect(successes, `user ${i}: exactly one success`).to.have.length(1);
        const failures = sorted(failuresSeen.get(i));
        expect(new Set(failures).size, `user ${i}: failure counts are unique`).to.equal(failures.length);
        expect(failures.every((f) => f >= 1 && f <= reached)).to.equal(true);
      }
    }

    // What Redis holds: for guessers, the challenge's attempts and the user's failures equal the submissions;
    // for the others, the success consumed the challenge and cleared the failures.
    const stored = await Promise.all(users.map(async (i) => {
      const k = store.keysOf(userId(i));
      const [attempts, failures, challengeExists, codeExists, counter] = await Promise.all([
        client.hGet(k.challenge, 'attempts'), client.hGet(k.failures, 'count'), client.exists(k.challenge), client.exists(k.code), client.hGet(k.hotp, 'counter'),
      ]);
      return { i, attempts, failures, challengeExists, codeExists, counter };
    }));
    let storedAttempts = 0;
    for (const s of stored) {
      expect(s.counter, `user ${s.i}: one code issued`).to.equal('1');
      if (s.i % 2 === 0) {
        expect([s.attempts, s.failures], `user ${s.i}: attempts and failures in Redis`).to.deep.equal([String(PER_USER), String(PER_USER)]);
        storedAttempts += Number(s.attempts);
      } else {
        expect([s.challengeExists, s.codeExists, s.failures], `user ${s.i}: consumed`).to.deep.equal([0, 0, null]);
      }
    }
    expect(storedAttempts).to.equal((USERS / 2) * PER_USER);
    expect(counted, 'attempts counted in all').to.be.at.least((USERS / 2) * PER_USER + USERS / 2);
  });
});
