import { expect } from 'chai';
import express from 'express';
import passportModule from 'passport';
import session from 'express-session';
import request from 'supertest';
import { OtpChallenges, requireAuthenticated, requirePendingLogin, resendSmsOtp, SmsOtp, SmsOtpError, SmsOtpStrategy, startSmsOtp } from '../src/index.js';
import { OutboxSender } from '../src/senders/outbox.js';
import { MemoryOtpStore } from '../src/stores/memory.js';
import { codeIn, sessionCookie, TEST_KEY } from './helpers/app.js';

// codeField, sessionKey and userProperty name properties of the body, the session and the
// request: a name that is not one (or that reaches a prototype, or that express-session or
// Passport use themselves) is refused when the object is built, not on every login.
describe('Options that name a property: codeField, sessionKey, userProperty', () => {
  const base = () => ({ store: new MemoryOtpStore(), sender: new OutboxSender(), encryptionKey: TEST_KEY, loadUser: () => ({ id: 'u1' }), userId: (u: { id: string }) => u.id, phoneNumber: () => '+4512345678' });
  const challenges = () => new OtpChallenges({ store: new MemoryOtpStore(), sender: new OutboxSender(), encryptionKey: TEST_KEY });
  const refused = (build: () => unknown, option: string) => {
    let thrown: unknown;
    try { build(); } catch (err) { thrown = err; }
    expect(thrown, `${option} was accepted`).to.be.instanceOf(SmsOtpError).with.property('code', 'INVALID_OPTIONS');
    expect((thrown as Error).message).to.include(option);
  };
  const notNames: unknown[] = [5, '', 'x'.repeat(65), {}, null, '__proto__', 'constructor', 'prototype'];

  for (const value of notNames) {
    it(`codeField ${JSON.stringify(value)} is refused by SmsOtp and SmsOtpStrategy`, () => {
      refused(() => new SmsOtp({ ...base(), codeField: value } as never), 'codeField');
      refused(() => new SmsOtpStrategy({ challenges: challenges(), loadUser: () => undefined, codeField: value } as never), 'codeField');
    });
  }

  for (const value of [...notNames, 'toString', 'hasOwnProperty', 'cookie', 'passport', 'messages', 'returnTo', 'save', 'regenerate']) {
    it(`sessionKey ${JSON.stringify(value)} is refused by SmsOtp, the strategy, both steps and both guards`, () => {
      const ch = challenges();
      refused(() => new SmsOtp({ ...base(), sessionKey: value } as never), 'sessionKey');
      refused(() => new SmsOtpStrategy({ challenges: ch, loadUser: () => undefined, sessionKey: value } as never), 'sessionKey');
      refused(() => startSmsOtp({ challenges: ch, userId: () => 'u1', phoneNumber: () => '+4512345678', sessionKey: value } as never), 'sessionKey');
      refused(() => resendSmsOtp({ challenges: ch, loadUser: () => undefined, phoneNumber: () => '+4512345678', sessionKey: value } as never), 'sessionKey');
      refused(() => requireAuthenticated({ sessionKey: value } as never), 'sessionKey');
      refused(() => requirePendingLogin({ sessionKey: value } as never), 'sessionKey');
    });
  }

  it('userProperty "__proto__" is refused by the start step', () => {
    refused(() => new SmsOtp(base()).start({ userProperty: '__proto__' }), 'userProperty');
  });

  // The step deletes it once read: "session" would take the request's session with it.
  for (const value of ['session', 'body', 'sessionID', 'logIn', 'headers', 'url', 'socket', 'on']) {
    it(`userProperty ${JSON.stringify(value)} (the request holds it already) is refused by the start step`, () => {
      refused(() => new SmsOtp(base()).start({ userProperty: value }), 'userProperty');
      refused(() => startSmsOtp({ challenges: challenges(), userId: () => 'u1', phoneNumber: () => '+4512345678', userProperty: value }), 'userProperty');
    });
  }

  it('userProperty of the app\'s own is taken: the default "user", "passwordUser", "account"', () => {
    for (const value of [undefined, 'user', 'passwordUser', 'account']) expect(() => new SmsOtp(base()).start({ userProperty: value })).not.to.throw();
  });

  it('names of your own work end to end: the code from body.otp, the pending record under req.session.mfa', async () => {
    const sender = new OutboxSender();
    const smsOtp = new SmsOtp({ ...base(), sender, codeField: 'otp', sessionKey: 'mfa' });
    const passport = new passportModule.Passport();
    passport.use(smsOtp.strategy);
    const app = express();
    app.use(express.json());
    app.use(session({ name: 'sid', secret: 'names-test-secret', resave: false, saveUninitialized: false }));
    app.post('/login', (req, _res, next) => { (req as unknown as { user: unknown }).user = { id: 'u1' }; next(); }, smsOtp.start(), (req, res) => { res.json(Object.keys(req.session)); });
    app.post('/login/otp', (req, res, next) => {
      passport.authenticate('sms-otp', (err: unknown, user: unknown, info: { code?: string } | undefined) => {
        if (err) return next(err);
        return res.json({ user, code: info?.code });
      })(req, res, next);
    });
    const login = await request(app).post('/login').send({});
    expect(login.body).to.include('mfa');
    const cookie = sessionCookie(login) as string;
    const code = codeIn(sender.lastTo('+4512345678')?.text);
    expect((await request(app).post('/login/otp').set('Cookie', cookie).send({ code })).body).to.deep.equal({ user: false, code: 'CODE_MALFORMED' });
    expect((await request(app).post('/login/otp').set('Cookie', cookie).send({ otp: code })).body).to.deep.equal({ user: { id: 'u1' } });
  });
});
