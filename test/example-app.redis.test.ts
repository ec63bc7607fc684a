import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import request from 'supertest';
import type { ExampleApp } from '../example-app/src/app.js';
import { AppProcess, clearExampleAppKeys, startExampleApp } from './helpers/example-app.js';
import { GatewayApiDouble } from './helpers/gatewayapi-double.js';
import { freePort, ThrowawayRedis } from './helpers/redis.js';

const JSON_ACCEPT = { Accept: 'application/json' };
const codeOf = (text: string | undefined): string => /\b(\d{6})\b/.exec(text ?? '')?.[1] ?? 'none';

describe('Example app, Redis + GatewayAPI mode', function () {
  this.timeout(60_000);
  let double: GatewayApiDouble;
  // A Redis of this suite's own: the app writes under its own prefixes (sms-otp:{1}:…, example-app:…),
  // which npm test must not touch in the Redis at REDIS_URL.
  let redis: ThrowawayRedis;
  before(async () => {
    double = await new GatewayApiDouble().start();
    redis = await ThrowawayRedis.start();
  });
  beforeEach(async () => { await clearExampleAppKeys(redis.url); });
  after(async () => {
    await double.close();
    await redis?.stop();
  });

  const env = (extra: Record<string, string> = {}): Record<string, string> => ({
    REDIS_URL: redis.url,
    SESSION_SECRET: 'x'.repeat(40),
    OTP_ENCRYPTION_KEY: 'cd'.repeat(32),
    GATEWAYAPI_BASE_URL: double.baseUrl,
    GATEWAYAPI_TOKEN: double.token,
    OTP_SENDS_PER_WINDOW: '100',
    ...extra,
  });

  describe('in this process (supertest)', () => {
    let handle: ExampleApp;
    afterEach(async () => { await handle?.close(); });

    for (const auth of ['token', 'oauth'] as const) {
      it(`logs in with the code GatewayAPI received (${auth}); /dev/outbox is 404 with a real sender`, async () => {
        const credentials: Record<string, string> = auth === 'token' ? {} : { GATEWAYAPI_TOKEN: '', GATEWAYAPI_KEY: double.key, GATEWAYAPI_SECRET: double.secret };
        handle = await startExampleApp(env(credentials));
        const agent = request.agent(handle.app);
        const before = double.received.length;
        expect((await agent.post('/login').set(JSON_ACCEPT).send({ username: 'bob', password: 'bob-password' })).status).to.equal(200);
        expect(double.received.length).to.equal(before + 1);
        const sms = double.received.at(-1);
        expect(sms?.auth).to.equal(auth);
        expect(sms?.msisdns).to.deep.equal([4587654321]);
        const res = await agent.post('/login/otp').set(JSON_ACCEPT).send({ code: codeOf(sms?.text) });
        expect([res.status, res.body]).to.deep.equal([200, { status: 'authenticated' }]);
        expect((await agent.get('/account').set(JSON_ACCEPT)).body).to.deep.equal({ username: 'bob' });
        expect((await request(handle.app).get('/dev/outbox').set(JSON_ACCEPT)).status).to.equal(404);
        const page = await request(handle.app).get('/dev/outbox').set('Accept', 'text/html');
        expect(page.status).to.equal(404);
        expect(page.headers['content-type']).to.match(/^text\/html/);
        const health = await request(handle.app).get('/healthz');
        expect(health.status).to.equal(200);
        expect(health.body.store).to.equal('redis');
      });
    }

    it('a GatewayAPI failure answers 502 SEND_FAILED, and the next try works', async () => {
      handle = await startExampleApp(env());
      double.scenario = 'insufficient-credit';
      try {
        const res = await request(handle.app).post('/login').set(JSON_ACCEPT).send({ username: 'alice', password: 'alice-password' });
        expect(res.status).to.equal(502);
        expect(res.body.error).to.equal('SEND_FAILED');
      } finally {
        double.scenario = 'ok';
      }
      expect((await request(handle.app).post('/login').set(JSON_ACCEPT).send({ username: 'alice', password: 'alice-password' })).status).to.equal(200);
    });
  });

  it('in production, a login over plain HTTP is logged once (its secure cookie is never set); through the TLS proxy it is not', async () => {
    const warnings: string[] = [];
    const warn = console.warn;
    console.warn = (...args: unknown[]) => { warnings.push(args.map(String).join(' ')); };
    let handle: ExampleApp | undefined;
    try {
      handle = await startExampleApp(env({ NODE_ENV: 'production' }));
      const login = () => request(handle!.app).post('/login').set(JSON_ACCEPT).send({ username: 'bob', password: 'bob-password' });
      const proxied = await login().set('X-Forwarded-Proto', 'https');
      expect(proxied.status).to.equal(200);
      expect(String(proxied.headers['set-cookie'])).to.match(/Secure/);
      expect(warnings.filter((w) => w.includes('plain HTTP'))).to.have.length(0);
      const plain = await login();
      expect(plain.status).to.equal(200);
      expect(plain.headers['set-cookie']).to.equal(undefined);
      await login();
      expect(warnings.filter((w) => w.includes('a login arrived over plain HTTP in production'))).to.have.length(1);
    } finally {
      console.warn = warn;
      await handle?.close();
    }
  });

  it('refuses to start when Redis refuses it (a database that does not exist), with Redis\'s own reason', async function () {
    this.timeout(20_000);
    const errors: string[] = [];
    const logged = console.error;
    console.error = (...args: unknown[]) => { errors.push(args.map(String).join(' ')); };
    let failure: unknown;
    try {
      await startExampleApp(env({ REDIS_URL: `${redis.url}/9999` })).then((app) => app.close(), (err: unknown) => { failure = err; });
    } finally {
      console.error = logged;
    }
    expect(failure).to.be.instanceOf(Error);
    expect((failure as Error).message).to.match(/^Redis \(REDIS_URL\) did not answer within 5 s \(last error: .*DB index/);
    expect(errors.some((line) => line.startsWith('redis: ') && line.includes('DB index'))).to.equal(true);
  });

  describe('as separate processes', () => {
    const processes: AppProcess[] = [];
    afterEach(async () => {
      await Promise.all(processes.map((p) => p.stop()));
      processes.length = 0;
    });
    const spawnApp = async (extra: Record<string, string> = {}): Promise<AppProcess> => {
      const app = new AppProcess(await freePort(), env(extra));
      processes.push(app);
      await app.start();
      return app;
    };
    const post = (base: string, path: string, body: object, cookie?: string) =>
      fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json', ...(cookie ? { cookie } : {}) }, body: JSON.stringify(body) });
    const cookieOf = (res: Response): string => (res.headers.getSetCookie().find((c) => c.startsWith('sid=')) ?? '').split(';')[0] ?? '';

    it('two instances sharing Redis: the password step on one, the code step on the other', async () => {
      const [a, b] = [await spawnApp(), await spawnApp()];
      const first = await post(a.url, '/login', { username: 'alice', password: 'alice-password' });
      expect(first.status).to.equal(200);
      const second = await post(b.url, '/login/otp', { code: codeOf(double.received.at(-1)?.text) }, cookieOf(first));
      expect(second.status).to.equal(200);
      const account = await fetch(`${a.url}/account`, { headers: { accept: 'application/json', cookie: cookieOf(second) } });
      expect(account.status).to.equal(200);
      expect(await account.json()).to.deep.equal({ username: 'alice' });
    });

    it('a restart keeps a logged-in user logged in (sessions live in Redis)', async () => {
      const app = await spawnApp();
      const first = await post(app.url, '/login', { username: 'bob', password: 'bob-password' });
      const second = await post(app.url, '/login/otp', { code: codeOf(double.received.at(-1)?.text) }, cookieOf(first));
      expect(second.status).to.equal(200);
      const cookie = cookieOf(second);
      await app.stop();
      await app.start();
      const account = await fetch(`${app.url}/account`, { headers: { accept: 'application/json', cookie } });
      expect(account.status).to.equal(200);
    });

    it('GET /healthz is 503 while its Redis is down and 200 again after', async () => {
      const redis = await ThrowawayRedis.start();
      try {
        const app = await spawnApp({ REDIS_URL: redis.url, SESSION_SECRET: randomBytes(20).toString('hex') });
        const before = await post(app.url, '/login', { username: 'bob', password: 'bob-password' });
        expect(before.status).to.equal(200);
        await redis.stop();
        expect((await fetch(`${app.url}/healthz`)).status).to.equal(503);
        // The same answer with a session cookie: the health check does not load the session first.
        const withCookie = await fetch(`${app.url}/healthz`, { headers: { cookie: cookieOf(before) } });
        expect(withCookie.status).to.equal(503);
        expect(await withCookie.json()).to.deep.equal({ status: 'unavailable', store: 'redis' });
        // A page that gives its session a new CSRF token saves it before it is sent: a 503 page, not a
        // form whose post could only fail, and one log line that says so.
        const page = await fetch(`${app.url}/login`, { headers: { accept: 'text/html' } });
        expect([page.status, (await page.text()).includes('name="_csrf"')]).to.deep.equal([503, false]);
        for (let i = 0; i < 50 && !app.output.includes('GET /login ->'); i++) await new Promise((r) => setTimeout(r, 20));
        expect(app.output).to.match(/error: GET \/login -> 503 service_unavailable/);
        expect(app.output).not.to.include('GET /login -> failed after its answer');
        const login = await post(app.url, '/login', { username: 'alice', password: 'alice-password' });
        expect(login.status).to.equal(503);
        await redis.start();
        let status = 0;
        for (let i = 0; i < 50 && status !== 200; i++) {
          status = (await fetch(`${app.url}/healthz`)).status;
          if (status !== 200) await new Promise((r) => setTimeout(r, 100));
        }
        expect(status).to.equal(200);
        expect((await post(app.url, '/login', { username: 'alice', password: 'alice-password' })).status).to.equal(200);
      } finally {
        await redis.stop();
      }
    });
  });
});
