import { expect } from 'chai';
import express4 from 'express4';
import passport06 from 'passport06';
import request from 'supertest';
import type { Express } from 'express';
import { OutboxSender } from '../src/senders/outbox.js';
import { MemoryOtpStore } from '../src/stores/memory.js';
import { RedisOtpStore } from '../src/stores/redis.js';
import type { OtpStore } from '../src/store.js';
import { buildApp, codeIn, sessionCookie, type TestAppOptions } from './helpers/app.js';
import { connectRedis, dropPrefixes, uniquePrefix, type TestRedisClient } from './helpers/redis.js';

const ALICE = '+4512345678';

interface Flavour {
  name: string;
  express?: TestAppOptions['express'];
  passport?: TestAppOptions['passport'];
  redis: boolean;
}

const FLAVOURS: Flavour[] = [
  { name: 'Express 5, Passport 0.7, RedisOtpStore', redis: true },
  { name: 'Express 4, Passport 0.6, RedisOtpStore', redis: true, express: express4 as unknown as TestAppOptions['express'], passport: passport06 as unknown as TestAppOptions['passport'] },
  { name: 'Express 5, Passport 0.7, MemoryOtpStore', redis: false },
];

for (const flavour of FLAVOURS) {
  describe(`Whole login (${flavour.name})`, () => {
    let client: TestRedisClient | undefined;
    const prefixes: string[] = [];
    let store: OtpStore;
    let sender: OutboxSender;
    let app: Express;

    const make = (numbers: TestAppOptions['numbers'] = {}): void => {
      sender = new OutboxSender();
      app = buildApp({ store, sender, numbers, express: flavour.express, passport: flavour.passport }).app;
    };

    before(async () => {
      if (flavour.redis) client = await connectRedis();
    });
    after(async () => {
      if (client !== undefined) await dropPrefixes(client, prefixes);
      await client?.quit();
    });
    beforeEach(() => {
      const prefix = uniquePrefix('flow');
      prefixes.push(prefix);
      store = client !== undefined ? new RedisOtpStore(client, { prefix }) : new MemoryOtpStore();
      make({ resendCooldownSeconds: 0 });
    });

    async function passwordStep(cookie?: string, username = 'alice', password = 'alice-password'): Promise<string> {
      const res = await request(app).post('/login').set(cookie ? { Cookie: cookie } : {}).send({ username, password });
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      expect(res.body).to.deep.equal({ status: 'otp_required', userSet: false, isAuthenticated: false });
      const next = sessionCookie(res);
      expect(next).to.be.a('string');
      return next as string;
    }

    const submit = (cookie: string, code: unknown) => request(app).post('/login/otp').set('Cookie', cookie).send({ code });

    it('logs in: password, code from the SMS, guarded route; the session id changes at both steps', async () => {
      const visit = sessionCookie(await request(app).get('/visit'));
      expect(visit).to.be.a('string');
      const halfCookie = await passwordStep(visit);
      expect(halfCookie).to.not.equal(visit);

      const res = await submit(halfCookie, codeIn(sender.lastTo(ALICE)?.text));
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      expect(res.body).to.deep.equal({ status: 'authenticated' });
      const fullCookie = sessionCookie(res);
      expect(fullCookie).to.be.a('string').and.not.equal(halfCookie);

      const account = await request(app).get('/account').set('Cookie', fullCookie as string);
      expect(account.status).to.equal(200);
      expect(account.body).to.deep.equal({ username: 'alice' });
      const session = await request(app).get('/session').set('Cookie', fullCookie as string);
      expect(session.body.keys).to.not.include('smsOtp');

      // The half-authenticated session id is worth nothing afterwards.
      expect((await request(app).get('/account').set('Cookie', halfCookie)).status).to.equal(401);
    });

    it('keeps a half-authenticated session out of guarded routes; req.isAuthenticated() is false', async () => {
      const halfCookie = await passwordStep();
      const account = await request(app).get('/account').set('Cookie', halfCookie);
      expect(account.status).to.equal(401);
      expect(account.body.error).to.equal('NOT_AUTHENTICATED');
      const page = await request(app).get('/login/otp').set('Cookie', halfCookie);
      expect(page.status).to.equal(200);
      expect(page.body).to.deep.equal({ pending: true, isAuthenticated: false, user: null });
      const session = await request(app).get('/session').set('Cookie', halfCookie);
      expect(session.body.isAuthenticated).to.equal(false);
    });

    it('refuses the code page without a pending login', async () => {
      expect((await request(app).get('/login/otp')).status).to.equal(401);
    });

    it('reads the code from the POST body only: the right code in the query string is CODE_MALFORMED (400), and stays usable', async () => {
      const halfCookie = await passwordStep();
      const code = codeIn(sender.lastTo(ALICE)?.text);
      const fromQuery = await request(app).post(`/login/otp?code=${code}`).set('Cookie', halfCookie).send({});
      expect([fromQuery.status, fromQuery.body.error]).to.deep.equal([400, 'CODE_MALFORMED']);
      const bodiless = await request(app).post(`/login/otp?code=${code}`).set('Cookie', halfCookie);
      expect([bodiless.status, bodiless.body.error]).to.deep.equal([400, 'CODE_MALFORMED']);
      expect((await submit(halfCookie, code)).status).to.equal(200);
    });

    it('refuses a used code', async () => {
      const halfCookie = await passwordStep();
      const code = codeIn(sender.lastTo(ALICE)?.text);
      expect((await submit(halfCookie, code)).status).to.equal(200);
      const again = await submit(halfCookie, code);
      expect(again.status).to.equal(401);
      expect(again.body.error).to.equal('NO_PENDING_LOGIN');
    });

    it('refuses the right code after 5 wrong ones, and the login must start over', async () => {
      const halfCookie = await passwordStep();
      const code = codeIn(sender.lastTo(ALICE)?.text);
      const wrong = code === '000000' ? '111111' : '000000';
      const errors: string[] = [];
      for (let i = 0; i < 5; i++) errors.push((await submit(halfCookie, wrong)).body.error);
      expect(errors).to.deep.equal(['CODE_WRONG', 'CODE_WRONG', 'CODE_WRONG', 'CODE_WRONG', 'CHALLENGE_EXHAUSTED']);
      const right = await submit(halfCookie, code);
      expect(right.status).to.equal(401);
      expect(right.body.error).to.equal('NO_PENDING_LOGIN');
      expect((await request(app).get('/account').set('Cookie', halfCookie)).status).to.equal(401);
    });

    it('refuses an expired code', async () => {
      make({ codeTtlSeconds: 1 });
      const halfCookie = await passwordStep();
      const code = codeIn(sender.lastTo(ALICE)?.text);
      await new Promise((r) => setTimeout(r, 1100));
      const res = await submit(halfCookie, code);
      expect(res.status).to.equal(401);
      expect(res.body.error).to.equal('CODE_EXPIRED');
    });

    it('resend: the new code works, the old one is dead, wrong attempts carry over', async () => {
      const halfCookie = await passwordStep();
      const first = codeIn(sender.lastTo(ALICE)?.text);
      const wrong = first === '000000' ? '111111' : '000000';
      expect((await submit(halfCookie, wrong)).body.error).to.equal('CODE_WRONG');
      const resent = await request(app).post('/login/otp/resend').set('Cookie', halfCookie);
      expect(resent.status).to.equal(200);
      expect(resent.body).to.deep.equal({ status: 'otp_sent' });
      const second = codeIn(sender.lastTo(ALICE)?.text);
      expect(sender.messages).to.have.length(2);
      if (second !== first) {
        const old = await submit(halfCookie, first);
        expect(old.body.error).to.equal('CODE_WRONG');
        expect(old.body).to.not.have.property('status');
      }
      for (let i = 0; i < 2; i++) await submit(halfCookie, wrong);
      // 1 + 1 (or 0) + 2 wrong so far: at most 4 of 5 used, the new code still works.
      expect((await submit(halfCookie, second)).status).to.equal(200);
    });

    it('resend: 429 with Retry-After during the cooldown', async () => {
      make({ resendCooldownSeconds: 30 });
      const halfCookie = await passwordStep();
      const res = await request(app).post('/login/otp/resend').set('Cookie', halfCookie);
      expect(res.status).to.equal(429);
      expect(res.body.error).to.equal('RESEND_COOLDOWN');
      expect(Number(res.headers['retry-after'])).to.be.within(1, 30);
      expect(sender.messages).to.have.length(1);
    });

    it('resend without a pending login is a 401', async () => {
      const res = await request(app).post('/login/otp/resend');
      expect(res.status).to.equal(401);
      expect(res.body.error).to.equal('NO_PENDING_LOGIN');
    });

    it('a second password login kills the first login\'s code', async () => {
      const firstCookie = await passwordStep();
      const firstCode = codeIn(sender.lastTo(ALICE)?.text);
      const secondCookie = await passwordStep();
      const res = await submit(firstCookie, firstCode);
      expect(res.status).to.equal(401);
      expect((await submit(secondCookie, codeIn(sender.lastTo(ALICE)?.text))).status).to.equal(200);
    });
  });
}
