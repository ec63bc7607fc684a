import { expect } from 'chai';
import request from 'supertest';
import { createClient } from 'redis';
import { OutboxSender } from '../src/senders/outbox.js';
import { RedisOtpStore } from '../src/stores/redis.js';
import { buildApp, codeIn, sessionCookie } from './helpers/app.js';
import { ThrowawayRedis } from './helpers/redis.js';

describe('Redis outage: fails closed, recovers by itself', function () {
  this.timeout(30_000);
  let redis: ThrowawayRedis;
  let client: ReturnType<typeof createClient>;

  before(async () => {
    redis = await ThrowawayRedis.start();
    client = createClient({ url: redis.url, socket: { reconnectStrategy: () => 100, connectTimeout: 500 } });
    client.on('error', () => undefined);
    await client.connect();
  });
  after(async () => {
    client.destroy();
    await redis.stop();
  });

  it('answers errors (never a success) while Redis is down, and logs in again once it is back, without a restart', async () => {
    const sender = new OutboxSender();
    const store = new RedisOtpStore(client, { commandTimeoutMs: 300 });
    const { app } = buildApp({ store, sender });

    const login = await request(app).post('/login').send({ username: 'alice', password: 'alice-password' });
    expect(login.status).to.equal(200);
    const cookie = sessionCookie(login) as string;
    const code = codeIn(sender.lastTo('+4512345678')?.text);

    await redis.stop();
    const during = await request(app).post('/login/otp').set('Cookie', cookie).send({ code });
    expect(during.status).to.equal(503);
    expect(during.body.error).to.equal('STORE_UNAVAILABLE');
    const passwordDuring = await request(app).post('/login').send({ username: 'bob', password: 'bob-password' });
    expect(passwordDuring.status).to.equal(503);
    expect(sender.messages).to.have.length(1);

    await redis.start();
    const deadline = Date.now() + 5_000;
    let ok = false;
    while (!ok && Date.now() < deadline) {
      ok = await store.ping().then(() => true, () => false);
      if (!ok) await new Promise((r) => setTimeout(r, 50));
    }
    expect(ok, 'the store answers again within 5 s').to.equal(true);

    // This Redis kept nothing on disk: the old login is gone, and it must not succeed.
    const stale = await request(app).post('/login/otp').set('Cookie', cookie).send({ code });
    expect(stale.status).to.equal(401);

    const again = await request(app).post('/login').send({ username: 'alice', password: 'alice-password' });
    expect(again.status).to.equal(200);
    const fresh = await request(app).post('/login/otp').set('Cookie', sessionCookie(again) as string).send({ code: codeIn(sender.lastTo('+4512345678')?.text) });
    expect(fresh.status).to.equal(200);
    expect(fresh.body).to.deep.equal({ status: 'authenticated' });
  });
});
