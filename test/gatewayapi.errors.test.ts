import { expect } from 'chai';
import { inspect } from 'node:util';
import { SmsSendError } from '../src/errors.js';
import { GatewayApiSender, MAX_ANSWER_BYTES, type GatewayApiSenderOptions } from '../src/senders/gatewayapi.js';
import { errorFromResponse } from '../src/senders/gatewayapi-errors.js';
import { closedPortUrl, GatewayApiDouble, type GatewayApiScenario } from './helpers/gatewayapi-double.js';

const CODE = '482913';
const ALICE = { to: '+4512345678', code: CODE, ttlSeconds: 300 };
const TEXT = `${CODE} is your login code. It expires in 5 min. Never share it.`;

async function sendError(sender: GatewayApiSender): Promise<SmsSendError> {
  try {
    await sender.send(ALICE);
  } catch (err) {
    expect(err).to.be.instanceOf(SmsSendError);
    return err as SmsSendError;
  }
  throw new Error('expected the send to fail');
}

describe('GatewayApiSender: failures', () => {
  let double: GatewayApiDouble;
  const make = (options: Partial<GatewayApiSenderOptions>): GatewayApiSender =>
    new GatewayApiSender({ baseUrl: double.baseUrl, sender: 'ExampleApp', timeoutMs: 2000, ...options } as GatewayApiSenderOptions);
  const token = (): GatewayApiSender => make({ token: double.token });
  const oauth = (): GatewayApiSender => make({ key: double.key, secret: double.secret });

  beforeEach(async () => {
    double = await new GatewayApiDouble().start();
  });
  afterEach(async () => {
    await double.close();
  });

  it('wrong OAuth secret: 401 0x0224, a configuration error, not retryable', async () => {
    const error = await sendError(make({ key: double.key, secret: `${double.secret}x` }));
    expect(error).to.include({ code: 'SEND_FAILED', httpStatus: 401, providerCode: '0x0224', configuration: true, retryable: false });
    expect(error.incidentId).to.match(/^[0-9a-f-]{36}$/);
    expect(error.message).to.contain('invalid OAuth signature');
  });

  it('unknown OAuth key: 401 0x0223, a configuration error', async () => {
    const error = await sendError(make({ key: 'nobody', secret: double.secret }));
    expect(error).to.include({ httpStatus: 401, providerCode: '0x0223', configuration: true, retryable: false });
  });

  it('wrong token: 401 0x0229, a configuration error, not retryable', async () => {
    const error = await sendError(make({ token: `${double.token}x` }));
    expect(error).to.include({ httpStatus: 401, providerCode: '0x0229', configuration: true, retryable: false });
    expect(double.received).to.have.length(0);
  });

  const answered: Array<[GatewayApiScenario, Partial<SmsSendError>]> = [
    ['insufficient-credit', { httpStatus: 403, providerCode: '0x0216', configuration: true, retryable: false }],
    ['unprocessable', { httpStatus: 422, providerCode: undefined, configuration: false, retryable: false }],
    ['server-error', { httpStatus: 500, providerCode: undefined, configuration: false, retryable: true }],
  ];
  for (const [scenario, expected] of answered) {
    for (const auth of ['token', 'oauth'] as const) {
      it(`${scenario} (${auth}): ${JSON.stringify(expected)}, after exactly one request`, async () => {
        double.scenario = scenario;
        const error = await sendError(auth === 'token' ? token() : oauth());
        expect(error).to.include(expected);
        expect(error.incidentId).to.be.a('string');
        expect(double.requests).to.have.length(1);
        expect(double.requests[0]?.status).to.equal(expected.httpStatus);
      });
    }
  }

  // Statuses the double has no scenario for, judged as GATEWAYAPI.md and the README's table say.
  const judged: Array<[number, string, Partial<SmsSendError>]> = [
    [408, '{}', { retryable: true, configuration: false, mayHaveBeenSent: false }],
    [429, '{}', { retryable: true, configuration: false, mayHaveBeenSent: false }],
    [403, '{"message":"IP not allowed"}', { retryable: false, configuration: true, mayHaveBeenSent: false }],
    [401, '{}', { retryable: false, configuration: true, mayHaveBeenSent: false }],
    // A missing or unreadable Authorization header: GatewayAPI answers 401 with a parameter code.
    [401, '{"code":"0x0222"}', { retryable: false, configuration: true, mayHaveBeenSent: false }],
    [401, '{"code":"0x0220"}', { retryable: false, configuration: true, mayHaveBeenSent: false }],
    [400, '{"code":"0x0222"}', { retryable: false, configuration: false, mayHaveBeenSent: false }],
    [403, '{"code":"0x0215"}', { retryable: false, configuration: false, mayHaveBeenSent: false }],
    [400, '{}', { retryable: false, configuration: false, mayHaveBeenSent: false }],
    [502, '', { retryable: true, configuration: false, mayHaveBeenSent: true }],
  ];
  for (const [status, body, expected] of judged) {
    it(`HTTP ${status} ${body || '(no body)'}: ${JSON.stringify(expected)}`, () => {
      expect(errorFromResponse(status, body, '********78')).to.include({ httpStatus: status, ...expected });
    });
  }

  it('insufficient credit says so in the message, with the incident id', async () => {
    double.scenario = 'insufficient-credit';
    const error = await sendError(token());
    expect(error.message).to.contain('0x0216 insufficient credit').and.to.contain(`incident ${error.incidentId ?? '?'}`);
  });

  it('no answer: aborts after timeoutMs, retryable, one request only', async () => {
    double.scenario = 'hang';
    const started = Date.now();
    const error = await sendError(make({ token: double.token, timeoutMs: 150 }));
    const elapsed = Date.now() - started;
    // Not before the timeout; how long after is the machine's business (the message says which timeout fired).
    expect(elapsed).to.be.at.least(140);
    // The request went out: GatewayAPI may have taken it, so the send stays counted.
    expect(error).to.include({ retryable: true, configuration: false, httpStatus: undefined, mayHaveBeenSent: true });
    expect(error.message).to.contain('within 150 ms');
    expect(double.requests).to.have.length(1);
  });

  it('a 200 with malformed JSON: an error that must not be retried (the SMS may be out)', async () => {
    double.scenario = 'malformed-json';
    const error = await sendError(token());
    expect(error).to.include({ httpStatus: 200, retryable: false, configuration: false });
    expect(error.message).to.contain('may have been sent');
  });

  it('a 200 without an ids array is treated like malformed JSON', async () => {
    const answers = ['{"usage":{}}', '{"ids":[]}', '[]', 'null', ''];
    for (const answer of answers) {
      const sender = new GatewayApiSender({ token: 't', fetch: async () => new Response(answer, { status: 200 }) });
      const error = await sendError(sender);
      expect(error, answer).to.include({ httpStatus: 200, retryable: false });
    }
  });

  it('a huge answer is read no further than MAX_ANSWER_BYTES, and judged as one without JSON', async () => {
    // Starts as GatewayAPI's own JSON would, then goes on (a proxy's page, a captive portal).
    const huge = (start: string) => {
      let pulled = 0;
      const chunk = new TextEncoder().encode(' '.repeat(16 * 1024));
      const stream = new ReadableStream<Uint8Array>({
        pull(controller) {
          // 4 MiB at most, so that a reader without the limit ends too (and fails the count below).
          if (pulled > 4 * 1024 * 1024) return controller.close();
          const piece = pulled === 0 ? new TextEncoder().encode(start) : chunk;
          pulled += piece.byteLength;
          controller.enqueue(piece);
        },
      });
      return { stream, pulled: () => pulled };
    };
    const credit = huge('{"code":"0x0216","incident_uuid":"0b5c7b0e-1f3a-4c2b-9a1d-6e5f4a3b2c1d","pad":"');
    const refused = await sendError(new GatewayApiSender({ token: 't', fetch: async () => new Response(credit.stream, { status: 403 }) }));
    expect(refused).to.include({ httpStatus: 403, providerCode: undefined, configuration: true, mayHaveBeenSent: false });
    expect(credit.pulled()).to.be.at.most(MAX_ANSWER_BYTES + 2 * 16 * 1024);
    const ok = huge('{"ids":[1],"pad":"');
    const accepted = await sendError(new GatewayApiSender({ token: 't', fetch: async () => new Response(ok.stream, { status: 200 }) }));
    expect(accepted).to.include({ httpStatus: 200, retryable: false, mayHaveBeenSent: true });
    expect(ok.pulled()).to.be.at.most(MAX_ANSWER_BYTES + 2 * 16 * 1024);
    // Just under the limit is read whole: the code is there.
    const long = `{"code":"0x0216","pad":"${'x'.repeat(MAX_ANSWER_BYTES - 64)}"}`;
    expect(new TextEncoder().encode(long).byteLength).to.be.below(MAX_ANSWER_BYTES);
    const read = await sendError(new GatewayApiSender({ token: 't', fetch: async () => new Response(long, { status: 403 }) }));
    expect(read).to.include({ providerCode: '0x0216' });
    // A custom fetch's answer with text() only: the same limit.
    const textOnly = (text: string) => (async () => ({ ok: false, status: 403, type: 'basic', text: async () => text })) as unknown as typeof fetch;
    expect(await sendError(new GatewayApiSender({ token: 't', fetch: textOnly(long) }))).to.include({ providerCode: '0x0216' });
    expect(await sendError(new GatewayApiSender({ token: 't', fetch: textOnly(`${long}${' '.repeat(100)}`) }))).to.include({ providerCode: undefined });
    // Bytes, not characters: 'ø' is two in UTF-8, so this is over the limit with fewer characters than it.
    const wide = `{"code":"0x0216","pad":"${'ø'.repeat(MAX_ANSWER_BYTES / 2)}"}`;
    expect(wide.length).to.be.below(MAX_ANSWER_BYTES);
    expect(await sendError(new GatewayApiSender({ token: 't', fetch: textOnly(wide) }))).to.include({ providerCode: undefined });
    expect(await sendError(new GatewayApiSender({ token: 't', fetch: async () => new Response(wide, { status: 403 }) }))).to.include({ providerCode: undefined });
  });

  it('a 200 whose body stalls past timeoutMs, or breaks off, says which: the message may have been sent', async () => {
    const answer = (fail: 'on-abort' | 'at-once'): typeof fetch => async (_input, init) => {
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode('{"ids":'));
          if (fail === 'at-once') controller.error(new Error('other side closed'));
          else init?.signal?.addEventListener('abort', () => controller.error(init.signal?.reason));
        },
      });
      return new Response(stream, { status: 200 });
    };
    const stalled = await sendError(new GatewayApiSender({ token: 't', timeoutMs: 100, fetch: answer('on-abort') }));
    expect(stalled).to.include({ httpStatus: 200, retryable: false, mayHaveBeenSent: true });
    expect(stalled.message).to.contain('its body did not come within 100 ms').and.contain('may have been sent');
    const broken = await sendError(new GatewayApiSender({ token: 't', timeoutMs: 5000, fetch: answer('at-once') }));
    expect(broken).to.include({ httpStatus: 200, retryable: false, mayHaveBeenSent: true });
    expect(broken.message).to.contain('its body broke off');
  });

  it('a closed port: a network error, retryable, naming the system error', async () => {
    const error = await sendError(new GatewayApiSender({ baseUrl: await closedPortUrl(), token: double.token }));
    expect(error).to.include({ retryable: true, configuration: false, httpStatus: undefined });
    expect(error.message).to.contain('ECONNREFUSED');
    expect(error.cause).to.be.an('error');
  });

  it('a redirect is not followed: a configuration error pointing at baseUrl', async () => {
    const fetchSpy: typeof fetch = async (_input, init) => {
      expect(init?.redirect).to.equal('manual');
      return new Response(null, { status: 301, headers: { location: 'https://elsewhere.example/' } });
    };
    const error = await sendError(new GatewayApiSender({ token: 't', fetch: fetchSpy }));
    expect(error).to.include({ httpStatus: 301, configuration: true, retryable: false });
    expect(error.message).to.contain('check baseUrl');
  });

  it('a recipient blacklisted (0x0215) is neither retryable nor a configuration error; free text of the answer stays out', async () => {
    const body = JSON.stringify({ code: '0x0215', message: 'MSISDN %1 blacklisted', variables: ['4512345678'], incident_uuid: '0f6c2a9e-41b7-4c38-9d5e-2b7f1a0c3e11' });
    const error = await sendError(new GatewayApiSender({ token: 't', fetch: async () => new Response(body, { status: 403 }) }));
    expect(error).to.include({ providerCode: '0x0215', configuration: false, retryable: false, incidentId: '0f6c2a9e-41b7-4c38-9d5e-2b7f1a0c3e11' });
    expect(error.message).to.not.contain('12345678').and.to.not.contain('%1');
  });

  it('ignores a provider code or incident id that is not well-formed', async () => {
    const body = JSON.stringify({ code: 'secret <b>', incident_uuid: 'x'.repeat(500) });
    const error = await sendError(new GatewayApiSender({ token: 't', fetch: async () => new Response(body, { status: 400 }) }));
    expect(error).to.include({ httpStatus: 400, providerCode: undefined, incidentId: undefined, retryable: false, configuration: false });
    // Only a UUID is an incident id: a proxy answering with the number in that field does not get it into the error.
    const phone = JSON.stringify({ code: '0x0215', incident_uuid: '4512345678' });
    const withPhone = await sendError(new GatewayApiSender({ token: 't', fetch: async () => new Response(phone, { status: 403 }) }));
    expect(withPhone.incidentId).to.equal(undefined);
    expect(withPhone.message).to.not.contain('12345678');
  });

  it('a refusal whose body breaks off keeps its status: a 403 is still surely not sent, a 500 may have been', async () => {
    for (const [status, mayHaveBeenSent, retryable] of [[403, false, false], [500, true, true]] as const) {
      const fetchBroken: typeof fetch = async () => new Response(new ReadableStream({ pull(controller) { controller.error(new TypeError('terminated')); } }), { status });
      const error = await sendError(new GatewayApiSender({ token: 't', fetch: fetchBroken }));
      expect(error, String(status)).to.include({ httpStatus: status, mayHaveBeenSent, retryable });
    }
  });

  it('a certificate the client refuses: surely not sent, a configuration error; a malformed TLS record may come after the request, so it counts as maybe sent', async () => {
    // A self-signed certificate, as Node's fetch reports it: the request waits for the verification.
    const selfSigned: typeof fetch = async () => { throw new TypeError('fetch failed', { cause: Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }) }); };
    const cert = await sendError(new GatewayApiSender({ token: 't', fetch: selfSigned }));
    expect(cert).to.include({ mayHaveBeenSent: false, configuration: true, retryable: false, httpStatus: undefined });
    expect(cert.message).to.contain('DEPTH_ZERO_SELF_SIGNED_CERT');
    // https to the plain-HTTP double: OpenSSL's "wrong version number", which it also raises after
    // a handshake (a middlebox answering in plain text): not refunded.
    const record = await sendError(new GatewayApiSender({ baseUrl: double.baseUrl.replace('http:', 'https:'), token: double.token }));
    expect(record).to.include({ mayHaveBeenSent: true, configuration: false, retryable: true });
    expect(record.message).to.contain('ERR_SSL_WRONG_VERSION_NUMBER');
    expect(double.received).to.have.length(0);
  });

  it('a redirect that a fetch reports as opaque (status 0) is a configuration error too; another opaque answer may have sent', async () => {
    const opaque = (type: string) => (async () => ({ ok: false, status: 0, type, text: async () => '' })) as unknown as typeof fetch;
    const error = await sendError(new GatewayApiSender({ token: 't', fetch: opaque('opaqueredirect') }));
    expect(error).to.include({ httpStatus: 0, configuration: true, mayHaveBeenSent: false });
    expect(error.message).to.contain('check baseUrl');
    // A no-cors answer of a custom fetch: the request went out, nothing says what became of it.
    const unknown = await sendError(new GatewayApiSender({ token: 't', fetch: opaque('opaque') }));
    expect(unknown).to.include({ httpStatus: 0, configuration: false, mayHaveBeenSent: true });
  });

  it('no error message, stack or inspection holds the token, the secret, the code, the text or the full number', async () => {
    const failures: Array<[GatewayApiScenario, () => GatewayApiSender]> = [
      ['ok', () => make({ key: double.key, secret: `${double.secret}x` })],
      ['ok', () => make({ token: `${double.token}x` })],
      ['insufficient-credit', oauth],
      ['unprocessable', token],
      ['server-error', oauth],
      ['malformed-json', token],
      ['hang', () => make({ key: double.key, secret: double.secret, timeoutMs: 50 })],
    ];
    const errors: SmsSendError[] = [];
    for (const [scenario, sender] of failures) {
      double.scenario = scenario;
      errors.push(await sendError(sender()));
    }
    errors.push(await sendError(new GatewayApiSender({ baseUrl: await closedPortUrl(), token: double.token })));
    for (const error of errors) {
      for (const shown of [error.message, error.stack ?? '', inspect(error, { depth: 0 })]) {
        for (const forbidden of [double.token, double.secret, CODE, TEXT, '4512345678', '12345678', 'is your login code']) {
          expect(shown, `${error.message} must not contain ${forbidden}`).to.not.contain(forbidden);
        }
      }
      expect(error.message).to.contain('********78');
    }
  });

  it('the sender itself does not show its credentials when inspected or serialised', () => {
    const sender = new GatewayApiSender({ key: 'k3y-value', secret: 'very-secret-value', baseUrl: 'http://127.0.0.1:2' });
    const tokenSender = new GatewayApiSender({ token: 'very-secret-token', baseUrl: 'http://127.0.0.1:2' });
    for (const shown of [inspect(sender, { showHidden: true }), JSON.stringify(sender), inspect(tokenSender, { showHidden: true }), JSON.stringify(tokenSender)]) {
      expect(shown).to.not.match(/very-secret/);
    }
  });
});
