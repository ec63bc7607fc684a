import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import request from 'supertest';
import type { ExampleApp } from '../example-app/src/app.js';
import { loadConfig, startupWarnings } from '../example-app/src/config.js';
import { AppProcess, clearExampleAppKeys, newestCode, startExampleApp } from './helpers/example-app.js';
import { freePort, ThrowawayRedis } from './helpers/redis.js';

const JSON_ACCEPT = { Accept: 'application/json' };

/** Runs `body` with console.warn and console.error collected into `lines`. */
async function capturingLogs<T>(lines: string[], body: () => Promise<T>): Promise<T> {
  const saved = { warn: console.warn, error: console.error };
  for (const name of ['warn', 'error'] as const) console[name] = (...args: unknown[]) => { lines.push(args.map(String).join(' ')); };
  try {
    return await body();
  } finally {
    Object.assign(console, saved);
  }
}

describe('Example app, Redis mode: a restart with a per-start OTP_ENCRYPTION_KEY', function () {
  this.timeout(60_000);
  // A Redis of this test's own: the app writes under the package's default prefix, and every start here needs the secrets of the one before.
  let redis: ThrowawayRedis;
  let handle: ExampleApp | undefined;
  before(async () => { redis = await ThrowawayRedis.start(); });
  after(async () => { await redis?.stop(); });
  beforeEach(async () => { await clearExampleAppKeys(redis.url); });
  afterEach(async () => {
    await handle?.close();
    handle = undefined;
  });

  const outbox = async (app: ExampleApp) => (await request(app.app).get('/dev/outbox').set(JSON_ACCEPT)).body as Array<{ to: string; text: string }>;

  /** One run of the app: start it, log alice in fully (password, then the texted code), stop it. */
  async function fullLoginRun(env: Record<string, string>): Promise<void> {
    handle = await startExampleApp({ REDIS_URL: redis.url, ...env });
    const agent = request.agent(handle.app);
    expect((await agent.post('/login').set(JSON_ACCEPT).send({ username: 'alice', password: 'alice-password' })).status).to.equal(200);
    const done = await agent.post('/login/otp').set(JSON_ACCEPT).send({ code: newestCode(await outbox(handle)) });
    expect([done.status, done.body]).to.deep.equal([200, { status: 'authenticated' }]);
    await handle.close();
    handle = undefined;
  }

  it('forgets the secret an earlier run sealed at the user\'s next login, logs it once, and the login goes through', async () => {
    await fullLoginRun({});
    const lines: string[] = [];
    handle = await startExampleApp({ REDIS_URL: redis.url });
    const agent = request.agent(handle.app);
    const first = await capturingLogs(lines, () => agent.post('/login').set(JSON_ACCEPT).send({ username: 'alice', password: 'alice-password' }));
    expect([first.status, first.body]).to.deep.equal([200, { status: 'otp_required' }]);
    expect(lines.filter((line) => line.includes('forgot the unreadable secret of user 1'))).to.have.length(1);
    expect(lines.join('\n')).to.include('generated per start').and.not.include('SECRET_UNREADABLE');
    // The new secret is this run's: the code texted now logs alice in, and the next login needs no forgetting.
    expect(await outbox(handle)).to.have.length(1);
    const done = await agent.post('/login/otp').set(JSON_ACCEPT).send({ code: newestCode(await outbox(handle)) });
    expect([done.status, done.body]).to.deep.equal([200, { status: 'authenticated' }]);
    const again = await capturingLogs(lines, () => request(handle!.app).post('/login').set(JSON_ACCEPT).send({ username: 'alice', password: 'alice-password' }));
    expect(again.status).to.equal(200);
    expect(lines.filter((line) => line.includes('forgot the unreadable secret'))).to.have.length(1);
  });

  it('a pending login that outlives the restart (SESSION_SECRET set, the key not): the code step and a resend end it with 401 NO_PENDING_LOGIN, not a 500, and the password step starts over', async () => {
    const env = { REDIS_URL: redis.url, SESSION_SECRET: 's'.repeat(40), OTP_RESEND_COOLDOWN_SECONDS: '0' };
    handle = await startExampleApp(env);
    const pendingOf = async (username: string) => {
      const res = await request(handle!.app).post('/login').set(JSON_ACCEPT).send({ username, password: `${username}-password` });
      expect(res.status).to.equal(200);
      return (res.headers['set-cookie'] as unknown as string[])[0]?.split(';')[0] as string;
    };
    const alice = await pendingOf('alice');
    const aliceCode = newestCode(await outbox(handle));
    const bob = await pendingOf('bob');
    await handle.close();

    const lines: string[] = [];
    handle = await startExampleApp(env);
    const app = handle.app;
    const code = await capturingLogs(lines, () => request(app).post('/login/otp').set(JSON_ACCEPT).set('Cookie', alice).send({ code: aliceCode }));
    expect([code.status, code.body.error]).to.deep.equal([401, 'NO_PENDING_LOGIN']);
    const resend = await capturingLogs(lines, () => request(app).post('/login/otp/resend').set(JSON_ACCEPT).set('Cookie', bob).send({}));
    expect([resend.status, resend.body.error]).to.deep.equal([401, 'NO_PENDING_LOGIN']);
    expect(lines.filter((line) => line.includes('forgot the unreadable secret'))).to.have.length(2);
    // The pending record is gone from the session, and the password step works again with a new secret.
    expect((await request(app).post('/login/otp').set(JSON_ACCEPT).set('Cookie', alice).send({ code: aliceCode })).body.error).to.equal('NO_PENDING_LOGIN');
    const agent = request.agent(app);
    expect((await agent.post('/login').set(JSON_ACCEPT).send({ username: 'alice', password: 'alice-password' })).status).to.equal(200);
    const done = await agent.post('/login/otp').set(JSON_ACCEPT).send({ code: newestCode(await outbox(handle)) });
    expect([done.status, done.body]).to.deep.equal([200, { status: 'authenticated' }]);
  });

  it('with a configured OTP_ENCRYPTION_KEY that changed, the error stands: 500 SECRET_UNREADABLE, and the secret is kept', async () => {
    await fullLoginRun({ OTP_ENCRYPTION_KEY: 'ab'.repeat(32) });
    const lines: string[] = [];
    handle = await startExampleApp({ REDIS_URL: redis.url, OTP_ENCRYPTION_KEY: 'cd'.repeat(32) });
    const res = await capturingLogs(lines, () => request(handle!.app).post('/login').set(JSON_ACCEPT).send({ username: 'alice', password: 'alice-password' }));
    expect([res.status, res.body.error]).to.deep.equal([500, 'SECRET_UNREADABLE']);
    expect(lines.join('\n')).to.not.include('forgot');
    await handle.close();
    // The operator puts the old key back: alice's secret is still there and opens again.
    handle = await startExampleApp({ REDIS_URL: redis.url, OTP_ENCRYPTION_KEY: 'ab'.repeat(32) });
    expect((await request(handle.app).post('/login').set(JSON_ACCEPT).send({ username: 'alice', password: 'alice-password' })).status).to.equal(200);
  });

  it('npm start, log in, restart, log in again (as separate processes): 200, with the warning and the log line', async () => {
    // Nothing configured but Redis: both secrets are made up at each start.
    const app = new AppProcess(await freePort(), { REDIS_URL: redis.url, NODE_ENV: '', SESSION_SECRET: '', OTP_ENCRYPTION_KEY: '', GATEWAYAPI_TOKEN: '', GATEWAYAPI_KEY: '', GATEWAYAPI_SECRET: '', AUDIT_LOG: 'off' });
    const post = (path: string, body: object, cookie = '') =>
      fetch(`${app.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json', cookie }, body: JSON.stringify(body) });
    const alice = { username: 'alice', password: 'alice-password' };
    try {
      await app.start();
      expect(app.output).to.include('in Redis mode, codes\' secrets from earlier runs cannot be read and are forgotten at the user\'s next login');
      const first = await post('/login', alice);
      expect(first.status).to.equal(200);
      const cookie = (first.headers.getSetCookie().find((c) => c.startsWith('sid=')) ?? '').split(';')[0] ?? '';
      const messages = await (await fetch(`${app.url}/dev/outbox`, { headers: { accept: 'application/json' } })).json() as Array<{ to: string; text: string }>;
      expect((await post('/login/otp', { code: newestCode(messages) }, cookie)).status).to.equal(200);
      await app.stop();
      await app.start();
      const again = await post('/login', alice);
      expect([again.status, await again.json()]).to.deep.equal([200, { status: 'otp_required' }]);
      expect(app.output).to.include('forgot the unreadable secret of user 1').and.not.include('SECRET_UNREADABLE');
    } finally {
      await app.stop();
    }
  });

  it('the start-up warning says so in Redis mode (and only there)', () => {
    const redisMode = startupWarnings(loadConfig({ REDIS_URL: redis.url })).find((line) => line.includes('OTP_ENCRYPTION_KEY'));
    expect(redisMode).to.include('in Redis mode').and.include('forgotten at the user\'s next login');
    const memoryMode = startupWarnings(loadConfig({})).find((line) => line.includes('OTP_ENCRYPTION_KEY'));
    expect(memoryMode).to.be.a('string').and.not.include('Redis');
    expect(startupWarnings(loadConfig({ REDIS_URL: redis.url, OTP_ENCRYPTION_KEY: randomBytes(32).toString('hex'), SESSION_SECRET: randomBytes(24).toString('base64') }))).to.deep.equal([]);
  });
});
