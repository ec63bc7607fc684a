import { expect } from 'chai';
import { SmsOtpError } from '../src/errors.js';
import { oauthAuthorizationHeader } from '../src/senders/oauth1.js';
import { GatewayApiSender, type GatewayApiSenderOptions } from '../src/senders/gatewayapi.js';
import { GatewayApiDouble } from './helpers/gatewayapi-double.js';

const ALICE = { to: '+4512345678', code: '482913', ttlSeconds: 300 };

describe('GatewayApiSender: sending', () => {
  let double: GatewayApiDouble;
  const tokenSender = (extra: Partial<GatewayApiSenderOptions> = {}): GatewayApiSender =>
    new GatewayApiSender({ baseUrl: double.baseUrl, token: double.token, sender: 'ExampleApp', ...extra } as GatewayApiSenderOptions);
  const oauthSender = (extra: Partial<GatewayApiSenderOptions> = {}): GatewayApiSender =>
    new GatewayApiSender({ baseUrl: double.baseUrl, key: double.key, secret: double.secret, sender: 'ExampleApp', ...extra } as GatewayApiSenderOptions);

  beforeEach(async () => {
    double = await new GatewayApiDouble().start();
  });
  afterEach(async () => {
    await double.close();
  });

  it('sends with token auth: Authorization: Token, the JSON body GatewayAPI documents', async () => {
    await tokenSender().send(ALICE);
    expect(double.requests).to.have.length(1);
    expect(double.requests[0]?.authorization).to.equal(`Token ${double.token}`);
    expect(double.received).to.have.length(1);
    const sms = double.received[0];
    expect(sms?.auth).to.equal('token');
    expect(sms?.body).to.deep.equal({
      sender: 'ExampleApp',
      message: '482913 is your login code. It expires in 5 min. Never share it.',
      recipients: [{ msisdn: 4512345678 }],
      class: 'standard',
    });
  });

  it('sends with OAuth 1.0a: the double recomputes the signature and accepts it', async () => {
    await oauthSender().send(ALICE);
    expect(double.received.map((sms) => sms.auth)).to.deep.equal(['oauth']);
    expect(double.requests[0]?.authorization).to.match(/^OAuth oauth_consumer_key="[^"]+", oauth_nonce="[0-9a-f]{32}"/);
    expect(double.received[0]?.msisdns).to.deep.equal([4512345678]);
  });

  it('signs every send with a fresh nonce (two sends in the same second both pass the replay check)', async () => {
    const sender = oauthSender();
    await sender.send(ALICE);
    await sender.send({ ...ALICE, to: '+4587654321' });
    await sender.send(ALICE);
    expect(double.received.map((sms) => sms.msisdns[0])).to.deep.equal([4512345678, 4587654321, 4512345678]);
  });

  it('the double refuses a replayed OAuth header with 0x0226 (so the test above could fail)', async () => {
    const url = `${double.baseUrl}/rest/mtsms`;
    const authorization = oauthAuthorizationHeader({ method: 'POST', url, key: double.key, secret: double.secret, nonce: 'fixed' });
    const post = (): Promise<Response> =>
      fetch(url, {
        method: 'POST',
        headers: { authorization, 'content-type': 'application/json' },
        body: JSON.stringify({ sender: 'ExampleApp', message: 'x', recipients: [{ msisdn: 4512345678 }] }),
      });
    expect((await post()).status).to.equal(200);
    const replay = await post();
    expect(replay.status).to.equal(401);
    expect(await replay.json()).to.include({ code: '0x0226' });
  });

  it('the double refuses a JSON body that the sender signed as form data (wrong base string)', async () => {
    // What oauth-1.0a does when the body is passed as `data`: the body fields end up in the base string.
    const url = `${double.baseUrl}/rest/mtsms`;
    const body = { sender: 'ExampleApp', message: 'x' };
    const header = oauthAuthorizationHeader({ method: 'POST', url: `${url}?sender=ExampleApp&message=x`, key: double.key, secret: double.secret });
    const response = await fetch(url, {
      method: 'POST',
      headers: { authorization: header, 'content-type': 'application/json' },
      body: JSON.stringify({ ...body, recipients: [{ msisdn: 4512345678 }] }),
    });
    expect(response.status).to.equal(401);
    expect(await response.json()).to.include({ code: '0x0224' });
  });

  it('sends class, userref and label when set', async () => {
    await tokenSender({ class: 'secret', userref: 'login-7', label: 'Tenant A' }).send(ALICE);
    expect(double.received[0]?.body).to.include({ class: 'secret', userref: 'login-7', label: 'Tenant A' });
  });

  it('ends the text with "@host #code" when webOtpHost is set', async () => {
    await tokenSender({ webOtpHost: 'Login.Example.com' }).send(ALICE);
    const lines = (double.received[0]?.text ?? '').split('\n');
    expect(lines.at(-1)).to.equal('@login.example.com #482913');
    expect(lines[0]).to.contain('482913');
  });

  it('uses the message template, and asks for UCS-2 only when the text needs it', async () => {
    await tokenSender({ messageTemplate: (code) => `Din kode er ${code}. Gælder i 5 min.` }).send(ALICE);
    expect(double.received[0]?.body).to.not.have.property('encoding');
    await tokenSender({ messageTemplate: (code, { ttlSeconds }) => `Ваш код ${code} (${ttlSeconds} с)` }).send(ALICE);
    expect(double.received[1]?.body).to.include({ encoding: 'UCS2', message: 'Ваш код 482913 (300 с)' });
  });

  it('normalises a number written with spaces to its msisdn', async () => {
    await tokenSender().send({ ...ALICE, to: '+45 87 65 43 21' });
    expect(double.received[0]?.msisdns).to.deep.equal([4587654321]);
  });

  const badNumbers: unknown[] = ['12345678', '004512345678', '+451234', '+4512345678;ext=1', '', 4512345678, null];
  for (const to of badNumbers) {
    it(`refuses ${JSON.stringify(to)} with PHONE_NUMBER_INVALID before any HTTP request`, async () => {
      let caught: unknown;
      try {
        await tokenSender().send({ ...ALICE, to: to as string });
      } catch (err) {
        caught = err;
      }
      expect(caught).to.be.instanceOf(SmsOtpError);
      expect((caught as SmsOtpError).code).to.equal('PHONE_NUMBER_INVALID');
      expect(double.requests).to.have.length(0);
    });
  }

  it('posts to <baseUrl>/rest/mtsms, keeping a path prefix of baseUrl', async () => {
    await tokenSender({ baseUrl: `${double.baseUrl}/` }).send(ALICE);
    expect(double.requests.map((r) => r.path)).to.deep.equal(['/rest/mtsms']);
    const paths: string[] = [];
    const fetchSpy: typeof fetch = async (input) => {
      paths.push(String(input));
      return new Response(JSON.stringify({ ids: [1] }), { status: 200 });
    };
    await new GatewayApiSender({ token: 't', baseUrl: 'https://proxy.example/gw/', fetch: fetchSpy }).send(ALICE);
    expect(paths).to.deep.equal(['https://proxy.example/gw/rest/mtsms']);
  });
});
