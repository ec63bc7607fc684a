import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import request from 'supertest';
import type { ExampleApp } from '../example-app/src/app.js';
import { newestCode, startExampleApp } from './helpers/example-app.js';
import { ThrowawayRedis } from './helpers/redis.js';

// The example app's sessions when its Redis hangs (paused with SIGSTOP: the connection stays open
// and node-redis stays "ready") or is gone: one clean 503 per request, within the command timeout,
// the client's connection still usable, and no stack trace in the log.

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type Answer = { status: number; body: Record<string, unknown>; ms: number; reusedSocket: boolean };

/** The example app on a loopback port, asked over one keep-alive connection (as a browser or a proxy does). */
class Client {
  readonly agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  connections = 0;
  private constructor(private readonly server: http.Server, private readonly port: number) {
    server.on('connection', () => { this.connections += 1; });
  }

  static async of(handle: ExampleApp): Promise<Client> {
    const server = http.createServer(handle.app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return new Client(server, (server.address() as net.AddressInfo).port);
  }

  /** One request; fails (instead of hanging the suite) when no whole answer came within `limitMs`. */
  send(method: 'GET' | 'POST', path: string, options: { body?: object; cookie?: string; limitMs?: number } = {}): Promise<Answer & { cookie: string | undefined }> {
    const started = performance.now();
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = { accept: 'application/json', ...(options.cookie ? { cookie: options.cookie } : {}) };
      const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
      if (payload !== undefined) headers['content-type'] = 'application/json';
      const req = http.request({ host: '127.0.0.1', port: this.port, method, path, headers, agent: this.agent }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => { text += chunk; });
        res.on('end', () => {
          clearTimeout(timer);
          const cookie = res.headers['set-cookie']?.find((c) => c.startsWith('sid='))?.split(';')[0];
          resolve({ status: res.statusCode ?? 0, body: text === '' ? {} : JSON.parse(text) as Record<string, unknown>, ms: performance.now() - started, reusedSocket: req.reusedSocket, cookie });
        });
        res.on('error', reject);
      });
      const timer = setTimeout(() => {
        req.destroy();
        reject(new Error(`${method} ${path}: no whole answer within ${options.limitMs ?? 6000} ms`));
      }, options.limitMs ?? 6000);
      req.on('error', (err) => { clearTimeout(timer); reject(err); });
      req.end(payload);
    });
  }

  async close(): Promise<void> {
    this.agent.destroy();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/** Everything the app prints with console.error between capture() and restore(), one entry per call. */
class ErrorLog {
  readonly entries: string[] = [];
  private original: typeof console.error | undefined;
  capture(): void {
    this.entries.length = 0;
    this.original = console.error;
    console.error = (...args: unknown[]) => { this.entries.push(args.map((a) => (a instanceof Error ? a.stack ?? String(a) : String(a))).join(' ')); };
  }
  restore(): void {
    if (this.original !== undefined) console.error = this.original;
    this.original = undefined;
  }
}

const env = (redisUrl: string): Record<string, string> => ({ REDIS_URL: redisUrl, SESSION_SECRET: 'x'.repeat(40), OTP_ENCRYPTION_KEY: 'cd'.repeat(32), OTP_SENDS_PER_WINDOW: '100' });
const ALICE = { username: 'alice', password: 'alice-password' };

describe('Example app sessions during a Redis outage (example-app/src/sessions.ts)', function () {
  this.timeout(40_000);
  let redis: ThrowawayRedis | undefined;
  let handle: ExampleApp | undefined;
  let client: Client | undefined;
  const log = new ErrorLog();
  beforeEach(() => log.capture());
  afterEach(async () => {
    log.restore();
    redis?.resume();
    await client?.close();
    await handle?.close();
    await redis?.stop();
    redis = undefined;
    handle = undefined;
    client = undefined;
  });

  /** Alice logged in (password and code), with her session cookie. */
  async function loggedIn(c: Client, app: ExampleApp): Promise<string> {
    const first = await c.send('POST', '/login', { body: ALICE });
    expect([first.status, first.body.status]).to.deep.equal([200, 'otp_required']);
    const second = await c.send('POST', '/login/otp', { body: { code: newestCode(app.infra.outbox?.messages ?? []) }, cookie: first.cookie });
    expect([second.status, second.body]).to.deep.equal([200, { status: 'authenticated' }]);
    const cookie = second.cookie as string;
    expect((await c.send('GET', '/account', { cookie })).body).to.deep.equal({ username: 'alice' });
    return cookie;
  }

  it('a Redis that hangs: a request with a session answers 503 service_unavailable within the 2 s timeout, a login too, and all works again once Redis is back', async () => {
    redis = await ThrowawayRedis.start();
    handle = await startExampleApp(env(redis.url));
    client = await Client.of(handle);
    const cookie = await loggedIn(client, handle);

    redis.pause();
    // The session's GET hangs: it fails after the session store's 2 s timeout.
    const account = await client.send('GET', '/account', { cookie });
    expect([account.status, account.body.error, account.body.message]).to.deep.equal([503, 'service_unavailable', 'The session store is unavailable; try again shortly.']);
    expect(account.ms).to.be.within(1500, 4000);
    expect(handle.infra.redis?.isReady, 'node-redis does not notice a paused server').to.equal(true);
    // The password step: the old session's DEL, the codes and the new session's write all hang.
    const login = await client.send('POST', '/login', { body: ALICE });
    expect([login.status, login.body.error]).to.deep.equal([503, 'STORE_UNAVAILABLE']);
    expect(login.ms).to.be.below(4500);
    const again = await client.send('GET', '/account', { cookie });
    expect([again.status, again.reusedSocket]).to.deep.equal([503, true]);

    redis.resume();
    // The late answers of the paused commands are ignored; the session is still there.
    expect((await client.send('GET', '/account', { cookie })).body).to.deep.equal({ username: 'alice' });
    expect((await client.send('POST', '/login', { body: ALICE })).status).to.equal(200);
    expect(client.connections, 'one keep-alive connection for every request').to.equal(1);
    expect(log.entries.filter((e) => /\n\s+at /.test(e)), 'no stack traces').to.deep.equal([]);
    expect(log.entries.filter((e) => e.includes('\n')), 'one line per entry').to.deep.equal([]);
  });

  it('Redis answers its session reads with an error on a connection that stays ready (as a cluster does, CLUSTERDOWN, while it takes back a restarted node): 503, not 500, and all works again after', async () => {
    redis = await ThrowawayRedis.start();
    handle = await startExampleApp(env(redis.url));
    client = await Client.of(handle);
    const cookie = await loggedIn(client, handle);
    const acl = (change: string) => {
      const run = spawnSync('redis-cli', ['-p', String(redis?.port), 'ACL', 'SETUSER', 'default', change], { encoding: 'utf8' });
      expect(run.stdout.trim()).to.equal('OK');
    };
    // Every GET is refused with an error reply (NOPERM): the session cannot be read.
    acl('-get');
    const account = await client.send('GET', '/account', { cookie });
    expect([account.status, account.body.error]).to.deep.equal([503, 'service_unavailable']);
    expect(handle.infra.redis?.isReady, 'the connection is fine').to.equal(true);
    acl('+get');
    expect((await client.send('GET', '/account', { cookie })).body).to.deep.equal({ username: 'alice' });
    expect(log.entries.filter((e) => /\n\s+at /.test(e)), 'no stack traces').to.deep.equal([]);
  });

  /** The next session write that holds a logged-in user goes through `act` instead of the client's SET. */
  function interceptLoginWrite(app: ExampleApp, act: (write: () => Promise<unknown>) => Promise<unknown>): void {
    const redisClient = app.infra.redis?.client as unknown as { set: (key: string, value: string, ...rest: unknown[]) => Promise<unknown> };
    const realSet = redisClient.set.bind(redisClient);
    let armed = true;
    redisClient.set = (key, value, ...rest) => {
      if (!armed || !value.includes('"passport":{"user"')) return realSet(key, value, ...rest);
      armed = false;
      return act(() => realSet(key, value, ...rest));
    };
  }

  /** The code step of a login whose session write `interceptLoginWrite` spoils: an error answer and no login, whatever cookie came with it. */
  async function codeStepFails(c: Client, app: ExampleApp): Promise<void> {
    const first = await c.send('POST', '/login', { body: ALICE });
    const second = await c.send('POST', '/login/otp', { body: { code: newestCode(app.infra.outbox?.messages ?? []) }, cookie: first.cookie });
    expect(second.status).to.be.within(500, 503);
    expect(second.ms, 'one timeout at most, not one per write').to.be.below(3500);
    await sleep(700);
    for (const cookie of [second.cookie, first.cookie]) {
      if (cookie === undefined) continue;
      const account = await c.send('GET', '/account', { cookie });
      expect([account.status, account.body.error], `GET /account with ${cookie === first.cookie ? 'the pending' : 'the error answer\'s'} cookie`).to.deep.equal([401, 'NOT_AUTHENTICATED']);
    }
    const keys = await app.infra.redis?.client.keys('example-app:sess:*') ?? [];
    const stored = await Promise.all(keys.map((k) => app.infra.redis?.client.get(k)));
    expect(stored.filter((v) => v?.includes('"passport":{"user"')), 'no logged-in session in the store').to.deep.equal([]);
  }

  it('the login\'s session write fails: the code step answers an error and nobody is logged in (express-session\'s own write at the end does not store the login after all)', async () => {
    redis = await ThrowawayRedis.start();
    handle = await startExampleApp(env(redis.url));
    client = await Client.of(handle);
    interceptLoginWrite(handle, () => Promise.reject(new Error('LOADING Redis is loading the dataset in memory')));
    await codeStepFails(client, handle);
  });

  it('the login\'s session write answers after the timeout: an error answer, and the late SET does not bring the login back', async () => {
    redis = await ThrowawayRedis.start();
    handle = await startExampleApp(env(redis.url));
    client = await Client.of(handle);
    // The SET goes out and lands, but its answer comes only after the session store's 2 s timeout.
    interceptLoginWrite(handle, (write) => {
      const landed = write();
      return new Promise((resolve) => setTimeout(() => resolve(landed), 2500));
    });
    await codeStepFails(client, handle);
    await sleep(2500);
    const keys = await handle.infra.redis?.client.keys('example-app:sess:*') ?? [];
    const stored = await Promise.all(keys.map((k) => handle?.infra.redis?.client.get(k)));
    expect(stored.filter((v) => v?.includes('"passport":{"user"')), 'the late write was deleted after it').to.deep.equal([]);
  });

  it('a Redis that hangs: a sign-in page answers 503 instead of a 200 form whose CSRF token was never stored (its post could only fail)', async () => {
    redis = await ThrowawayRedis.start();
    handle = await startExampleApp(env(redis.url));
    const browser = { Accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' };
    const before = await request(handle.app).get('/login').set(browser);
    expect(before.status).to.equal(200);
    redis.pause();
    const page = await request(handle.app).get('/login').set(browser).timeout(8000);
    expect(page.status).to.equal(503);
    expect(page.headers['content-type']).to.match(/^text\/html/);
    expect(page.text).to.include('The session store is unavailable').and.not.include('name="_csrf"');
    redis.resume();
    const after = await request(handle.app).get('/login').set(browser);
    expect([after.status, after.text.includes('name="_csrf"')]).to.deep.equal([200, true]);
  });

  it('a Redis that is down: each failed password step is one 503 JSON answer on a connection that stays usable, and no stack trace is logged', async () => {
    redis = await ThrowawayRedis.start();
    handle = await startExampleApp(env(redis.url));
    client = await Client.of(handle);
    await redis.stop();
    for (let i = 0; i < 100 && handle.infra.redis?.isReady; i++) await sleep(20);
    expect(handle.infra.redis?.isReady).to.equal(false);

    const first = await client.send('POST', '/login', { body: ALICE });
    expect([first.status, first.body.error]).to.deep.equal([503, 'STORE_UNAVAILABLE']);
    const second = await client.send('POST', '/login', { body: ALICE });
    expect([second.status, second.reusedSocket]).to.deep.equal([503, true]);
    await sleep(100);
    expect(client.connections, 'the first answer did not cost the connection').to.equal(1);

    expect(log.entries.filter((e) => /\n\s+at /.test(e)), 'no stack traces').to.deep.equal([]);
    expect(log.entries.filter((e) => e.includes('\n')), 'one line per entry').to.deep.equal([]);
    // One line for the answer per request; the rest are the Redis client's and the session store's own lines.
    expect(log.entries.filter((e) => e.startsWith('error: POST /login -> 503'))).to.have.length(2);
    // With what node-redis said, so an operator can tell a dropped connection from a timeout.
    expect(log.entries.filter((e) => e.startsWith('error: POST /login -> 503')).every((e) => /STORE_UNAVAILABLE \(SmsOtpError: .*; cause: \w*Error: \S/.test(e)), log.entries.join('\n')).to.equal(true);
    expect(log.entries.filter((e) => e.startsWith('session store:')).length, 'the old session\'s DEL, once per request at most').to.be.at.most(2);
    expect(log.entries.filter((e) => e.includes('failed after its answer'))).to.deep.equal([]);
  });
});
