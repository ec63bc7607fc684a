import { expect } from 'chai';
import request from 'supertest';
import type { ExampleApp } from '../example-app/src/app.js';
import { csrfTokenIn, startExampleApp } from './helpers/example-app.js';
import { ThrowawayRedis } from './helpers/redis.js';

const JSON_ACCEPT = { Accept: 'application/json' };
// What a browser sends with a form post or a navigation.
const BROWSER = { Accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' };
const RATE_LIMITED = (retryAfterSeconds: number) => ({ error: 'rate_limited', message: 'Too many requests from this address; try again later.', retryAfterSeconds });
const UNAVAILABLE = { error: 'service_unavailable', message: 'The rate limiter is unavailable.' };

describe('Example app: the per-IP limit answers browsers with a page, API clients with JSON', function () {
  this.timeout(30_000);
  let handle: ExampleApp | undefined;
  afterEach(async () => {
    await handle?.close();
    handle = undefined;
  });

  it('429: a browser gets the "Please wait" page with Retry-After; JSON clients get today\'s JSON body exactly', async () => {
    handle = await startExampleApp({ RATE_LIMIT_PER_IP_PER_MIN: '1' });
    const agent = request.agent(handle.app);
    const page = await agent.get('/login').set(BROWSER);
    const form = () => agent.post('/login').set(BROWSER).type('form').send({ username: 'alice', password: 'nope', _csrf: csrfTokenIn(page.text) });
    expect((await form()).status).to.equal(401);
    const browser = await form();
    expect(browser.status).to.equal(429);
    expect(browser.headers['content-type']).to.match(/^text\/html/);
    expect(browser.text).to.include('<title>Please wait').and.include('Too many requests from this address; try again later.');
    const retryAfter = Number(browser.headers['retry-after']);
    expect(retryAfter).to.be.within(1, 60);
    expect(browser.text, 'the wait, in words').to.include(`Try again in ${retryAfter} s.`);

    const api = await request(handle.app).post('/login').set(JSON_ACCEPT).send({ username: 'alice', password: 'nope' });
    expect(api.status).to.equal(429);
    expect(api.headers['content-type']).to.match(/^application\/json/);
    expect(api.body).to.deep.equal(RATE_LIMITED(Number(api.headers['retry-after'])));
    // No Accept at all (curl), and a JSON body whatever the Accept, are JSON clients too, as for every error answer.
    for (const send of [
      () => request(handle!.app).post('/login/otp'),
      () => request(handle!.app).post('/login/otp/resend').set(BROWSER).send({}),
    ]) {
      await send();
      const res = await send();
      expect(res.status).to.equal(429);
      expect(res.body).to.deep.equal(RATE_LIMITED(Number(res.headers['retry-after'])));
    }
  });

  it('503 while the limiter\'s Redis is down: a browser gets a page, JSON clients today\'s JSON body', async () => {
    const redis = await ThrowawayRedis.start();
    try {
      handle = await startExampleApp({ REDIS_URL: redis.url, RATE_LIMIT_PER_IP_PER_MIN: '30' });
      await redis.stop();
      const browser = await request(handle.app).post('/login').set(BROWSER).type('form').send({ username: 'alice', password: 'alice-password' });
      expect(browser.status).to.equal(503);
      expect(browser.headers['content-type']).to.match(/^text\/html/);
      expect(browser.text).to.include('The rate limiter is unavailable.').and.include('href="/login"');
      const api = await request(handle.app).post('/login').set(JSON_ACCEPT).send({ username: 'alice', password: 'alice-password' });
      expect([api.status, api.body]).to.deep.equal([503, UNAVAILABLE]);
    } finally {
      await redis.stop();
    }
  });

  it('503 when the limiter\'s Redis hangs (paused, connection open), instead of no answer at all; the log says why', async () => {
    const redis = await ThrowawayRedis.start();
    const logged: string[] = [];
    const original = console.error;
    try {
      handle = await startExampleApp({ REDIS_URL: redis.url, RATE_LIMIT_PER_IP_PER_MIN: '30' });
      console.error = (...args: unknown[]) => { logged.push(args.map(String).join(' ')); };
      redis.pause();
      // No cookie: nothing but the limiter asks Redis before the password check.
      const api = await request(handle.app).post('/login').set(JSON_ACCEPT).send({ username: 'alice', password: 'alice-password' }).timeout(15_000);
      expect([api.status, api.body]).to.deep.equal([503, UNAVAILABLE]);
      expect(logged.some((line) => /POST \/login -> 503 the per-IP limit \(login\) is unavailable: no answer within \d+ ms/.test(line)), logged.join('\n')).to.equal(true);
      expect(logged.join('\n')).to.not.include('alice-password');
    } finally {
      console.error = original;
      // The app closes its Redis client while the server still answers: a client closing against a
      // server that was paused and then stopped could wait past the hook's timeout.
      redis.resume();
      await handle?.close();
      handle = undefined;
      await redis.stop();
    }
  });
});
