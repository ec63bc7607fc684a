import { expect } from 'chai';
import { GATEWAYAPI_DEFAULTS, GatewayApiSender, type GatewayApiSenderOptions } from '../src/senders/gatewayapi.js';

const ALICE = { to: '+4512345678', code: '482913', ttlSeconds: 300 };

/** A fetch that records what it was asked and answers like GatewayAPI; no network at all. */
function recordingFetch(): { fetch: typeof fetch; calls: Array<{ url: string; init: RequestInit | undefined }> } {
  const calls: Array<{ url: string; init: RequestInit | undefined }> = [];
  return {
    calls,
    fetch: async (input, init) => {
      calls.push({ url: String(input), init });
      return new Response(JSON.stringify({ ids: [1], usage: { countries: { DK: 1 }, currency: 'DKK', total_cost: 0.3 } }), { status: 200 });
    },
  };
}

function build(options: Record<string, unknown>): () => GatewayApiSender {
  return () => new GatewayApiSender({ onWarning: () => undefined, ...options } as unknown as GatewayApiSenderOptions);
}

describe('GatewayApiSender: options', () => {
  it('defaults: https://gatewayapi.com/rest/mtsms, sender "Login", class standard, 10 s timeout', async () => {
    expect(GATEWAYAPI_DEFAULTS).to.deep.equal({ baseUrl: 'https://gatewayapi.com', sender: 'Login', class: 'standard', timeoutMs: 10_000 });
    expect(Object.isFrozen(GATEWAYAPI_DEFAULTS)).to.equal(true);
    const spy = recordingFetch();
    await new GatewayApiSender({ token: 't0ken', fetch: spy.fetch }).send(ALICE);
    expect(spy.calls.map((c) => c.url)).to.deep.equal(['https://gatewayapi.com/rest/mtsms']);
    const body = JSON.parse(String(spy.calls[0]?.init?.body)) as Record<string, unknown>;
    expect(body).to.include({ sender: 'Login', class: 'standard' });
    expect(spy.calls[0]?.init?.signal).to.be.instanceOf(AbortSignal);
  });

  it('EU accounts: baseUrl https://gatewayapi.eu', async () => {
    const spy = recordingFetch();
    await new GatewayApiSender({ token: 't0ken', baseUrl: 'https://gatewayapi.eu', fetch: spy.fetch }).send(ALICE);
    expect(spy.calls.map((c) => c.url)).to.deep.equal(['https://gatewayapi.eu/rest/mtsms']);
  });

  const badAuth: Array<[string, Record<string, unknown>]> = [
    ['no credentials', {}],
    ['token and key', { token: 't', key: 'k' }],
    ['token and secret', { token: 't', secret: 's' }],
    ['token, key and secret', { token: 't', key: 'k', secret: 's' }],
    ['key without secret', { key: 'k' }],
    ['secret without key', { secret: 's' }],
    ['an empty token', { token: '' }],
    ['a token with a space or newline', { token: 'ab cd\r\nX-Evil: 1' }],
    ['a number as token', { token: 42 }],
    ['an empty secret', { key: 'k', secret: '' }],
    // A lone surrogate cannot be percent-encoded: it used to throw a URIError at every send.
    ['a secret with a lone surrogate', { key: 'k', secret: 'sec\uD800ret' }],
  ];
  for (const [name, auth] of badAuth) {
    it(`refuses ${name} with a TypeError that does not echo the credentials`, () => {
      expect(build(auth)).to.throw(TypeError, /GatewayApiSender: .*(token|key|secret)/);
      try {
        build(auth)();
      } catch (err) {
        for (const value of Object.values(auth)) if (typeof value === 'string' && value.length > 1) expect((err as Error).message).to.not.contain(value);
      }
    });
  }

  it('accepts exactly one kind of credentials (undefined counts as absent)', () => {
    expect(build({ token: 't' })).to.not.throw();
    expect(build({ key: 'k', secret: 's' })).to.not.throw();
    expect(build({ token: 't', key: undefined, secret: undefined })).to.not.throw();
  });

  const senders: Array<[string, boolean]> = [
    ['ExampleApp', true], ['A', true], ['Abcdefghijk', true], ['12345678901', true], ['123456789012345', true],
    ['Abcdefghijkl', false], ['1234567890123456', false], ['Example App', false], ['Exämple', false],
    ['', false], ['Ex-App', false], ['1234567890AB', false],
  ];
  for (const [sender, ok] of senders) {
    it(`${ok ? 'accepts' : 'refuses'} sender ${JSON.stringify(sender)}`, () => {
      if (ok) expect(build({ token: 't', sender })).to.not.throw();
      else expect(build({ token: 't', sender })).to.throw(TypeError, /sender/);
    });
  }

  const badOptions: Array<[string, Record<string, unknown>, RegExp]> = [
    ['a relative baseUrl', { baseUrl: 'gatewayapi.com' }, /baseUrl/],
    ['an ftp baseUrl', { baseUrl: 'ftp://gatewayapi.com' }, /baseUrl/],
    ['a baseUrl with a query', { baseUrl: 'https://gatewayapi.com/?token=x' }, /baseUrl/],
    ['a baseUrl with user info', { baseUrl: 'https://u:p@gatewayapi.com' }, /baseUrl/],
    ['an unknown class', { class: 'gold' }, /class/],
    ['timeoutMs 0', { timeoutMs: 0 }, /timeoutMs/],
    ['timeoutMs 1.5', { timeoutMs: 1.5 }, /timeoutMs/],
    ['timeoutMs above 120000', { timeoutMs: 120_001 }, /timeoutMs/],
    ['an empty userref', { userref: '' }, /userref/],
    ['a numeric label', { label: 7 }, /label/],
    ['a webOtpHost with a scheme', { webOtpHost: 'https://example.com' }, /webOtpHost/],
    ['a template that is not a function', { messageTemplate: 'Your code' }, /messageTemplate/],
    ['a template without the code', { messageTemplate: () => 'Your code is ready' }, /messageTemplate/],
    ['a template that throws', { messageTemplate: () => { throw new Error('boom'); } }, /messageTemplate/],
    ['a fetch that is not a function', { fetch: 'curl' }, /fetch/],
  ];
  for (const [name, options, pattern] of badOptions) {
    it(`refuses ${name} at construction`, () => {
      expect(build({ token: 't', ...options })).to.throw(TypeError, pattern);
    });
  }

  describe('warnings at construction', () => {
    const warningsFor = (options: Record<string, unknown>): string[] => {
      const warnings: string[] = [];
      new GatewayApiSender({ token: 't', ...options, onWarning: (message: string) => warnings.push(message) } as unknown as GatewayApiSenderOptions);
      return warnings;
    };

    it('none for the default template, even with a WebOTP line', () => {
      expect(warningsFor({})).to.deep.equal([]);
      expect(warningsFor({ webOtpHost: 'login.example.com' })).to.deep.equal([]);
    });

    it('a GSM-7 text over 160 characters (measured with a 10-digit code) warns once', () => {
      // 150 characters + the 10-digit sample code = 160: still one segment.
      expect(warningsFor({ messageTemplate: (code: string) => `${'a'.repeat(150)}${code}` })).to.deep.equal([]);
      const warnings = warningsFor({ messageTemplate: (code: string) => `${'a'.repeat(151)}${code}` });
      expect(warnings).to.have.length(1);
      expect(warnings[0]).to.contain('161 GSM-7').and.to.contain('2 segments');
    });

    it('GSM-7 extended characters count twice', () => {
      expect(warningsFor({ messageTemplate: (code: string) => `${'a'.repeat(148)}€${code}` })).to.deep.equal([]);
      expect(warningsFor({ messageTemplate: (code: string) => `${'a'.repeat(149)}€${code}` })).to.have.length(1);
    });

    it('a UCS-2 text over 70 characters warns', () => {
      expect(warningsFor({ messageTemplate: (code: string) => `${'ж'.repeat(60)}${code}` })).to.deep.equal([]);
      const warnings = warningsFor({ messageTemplate: (code: string) => `${'ж'.repeat(61)}${code}` });
      expect(warnings).to.have.length(1);
      expect(warnings[0]).to.contain('71 UCS-2');
    });

    it('the WebOTP line counts toward the length', () => {
      const template = (code: string): string => `${'a'.repeat(120)}${code}`;
      expect(warningsFor({ messageTemplate: template })).to.deep.equal([]);
      expect(warningsFor({ messageTemplate: template, webOtpHost: 'login.example.com' })).to.have.length(1);
    });

    it('plain http: to a host that is not loopback warns; loopback does not', () => {
      expect(warningsFor({ baseUrl: 'http://gatewayapi.example' })[0]).to.match(/plain http:/);
      expect(warningsFor({ baseUrl: 'http://127.0.0.1:8080' })).to.deep.equal([]);
      expect(warningsFor({ baseUrl: 'http://localhost:8080' })).to.deep.equal([]);
    });

    it('without onWarning, goes to process.emitWarning', async () => {
      const seen = new Promise<Error>((resolve) => process.once('warning', resolve));
      new GatewayApiSender({ token: 't', messageTemplate: (code) => `${'a'.repeat(200)}${code}` });
      const warning = await seen;
      expect(warning.name).to.equal('PassportSmsOtpWarning');
      expect(warning.message).to.contain('segments');
    });
  });
});
