import { expect } from 'chai';
import express from 'express';
import session from 'express-session';
import passportModule from 'passport';
import request from 'supertest';
import { SmsOtp } from '../src/index.js';
import { OutboxSender } from '../src/senders/outbox.js';
import { MemoryOtpStore } from '../src/stores/memory.js';
import { codeIn, sessionCookie, TEST_KEY } from './helpers/app.js';

// The README's Quick start: `passport.authenticate('sms-otp')` with no callback, so Passport's
// own failure answer (a bare status) is what the client gets.
describe('SmsOtpStrategy behind a plain passport.authenticate(\'sms-otp\') (the Quick start)', () => {
  const user = { id: 'u1', phone: '+4512345678' };
  let sender: OutboxSender;
  let smsOtp: SmsOtp<typeof user>;
  let app: express.Express;

  beforeEach(() => {
    sender = new OutboxSender();
    smsOtp = new SmsOtp({
      store: new MemoryOtpStore(),
      sender,
      encryptionKey: TEST_KEY,
      loadUser: (id) => (id === user.id ? user : undefined),
      userId: (u) => u.id,
      phoneNumber: (u) => u.phone,
      backoffAfterFailures: 1,
    });
    const passport = new passportModule.Passport();
    passport.use(smsOtp.strategy);
    passport.serializeUser((u, done) => done(null, (u as typeof user).id));
    passport.deserializeUser((id: string, done) => done(null, id === user.id ? user : false));
    app = express();
    app.use(express.json());
    app.use(session({ name: 'sid', secret: 'plain-route-test-secret', resave: false, saveUninitialized: false }));
    app.use(passport.initialize());
    app.use(passport.session());
    app.post('/login', (req, _res, next) => { (req as unknown as { passwordUser: typeof user }).passwordUser = user; next(); }, smsOtp.start({ userProperty: 'passwordUser' }), (_req, res) => { res.json({ status: 'otp_required' }); });
    app.post('/login/otp', passport.authenticate('sms-otp'), (_req, res) => { res.json({ status: 'authenticated' }); });
  });

  const startLogin = async (): Promise<{ cookie: string; code: string }> => {
    const res = await request(app).post('/login').send({});
    expect(res.status).to.equal(200);
    return { cookie: sessionCookie(res) as string, code: codeIn(sender.lastTo(user.phone)?.text) };
  };

  it('a wrong code is a bare 401; while the user must wait, a bare 429 that still carries Retry-After', async () => {
    const { cookie, code } = await startLogin();
    const wrong = code === '000000' ? '111111' : '000000';
    const first = await request(app).post('/login/otp').set('Cookie', cookie).send({ code: wrong });
    expect(first.status).to.equal(401);
    expect(first.headers['retry-after']).to.equal(undefined);
    // backoffAfterFailures: 1, so the next attempt within a second is refused as LOCKED.
    const second = await request(app).post('/login/otp').set('Cookie', cookie).send({ code });
    expect(second.status).to.equal(429);
    expect(Number(second.headers['retry-after'])).to.be.within(1, 2);
  });

  it('a malformed code from a half-authenticated session is audited as verify.failed (CODE_MALFORMED); without a pending login there is no user and no event', async () => {
    const events: Array<Record<string, unknown>> = [];
    smsOtp.challenges.events.on('verify.failed', (e) => { events.push({ ...e }); });
    const { cookie } = await startLogin();
    const res = await request(app).post('/login/otp').set('Cookie', cookie).send({ code: '12ab' });
    expect(res.status).to.equal(400);
    expect(events).to.have.length(1);
    expect(events[0]).to.deep.include({ userId: user.id, reason: 'CODE_MALFORMED' });
    expect(events[0]?.challengeId).to.be.a('string');
    expect(JSON.stringify(events)).not.to.include('12ab');
    const none = await request(app).post('/login/otp').send({ code: '12ab' });
    expect(none.status).to.equal(400);
    expect(events).to.have.length(1);
  });
});
