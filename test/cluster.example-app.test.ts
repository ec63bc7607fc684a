import { expect } from 'chai';
import request from 'supertest';
import type { ExampleApp } from '../example-app/src/app.js';
import { ConfigError, loadConfig, storeDescription } from '../example-app/src/config.js';
import { newestCode, startExampleApp } from './helpers/example-app.js';
import { LocalRedisCluster } from './helpers/cluster.js';

const JSON_ACCEPT = { Accept: 'application/json' };

describe('Example app: REDIS_CLUSTER_NODES configuration', () => {
  it('reads host:port seeds (and URLs) into redis:// URLs', () => {
    const config = loadConfig({ REDIS_CLUSTER_NODES: '127.0.0.1:7000, [::1]:7001,rediss://user:pw@redis.example:7002' });
    expect(config.redisClusterNodes).to.deep.equal(['redis://127.0.0.1:7000', 'redis://[::1]:7001', 'rediss://user:pw@redis.example:7002']);
    expect(config.redisUrl).to.equal(undefined);
  });

  const BAD: Array<[Record<string, string>, RegExp]> = [
    [{ REDIS_URL: 'redis://127.0.0.1:6379', REDIS_CLUSTER_NODES: '127.0.0.1:7000' }, /REDIS_URL .* or REDIS_CLUSTER_NODES .*not both/],
    [{ REDIS_CLUSTER_NODES: '127.0.0.1' }, /REDIS_CLUSTER_NODES entry 1 is not host:port/],
    [{ REDIS_CLUSTER_NODES: '127.0.0.1:7000,host:99999' }, /REDIS_CLUSTER_NODES entry 2 is not host:port/],
    // A stray comma is refused (`,,` alone used to mean in-memory stores), and entries count by position.
    [{ REDIS_CLUSTER_NODES: ',,' }, /REDIS_CLUSTER_NODES entry 1 is empty/],
    [{ REDIS_CLUSTER_NODES: '127.0.0.1:7000, ,127.0.0.1:7001' }, /REDIS_CLUSTER_NODES entry 2 is empty/],
    [{ REDIS_CLUSTER_NODES: '127.0.0.1:7000,' }, /REDIS_CLUSTER_NODES entry 2 is empty/],
    [{ NODE_ENV: 'production', SESSION_SECRET: 's'.repeat(32), OTP_ENCRYPTION_KEY: 'ab'.repeat(32), GATEWAYAPI_TOKEN: 't', REDIS_CLUSTER_NODES: ',' }, /REDIS_CLUSTER_NODES entry 1 is empty/],
    [{ REDIS_CLUSTER_NODES: '127.0.0.1:7000,127.0.0.1:7001,x y:1' }, /REDIS_CLUSTER_NODES entry 3 is not host:port/],
  ];
  for (const [env, message] of BAD) {
    it(`refuses ${Object.entries(env).map(([k, v]) => `${k}=${v}`).join(' ')}`, () => {
      expect(() => loadConfig(env)).to.throw(ConfigError, message);
      // Only that problem: a refused REDIS_CLUSTER_NODES is not also reported as missing.
      expect(() => loadConfig(env)).to.throw(ConfigError).with.property('problems').that.has.length(1);
    });
  }

  it('does not echo a password from a seed URL in its message', () => {
    expect(() => loadConfig({ REDIS_CLUSTER_NODES: 'redis://user:hunter2@host' })).to.throw(ConfigError).with.property('message').that.does.not.include('hunter2');
  });

  it('the start-up line says a cluster, and how many seed nodes (one Redis and memory as before)', () => {
    expect(storeDescription(loadConfig({ REDIS_CLUSTER_NODES: '127.0.0.1:7000,127.0.0.1:7001' }))).to.equal('redis (a Redis Cluster, 2 seed nodes; sessions: connect-redis, codes: RedisOtpStore)');
    expect(storeDescription(loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379' }))).to.equal('redis (sessions: connect-redis, codes: RedisOtpStore)');
    expect(storeDescription(loadConfig({}))).to.equal('memory (sessions and codes in this process)');
  });

  it('counts as Redis for NODE_ENV=production', () => {
    const config = loadConfig({ NODE_ENV: 'production', SESSION_SECRET: 's'.repeat(32), OTP_ENCRYPTION_KEY: 'ab'.repeat(32), GATEWAYAPI_TOKEN: 't', REDIS_CLUSTER_NODES: '10.0.0.1:7000' });
    expect(config.redisClusterNodes).to.deep.equal(['redis://10.0.0.1:7000']);
  });

  it('refuses the benchmark switches in production', () => {
    const env = { NODE_ENV: 'production', SESSION_SECRET: 's'.repeat(32), OTP_ENCRYPTION_KEY: 'ab'.repeat(32), GATEWAYAPI_TOKEN: 't', REDIS_URL: 'redis://h:1' };
    expect(() => loadConfig({ ...env, BENCH_USERS: '10' })).to.throw(ConfigError, /BENCH_USERS and BENCH_ROUTES/);
    expect(() => loadConfig({ ...env, BENCH_ROUTES: '1' })).to.throw(ConfigError, /BENCH_USERS and BENCH_ROUTES/);
  });
});

describe('Example app on a 3-primary Redis Cluster (REDIS_CLUSTER_NODES)', function () {
  this.timeout(30_000);
  let cluster: LocalRedisCluster;
  let handle: ExampleApp | undefined;
  before(async () => { cluster = await LocalRedisCluster.start(); });
  afterEach(async () => { await handle?.close(); handle = undefined; });
  after(async () => { await cluster?.stop(); });

  const env = (extra: Record<string, string> = {}): Record<string, string> => ({
    REDIS_CLUSTER_NODES: cluster.nodesEnv,
    SESSION_SECRET: 'x'.repeat(40),
    OTP_ENCRYPTION_KEY: 'cd'.repeat(32),
    OTP_SENDS_PER_WINDOW: '100',
    ...extra,
  });

  it('logs in, with the session and the codes on the cluster', async () => {
    handle = await startExampleApp(env());
    const { app, infra } = handle;
    expect(infra.redis?.topology).to.equal('cluster');
    expect(infra.storeKind).to.equal('redis');
    const agent = request.agent(app);
    expect((await agent.post('/login').set(JSON_ACCEPT).send({ username: 'alice', password: 'alice-password' })).body).to.deep.equal({ status: 'otp_required' });
    expect((await agent.get('/account').set(JSON_ACCEPT)).status).to.equal(401);
    const right = await agent.post('/login/otp').set(JSON_ACCEPT).send({ code: newestCode(infra.outbox?.messages ?? []) });
    expect([right.status, right.body]).to.deep.equal([200, { status: 'authenticated' }]);
    expect((await agent.get('/account').set(JSON_ACCEPT)).body).to.deep.equal({ username: 'alice' });
    expect((await request(app).get('/healthz')).body).to.include({ status: 'ok', store: 'redis' });

    // The session and the user's codes live on the cluster (not in this process).
    const found = await cluster.eachNode(async (node) => {
      const keys: string[] = [];
      for await (const batch of node.scanIterator({ MATCH: '*', COUNT: 1000 })) keys.push(...batch);
      return keys;
    });
    const all = found.flat();
    expect(all.some((k) => k.startsWith('example-app:sess:'))).to.equal(true);
    expect(all.some((k) => k.startsWith('sms-otp:{1}:'))).to.equal(true);
    expect(await cluster.errorCount('CROSSSLOT')).to.equal(0);
  });

  it('the per-IP limit is kept on the cluster and shared by two app instances', async () => {
    handle = await startExampleApp(env({ RATE_LIMIT_PER_IP_PER_MIN: '2' }));
    const second = await startExampleApp(env({ RATE_LIMIT_PER_IP_PER_MIN: '2' }));
    try {
      const wrong = { username: 'bob', password: 'wrong' };
      expect((await request(handle.app).post('/login').set(JSON_ACCEPT).send(wrong)).status).to.equal(401);
      expect((await request(second.app).post('/login').set(JSON_ACCEPT).send(wrong)).status).to.equal(401);
      const third = await request(handle.app).post('/login').set(JSON_ACCEPT).send(wrong);
      expect(third.status).to.equal(429);
      expect(Number(third.headers['retry-after'])).to.be.within(1, 60);
      const counters = await cluster.eachNode(async (node) => {
        const keys: string[] = [];
        for await (const batch of node.scanIterator({ MATCH: 'example-app:rl:login*', COUNT: 1000 })) keys.push(...batch);
        return keys;
      });
      expect(counters.flat()).to.have.length(1);
    } finally {
      await second.close();
    }
  });

  it('a code sent by one instance is accepted by another (sessions and codes shared)', async () => {
    handle = await startExampleApp(env());
    const other = await startExampleApp(env());
    try {
      const first = await request(handle.app).post('/login').set(JSON_ACCEPT).send({ username: 'bob', password: 'bob-password' });
      const cookie = (first.headers['set-cookie'] as unknown as string[]).map((c) => c.split(';')[0]).find((c) => c?.startsWith('sid=')) ?? '';
      const code = newestCode(handle.infra.outbox?.messages ?? [], '+4587654321');
      const second = await request(other.app).post('/login/otp').set(JSON_ACCEPT).set('Cookie', cookie).send({ code });
      expect([second.status, second.body]).to.deep.equal([200, { status: 'authenticated' }]);
    } finally {
      await other.close();
    }
  });
});
