import { expect } from 'chai';
import { createClient } from 'redis';
import request from 'supertest';
import type { ExampleApp } from '../example-app/src/app.js';
import { ANONYMOUS_SESSION_TTL_SECONDS, LOGIN_SESSION_TTL_SECONDS } from '../example-app/src/sessions.js';
import { startExampleApp } from './helpers/example-app.js';
import { ThrowawayRedis } from './helpers/redis.js';

const BROWSER = { Accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' };
const JSON_ACCEPT = { Accept: 'application/json' };

/** The sid cookie an answer set, as a Cookie header. */
const cookieOf = (res: request.Response): string => {
  const cookies = ([] as string[]).concat(res.headers['set-cookie'] ?? []);
  const sid = cookies.find((c) => c.startsWith('sid='))?.split(';')[0];
  if (sid === undefined) throw new Error(`no session cookie (HTTP ${res.status})`);
  return sid;
};

describe('Example app: sessions that anyone can make (a look at the sign-in page) stay small, short-lived and limited', function () {
  this.timeout(30_000);
  let redis: ThrowawayRedis | undefined;
  let handle: ExampleApp | undefined;
  afterEach(async () => {
    await handle?.close();
    await redis?.stop();
    handle = undefined;
    redis = undefined;
  });

  it('Redis keeps a session with only a form\'s token for half an hour, one that holds a login for a day', async () => {
    redis = await ThrowawayRedis.start();
    handle = await startExampleApp({ REDIS_URL: redis.url });
    const client = createClient({ url: redis.url });
    await client.connect();
    try {
      const ttlOf = async (cookie: string): Promise<number> => {
        const sid = decodeURIComponent(cookie.slice('sid='.length)).slice(2).split('.')[0] as string;
        return client.ttl(`example-app:sess:${sid}`);
      };
      const page = await request(handle.app).get('/login').set(BROWSER);
      expect(page.status).to.equal(200);
      const anonymous = cookieOf(page);
      const anonymousTtl = await ttlOf(anonymous);
      expect(anonymousTtl).to.be.within(ANONYMOUS_SESSION_TTL_SECONDS - 60, ANONYMOUS_SESSION_TTL_SECONDS);
      expect(ANONYMOUS_SESSION_TTL_SECONDS).to.be.at.most(3600);
      // The whole session is small: a 64-character token, not the 256 of csrf-sync's default.
      const stored = await client.get(`example-app:sess:${decodeURIComponent(anonymous.slice(4)).slice(2).split('.')[0]}`);
      expect(stored?.length).to.be.below(300);
      // The password step: a pending login, kept as long as any login.
      const login = await request(handle.app).post('/login').set(JSON_ACCEPT).set('Cookie', anonymous).send({ username: 'alice', password: 'alice-password' });
      expect(login.status).to.equal(200);
      expect(await ttlOf(cookieOf(login))).to.be.within(LOGIN_SESSION_TTL_SECONDS - 60, LOGIN_SESSION_TTL_SECONDS);
    } finally {
      await client.close();
    }
  });

  it('the sign-in page is not limited by default (the contract limits POST routes)', async () => {
    handle = await startExampleApp({ RATE_LIMIT_PER_IP_PER_MIN: '2' });
    for (let i = 0; i < 5; i++) expect((await request(handle.app).get('/login').set(BROWSER)).status).to.equal(200);
  });

  it('RATE_LIMIT_LOGIN_PAGE_PER_IP_PER_MIN: a browser\'s first look at the sign-in page counts; its own reloads and JSON clients do not', async () => {
    handle = await startExampleApp({ RATE_LIMIT_LOGIN_PAGE_PER_IP_PER_MIN: '2' });
    const first = await request(handle.app).get('/login').set(BROWSER);
    const cookie = cookieOf(first);
    expect((await request(handle.app).get('/login').set(BROWSER)).status).to.equal(200);
    const third = await request(handle.app).get('/login').set(BROWSER);
    expect(third.status).to.equal(429);
    expect(third.text).to.include('Please wait');
    expect(Number(third.headers['retry-after'])).to.be.within(1, 60);
    // A session that has its token already, and a JSON client (no session is stored), are not counted.
    for (let i = 0; i < 3; i++) {
      expect((await request(handle.app).get('/login').set(BROWSER).set('Cookie', cookie)).status).to.equal(200);
      expect((await request(handle.app).get('/login').set(JSON_ACCEPT)).status).to.equal(200);
    }
  });

  it('an IPv6 client is counted by its /64 network, not by each of its addresses', async () => {
    handle = await startExampleApp({ RATE_LIMIT_PER_IP_PER_MIN: '2', TRUST_PROXY: '1' });
    const login = (from: string) => request(handle!.app).post('/login').set(JSON_ACCEPT).set('X-Forwarded-For', from).send({ username: 'alice', password: 'wrong' });
    const sameNetwork = [];
    for (let i = 1; i <= 3; i++) sameNetwork.push((await login(`2001:db8::${i}:1`)).status);
    expect(sameNetwork).to.deep.equal([401, 401, 429]);
    expect((await login('2001:db8:0:1::1')).status, 'another /64').to.equal(401);
    // An IPv4-mapped address is its IPv4 address.
    expect([(await login('::ffff:192.0.2.7')).status, (await login('192.0.2.7')).status, (await login('192.0.2.7')).status]).to.deep.equal([401, 401, 429]);
  });
});
