import { expect } from 'chai';
import request from 'supertest';
import type { ExampleApp } from '../example-app/src/app.js';
import { csrfTokenIn, startExampleApp } from './helpers/example-app.js';

const JSON_ACCEPT = { Accept: 'application/json' };
const MISSING = { error: 'invalid_request', message: 'Enter a username and a password.' };
const CREDENTIALS = 'username=alice&password=alice-password';

describe('Example app: POST /login reads the username and password from the body only', () => {
  let handle: ExampleApp;
  beforeEach(async () => { handle = await startExampleApp(); });
  afterEach(async () => { await handle.close(); });

  const outbox = async () => (await request(handle.app).get('/dev/outbox').set(JSON_ACCEPT)).body as unknown[];

  const QUERY_ONLY: Array<[string, () => request.Test]> = [
    ['no body at all (curl -X POST)', () => request(handle.app).post(`/login?${CREDENTIALS}`)],
    ['no body, Accept: application/json', () => request(handle.app).post(`/login?${CREDENTIALS}`).set(JSON_ACCEPT)],
    ['an empty JSON body', () => request(handle.app).post(`/login?${CREDENTIALS}`).set(JSON_ACCEPT).send({})],
    ['the username in the body, the password in the query', () => request(handle.app).post('/login?password=alice-password').set(JSON_ACCEPT).send({ username: 'alice' })],
    ['the password in the body, the username in the query', () => request(handle.app).post('/login?username=alice').set(JSON_ACCEPT).send({ password: 'alice-password' })],
    ['empty strings in the body', () => request(handle.app).post(`/login?${CREDENTIALS}`).set(JSON_ACCEPT).send({ username: '', password: '' })],
    ['objects in the body', () => request(handle.app).post(`/login?${CREDENTIALS}`).set(JSON_ACCEPT).send({ username: { a: 1 }, password: ['x'] })],
    ['numbers in the body', () => request(handle.app).post(`/login?${CREDENTIALS}`).set(JSON_ACCEPT).send({ username: 123, password: 456 })],
    ['booleans in the body', () => request(handle.app).post(`/login?${CREDENTIALS}`).set(JSON_ACCEPT).send({ username: true, password: true })],
  ];
  for (const [name, send] of QUERY_ONLY) {
    it(`credentials in the query string with ${name}: 400 invalid_request, no text sent`, async () => {
      const res = await send();
      expect([res.status, res.body]).to.deep.equal([400, MISSING]);
      expect(await outbox()).to.have.length(0);
    });
  }

  it('a browser form whose credentials are only in the action\'s query string gets the login page with the message, 400', async () => {
    const agent = request.agent(handle.app);
    const page = await agent.get('/login').set('Accept', 'text/html');
    const res = await agent.post(`/login?${CREDENTIALS}`).set('Accept', 'text/html').type('form').send({ _csrf: csrfTokenIn(page.text) });
    expect(res.status).to.equal(400);
    expect(res.headers['content-type']).to.match(/text\/html/);
    expect(res.text).to.include('role="alert"').and.include('Enter a username and a password.').and.include('<form method="post" action="/login"');
    expect(await outbox()).to.have.length(0);
  });

  it('the body still decides when the query says something else', async () => {
    const wrong = await request(handle.app).post(`/login?${CREDENTIALS}`).set(JSON_ACCEPT).send({ username: 'alice', password: 'nope' });
    expect([wrong.status, wrong.body.error]).to.deep.equal([401, 'invalid_credentials']);
    const right = await request(handle.app).post('/login?username=bob&password=bob-password').set(JSON_ACCEPT).send({ username: 'alice', password: 'alice-password' });
    expect([right.status, right.body]).to.deep.equal([200, { status: 'otp_required' }]);
    expect((await outbox() as Array<{ to: string }>).map((m) => m.to)).to.deep.equal(['+4512345678']);
  });
});
