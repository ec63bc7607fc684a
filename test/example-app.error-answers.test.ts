import { expect } from 'chai';
import request from 'supertest';
import type { ExampleApp } from '../example-app/src/app.js';
// The app's own copy of the package (dist/): its error classes are the ones the app's handler knows.
import { ERROR_CODES, SmsOtpError, SmsSendError } from 'passport-sms-otp';
import { newestCode, startExampleApp } from './helpers/example-app.js';

const JSON_ACCEPT = { Accept: 'application/json' };

describe('Example app: a server fault answers with its code\'s generic text, never its own', () => {
  let handle: ExampleApp;
  let errors: string[];
  const saved = console.error;
  beforeEach(async () => {
    handle = await startExampleApp();
    errors = [];
    console.error = (...args: unknown[]) => { errors.push(args.map(String).join(' ')); };
  });
  afterEach(async () => {
    console.error = saved;
    await handle.close();
  });

  it('an unexpected error (the session store failing in memory mode): 500 {"error":"internal"}, no message or stack; the log has it', async () => {
    const page = await request(handle.app).get('/login').set('Accept', 'text/html');
    const cookie = String(page.headers['set-cookie']).split(';')[0] as string;
    handle.infra.sessionStore.get = (_sid, callback) => callback(new Error('boom at /srv/app/secret-path.js:12'));
    const res = await request(handle.app).get('/account').set(JSON_ACCEPT).set('Cookie', cookie);
    expect([res.status, res.body]).to.deep.equal([500, { error: 'internal', message: 'Something went wrong.' }]);
    expect(res.text).to.not.include('boom').and.not.include('secret-path');
    expect(errors.join('\n')).to.include('boom at /srv/app/secret-path.js:12');
  });

  it('a failed send (502): the generic SEND_FAILED text, not the provider\'s status, incident id or the masked number', async () => {
    handle.infra.sender.send = async () => { throw new SmsSendError('GatewayAPI refused the message to ********78 (HTTP 500, incident 0b6f0e52-4fd1-4c5e-9a4e-1f2a3b4c5d6e).', { httpStatus: 500, retryable: true }); };
    const res = await request(handle.app).post('/login').set(JSON_ACCEPT).send({ username: 'alice', password: 'alice-password' });
    expect([res.status, res.body]).to.deep.equal([502, { error: 'SEND_FAILED', message: ERROR_CODES.SEND_FAILED }]);
    expect(errors.join('\n')).to.include('502 SEND_FAILED');
  });
  it('a store failure (503) with details in its message: the generic STORE_UNAVAILABLE text; the details stay in the log', async () => {
    const agent = request.agent(handle.app);
    await agent.post('/login').set(JSON_ACCEPT).send({ username: 'alice', password: 'alice-password' });
    const code = newestCode((await agent.get('/dev/outbox').set(JSON_ACCEPT)).body as Array<{ to: string; text: string }>);
    handle.infra.otpStore.attempt = async () => { throw new SmsOtpError('STORE_UNAVAILABLE', 'Redis at 10.0.0.5:6379 gave no answer within 2000 ms'); };
    const res = await agent.post('/login/otp').set(JSON_ACCEPT).send({ code });
    expect([res.status, res.body]).to.deep.equal([503, { error: 'STORE_UNAVAILABLE', message: ERROR_CODES.STORE_UNAVAILABLE }]);
    expect(errors.join('\n')).to.include('10.0.0.5:6379');
  });
});
