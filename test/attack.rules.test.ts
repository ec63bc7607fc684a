import { expect } from 'chai';
import request from 'supertest';
import { OtpChallenges, type OtpChallengesOptions } from '../src/challenge.js';
import { SmsOtpError, type SmsOtpErrorCode } from '../src/errors.js';
import type { SmsOtpEvents } from '../src/events.js';
import { BOUNDS, DEFAULTS, type ChallengeNumbers } from '../src/options.js';
import { OutboxSender } from '../src/senders/outbox.js';
import type { OtpStore } from '../src/store.js';
import { MemoryOtpStore } from '../src/stores/memory.js';
import { RedisOtpStore } from '../src/stores/redis.js';
import { buildApp, codeIn, sessionCookie, TEST_KEY } from './helpers/app.js';
import { redisForSuite } from './helpers/redis.js';
import { countingStore } from './helpers/counting-store.js';

const PHONE = '+4512345678';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The error a promise rejects with; a resolved promise fails the test. */
async function refusal(promise: Promise<unknown>): Promise<SmsOtpError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof SmsOtpError) return err;
    throw err;
  }
  throw new Error('expected a refusal, but it went through');
}

describe('Attack (rules): each abuse rule, pinned by a test that fails without it', function () {
  this.timeout(20_000);
  const redis = redisForSuite('rules');

  it('the defaults: backoff after 5, lock after 10 for 900 s, 5 texts per user and per number per 900 s, 30 s cooldown, 3 texts per login, 5 guesses', () => {
    const { backoffAfterFailures, lockAfterFailures, lockSeconds, maxSendsPerUser, maxSendsPerPhoneNumber, sendWindowSeconds, resendCooldownSeconds, maxSendsPerChallenge, maxAttempts } = DEFAULTS;
    expect({ backoffAfterFailures, lockAfterFailures, lockSeconds, maxSendsPerUser, maxSendsPerPhoneNumber, sendWindowSeconds, resendCooldownSeconds, maxSendsPerChallenge, maxAttempts })
      .to.deep.equal({ backoffAfterFailures: 5, lockAfterFailures: 10, lockSeconds: 900, maxSendsPerUser: 5, maxSendsPerPhoneNumber: 5, sendWindowSeconds: 900, resendCooldownSeconds: 30, maxSendsPerChallenge: 3, maxAttempts: 5 });
    // Never more than 100 consecutive failures (NIST SP 800-63B), and a lock always ends.
    expect(BOUNDS.lockAfterFailures[1]).to.equal(100);
    expect(BOUNDS.lockSeconds[1]).to.be.a('number').and.to.be.at.most(86_400);
    expect(() => new OtpChallenges({ store: new MemoryOtpStore(), sender: new OutboxSender(), encryptionKey: TEST_KEY, lockAfterFailures: 101 })).to.throw(SmsOtpError, /lockAfterFailures/);
  });

  const stores: Array<[string, () => OtpStore]> = [
    ['MemoryOtpStore', () => new MemoryOtpStore()],
    ['RedisOtpStore', () => new RedisOtpStore(redis.client, { prefix: redis.prefix() })],
  ];

  for (const [name, makeStore] of stores) {
    describe(name, () => {
      let n = 0;
      /** A fresh user, the challenge logic on a counted store, an outbox, and the audit events. */
      function rig(numbers: Partial<ChallengeNumbers> = {}, extra: Partial<OtpChallengesOptions> = {}) {
        const store = countingStore(makeStore());
        const outbox = new OutboxSender();
        const challenges = new OtpChallenges({ store, sender: outbox, encryptionKey: TEST_KEY, ...numbers, ...extra });
        const throttled: Array<SmsOtpEvents['send.throttled']> = [];
        const failed: Array<SmsOtpEvents['verify.failed']> = [];
        challenges.events.on('send.throttled', (e) => throttled.push(e));
        challenges.events.on('verify.failed', (e) => failed.push(e));
        const userId = `rules-${Date.now()}-${n++}`;
        const code = (to = PHONE): string => codeIn(outbox.lastTo(to)?.text);
        const start = (phoneNumber = PHONE, id = userId) => challenges.start({ userId: id, phoneNumber });
        const verify = async (challengeId: string, submitted: string): Promise<SmsOtpErrorCode | 'OK' | SmsOtpError> => {
          const r = await challenges.verify({ userId, challengeId, code: submitted });
          return r.ok ? 'OK' : r.error.code === 'LOCKED' || r.error.code === 'CODE_WRONG' ? r.error : r.error.code;
        };
        const codeOf = (r: SmsOtpErrorCode | 'OK' | SmsOtpError): string => (r instanceof SmsOtpError ? r.code : r);
        const wrong = (): string => String((Number(code()) + 1) % 1_000_000).padStart(6, '0');
        return { store, outbox, challenges, throttled, failed, userId, code, start, verify, codeOf, wrong };
      }

      it('a resend never resets the guess budget: 3 wrong, a resend, then 2 more end the login', async () => {
        const r = rig({ resendCooldownSeconds: 0, backoffAfterFailures: 10 });
        const { challengeId } = await r.start();
        for (let i = 0; i < 3; i++) expect(r.codeOf(await r.verify(challengeId, r.wrong()))).to.equal('CODE_WRONG');
        await r.challenges.resend({ userId: r.userId, challengeId, phoneNumber: PHONE });
        const fourth = await r.verify(challengeId, r.wrong());
        expect((fourth as SmsOtpError).attemptsLeft, 'attempts carried over the resend').to.equal(1);
        expect(r.codeOf(await r.verify(challengeId, r.wrong()))).to.equal('CHALLENGE_EXHAUSTED');
        expect(r.codeOf(await r.verify(challengeId, r.code())), 'the new code cannot help').to.equal('CHALLENGE_EXHAUSTED');
      });

      it('failures count per user: a new session, a new IP and a new login do not reset them (HTTP)', async () => {
        const sender = new OutboxSender();
        const { app } = buildApp({ store: makeStore(), sender });
        const wrongFor = (): string => String((Number(codeIn(sender.lastTo(PHONE)?.text)) + 1) % 1_000_000).padStart(6, '0');
        const first = await request(app).post('/login').set('X-Forwarded-For', '198.51.100.1').send({ username: 'alice', password: 'alice-password' });
        for (let i = 0; i < 3; i++) {
          expect((await request(app).post('/login/otp').set('Cookie', sessionCookie(first) as string).set('X-Forwarded-For', '198.51.100.1').send({ code: wrongFor() })).status).to.equal(401);
        }
        const second = await request(app).post('/login').set('X-Forwarded-For', '203.0.113.9').send({ username: 'alice', password: 'alice-password' });
        const cookie = sessionCookie(second) as string;
        expect(cookie).to.not.equal(sessionCookie(first));
        for (let i = 0; i < 2; i++) {
          expect((await request(app).post('/login/otp').set('Cookie', cookie).set('X-Forwarded-For', '203.0.113.9').send({ code: wrongFor() })).status).to.equal(401);
        }
        // Five consecutive failures for alice, across two sessions, IPs and logins: even the right code waits now.
        const right = await request(app).post('/login/otp').set('Cookie', cookie).set('X-Forwarded-For', '203.0.113.9').send({ code: codeIn(sender.lastTo(PHONE)?.text) });
        expect([right.status, right.body.error]).to.deep.equal([429, 'LOCKED']);
      });

      it('after 5 consecutive failures each attempt waits: LOCKED with retryAfterSeconds 1, then 2 (doubling)', async () => {
        const r = rig();
        const a = await r.start();
        for (let i = 0; i < 5; i++) await r.verify(a.challengeId, r.wrong());
        const b = await r.start(); // a new login does not clear the failures
        const locked = await r.verify(b.challengeId, r.code());
        expect(r.codeOf(locked)).to.equal('LOCKED');
        expect((locked as SmsOtpError).retryAfterSeconds).to.equal(1);
        await sleep(1050);
        expect(r.codeOf(await r.verify(b.challengeId, r.wrong())), 'the wait is over: the 6th failure is counted').to.equal('CODE_WRONG');
        const again = await r.verify(b.challengeId, r.code());
        expect([r.codeOf(again), (again as SmsOtpError).retryAfterSeconds]).to.deep.equal(['LOCKED', 2]);
      });

      it('after 10 consecutive failures the user is locked for ~15 min, and no code is sent meanwhile', async () => {
        const r = rig({ backoffAfterFailures: 10 }); // no waits before the lock, so the test need not sleep
        for (let login = 0; login < 2; login++) {
          const { challengeId } = await r.start();
          for (let i = 0; i < 5; i++) await r.verify(challengeId, r.wrong());
        }
        expect(r.failed.at(-1)?.consecutiveFailures).to.equal(10);
        const texts = r.outbox.messages.length;
        const err = await refusal(r.start());
        expect(err.code).to.equal('LOCKED');
        expect(err.retryAfterSeconds).to.be.within(DEFAULTS.lockSeconds - 2, DEFAULTS.lockSeconds);
        expect(r.outbox.messages.length, 'no text while locked').to.equal(texts);
        expect(r.throttled.at(-1)?.reason).to.equal('locked');
      });

      it('while locked a resend sends nothing either, and the lock ends (never permanent)', async () => {
        const r = rig({ backoffAfterFailures: 3, lockAfterFailures: 3, lockSeconds: 1, resendCooldownSeconds: 0 });
        const { challengeId } = await r.start();
        for (let i = 0; i < 3; i++) await r.verify(challengeId, r.wrong());
        const err = await refusal(r.challenges.resend({ userId: r.userId, challengeId, phoneNumber: PHONE }));
        expect([err.code, err.retryAfterSeconds]).to.deep.equal(['LOCKED', 1]);
        expect(r.outbox.messages).to.have.length(1);
        await sleep(1050);
        await r.challenges.resend({ userId: r.userId, challengeId, phoneNumber: PHONE });
        expect(r.outbox.messages).to.have.length(2);
        expect(await r.verify(challengeId, r.code())).to.equal('OK');
      });

      it('a success resets the count: 4 wrong and a right code, then a wrong code is failure 1, not 6', async () => {
        const r = rig();
        const a = await r.start();
        for (let i = 0; i < 4; i++) await r.verify(a.challengeId, r.wrong());
        expect(await r.verify(a.challengeId, r.code())).to.equal('OK');
        const b = await r.start();
        expect(r.codeOf(await r.verify(b.challengeId, r.wrong()))).to.equal('CODE_WRONG');
        expect(r.failed.at(-1)?.consecutiveFailures).to.equal(1);
      });

      it(`the user budget: ${DEFAULTS.maxSendsPerUser} texts per ${DEFAULTS.sendWindowSeconds} s, whatever the number`, async () => {
        const r = rig();
        for (let i = 0; i < DEFAULTS.maxSendsPerUser; i++) await r.start(`+452000000${i}`);
        const err = await refusal(r.start('+4520000009'));
        expect(err.code).to.equal('SEND_THROTTLED');
        expect(err.retryAfterSeconds).to.be.within(DEFAULTS.sendWindowSeconds - 2, DEFAULTS.sendWindowSeconds);
        expect(r.outbox.messages).to.have.length(DEFAULTS.maxSendsPerUser);
        expect(r.throttled.at(-1)?.reason).to.equal('user_budget');
      });

      it('the budgets roll: with a 1 s window, the 6th text goes out once the first leaves the window', async () => {
        const r = rig({ sendWindowSeconds: 1 });
        for (let i = 0; i < 5; i++) await r.start(`+452100000${i}`);
        expect((await refusal(r.start('+4521000009'))).retryAfterSeconds).to.equal(1);
        await sleep(1050);
        await r.start('+4521000009');
        expect(r.outbox.messages).to.have.length(6);
      });

      it(`the number budget: ${DEFAULTS.maxSendsPerPhoneNumber} texts per ${DEFAULTS.sendWindowSeconds} s to one number, across users`, async () => {
        const r = rig();
        const target = `+4522${String(n).padStart(6, '0')}`;
        for (let i = 0; i < DEFAULTS.maxSendsPerPhoneNumber; i++) await r.start(target, `${r.userId}-${i}`);
        const err = await refusal(r.start(target, `${r.userId}-next`));
        expect(err.code).to.equal('SEND_THROTTLED');
        expect(err.retryAfterSeconds).to.be.within(DEFAULTS.sendWindowSeconds - 2, DEFAULTS.sendWindowSeconds);
        expect(r.outbox.messages).to.have.length(DEFAULTS.maxSendsPerPhoneNumber);
        expect(r.throttled.at(-1)?.reason).to.equal('phone_budget');
      });

      it(`the resend cooldown: ${DEFAULTS.resendCooldownSeconds} s`, async () => {
        const r = rig();
        const { challengeId } = await r.start();
        const err = await refusal(r.challenges.resend({ userId: r.userId, challengeId, phoneNumber: PHONE }));
        expect(err.code).to.equal('RESEND_COOLDOWN');
        expect(err.retryAfterSeconds).to.be.within(DEFAULTS.resendCooldownSeconds - 1, DEFAULTS.resendCooldownSeconds);
        expect(r.outbox.messages).to.have.length(1);
      });

      it(`${DEFAULTS.maxSendsPerChallenge} texts per login, the first included`, async () => {
        const r = rig({ resendCooldownSeconds: 0 });
        const { challengeId } = await r.start();
        const resend = () => r.challenges.resend({ userId: r.userId, challengeId, phoneNumber: PHONE });
        for (let i = 1; i < DEFAULTS.maxSendsPerChallenge; i++) await resend();
        expect((await refusal(resend())).code).to.equal('SEND_LIMIT');
        expect(r.outbox.messages).to.have.length(DEFAULTS.maxSendsPerChallenge);
      });

      it('allowedRegions refuses other regions before anything is stored or sent', async () => {
        const r = rig({}, { allowedRegions: ['DK'] });
        const err = await refusal(r.start('+46701234567'));
        expect(err.code).to.equal('COUNTRY_NOT_ALLOWED');
        expect([r.store.calls, r.outbox.messages.length]).to.deep.equal([0, 0]);
        expect(r.throttled.at(-1)?.reason).to.equal('country');
        await r.start(PHONE);
        expect(r.outbox.messages).to.have.length(1);
      });

      it('beforeSend returning false refuses with SEND_REFUSED, before anything is stored or sent', async () => {
        const asked: string[] = [];
        const r = rig({ resendCooldownSeconds: 0 }, { beforeSend: (c) => { asked.push(`${c.kind}:${c.region}`); return c.kind === 'start' && !c.userId.endsWith('-risky'); } });
        const risky = await refusal(r.start(PHONE, `${r.userId}-risky`));
        expect(risky.code).to.equal('SEND_REFUSED');
        expect([r.store.calls, r.outbox.messages.length]).to.deep.equal([0, 0]);
        const { challengeId } = await r.start();
        const calls = r.store.calls;
        const err = await refusal(r.challenges.resend({ userId: r.userId, challengeId, phoneNumber: PHONE }));
        expect(err.code).to.equal('SEND_REFUSED');
        expect([r.store.calls - calls, r.outbox.messages.length]).to.deep.equal([0, 1]);
        expect(asked).to.deep.equal(['start:DK', 'start:DK', 'resend:DK']);
        expect(r.throttled.map((e) => e.reason)).to.deep.equal(['before_send', 'before_send']);
      });

      it('over budget: smsOtpErrorHandler answers 429 with Retry-After (send budget, cooldown)', async () => {
        const sender = new OutboxSender();
        const { app } = buildApp({ store: makeStore(), sender });
        let last = await request(app).post('/login').send({ username: 'bob', password: 'bob-password' });
        const cooldown = await request(app).post('/login/otp/resend').set('Cookie', sessionCookie(last) as string).send({});
        expect([cooldown.status, cooldown.body.error, cooldown.headers['retry-after']]).to.deep.equal([429, 'RESEND_COOLDOWN', String(DEFAULTS.resendCooldownSeconds)]);
        for (let i = 1; i <= DEFAULTS.maxSendsPerUser; i++) last = await request(app).post('/login').send({ username: 'bob', password: 'bob-password' });
        expect([last.status, last.body.error]).to.deep.equal([429, 'SEND_THROTTLED']);
        expect(Number(last.headers['retry-after'])).to.be.within(DEFAULTS.sendWindowSeconds - 2, DEFAULTS.sendWindowSeconds);
        expect(last.body.retryAfterSeconds).to.equal(Number(last.headers['retry-after']));
        expect(sender.messages).to.have.length(DEFAULTS.maxSendsPerUser);
      });
    });
  }
});
