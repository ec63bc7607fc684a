import { expect } from 'chai';
import request from 'supertest';
import { SmsSendError } from '../src/errors.js';
import { OutboxSender } from '../src/senders/outbox.js';
import { MemoryOtpStore } from '../src/stores/memory.js';
import { buildApp, codeIn, sessionCookie } from './helpers/app.js';
import { bothStores } from './helpers/stores.js';

const ALICE = { username: 'alice', password: 'alice-password' };
const BOB = { username: 'bob', password: 'bob-password' };

/**
 * A browser that posts the password again (a double submit, Back and submit) while its login
 * waits for the code: when that new login is refused, the session still holds the login in
 * progress, under the new session id the refused step gave it.
 */
describe('A refused new login in the same session leaves the login in progress in it', () => {
  const stores = bothStores('refused-login');

  for (const [name, makeStore] of stores) {
    it(`${name}: the number's budget refuses the second login (SEND_THROTTLED); the first code still logs in`, async () => {
      const sender = new OutboxSender();
      const { app } = buildApp({ store: makeStore(), sender, numbers: { maxSendsPerPhoneNumber: 1 } });
      const first = await request(app).post('/login').send(ALICE);
      expect(first.status).to.equal(200);
      const code = codeIn(sender.lastTo('+4512345678')?.text);

      const again = await request(app).post('/login').set('Cookie', sessionCookie(first) as string).send(ALICE);
      expect(again.status).to.equal(429);
      expect(again.body.error).to.equal('SEND_THROTTLED');
      expect(sender.messages).to.have.length(1);
      // The session id still changed: the cookie the refused step was sent with is gone.
      const cookie = sessionCookie(again) as string;
      expect(cookie).to.be.a('string').and.not.equal(sessionCookie(first));
      expect((await request(app).get('/login/otp').set('Cookie', sessionCookie(first) as string)).status).to.equal(401);

      expect((await request(app).get('/login/otp').set('Cookie', cookie)).status).to.equal(200);
      const done = await request(app).post('/login/otp').set('Cookie', cookie).send({ code });
      expect(done.status, JSON.stringify(done.body)).to.equal(200);
      expect((await request(app).get('/account').set('Cookie', sessionCookie(done) as string)).body.username).to.equal('alice');
    });

    it(`${name}: a second login whose text surely did not go out leaves the first one; one that may have gone out ends it, in the session too`, async () => {
      const sender = new OutboxSender();
      let failWith: Error | undefined;
      const flaky = { send: async (message: Parameters<OutboxSender['send']>[0]) => { if (failWith !== undefined) throw failWith; await sender.send(message); } };
      const { app } = buildApp({ store: makeStore(), sender: flaky, numbers: { resendCooldownSeconds: 0 } });
      const first = await request(app).post('/login').send(ALICE);
      const code = codeIn(sender.lastTo('+4512345678')?.text);

      failWith = new SmsSendError('refused by the provider', { mayHaveBeenSent: false });
      const refused = await request(app).post('/login').set('Cookie', sessionCookie(first) as string).send(ALICE);
      expect([refused.status, refused.body.error]).to.deep.equal([502, 'SEND_FAILED']);
      const kept = sessionCookie(refused) as string;
      expect((await request(app).get('/login/otp').set('Cookie', kept)).status).to.equal(200);

      failWith = new Error('ETIMEDOUT: the provider may have taken it');
      const maybe = await request(app).post('/login').set('Cookie', kept).send(ALICE);
      expect([maybe.status, maybe.body.error]).to.deep.equal([502, 'SEND_FAILED']);
      const after = sessionCookie(maybe) as string;
      // The store's login is the one whose text may be on the phone; the session says none, as the code step does.
      const page = await request(app).get('/login/otp').set('Cookie', after);
      expect([page.status, page.body.error]).to.deep.equal([401, 'NO_PENDING_LOGIN']);
      const done = await request(app).post('/login/otp').set('Cookie', after).send({ code });
      expect([done.status, done.body.error]).to.deep.equal([401, 'NO_PENDING_LOGIN']);
    });

    it(`${name}: another user's refused login in the same browser ends the first user's login (nothing of one user carries over to another)`, async () => {
      const sender = new OutboxSender();
      // Bob's number has had its one text this window (another session), so his login is refused.
      const { app } = buildApp({ store: makeStore(), sender, numbers: { maxSendsPerPhoneNumber: 1 } });
      expect((await request(app).post('/login').send(BOB)).status).to.equal(200);
      const first = await request(app).post('/login').send(ALICE);
      const code = codeIn(sender.lastTo('+4512345678')?.text);

      const refused = await request(app).post('/login').set('Cookie', sessionCookie(first) as string).send(BOB);
      expect(refused.status).to.equal(429);
      const cookie = sessionCookie(refused) as string;
      expect((await request(app).get('/login/otp').set('Cookie', cookie)).status).to.equal(401);
      const done = await request(app).post('/login/otp').set('Cookie', cookie).send({ code });
      expect([done.status, done.body.error]).to.deep.equal([401, 'NO_PENDING_LOGIN']);
    });
  }

  it('a refused login in a session with no login in progress leaves no pending record', async () => {
    const sender = new OutboxSender();
    const { app } = buildApp({ store: new MemoryOtpStore(), sender, numbers: { maxSendsPerPhoneNumber: 1 } });
    await request(app).post('/login').send(ALICE);
    const visit = await request(app).get('/visit');
    const refused = await request(app).post('/login').set('Cookie', sessionCookie(visit) as string).send(ALICE);
    expect(refused.status).to.equal(429);
    const cookie = sessionCookie(refused) ?? (sessionCookie(visit) as string);
    expect((await request(app).get('/login/otp').set('Cookie', cookie)).status).to.equal(401);
    expect((await request(app).get('/session').set('Cookie', cookie)).body.keys).to.not.include('smsOtp');
  });
});
