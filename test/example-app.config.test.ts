import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { ConfigError, loadConfig, startupWarnings } from '../example-app/src/config.js';
import { createInfrastructure } from '../example-app/src/infra.js';

describe('Example app: configuration from the environment', () => {
  it('runs with nothing set: memory, dev outbox, random secrets it warns about', () => {
    const config = loadConfig({});
    expect(config).to.include({ port: 3000, host: '127.0.0.1', redisUrl: undefined, gatewayApi: undefined, rateLimitPerIpPerMin: 30, smsSender: 'ExampleApp' });
    expect(config.generated).to.deep.equal(['SESSION_SECRET', 'OTP_ENCRYPTION_KEY']);
  });

  it('refuses NODE_ENV=production without SESSION_SECRET, OTP_ENCRYPTION_KEY, a real sender and Redis, naming each', () => {
    let error: unknown;
    try { loadConfig({ NODE_ENV: 'production' }); } catch (err) { error = err; }
    expect(error).to.be.instanceOf(ConfigError);
    const message = (error as Error).message;
    for (const name of ['SESSION_SECRET', 'OTP_ENCRYPTION_KEY', 'GATEWAYAPI_TOKEN', 'REDIS_URL']) expect(message).to.include(name);
  });

  it('starts in production with everything set', () => {
    const config = loadConfig({ NODE_ENV: 'production', SESSION_SECRET: 's'.repeat(32), OTP_ENCRYPTION_KEY: 'ab'.repeat(32), GATEWAYAPI_TOKEN: 't', REDIS_URL: 'redis://127.0.0.1:6379' });
    expect(config.production).to.equal(true);
    expect(config.generated).to.deep.equal([]);
    // Behind its TLS proxy: one hop trusted unless TRUST_PROXY says otherwise.
    expect(config.trustProxyHops).to.equal(1);
  });

  it('TRUST_PROXY: 0 outside production, 1 in production, or the number of hops given', () => {
    const production = { NODE_ENV: 'production', SESSION_SECRET: 's'.repeat(32), OTP_ENCRYPTION_KEY: 'ab'.repeat(32), GATEWAYAPI_TOKEN: 't', REDIS_URL: 'redis://127.0.0.1:6379' };
    expect(loadConfig({}).trustProxyHops).to.equal(0);
    expect(loadConfig({ TRUST_PROXY: '2' }).trustProxyHops).to.equal(2);
    expect(loadConfig({ ...production, TRUST_PROXY: '0' }).trustProxyHops).to.equal(0);
  });

  const BAD: Array<[Record<string, string>, RegExp]> = [
    [{ PORT: 'eighty' }, /PORT must be a whole number/],
    [{ OTP_DIGITS: '5' }, /OTP_DIGITS must be a whole number from 6 to 10/],
    [{ OTP_TTL_SECONDS: '900' }, /OTP_TTL_SECONDS must be a whole number from 1 to 600/],
    [{ OTP_MAX_ATTEMPTS: '-1' }, /OTP_MAX_ATTEMPTS/],
    [{ OTP_ENCRYPTION_KEY: 'short' }, /OTP_ENCRYPTION_KEY must be 32 bytes/],
    [{ RATE_LIMIT_PER_IP_PER_MIN: 'lots' }, /RATE_LIMIT_PER_IP_PER_MIN/],
    [{ TRUST_PROXY: 'true' }, /TRUST_PROXY must be a whole number from 0 to 10/],
    [{ REDIS_URL: 'localhost:6379' }, /REDIS_URL must start with redis:\/\//],
    [{ REDIS_URL: 'redis://[bad' }, /REDIS_URL is not a valid URL/],
    [{ REDIS_URL: 'redis://' }, /REDIS_URL must name a host/],
    [{ REDIS_URL: 'redis://127.0.0.1:6379/abc' }, /REDIS_URL may end only with a database number/],
    [{ REDIS_URL: 'redis://127.0.0.1:6379/1/2' }, /REDIS_URL may end only with a database number/],
    [{ REDIS_URL: 'redis://:%ZZpw@127.0.0.1:6379' }, /REDIS_URL has a malformed %-escape/],
    [{ GATEWAYAPI_KEY: 'k' }, /GATEWAYAPI_KEY and GATEWAYAPI_SECRET go together/],
    [{ SESSION_SECRET: 'short' }, /SESSION_SECRET must be at least 32 characters/],
  ];
  for (const [env, message] of BAD) {
    it(`refuses ${Object.entries(env).map(([k, v]) => `${k}=${v}`).join(' ')} with a message that says what is wrong`, () => {
      expect(() => loadConfig(env)).to.throw(ConfigError, message);
    });
  }

  it('a GatewayAPI setting the sender refuses is named by its variable', async () => {
    for (const [env, message] of [
      [{ GATEWAYAPI_TOKEN: 't', GATEWAYAPI_BASE_URL: 'not a url' }, /^GATEWAYAPI_BASE_URL: baseUrl must be an absolute URL/],
      [{ GATEWAYAPI_TOKEN: 't', SMS_SENDER: 'Bad<>Name!!' }, /^SMS_SENDER: sender must be/],
      [{ GATEWAYAPI_TOKEN: 'tøken' }, /^GATEWAYAPI_TOKEN: token must be/],
      [{ GATEWAYAPI_TOKEN: 't', WEBOTP_HOST: 'https://x.example' }, /^WEBOTP_HOST: webOtpHost must be a bare host name/],
      [{ WEBOTP_HOST: 'https://x.example' }, /^WEBOTP_HOST: webOtpHost must be a bare host name/],
    ] as const) {
      const err = await createInfrastructure(loadConfig(env)).then(() => undefined, (e: unknown) => e);
      expect(err, JSON.stringify(env)).to.be.instanceOf(Error).with.property('message').that.matches(message);
      expect((err as Error).message).to.not.include('tøken');
    }
  });

  it('warns when GatewayAPI settings are given without credentials (texts then go to the dev outbox)', () => {
    const env = { GATEWAYAPI_BASE_URL: 'https://gatewayapi.eu', SMS_SENDER: 'MyApp' };
    expect(startupWarnings(loadConfig(env), env)[0]).to.equal('warning: GATEWAYAPI_BASE_URL and SMS_SENDER are set, but without GATEWAYAPI_TOKEN (or GATEWAYAPI_KEY and GATEWAYAPI_SECRET) texts go to the dev outbox');
    const configured = { ...env, GATEWAYAPI_TOKEN: 't' };
    expect(startupWarnings(loadConfig(configured), configured).join('\n')).to.not.include('dev outbox');
  });

  it('warns when a token and OAuth credentials are both set: the token is used, the pair ignored', () => {
    const env = { GATEWAYAPI_TOKEN: 't', GATEWAYAPI_KEY: 'k', GATEWAYAPI_SECRET: 's' };
    const config = loadConfig(env);
    expect(config.gatewayApi).to.deep.include({ token: 't' }).and.not.have.property('key');
    const gatewayApiLines = (e: Record<string, string>) => startupWarnings(loadConfig(e), e).filter((line) => line.includes('GATEWAYAPI'));
    expect(gatewayApiLines(env)).to.deep.equal(['warning: GATEWAYAPI_TOKEN and GATEWAYAPI_KEY and GATEWAYAPI_SECRET are all set; texts use the token (token auth), and GATEWAYAPI_KEY and GATEWAYAPI_SECRET are ignored']);
    expect(gatewayApiLines({ GATEWAYAPI_TOKEN: 't' })).to.deep.equal([]);
  });

  it('warns at start about a secret that was typed, not generated (few different characters), without quoting it', () => {
    const weak = { SESSION_SECRET: 'changeme'.repeat(4), OTP_ENCRYPTION_KEY: '00'.repeat(32) };
    const lines = startupWarnings(loadConfig(weak), weak);
    expect(lines.filter((line) => line.includes('SESSION_SECRET has fewer than 8 different characters'))).to.have.length(1);
    expect(lines.filter((line) => line.includes('OTP_ENCRYPTION_KEY has fewer than 16 different bytes'))).to.have.length(1);
    expect(lines.join('\n')).to.not.include('changeme').and.not.include('0000');
    // Only the weak one of each pair; a repeated hex pattern is few bytes even with 16 hex digits.
    const mixed = { SESSION_SECRET: 'correct horse battery staple 42!', OTP_ENCRYPTION_KEY: '0123456789abcdef'.repeat(4) };
    expect(startupWarnings(loadConfig(mixed), mixed).filter((line) => /fewer than/.test(line))).to.deep.equal(['warning: OTP_ENCRYPTION_KEY has fewer than 16 different bytes, so it is easy to guess and does not protect the stored secrets: use a random value, e.g. `openssl rand -hex 32`']);
    // Random values, generated or given, never trip it.
    for (let i = 0; i < 200; i++) {
      const random = { SESSION_SECRET: randomBytes(16).toString('hex'), OTP_ENCRYPTION_KEY: randomBytes(32).toString('base64') };
      expect(startupWarnings(loadConfig(random), random).filter((line) => /fewer than/.test(line))).to.deep.equal([]);
    }
    expect(startupWarnings(loadConfig({})).filter((line) => /fewer than/.test(line))).to.deep.equal([]);
  });

  it('never echoes a secret in its messages', () => {
    expect(() => loadConfig({ OTP_ENCRYPTION_KEY: 'my-secret-value' })).to.throw(ConfigError).with.property('message').that.does.not.include('my-secret-value');
    expect(() => loadConfig({ REDIS_URL: 'redis://user:my-redis-password@[bad' })).to.throw(ConfigError).with.property('message').that.does.not.include('my-redis-password');
  });
});
