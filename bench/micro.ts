// Run by bench/run.ts as `node --expose-gc --import tsx bench/micro.ts`: prints one JSON line.
// Two in-process measurements that need no HTTP: MemoryOtpStore's heap after a million
// challenges issued and expired, and HOTP code generation against a bare HMAC-SHA1 loop.
import { createHmac, randomBytes } from 'node:crypto';
import { hotpCode, MemoryOtpStore } from 'passport-sms-otp';

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with node --expose-gc');

function settledHeap(): number {
  for (let i = 0; i < 4; i++) gc?.();
  return process.memoryUsage().heapUsed;
}

export interface MemoryStoreResult {
  users: number;
  challenges: number;
  heapBeforeBytes: number;
  heapPeakBytes: number;
  heapAfterBytes: number;
  /** (after - before) / before, in per cent. */
  diffPercent: number;
  seconds: number;
}

/**
 * `users` users (their secrets and counters are kept for good, by design, as in Redis) get
 * `challenges` challenges between them, each with its phone send, its armed code (a MAC) and one wrong attempt, on a
 * clock that moves 1 ms per challenge. Then the clock passes every lifetime, window and failure
 * memory, one sweep runs, and the heap is compared with the heap after the users' first login.
 */
async function memoryStore(users: number, challenges: number): Promise<MemoryStoreResult> {
  let now = Date.now();
  const store = new MemoryOtpStore({ sweepIntervalMs: 24 * 3_600_000, now: () => now });
  const budget = { max: 10_000, windowMs: 15 * 60_000 };
  const failures = { backoffAfter: 100, lockAfter: 100, lockMs: 900_000, baseDelayMs: 1000, memoryMs: 86_400_000 };
  const sealed = Array.from({ length: users }, () => randomBytes(60).toString('base64url'));
  const wrongDigest = randomBytes(32).toString('base64url');
  let k = 0;
  const one = async (user: number): Promise<void> => {
    const userId = `user-${user}`;
    const challengeId = `c${k}`;
    const sendId = `s${k++}`;
    await store.reservePhoneSend({ phoneKey: `phone${user}`, sendId, budget });
    const issued = await store.issue({ userId, challengeId, sendId, newSealedSecret: sealed[user] as string, pendingTtlMs: 600_000, codeTtlMs: 300_000, cooldownMs: 30_000, lockAfter: 100, userBudget: budget });
    if (issued.status !== 'issued') throw new Error(`unexpected ${issued.status}`);
    await store.arm({ userId, challengeId, counter: issued.counter, codeDigest: randomBytes(32).toString('base64url') });
    await store.attempt({ userId, challengeId, codeDigests: [wrongDigest], maxAttempts: 5, failures });
    now += 1;
  };
  const expireAll = (): void => {
    now += 2 * 86_400_000;
    store.sweep();
  };

  const started = performance.now();
  for (let user = 0; user < users; user++) await one(user);
  expireAll();
  const heapBeforeBytes = settledHeap();
  let heapPeakBytes = 0;
  for (let i = 0; i < challenges; i++) {
    await one(i % users);
    if (i === challenges - 1) heapPeakBytes = settledHeap();
  }
  expireAll();
  const heapAfterBytes = settledHeap();
  store.close();
  return {
    users,
    challenges,
    heapBeforeBytes,
    heapPeakBytes,
    heapAfterBytes,
    diffPercent: ((heapAfterBytes - heapBeforeBytes) / heapBeforeBytes) * 100,
    seconds: (performance.now() - started) / 1000,
  };
}

export interface HotpResult {
  iterations: number;
  hotpPerSecond: number;
  hmacPerSecond: number;
  /** hotpPerSecond / hmacPerSecond. */
  ratio: number;
}

/**
 * hotpCode() against createHmac('sha1', key).update(counter).digest(), in 15 interleaved pairs of
 * rounds: on a shared machine a burst of other work lands on one round, not on one side, and the
 * median of the pairs' ratios leaves it out.
 */
function hotpSpeed(iterations: number): HotpResult {
  const secret = randomBytes(20);
  const counter = Buffer.alloc(8);
  let sink = 0;
  const rate = (fn: (i: number) => void): number => {
    const t0 = performance.now();
    for (let i = 0; i < iterations; i++) fn(i);
    return iterations / ((performance.now() - t0) / 1000);
  };
  const hmac = (i: number): void => {
    counter.writeUInt32BE(i, 4);
    sink ^= createHmac('sha1', secret).update(counter).digest()[19] as number;
  };
  const hotp = (i: number): void => {
    sink ^= hotpCode(secret, i, 6).charCodeAt(5);
  };
  rate(hmac);
  rate(hotp);
  const pairs = Array.from({ length: 15 }, (_, round) => {
    // Alternate which side goes first, so neither always runs after the other's garbage.
    if (round % 2 === 0) {
      const h = rate(hmac);
      return { h, o: rate(hotp) };
    }
    const o = rate(hotp);
    return { h: rate(hmac), o };
  });
  if (sink === -1) console.error('unreachable');
  const median = (xs: number[]): number => xs.slice().sort((x, y) => x - y)[Math.floor(xs.length / 2)] as number;
  return {
    iterations,
    hotpPerSecond: median(pairs.map((p) => p.o)),
    hmacPerSecond: median(pairs.map((p) => p.h)),
    ratio: median(pairs.map((p) => p.o / p.h)),
  };
}

const challenges = Number(process.env.BENCH_MEMORY_CHALLENGES ?? 1_000_000);
const users = Number(process.env.BENCH_MEMORY_USERS ?? 50_000);
const hotp = hotpSpeed(Number(process.env.BENCH_HOTP_ITERATIONS ?? 100_000));
const memory = await memoryStore(users, challenges);
process.stdout.write(`${JSON.stringify({ memory, hotp })}\n`);
