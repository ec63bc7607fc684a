import { expect } from 'chai';
import { createHash } from 'node:crypto';
import request from 'supertest';
import type { ExampleApp } from '../example-app/src/app.js';
import { codePage } from '../example-app/src/pages.js';
import { csrfTokenIn, newestCode, startExampleApp } from './helpers/example-app.js';

const HTML = { Accept: 'text/html' };

describe('Example app, in-memory mode: the browser pages', () => {
  let handle: ExampleApp;
  let agent: ReturnType<typeof request.agent>;
  beforeEach(async () => {
    handle = await startExampleApp({ OTP_RESEND_COOLDOWN_SECONDS: '0' });
    agent = request.agent(handle.app);
  });
  afterEach(async () => { await handle.close(); });

  const outbox = async () => (await request(handle.app).get('/dev/outbox').set('Accept', 'application/json')).body as Array<{ to: string; text: string }>;

  async function passwordStep(): Promise<void> {
    const page = await agent.get('/login').set(HTML);
    const res = await agent.post('/login').set(HTML).type('form').send({ username: 'alice', password: 'alice-password', _csrf: csrfTokenIn(page.text) });
    expect(res.status).to.equal(303);
    expect(res.headers.location).to.equal('/login/otp');
  }

  it('GET /login: an accessible form with labels and a CSRF token; cookies httpOnly and SameSite=Lax', async () => {
    const res = await agent.get('/login').set(HTML);
    expect(res.status).to.equal(200);
    expect(res.headers['content-type']).to.match(/text\/html/);
    expect(res.text).to.include('<label for="username">').and.include('<label for="password">');
    expect(res.text).to.include('autocomplete="current-password"');
    csrfTokenIn(res.text);
    const cookie = String(res.headers['set-cookie']);
    expect(cookie).to.match(/HttpOnly/i).and.match(/SameSite=Lax/i);
  });

  it('every answer, page or JSON, carries the security headers: no framing, no sniffing, no caching, a CSP', async () => {
    for (const [path, accept] of [['/login', 'text/html'], ['/account', 'application/json'], ['/nowhere', 'text/html']] as const) {
      const res = await agent.get(path).set('Accept', accept);
      expect(res.headers, path).to.include({ 'x-frame-options': 'DENY', 'x-content-type-options': 'nosniff', 'cache-control': 'no-store', 'referrer-policy': 'same-origin' });
      const csp = String(res.headers['content-security-policy']);
      expect(csp).to.include("default-src 'self'").and.include("frame-ancestors 'none'").and.include("form-action 'self'");
      expect(csp).to.match(/script-src 'sha256-[^']+'/).and.not.match(/script-src[^;]*'unsafe-inline'/);
    }
  });

  it('a form post without the CSRF token is refused with 403, and nothing is sent', async () => {
    await agent.get('/login').set(HTML);
    const res = await agent.post('/login').set(HTML).type('form').send({ username: 'alice', password: 'alice-password' });
    expect(res.status).to.equal(403);
    const forged = await agent.post('/login').set(HTML).type('form').send({ username: 'alice', password: 'alice-password', _csrf: 'forged' });
    expect(forged.status).to.equal(403);
    expect(await outbox()).to.have.length(0);
  });

  it('a wrong password re-renders the form with an announced error and status 401', async () => {
    const page = await agent.get('/login').set(HTML);
    const res = await agent.post('/login').set(HTML).type('form').send({ username: 'alice', password: 'nope', _csrf: csrfTokenIn(page.text) });
    expect(res.status).to.equal(401);
    expect(res.text).to.include('role="alert"').and.include('Wrong username or password.');
  });

  it('password, code page, account, sign out: the whole browser flow with redirects', async () => {
    await passwordStep();
    const codePage = await agent.get('/login/otp').set(HTML);
    expect(codePage.status).to.equal(200);
    expect(codePage.text).to.include('type="text" inputmode="numeric" autocomplete="one-time-code"').and.include('maxlength="6"');
    expect(codePage.text).to.include("navigator.credentials.get({ otp:");
    const done = await agent.post('/login/otp').set(HTML).type('form').send({ code: newestCode(await outbox()), _csrf: csrfTokenIn(codePage.text) });
    expect([done.status, done.headers.location]).to.deep.equal([303, '/account']);
    const account = await agent.get('/account').set(HTML);
    expect(account.status).to.equal(200);
    expect(account.text).to.include('alice');
    const out = await agent.post('/logout').set(HTML).type('form').send({ _csrf: csrfTokenIn(account.text) });
    expect([out.status, out.headers.location]).to.deep.equal([303, '/login']);
    const after = await agent.get('/account').set(HTML);
    expect([after.status, after.headers.location]).to.deep.equal([303, '/login']);
  });

  it('a wrong code stays on the code page with the error; five send the browser back to the password', async () => {
    await passwordStep();
    const codePage = await agent.get('/login/otp').set(HTML);
    const token = csrfTokenIn(codePage.text);
    const code = newestCode(await outbox());
    const wrong = code === '000000' ? '111111' : '000000';
    const first = await agent.post('/login/otp').set(HTML).type('form').send({ code: wrong, _csrf: token });
    expect(first.status).to.equal(401);
    expect(first.text).to.include('The code is not correct.');
    let last = first;
    for (let i = 0; i < 4; i++) last = await agent.post('/login/otp').set(HTML).type('form').send({ code: wrong, _csrf: token });
    expect([last.status, last.headers.location]).to.deep.equal([303, '/login']);
    const login = await agent.get('/login').set(HTML);
    expect(login.text).to.include('Too many wrong codes');
  });

  it('the code page and a resend need a pending login; a browser is sent to /login', async () => {
    const page = await agent.get('/login/otp').set(HTML);
    expect([page.status, page.headers.location]).to.deep.equal([303, '/login']);
    const login = await agent.get('/login').set(HTML);
    const resend = await agent.post('/login/otp/resend').set(HTML).type('form').send({ _csrf: csrfTokenIn(login.text) });
    expect([resend.status, resend.headers.location]).to.deep.equal([303, '/login']);
    expect((await agent.get('/login').set(HTML)).text).to.include('There is no pending login; sign in with your password again.');
    expect(await outbox()).to.have.length(0);
  });

  it('a code posted without a pending login goes back to /login, malformed or not (not to a code page that cannot check it)', async () => {
    for (const code of ['123456', '12', 'abcdef', '']) {
      const login = await agent.get('/login').set(HTML);
      const res = await agent.post('/login/otp').set(HTML).type('form').send({ code, _csrf: csrfTokenIn(login.text) });
      expect([res.status, res.headers.location], JSON.stringify(code)).to.deep.equal([303, '/login']);
      expect((await agent.get('/login').set(HTML)).text).to.include('There is no pending login; sign in with your password again.');
    }
    // An API client still learns what was wrong with its body first: the contract's 400 for a malformed code.
    const api = await request(handle.app).post('/login/otp').set('Accept', 'application/json').send({ code: '12' });
    expect([api.status, api.body.error]).to.deep.equal([400, 'CODE_MALFORMED']);
  });

  it('the resend button: 303 back to the code page with a notice, and a new text', async () => {
    await passwordStep();
    const codePage = await agent.get('/login/otp').set(HTML);
    const res = await agent.post('/login/otp/resend').set(HTML).type('form').send({ _csrf: csrfTokenIn(codePage.text) });
    expect([res.status, res.headers.location]).to.deep.equal([303, '/login/otp?sent=1']);
    expect((await agent.get('/login/otp?sent=1').set(HTML)).text).to.include('A new code is on its way.');
    expect(await outbox()).to.have.length(2);
  });

  it('GET /dev/outbox as a page for browsers, escaped', async () => {
    await passwordStep();
    const res = await request(handle.app).get('/dev/outbox').set(HTML);
    expect(res.status).to.equal(200);
    expect(res.text).to.include('+4512345678').and.include('is your login code');
    // A way back to the login that waits for the code, not a dead end.
    expect(res.text).to.include('<a href="/login/otp">');
  });

  describe('what a person sees', () => {
    it('a refused form (its token stale or forged) is still a 403, with a fresh form of where the login stands, that works', async () => {
      await agent.get('/login').set(HTML);
      const stale = await agent.post('/login').set(HTML).type('form').send({ username: 'alice', password: 'alice-password', _csrf: 'stale' });
      expect(stale.status).to.equal(403);
      expect(stale.text).to.include('That form had expired, so nothing was done.').and.include('value="alice"');
      expect(await outbox()).to.have.length(0);
      const again = await agent.post('/login').set(HTML).type('form').send({ username: 'alice', password: 'alice-password', _csrf: csrfTokenIn(stale.text) });
      expect([again.status, again.headers.location]).to.deep.equal([303, '/login/otp']);
      await agent.get('/login/otp').set(HTML);
      // A stale code form: the code page again (the login goes on); a stale form once signed in: the account page.
      const staleCode = await agent.post('/login/otp').set(HTML).type('form').send({ code: newestCode(await outbox()), _csrf: 'stale' });
      expect(staleCode.status).to.equal(403);
      expect(staleCode.text).to.include('Enter your code').and.include('That form had expired');
      const done = await agent.post('/login/otp').set(HTML).type('form').send({ code: newestCode(await outbox()), _csrf: csrfTokenIn(staleCode.text) });
      expect([done.status, done.headers.location]).to.deep.equal([303, '/account']);
      await agent.get('/account').set(HTML);
      const staleLogout = await agent.post('/logout').set(HTML).type('form').send({ _csrf: 'stale' });
      expect(staleLogout.status).to.equal(403);
      expect(staleLogout.text).to.include('You are signed in as').and.include('That form had expired');
    });

    it('a form whose session is gone (a second Verify after the first signed in): 403 with a link, no new session or cookie', async () => {
      await passwordStep();
      const page = await agent.get('/login/otp').set(HTML);
      const pendingCookie = agent.jar.getCookie('sid', { domain: '127.0.0.1', path: '/', secure: false, script: false })?.toString();
      expect(pendingCookie).to.match(/^sid=/);
      const form = { code: newestCode(await outbox()), _csrf: csrfTokenIn(page.text) };
      const first = await agent.post('/login/otp').set(HTML).type('form').send(form);
      expect(first.status).to.equal(303);
      // The same form again, with the cookie of the session the first post ended.
      const second = await request(handle.app).post('/login/otp').set(HTML).set('Cookie', String(pendingCookie).split(';')[0] as string).type('form').send(form);
      expect(second.status).to.equal(403);
      expect(second.text).to.include('That form had expired, so nothing was done.').and.include('href="/login"');
      expect(second.headers['set-cookie'], 'no cookie that would replace the signed-in one').to.equal(undefined);
      expect((await agent.get('/account').set(HTML)).status, 'still signed in').to.equal(200);
    });

    it('a form post with no session cookie at all says that cookies are needed', async () => {
      const res = await request(handle.app).post('/login').set(HTML).type('form').send({ username: 'alice', password: 'alice-password', _csrf: 'x' });
      expect(res.status).to.equal(403);
      expect(res.text).to.include('This site needs cookies to sign you in.');
    });

    it('the code page says where the code went (masked), how many tries are left, what length to type, and offers to start over', async () => {
      await passwordStep();
      const page = await agent.get('/login/otp').set(HTML);
      expect(page.text).to.include('href="/login"');
      // Whose login it is, masked as in the audit log (two tabs' logins are told apart).
      expect(page.text).to.include('We sent a 6-digit code by text message to ********78.').and.not.include('12345678');
      const code = newestCode(await outbox());
      const wrong = await agent.post('/login/otp').set(HTML).type('form').send({ code: code === '000000' ? '111111' : '000000', _csrf: csrfTokenIn(page.text) });
      expect(wrong.text).to.include('The code is not correct. 4 tries left.');
      const short = await agent.post('/login/otp').set(HTML).type('form').send({ code: '12', _csrf: csrfTokenIn(page.text) });
      expect([short.status, short.text.includes('Enter the 6-digit code from the text message.')]).to.deep.equal([400, true]);
      // Read aloud: "an eight", "a six", "a ten".
      expect(codePage('t', 8, undefined)).to.include('We sent an 8-digit code');
      for (const digits of [6, 7, 9, 10]) expect(codePage('t', digits, undefined)).to.include(`We sent a ${digits}-digit code`);
    });

    it('signed in, the sign-in and code pages lead to the account page (Back after signing in)', async () => {
      await passwordStep();
      const page = await agent.get('/login/otp').set(HTML);
      await agent.post('/login/otp').set(HTML).type('form').send({ code: newestCode(await outbox()), _csrf: csrfTokenIn(page.text) });
      for (const path of ['/login', '/login/otp']) {
        const res = await agent.get(path).set(HTML);
        expect([res.status, res.headers.location], path).to.deep.equal([303, '/account']);
      }
      // JSON clients still get the status, as the contract says.
      expect((await agent.get('/login').set('Accept', 'application/json')).body).to.deep.equal({ status: 'authenticated' });
    });

    it('the CSP lets the pages\' own scripts run, by hash, and no other inline script', async () => {
      await passwordStep();
      const page = await agent.get('/login/otp').set(HTML);
      const csp = String(page.headers['content-security-policy']);
      const scriptSrc = /script-src ([^;]*)/.exec(csp)?.[1] ?? '';
      expect(scriptSrc).to.not.include('unsafe-inline');
      const scripts = [...page.text.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1] as string);
      expect(scripts).to.have.length(2);
      for (const body of scripts) expect(scriptSrc).to.include(`'sha256-${createHash('sha256').update(body).digest('base64')}'`);
    });

    it('every page stops a second submit while the first is on its way', async () => {
      for (const path of ['/login', '/dev/outbox']) {
        expect((await agent.get(path).set(HTML)).text, path).to.include("document.addEventListener('submit', (event) => { if (sent) event.preventDefault(); else sent = true; });");
      }
    });
  });
});
