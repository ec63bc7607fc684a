import { expect } from 'chai';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import type { ExampleApp } from '../example-app/src/app.js';
import { newestCode, startExampleApp } from './helpers/example-app.js';

const JSON_ACCEPT = { Accept: 'application/json' };

describe('Example app, in-memory mode: the JSON contract', () => {
  let handle: ExampleApp;
  let agent: ReturnType<typeof request.agent>;
  const outbox = async () => (await request(handle.app).get('/dev/outbox').set(JSON_ACCEPT)).body as Array<{ to: string; text: string; sentAt: string }>;

  beforeEach(async () => {
    handle = await startExampleApp({ OTP_RESEND_COOLDOWN_SECONDS: '0' });
    agent = request.agent(handle.app);
  });
  afterEach(async () => { await handle.close(); });

  const login = (body: unknown = { username: 'alice', password: 'alice-password' }) => agent.post('/login').set(JSON_ACCEPT).send(body as object);
  const submit = (code: unknown) => agent.post('/login/otp').set(JSON_ACCEPT).send({ code });

  it('GET /login says where the session is: anonymous, otp_required while a code is awaited, then authenticated', async () => {
    const state = async () => (await agent.get('/login').set(JSON_ACCEPT)).body as unknown;
    expect(await state()).to.deep.equal({ status: 'anonymous' });
    expect((await login()).status).to.equal(200);
    expect(await state()).to.deep.equal({ status: 'otp_required' });
    expect((await submit(newestCode(await outbox()))).status).to.equal(200);
    expect(await state()).to.deep.equal({ status: 'authenticated' });
  });

  it('the session id changes at the password step and again at the code step; the earlier ids hold nothing', async () => {
    const sid = (res: { headers: Record<string, unknown> }) => (res.headers['set-cookie'] as string[] | undefined)?.find((c) => c.startsWith('sid='))?.split(';')[0];
    const anonymous = sid(await agent.get('/login').set('Accept', 'text/html'));
    expect(anonymous, 'the sign-in page stores a session (its CSRF token)').to.be.a('string');
    const pending = sid(await login());
    expect(pending).to.be.a('string').and.not.equal(anonymous);
    const full = sid(await submit(newestCode(await outbox())));
    expect(full).to.be.a('string').and.not.equal(pending).and.not.equal(anonymous);
    for (const old of [anonymous, pending]) {
      const account = await request(handle.app).get('/account').set(JSON_ACCEPT).set('Cookie', old as string);
      expect(account.status, `GET /account with ${old === pending ? 'the pending' : 'the first'} id`).to.equal(401);
    }
    expect((await request(handle.app).get('/account').set(JSON_ACCEPT).set('Cookie', full as string)).body).to.deep.equal({ username: 'alice' });
  });

  it('POST /login → 200 otp_required; POST /login/otp → 200 authenticated; GET /account → 200 username', async () => {
    const first = await login();
    expect([first.status, first.body]).to.deep.equal([200, { status: 'otp_required' }]);
    const messages = await outbox();
    expect(messages).to.have.length(1);
    expect(messages[0]).to.have.keys(['to', 'text', 'sentAt']);
    expect(messages[0]?.to).to.equal('+4512345678');
    const second = await submit(newestCode(messages));
    expect([second.status, second.body]).to.deep.equal([200, { status: 'authenticated' }]);
    const account = await agent.get('/account').set(JSON_ACCEPT);
    expect([account.status, account.body]).to.deep.equal([200, { username: 'alice' }]);
  });

  it('POST /login: unknown user and wrong password get the same 401', async () => {
    const unknown = await request(handle.app).post('/login').set(JSON_ACCEPT).send({ username: 'mallory', password: 'x' });
    const wrong = await request(handle.app).post('/login').set(JSON_ACCEPT).send({ username: 'alice', password: 'x' });
    expect(unknown.status).to.equal(401);
    expect([unknown.status, unknown.text]).to.deep.equal([wrong.status, wrong.text]);
    expect(unknown.body.error).to.be.a('string');
    expect(await outbox()).to.have.length(0);
  });

  const BAD_LOGIN_BODIES: Array<[string, () => request.Test]> = [
    ['malformed JSON', () => request(handle.app).post('/login').set(JSON_ACCEPT).set('Content-Type', 'application/json').send('{"username":')],
    ['an empty body', () => request(handle.app).post('/login').set(JSON_ACCEPT).send({})],
    ['a JSON array', () => request(handle.app).post('/login').set(JSON_ACCEPT).send([1, 2])],
    ['objects for strings', () => request(handle.app).post('/login').set(JSON_ACCEPT).send({ username: { $ne: 1 }, password: ['a'] })],
    ['a 1 MB body', () => request(handle.app).post('/login').set(JSON_ACCEPT).send({ username: 'a'.repeat(1 << 20), password: 'x' })],
    ['a 10 kB username', () => request(handle.app).post('/login').set(JSON_ACCEPT).send({ username: 'a'.repeat(10_000), password: 'x' })],
  ];
  for (const [name, send] of BAD_LOGIN_BODIES) {
    it(`POST /login with ${name}: a 4xx with an error, never a 500`, async () => {
      const res = await send();
      expect(res.status).to.be.within(400, 499);
      expect(res.body.error).to.be.a('string');
    });
  }

  it('POST /login/otp: wrong code 401, malformed 400, no pending login 401', async () => {
    const none = await submit('123456');
    expect([none.status, none.body.error]).to.deep.equal([401, 'NO_PENDING_LOGIN']);
    await login();
    const code = newestCode(await outbox());
    const wrong = await submit(code === '000000' ? '111111' : '000000');
    expect([wrong.status, wrong.body.error, wrong.body.attemptsLeft]).to.deep.equal([401, 'CODE_WRONG', 4]);
    for (const bad of ['12345', 'abcdef', ['123456'], { a: 1 }, '1'.repeat(10_000), null]) {
      const res = await submit(bad);
      expect(res.status, JSON.stringify(bad).slice(0, 20)).to.equal(400);
      expect(res.body.error).to.equal('CODE_MALFORMED');
    }
    expect((await submit(code)).status).to.equal(200);
  });

  it('POST /login/otp/resend: 200 otp_sent with a new code; 401 without a pending login', async () => {
    expect((await agent.post('/login/otp/resend').set(JSON_ACCEPT)).status).to.equal(401);
    await login();
    const res = await agent.post('/login/otp/resend').set(JSON_ACCEPT);
    expect([res.status, res.body]).to.deep.equal([200, { status: 'otp_sent' }]);
    expect(await outbox()).to.have.length(2);
    expect((await submit(newestCode(await outbox()))).status).to.equal(200);
  });

  it('POST /login/otp/resend: 429 with Retry-After during the cooldown', async () => {
    await handle.close();
    handle = await startExampleApp({});
    agent = request.agent(handle.app);
    await login();
    const res = await agent.post('/login/otp/resend').set(JSON_ACCEPT).send({});
    expect(res.status).to.equal(429);
    expect(Number(res.headers['retry-after'])).to.be.within(1, 30);
  });

  it('POST /login/otp: 429 with Retry-After once the user must wait (5 consecutive wrong codes, across logins)', async () => {
    await login();
    const code = newestCode(await outbox());
    const wrong = code === '000000' ? '111111' : '000000';
    for (let i = 0; i < 5; i++) await submit(wrong);
    // The fifth wrong code ended that login; a new one does not reset the user's failures.
    expect((await login()).status).to.equal(200);
    const res = await submit(wrong);
    expect(res.status).to.equal(429);
    expect(res.body.error).to.equal('LOCKED');
    expect(Number(res.headers['retry-after'])).to.be.within(1, 2);
  });

  it('POST /login: 429 with Retry-After when the user\'s send budget is spent (5 texts in 15 min)', async () => {
    for (let i = 0; i < 5; i++) expect((await login()).status).to.equal(200);
    const res = await login();
    expect(res.status).to.equal(429);
    expect(res.body.error).to.equal('SEND_THROTTLED');
    expect(Number(res.headers['retry-after'])).to.be.within(1, 900);
    expect(await outbox()).to.have.length(5);
  });

  it('GET /account: 401 when not logged in, and when only half logged in', async () => {
    expect((await agent.get('/account').set(JSON_ACCEPT)).status).to.equal(401);
    await login();
    expect((await agent.get('/account').set(JSON_ACCEPT)).status).to.equal(401);
  });

  it('POST /logout: 200, and the account is closed afterwards', async () => {
    await login();
    await submit(newestCode(await outbox()));
    const res = await agent.post('/logout').set(JSON_ACCEPT).send({});
    expect(res.status).to.equal(200);
    expect((await agent.get('/account').set(JSON_ACCEPT)).status).to.equal(401);
  });

  it('API clients that send no Accept header and no body (curl, scripts) get JSON and need no CSRF token', async () => {
    await login();
    const resend = await agent.post('/login/otp/resend');
    expect(resend.status).to.equal(200);
    expect(resend.headers['content-type']).to.match(/json/);
    expect(resend.body).to.deep.equal({ status: 'otp_sent' });
    const code = await agent.post('/login/otp').send({ code: newestCode(await outbox()) });
    expect(code.body).to.deep.equal({ status: 'authenticated' });
    expect((await agent.get('/account')).body).to.deep.equal({ username: 'alice' });
    const out = await agent.post('/logout');
    expect([out.status, out.body]).to.deep.equal([200, { status: 'logged_out' }]);
  });

  it('a bodiless post that a browser says came from another origin needs the CSRF token (403)', async () => {
    await login();
    expect((await agent.post('/login/otp/resend').set('Origin', 'http://127.0.0.1:9999')).status).to.equal(403);
    expect((await agent.post('/logout').set('Sec-Fetch-Site', 'same-site')).status).to.equal(403);
    expect((await agent.post('/logout').set('Sec-Fetch-Site', 'cross-site')).status).to.equal(403);
    expect(await outbox()).to.have.length(1);
    expect((await agent.post('/login/otp/resend').set('Sec-Fetch-Site', 'same-origin')).status).to.equal(200);
  });

  it('a post that says application/json but has no body (no Content-Length) needs no CSRF token either: no other origin can send that type without a preflight', async () => {
    const first = await login();
    const cookie = (first.headers['set-cookie'] as unknown as string[])[0]?.split(';')[0] as string;
    expect((await agent.post('/login/otp/resend').set(JSON_ACCEPT).send({})).status).to.equal(200);
    const server = handle.app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      // Node's clients always add a Content-Length: written by hand, as a browser's fetch could send it.
      const answer = await new Promise<string>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1', () => {
          socket.end(`POST /login/otp/resend HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nAccept: application/json\r\nCookie: ${cookie}\r\nConnection: close\r\n\r\n`);
        });
        let text = '';
        socket.on('data', (d: Buffer) => { text += d.toString(); });
        socket.on('end', () => resolve(text));
        socket.on('error', reject);
      });
      expect(answer).to.match(/^HTTP\/1\.1 200 /);
      expect(answer).to.include('{"status":"otp_sent"}');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    expect(await outbox()).to.have.length(3);
    // A form type without a body still needs the token.
    expect((await agent.post('/logout').set('Content-Type', 'application/x-www-form-urlencoded')).status).to.equal(403);
  });

  it('HTML or JSON follows each request\'s Accept, however often and in whatever order values come', async () => {
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 70; i++) {
        const accept = i % 2 === 0 ? `text/html;q=0.9, application/json;q=0.${i % 8}` : `application/json, text/html;q=0.${i % 8}`;
        const res = await request(handle.app).get('/login').set('Accept', accept);
        expect(res.headers['content-type'], accept).to.match(i % 2 === 0 ? /text\/html/ : /json/);
      }
    }
  });

  it('a form-encoded post without a CSRF token is refused even with Accept: application/json', async () => {
    const res = await request(handle.app).post('/login').set(JSON_ACCEPT).type('form').send({ username: 'alice', password: 'alice-password' });
    expect(res.status).to.equal(403);
    expect(await outbox()).to.have.length(0);
  });

  it('GET /healthz: 200', async () => {
    const res = await request(handle.app).get('/healthz');
    expect(res.status).to.equal(200);
    expect(res.body).to.include({ status: 'ok', store: 'memory' });
  });

  it('unknown routes: 404 JSON', async () => {
    expect((await request(handle.app).get('/nope').set(JSON_ACCEPT)).status).to.equal(404);
  });

  it('per-IP limit on POST routes: 429 with Retry-After past RATE_LIMIT_PER_IP_PER_MIN', async () => {
    await handle.close();
    handle = await startExampleApp({ RATE_LIMIT_PER_IP_PER_MIN: '3' });
    const statuses: number[] = [];
    let retryAfter: string | undefined;
    for (let i = 0; i < 5; i++) {
      const res = await request(handle.app).post('/login').set(JSON_ACCEPT).send({ username: 'alice', password: 'wrong' });
      statuses.push(res.status);
      if (res.status === 429) retryAfter = res.headers['retry-after'];
    }
    expect(statuses).to.deep.equal([401, 401, 401, 429, 429]);
    expect(Number(retryAfter)).to.be.within(1, 60);
  });
});
