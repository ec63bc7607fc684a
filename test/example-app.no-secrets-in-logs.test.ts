import { expect } from 'chai';
import crypto from 'node:crypto';
import { syncBuiltinESMExports } from 'node:module';
import request from 'supertest';
import { UserDirectory } from '../example-app/src/users.js';
import { newestCode, startExampleApp } from './helpers/example-app.js';
import { GatewayApiDouble } from './helpers/gatewayapi-double.js';
import { ThrowawayRedis } from './helpers/redis.js';

const JSON_ACCEPT = { Accept: 'application/json' };

describe('Example app: what reaches the logs', () => {
  it('a day of logins, failures and provider errors logs no code, no phone number, no password, no token', async () => {
    const double = await new GatewayApiDouble().start();
    // A Redis of its own: the app writes under its own prefixes, which npm test must not touch at REDIS_URL.
    const redis = await ThrowawayRedis.start();
    const lines: string[] = [];
    const saved = { log: console.log, error: console.error, warn: console.warn, info: console.info };
    for (const name of ['log', 'error', 'warn', 'info'] as const) console[name] = (...args: unknown[]) => { lines.push(args.map(String).join(' ')); };
    const codes: string[] = [];
    try {
      const memory = await startExampleApp({ AUDIT_LOG: 'stdout', OTP_RESEND_COOLDOWN_SECONDS: '0' });
      const agent = request.agent(memory.app);
      const texts = async () => (await request(memory.app).get('/dev/outbox').set(JSON_ACCEPT)).body as Array<{ to: string; text: string }>;
      await agent.post('/login').set(JSON_ACCEPT).send({ username: 'alice', password: 'alice-password' });
      const replaced = newestCode(await texts());
      await agent.post('/login/otp/resend').set(JSON_ACCEPT).send({});
      const live = newestCode(await texts());
      // Every code submitted, not only the one accepted: a wrong one, the one a resend replaced, malformed ones.
      const wrong = ['246813', '864209'].find((c) => c !== replaced && c !== live) as string;
      codes.push(replaced, live, wrong, '97531');
      expect((await agent.post('/login/otp').set(JSON_ACCEPT).send({ code: wrong })).body.error).to.equal('CODE_WRONG');
      expect((await agent.post('/login/otp').set(JSON_ACCEPT).send({ code: replaced })).body.error).to.equal(replaced === live ? undefined : 'CODE_WRONG');
      await agent.post('/login/otp').set(JSON_ACCEPT).send({ code: '97531' });
      await agent.post('/login/otp').set(JSON_ACCEPT).send({ code: ['x'] });
      expect((await agent.post('/login/otp').set(JSON_ACCEPT).send({ code: live })).body).to.deep.equal({ status: 'authenticated' });
      await agent.post('/login').set(JSON_ACCEPT).set('Content-Type', 'application/json').send('{"broken');
      await memory.close();

      const real = await startExampleApp({ AUDIT_LOG: 'stdout', REDIS_URL: redis.url, GATEWAYAPI_BASE_URL: double.baseUrl, GATEWAYAPI_TOKEN: double.token });
      double.scenario = 'insufficient-credit';
      await request(real.app).post('/login').set(JSON_ACCEPT).send({ username: 'bob', password: 'bob-password' });
      double.scenario = 'server-error';
      await request(real.app).post('/login').set(JSON_ACCEPT).send({ username: 'bob', password: 'bob-password' });
      double.scenario = 'ok';
      await request(real.app).post('/login').set(JSON_ACCEPT).send({ username: 'bob', password: 'bob-password' });
      // The codes of the refused and failed texts too: a provider error's message must not carry the text.
      const sent = double.parsed.map((sms) => /\b(\d{6})\b/.exec(sms.text)?.[1] ?? 'none');
      expect(sent).to.have.length(3);
      codes.push(...sent);
      await real.close();
    } finally {
      Object.assign(console, saved);
      await double.close();
      await redis.stop();
    }
    const log = lines.join('\n');
    expect(lines.length, 'the provider errors were logged').to.be.greaterThan(0);
    const events = lines.filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as { type: string; phone?: string });
    expect(events.map((e) => e.type)).to.include.members(['challenge.issued', 'sms.sent', 'sms.failed', 'verify.failed', 'verify.succeeded']);
    expect(events.filter((e) => e.phone !== undefined).every((e) => /^\*+\d\d$/.test(e.phone ?? ''))).to.equal(true);
    for (const secret of [...codes, '4512345678', '4587654321', 'alice-password', 'bob-password', double.token]) {
      expect(log).to.not.include(secret);
    }
  });

  it('unknown user and wrong password cost the same scrypt work', async () => {
    const directory = await UserDirectory.demo();
    const original = crypto.scrypt;
    let calls = 0;
    crypto.scrypt = ((...args: Parameters<typeof original>) => { calls++; return (original as (...a: unknown[]) => void)(...args); }) as typeof original;
    syncBuiltinESMExports();
    try {
      expect(await directory.verifyPassword('mallory', 'x')).to.equal(undefined);
      const unknownCalls = calls;
      calls = 0;
      expect(await directory.verifyPassword('alice', 'x')).to.equal(undefined);
      expect([unknownCalls, calls]).to.deep.equal([1, 1]);
      calls = 0;
      expect((await directory.verifyPassword('alice', 'alice-password'))?.username).to.equal('alice');
      expect(calls).to.equal(1);
    } finally {
      crypto.scrypt = original;
      syncBuiltinESMExports();
    }
  });
  it('a username or password longer than 256 characters is refused (401) without any scrypt work', async () => {
    const handle = await startExampleApp();
    const original = crypto.scrypt;
    let calls = 0;
    crypto.scrypt = ((...args: Parameters<typeof original>) => { calls++; return (original as (...a: unknown[]) => void)(...args); }) as typeof original;
    syncBuiltinESMExports();
    try {
      for (const body of [{ username: 'alice', password: `alice-password${'x'.repeat(300)}` }, { username: 'a'.repeat(300), password: 'alice-password' }]) {
        const res = await request(handle.app).post('/login').set(JSON_ACCEPT).send(body);
        expect([res.status, res.body.error]).to.deep.equal([401, 'invalid_credentials']);
      }
      expect(calls).to.equal(0);
      expect((await request(handle.app).post('/login').set(JSON_ACCEPT).send({ username: 'alice', password: 'x' })).status).to.equal(401);
      expect(calls).to.equal(1);
    } finally {
      crypto.scrypt = original;
      syncBuiltinESMExports();
      await handle.close();
    }
  });
});
