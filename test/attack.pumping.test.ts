import { expect } from 'chai';
import { OtpChallenges, type OtpChallengesOptions } from '../src/challenge.js';
import { isSmsOtpError } from '../src/errors.js';
import type { SmsOtpEventName, SmsOtpEvents } from '../src/events.js';
import { DEFAULTS } from '../src/options.js';
import { redactPhoneNumber } from '../src/sender.js';
import { OutboxSender } from '../src/senders/outbox.js';
import type { OtpStore } from '../src/store.js';
import { MemoryOtpStore } from '../src/stores/memory.js';
import { RedisOtpStore } from '../src/stores/redis.js';
import { TEST_KEY } from './helpers/app.js';
import { redisForSuite } from './helpers/redis.js';

const REQUESTS = 1000;
const IN_FLIGHT = 50;

type AnyEvent = { [K in SmsOtpEventName]: SmsOtpEvents[K] & { type: K } }[SmsOtpEventName];
/** Which throttle reason each refusal code must be reported under. */
const REASONS: Record<string, string[]> = { SEND_THROTTLED: ['phone_budget', 'user_budget'], RESEND_COOLDOWN: ['cooldown'], SEND_LIMIT: ['send_limit'], LOCKED: ['locked'] };

async function pool<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) await work(items[next++] as T);
  }));
}

/** A seeded pseudo-random sequence, so a failing script can be replayed. */
function random(seed: number): () => number {
  let s = seed;
  return () => ((s = (s * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
}

/** The challenge logic wired to an outbox (what the sender really received) and an audit log. */
function rig(store: OtpStore, extra: Partial<OtpChallengesOptions> = {}) {
  const outbox = new OutboxSender({ maxMessages: 10_000 });
  const challenges = new OtpChallenges({ store, sender: outbox, encryptionKey: TEST_KEY, ...extra });
  const events: AnyEvent[] = [];
  challenges.events.onAny((e) => events.push(e as AnyEvent));
  const refusals: string[] = [];
  const refused = (err: unknown): void => {
    if (!isSmsOtpError(err)) throw err;
    refusals.push(err.code);
    if (err.code === 'SEND_THROTTLED') expect(err.retryAfterSeconds).to.be.within(1, DEFAULTS.sendWindowSeconds);
  };
  const count = (type: SmsOtpEventName, reason?: string): number => events.filter((e) => e.type === type && (reason === undefined || (e as { reason?: string }).reason === reason)).length;
  /** The events tell the same story as the outbox: one sms.sent per text received, one throttle event per refusal. */
  const audit = (requests: number, untracked: string[] = []): void => {
    const sent = events.filter((e) => e.type === 'sms.sent');
    expect(sent.length, 'sms.sent events = texts received').to.equal(outbox.messages.length);
    expect(count('challenge.issued'), 'challenge.issued = sms.sent').to.equal(sent.length);
    expect(sent.map((e) => e.phone).sort(), 'the same numbers, redacted').to.deep.equal(outbox.messages.map((m) => redactPhoneNumber(m.to)).sort());
    expect(count('sms.failed')).to.equal(0);
    expect(sent.length + refusals.length, 'every request answered once').to.equal(requests);
    const throttled = refusals.filter((c) => c in REASONS);
    expect(refusals.filter((c) => !(c in REASONS) && !untracked.includes(c)), 'no other refusal').to.deep.equal([]);
    expect(count('send.throttled'), 'one throttle event per refusal').to.equal(throttled.length);
    for (const [code, reasons] of Object.entries(REASONS)) {
      const events = reasons.reduce((sum, reason) => sum + count('send.throttled', reason), 0);
      expect(events, `throttle events for ${code}`).to.equal(refusals.filter((c) => c === code).length);
    }
  };
  return { outbox, challenges, events, refusals, refused, count, audit };
}

describe('Attack (SMS pumping): 1 000 start requests stay within the send budgets; events match the texts', function () {
  this.timeout(60_000);
  const redis = redisForSuite('pump');

  const stores: Array<[string, () => OtpStore]> = [
    ['MemoryOtpStore', () => new MemoryOtpStore()],
    ['RedisOtpStore', () => new RedisOtpStore(redis.client, { prefix: redis.prefix() })],
  ];

  it('the defaults under attack: 5 texts per number and per user in 15 min, 3 per login', () => {
    expect([DEFAULTS.maxSendsPerPhoneNumber, DEFAULTS.maxSendsPerUser, DEFAULTS.sendWindowSeconds, DEFAULTS.maxSendsPerChallenge]).to.deep.equal([5, 5, 900, 3]);
  });

  for (const [name, makeStore] of stores) {
    describe(name, () => {
      it(`one phone number, ${REQUESTS} user ids: ${DEFAULTS.maxSendsPerPhoneNumber} texts, the rest refused (phone_budget)`, async () => {
        const r = rig(makeStore());
        const target = '+4520202020';
        const users = Array.from({ length: REQUESTS }, (_, i) => `pump-user-${i}`);
        await pool(users, IN_FLIGHT, (userId) => r.challenges.start({ userId, phoneNumber: target }).then(() => undefined, r.refused));
        expect(r.outbox.messages.map((m) => m.to)).to.deep.equal(Array(DEFAULTS.maxSendsPerPhoneNumber).fill(target));
        expect(r.count('send.throttled', 'phone_budget')).to.equal(REQUESTS - DEFAULTS.maxSendsPerPhoneNumber);
        r.audit(REQUESTS);
      });

      it(`one user, ${REQUESTS} phone numbers: ${DEFAULTS.maxSendsPerUser} texts, the rest refused (user_budget)`, async () => {
        const r = rig(makeStore());
        const numbers = Array.from({ length: REQUESTS }, (_, i) => `+4530${String(i).padStart(6, '0')}`);
        await pool(numbers, IN_FLIGHT, (phoneNumber) => r.challenges.start({ userId: 'pumper', phoneNumber }).then(() => undefined, r.refused));
        expect(r.outbox.messages).to.have.length(DEFAULTS.maxSendsPerUser);
        expect(new Set(r.outbox.messages.map((m) => m.to)).size).to.equal(DEFAULTS.maxSendsPerUser);
        expect(r.count('send.throttled', 'user_budget')).to.equal(REQUESTS - DEFAULTS.maxSendsPerUser);
        r.audit(REQUESTS);
      });

      // In flight together, a refused resend holds a slot of the number's budget until its own refusal gives it back, so
      // some siblings are refused as SEND_THROTTLED (phone_budget) instead; one at a time, each gets its own reason.
      for (const inFlight of [1, IN_FLIGHT]) {
        const also = inFlight === 1 ? [] : ['SEND_THROTTLED'];
        it(`one login, ${REQUESTS} resends with no cooldown, ${inFlight} in flight: ${DEFAULTS.maxSendsPerChallenge} texts in all, the rest SEND_LIMIT`, async () => {
          const r = rig(makeStore(), { resendCooldownSeconds: 0 });
          const phoneNumber = `+454040404${inFlight % 10}`;
          const { challengeId } = await r.challenges.start({ userId: 'resender', phoneNumber });
          const resends = Array.from({ length: REQUESTS - 1 }, () => ({ userId: 'resender', challengeId, phoneNumber }));
          await pool(resends, inFlight, (req) => r.challenges.resend(req).then(() => undefined, r.refused));
          expect(r.outbox.messages).to.have.length(DEFAULTS.maxSendsPerChallenge);
          expect(r.refusals.filter((c) => c !== 'SEND_LIMIT' && !also.includes(c))).to.deep.equal([]);
          expect(r.refusals.filter((c) => c === 'SEND_LIMIT').length).to.be.greaterThan(0);
          r.audit(REQUESTS);
        });

        it(`one login, ${REQUESTS} resends with the default cooldown, ${inFlight} in flight: the first text only, the rest RESEND_COOLDOWN`, async () => {
          const r = rig(makeStore());
          const phoneNumber = `+454141414${inFlight % 10}`;
          const { challengeId } = await r.challenges.start({ userId: 'impatient', phoneNumber });
          const resends = Array.from({ length: REQUESTS - 1 }, () => ({ userId: 'impatient', challengeId, phoneNumber }));
          await pool(resends, inFlight, (req) => r.challenges.resend(req).then(() => undefined, r.refused));
          expect(r.outbox.messages).to.have.length(1);
          expect(r.refusals.filter((c) => c !== 'RESEND_COOLDOWN' && !also.includes(c))).to.deep.equal([]);
          expect(r.count('send.throttled', 'cooldown')).to.be.greaterThan(0);
          r.audit(REQUESTS);
        });
      }

      it(`a mixed script: ${REQUESTS} starts and resends from 40 users over 25 numbers; every number, user and login within its budget`, async () => {
        const r = rig(makeStore(), { resendCooldownSeconds: 0 });
        const rand = random(name.length * 7919);
        const users = Array.from({ length: 40 }, (_, i) => `mix-user-${i}`);
        const numbers = Array.from({ length: 25 }, (_, i) => `+4550${String(i).padStart(6, '0')}`);
        const live = new Map<string, { challengeId: string; phoneNumber: string }>();
        const script = Array.from({ length: REQUESTS }, () => ({ resend: rand() < 0.3, userId: users[Math.floor(rand() * users.length)] as string, phoneNumber: numbers[Math.floor(rand() * numbers.length)] as string }));
        let requests = 0;
        await pool(script, IN_FLIGHT, async ({ resend, userId, phoneNumber }) => {
          const current = live.get(userId);
          requests++;
          if (resend && current !== undefined) return r.challenges.resend({ userId, ...current }).then(() => undefined, r.refused);
          return r.challenges.start({ userId, phoneNumber }).then((c) => { live.set(userId, { challengeId: c.challengeId, phoneNumber }); }, r.refused);
        });
        const perNumber = new Map<string, number>();
        for (const m of r.outbox.messages) perNumber.set(m.to, (perNumber.get(m.to) ?? 0) + 1);
        const perUser = new Map<string, number>();
        const perChallenge = new Map<string, number>();
        for (const e of r.events) {
          if (e.type !== 'sms.sent') continue;
          perUser.set(e.userId, (perUser.get(e.userId) ?? 0) + 1);
          perChallenge.set(e.challengeId, (perChallenge.get(e.challengeId) ?? 0) + 1);
        }
        expect(Math.max(...perNumber.values()), 'texts per number').to.be.at.most(DEFAULTS.maxSendsPerPhoneNumber);
        expect(Math.max(...perUser.values()), 'texts per user').to.be.at.most(DEFAULTS.maxSendsPerUser);
        expect(Math.max(...perChallenge.values()), 'texts per login').to.be.at.most(DEFAULTS.maxSendsPerChallenge);
        // The budgets bind: 25 numbers x 5 texts is all that may go out, and nearly all of it does.
        expect(r.outbox.messages.length).to.be.within(100, numbers.length * DEFAULTS.maxSendsPerPhoneNumber);
        // A resend that races a newer start of the same user finds its login replaced: no text, no throttle.
        r.audit(requests, ['NO_PENDING_LOGIN']);
      });
    });
  }
});
