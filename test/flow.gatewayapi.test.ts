import { expect } from 'chai';
import request from 'supertest';
import type { Express } from 'express';
import { GatewayApiSender } from '../src/senders/gatewayapi.js';
import { RedisOtpStore } from '../src/stores/redis.js';
import { buildApp, codeIn, sessionCookie } from './helpers/app.js';
import { GatewayApiDouble } from './helpers/gatewayapi-double.js';
import { connectRedis, uniquePrefix, type TestRedisClient } from './helpers/redis.js';

describe('Whole login with GatewayApiSender against the GatewayAPI double', () => {
  let client: TestRedisClient;
  let double: GatewayApiDouble;
  before(async () => {
    client = await connectRedis();
    double = await new GatewayApiDouble().start();
  });
  after(async () => {
    await double.close();
    await client.quit();
  });
  beforeEach(() => {
    double.scenario = 'ok';
    double.received.length = 0;
  });

  const appWith = (auth: 'token' | 'oauth', numbers = {}): Express => {
    const credentials = auth === 'token' ? { token: double.token } : { key: double.key, secret: double.secret };
    const sender = new GatewayApiSender({ baseUrl: double.baseUrl, sender: 'ExampleApp', timeoutMs: 500, ...credentials });
    return buildApp({ store: new RedisOtpStore(client, { prefix: uniquePrefix('gw') }), sender, numbers }).app;
  };

  for (const auth of ['token', 'oauth'] as const) {
    it(`${auth}: the code in the SMS GatewayAPI received is the one the strategy accepts`, async () => {
      const app = appWith(auth);
      const login = await request(app).post('/login').send({ username: 'alice', password: 'alice-password' });
      expect(login.status).to.equal(200);
      expect(double.received).to.have.length(1);
      const [sms] = double.received;
      expect(sms?.auth).to.equal(auth);
      expect(sms?.msisdns).to.deep.equal([4512345678]);
      expect(sms?.sender).to.equal('ExampleApp');
      const res = await request(app).post('/login/otp').set('Cookie', sessionCookie(login) as string).send({ code: codeIn(sms?.text) });
      expect(res.status).to.equal(200);
      expect(res.body).to.deep.equal({ status: 'authenticated' });
    });
  }

  it('a failed send fails the start step with SEND_FAILED (502), leaves no pending login, and the user can try again', async () => {
    const app = appWith('token');
    double.scenario = 'insufficient-credit';
    const failed = await request(app).post('/login').send({ username: 'alice', password: 'alice-password' });
    expect(failed.status).to.equal(502);
    expect(failed.body.error).to.equal('SEND_FAILED');
    // Provider details are for the server's logs, not the client.
    expect(failed.body.message).to.not.include('0x0216');
    expect(failed.body.message).to.not.include('4512345678');
    const cookie = sessionCookie(failed);
    if (cookie !== undefined) expect((await request(app).get('/login/otp').set('Cookie', cookie)).status).to.equal(401);

    double.scenario = 'ok';
    const again = await request(app).post('/login').send({ username: 'alice', password: 'alice-password' });
    expect(again.status).to.equal(200);
    const res = await request(app).post('/login/otp').set('Cookie', sessionCookie(again) as string).send({ code: codeIn(double.received.at(-1)?.text) });
    expect(res.status).to.equal(200);
  });

  it('a refused resend (4xx: surely not sent) is not counted against the login\'s sends', async () => {
    const appNoCooldown = appWith('token', { maxSendsPerChallenge: 2, resendCooldownSeconds: 0 });
    const login2 = await request(appNoCooldown).post('/login').send({ username: 'bob', password: 'bob-password' });
    const cookie2 = sessionCookie(login2) as string;
    double.scenario = 'insufficient-credit';
    const failed = await request(appNoCooldown).post('/login/otp/resend').set('Cookie', cookie2);
    expect(failed.status).to.equal(502);
    double.scenario = 'ok';
    // Had the failed send counted, this second resend would hit the limit of 2 sends.
    const resent = await request(appNoCooldown).post('/login/otp/resend').set('Cookie', cookie2);
    expect(resent.status).to.equal(200);
    const res = await request(appNoCooldown).post('/login/otp').set('Cookie', cookie2).send({ code: codeIn(double.received.at(-1)?.text) });
    expect(res.status).to.equal(200);
  });

  it('a resend that may have gone out (5xx) stays counted', async () => {
    const app = appWith('token', { maxSendsPerChallenge: 2, resendCooldownSeconds: 0 });
    const login = await request(app).post('/login').send({ username: 'alice', password: 'alice-password' });
    const cookie = sessionCookie(login) as string;
    double.scenario = 'server-error';
    expect((await request(app).post('/login/otp/resend').set('Cookie', cookie)).status).to.equal(502);
    double.scenario = 'ok';
    const again = await request(app).post('/login/otp/resend').set('Cookie', cookie);
    expect(again.status).to.equal(429);
    expect(again.body.error).to.equal('SEND_LIMIT');
  });

  it('a timeout is a retryable SEND_FAILED, not a hang', async () => {
    const app = appWith('oauth');
    double.scenario = 'hang';
    const res = await request(app).post('/login').send({ username: 'alice', password: 'alice-password' });
    expect(res.status).to.equal(502);
    expect(res.body.error).to.equal('SEND_FAILED');
  });
});
