import { expect } from 'chai';
import request from 'supertest';
import type { ExampleApp } from '../example-app/src/app.js';
import { csrfTokenIn, newestCode, startExampleApp } from './helpers/example-app.js';

const JSON_ACCEPT = { Accept: 'application/json' };
const HTML = { Accept: 'text/html' };

describe('Example app: POST /logout', () => {
  let handle: ExampleApp;
  afterEach(async () => { await handle?.close(); });

  /** The session ids the app's (in-memory) session store holds. */
  const storedSessions = (): Promise<string[]> => new Promise((resolve, reject) => {
    const store = handle.infra.sessionStore as unknown as { all(cb: (err: unknown, sessions?: Record<string, unknown> | null) => void): void };
    store.all((err, sessions) => (err ? reject(err) : resolve(Object.keys(sessions ?? {}))));
  });
  const outbox = async () => (await request(handle.app).get('/dev/outbox').set(JSON_ACCEPT)).body as Array<{ to: string; text: string }>;
  const setsCookie = (res: request.Response): boolean => String(res.headers['set-cookie'] ?? '').includes('sid=');

  it('from a session that holds nothing: 200 logged_out, and nothing is stored, however often', async () => {
    handle = await startExampleApp();
    for (let i = 0; i < 5; i++) {
      const res = await request(handle.app).post('/logout').set(JSON_ACCEPT);
      expect([res.status, res.body]).to.deep.equal([200, { status: 'logged_out' }]);
      expect(setsCookie(res)).to.equal(false);
      const curl = await request(handle.app).post('/logout').send({});
      expect([curl.status, curl.body]).to.deep.equal([200, { status: 'logged_out' }]);
    }
    expect(await storedSessions()).to.deep.equal([]);
  });

  it('a browser with only a sign-in page\'s session: 303 to /login, and its one session stays the only one', async () => {
    handle = await startExampleApp();
    const agent = request.agent(handle.app);
    const page = await agent.get('/login').set(HTML);
    const before = await storedSessions();
    expect(before).to.have.length(1);
    const res = await agent.post('/logout').set(HTML).type('form').send({ _csrf: csrfTokenIn(page.text) });
    expect([res.status, res.headers.location]).to.deep.equal([303, '/login']);
    expect(setsCookie(res)).to.equal(false);
    expect(await storedSessions()).to.deep.equal(before);
    // The same session, so the page's form still works.
    const again = await agent.post('/logout').set(HTML).type('form').send({ _csrf: csrfTokenIn(page.text) });
    expect([again.status, again.headers.location]).to.deep.equal([303, '/login']);
    expect(await storedSessions()).to.deep.equal(before);
  });

  it('a half-authenticated session is still ended: the pending login is gone', async () => {
    handle = await startExampleApp();
    const agent = request.agent(handle.app);
    expect((await agent.post('/login').set(JSON_ACCEPT).send({ username: 'alice', password: 'alice-password' })).status).to.equal(200);
    const pendingId = (await storedSessions())[0];
    const res = await agent.post('/logout').set(JSON_ACCEPT);
    expect([res.status, res.body]).to.deep.equal([200, { status: 'logged_out' }]);
    expect(setsCookie(res)).to.equal(true);
    expect(await storedSessions()).to.not.include(pendingId);
    expect((await agent.get('/login/otp').set(JSON_ACCEPT)).status).to.equal(401);
    const code = await agent.post('/login/otp').set(JSON_ACCEPT).send({ code: newestCode(await outbox()) });
    expect([code.status, code.body.error]).to.deep.equal([401, 'NO_PENDING_LOGIN']);
  });

  it('a fully authenticated session is still ended, for a browser too', async () => {
    handle = await startExampleApp();
    const agent = request.agent(handle.app);
    await agent.post('/login').set(JSON_ACCEPT).send({ username: 'alice', password: 'alice-password' });
    expect((await agent.post('/login/otp').set(JSON_ACCEPT).send({ code: newestCode(await outbox()) })).status).to.equal(200);
    const loggedInId = (await storedSessions())[0];
    const account = await agent.get('/account').set(HTML);
    const res = await agent.post('/logout').set(HTML).type('form').send({ _csrf: csrfTokenIn(account.text) });
    expect([res.status, res.headers.location]).to.deep.equal([303, '/login']);
    expect(await storedSessions()).to.not.include(loggedInId);
    expect((await agent.get('/account').set(JSON_ACCEPT)).status).to.equal(401);
  });

  it('has a per-IP limit like every other POST route: 429 with Retry-After past RATE_LIMIT_PER_IP_PER_MIN', async () => {
    handle = await startExampleApp({ RATE_LIMIT_PER_IP_PER_MIN: '3' });
    const statuses: number[] = [];
    let last: request.Response | undefined;
    for (let i = 0; i < 5; i++) {
      last = await request(handle.app).post('/logout').set(JSON_ACCEPT);
      statuses.push(last.status);
    }
    expect(statuses).to.deep.equal([200, 200, 200, 429, 429]);
    expect(Number(last?.headers['retry-after'])).to.be.within(1, 60);
    expect(last?.body.error).to.equal('rate_limited');
    // Its own budget: the logouts did not spend the password step's.
    expect((await request(handle.app).post('/login').set(JSON_ACCEPT).send({ username: 'alice', password: 'alice-password' })).status).to.equal(200);
  });

  it('a slow request that loaded the logged-in session before the logout does not bring it back after', async () => {
    handle = await startExampleApp();
    const login = await request(handle.app).post('/login').set(JSON_ACCEPT).send({ username: 'alice', password: 'alice-password' });
    const pending = String(login.headers['set-cookie']).split(';')[0] as string;
    const done = await request(handle.app).post('/login/otp').set(JSON_ACCEPT).set('Cookie', pending).send({ code: newestCode(await outbox()) });
    const cookie = String(done.headers['set-cookie']).split(';')[0] as string;
    expect((await request(handle.app).get('/account').set(JSON_ACCEPT).set('Cookie', cookie)).status).to.equal(200);
    for (let i = 0; i < 3; i++) {
      // A wrong password in the HTML form (scrypt: tens of ms) re-renders the page with a new CSRF
      // token, which changes the session it loaded; the logout lands while it runs.
      const slow = request(handle.app).post('/login').set(HTML).set('Cookie', cookie).send({ username: 'alice', password: 'wrong' }).then((res) => res);
      await new Promise((r) => setTimeout(r, 5));
      expect((await request(handle.app).post('/logout').set(JSON_ACCEPT).set('Cookie', cookie)).body).to.deep.equal({ status: 'logged_out' });
      expect((await slow).status).to.equal(401);
      expect((await request(handle.app).get('/account').set(JSON_ACCEPT).set('Cookie', cookie)).status).to.equal(401);
    }
  });
});
