import { expect } from 'chai';
import express from 'express';
import request from 'supertest';
import { SmsOtp, smsOtpErrorHandler } from '../src/index.js';
import { OutboxSender } from '../src/senders/outbox.js';
import { MemoryOtpStore } from '../src/stores/memory.js';
import { TEST_KEY } from './helpers/app.js';

describe('Sessions that cannot be regenerated are refused', () => {
  const sender = new OutboxSender();
  const smsOtp = new SmsOtp({
    store: new MemoryOtpStore(),
    sender,
    encryptionKey: TEST_KEY,
    loadUser: () => ({ id: 'u1' }),
    userId: (u: { id: string }) => u.id,
    phoneNumber: () => '+4512345678',
  });

  const appWith = (session: (req: express.Request) => unknown) => {
    const app = express();
    app.use((req, _res, next) => { (req as unknown as Record<string, unknown>).session = session(req); next(); });
    app.post('/login', (req, _res, next) => { (req as unknown as Record<string, unknown>).user = { id: 'u1' }; next(); }, smsOtp.start(), (_req, res) => { res.json({ status: 'otp_required' }); });
    app.use(smsOtpErrorHandler());
    return app;
  };

  it('cookie-session (a plain object with no regenerate): SESSION_UNSUPPORTED at the first request, nothing sent', async () => {
    const res = await request(appWith(() => ({ isNew: true, isPopulated: false }))).post('/login');
    expect(res.status).to.equal(500);
    expect(res.body.error).to.equal('SESSION_UNSUPPORTED');
    expect(res.body.message).to.match(/express-session/);
    expect(sender.messages).to.have.length(0);
  });

  it('no session middleware at all: SESSION_UNSUPPORTED', async () => {
    const res = await request(appWith(() => undefined)).post('/login');
    expect(res.body.error).to.equal('SESSION_UNSUPPORTED');
  });

  it('the start step without a user from the password step: NO_PASSWORD_USER, nothing sent', async () => {
    const app = express();
    app.post('/login', smsOtp.start(), (_req, res) => { res.json({ status: 'otp_required' }); });
    app.use(smsOtpErrorHandler());
    const res = await request(app).post('/login');
    expect(res.body.error).to.equal('NO_PASSWORD_USER');
    expect(sender.messages).to.have.length(0);
  });
});
