import { expect } from 'chai';
import express from 'express';
import expressSession from 'express-session';
import request from 'supertest';
import { SmsOtp, smsOtpErrorHandler } from '../src/index.js';
import { OutboxSender } from '../src/senders/outbox.js';
import { MemoryOtpStore } from '../src/stores/memory.js';
import { buildApp, codeIn, sessionCookie, TEST_KEY } from './helpers/app.js';

describe('Sessions: regenerated at both steps, nothing carried over', () => {
  it('refuses a regenerate() that keeps the session id (the usual cookie-session stub)', async () => {
    const sender = new OutboxSender();
    const smsOtp = new SmsOtp({
      store: new MemoryOtpStore(), sender, encryptionKey: TEST_KEY,
      loadUser: () => ({ id: 'u1' }), userId: (u: { id: string }) => u.id, phoneNumber: () => '+4512345678',
    });
    const app = express();
    app.use(expressSession({ secret: 'x', resave: false, saveUninitialized: false }));
    app.use((req, _res, next) => {
      req.session.regenerate = (cb: (err?: unknown) => void) => { cb(); return req.session; };
      (req as unknown as { user: unknown }).user = { id: 'u1' };
      next();
    });
    app.post('/login', smsOtp.start(), (_req, res) => { res.json({ status: 'otp_required' }); });
    app.use(smsOtpErrorHandler());
    const res = await request(app).post('/login');
    expect(res.body.error).to.equal('SESSION_UNSUPPORTED');
    expect(sender.messages).to.have.length(0);
  });

  it('a pending record whose save failed is taken out of the session: the end-of-request save does not store it', async () => {
    const sender = new OutboxSender();
    const smsOtp = new SmsOtp({
      store: new MemoryOtpStore(), sender, encryptionKey: TEST_KEY,
      loadUser: () => ({ id: 'u1' }), userId: (u: { id: string }) => u.id, phoneNumber: () => '+4512345678',
    });
    // The start step's own save fails once; express-session's save at the end of the request works.
    const store = new expressSession.MemoryStore();
    const set = store.set.bind(store);
    let failures = 1;
    store.set = (sid, data, cb) => (failures-- > 0 ? cb?.(new Error('SET failed')) : set(sid, data, cb));
    const app = express();
    app.use(expressSession({ secret: 'x', store, resave: false, saveUninitialized: false }));
    app.use((req, _res, next) => {
      (req as unknown as { user: unknown }).user = { id: 'u1' };
      next();
    });
    app.post('/login', smsOtp.start(), (_req, res) => { res.json({ status: 'otp_required' }); });
    app.use((_err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => { res.status(503).json({ error: 'unavailable' }); });
    const res = await request(app).post('/login');
    expect(res.status).to.equal(503);
    const stored = await new Promise<Record<string, unknown>>((resolve, reject) => store.all((err, all) => (err ? reject(err) : resolve((all ?? {}) as Record<string, unknown>))));
    expect(Object.values(stored).map((s) => Object.keys(s as object))).to.satisfy((keys: string[][]) => keys.every((k) => !k.includes('smsOtp')));
    expect(failures).to.equal(-1);
  });

  it('with keepSessionInfo: true the pending record still does not reach the full session', async () => {
    const sender = new OutboxSender();
    const { app } = buildApp({ store: new MemoryOtpStore(), sender, keepSessionInfo: true });
    const login = await request(app).post('/login').send({ username: 'alice', password: 'alice-password' });
    const done = await request(app).post('/login/otp').set('Cookie', sessionCookie(login) as string).send({ code: codeIn(sender.lastTo('+4512345678')?.text) });
    expect(done.status).to.equal(200);
    const session = await request(app).get('/session').set('Cookie', sessionCookie(done) ?? (sessionCookie(login) as string));
    expect(session.body.isAuthenticated).to.equal(true);
    expect(session.body.keys).to.not.include('smsOtp');
  });
});
