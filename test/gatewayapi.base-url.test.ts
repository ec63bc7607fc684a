import { expect } from 'chai';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GatewayApiSender, type GatewayApiSenderOptions } from '../src/senders/gatewayapi.js';
import { rfc5849BaseUri, verifyOAuthRequest } from './helpers/oauth1-verifier.js';

const ALICE = { to: '+4512345678', code: '482913', ttlSeconds: 300 };
const TOKEN = 'very-secret-token';
const KEY = 'k3y';
const SECRET = 'very-secret-secret';

/** Every request that reached the local server: its Host header, path and Authorization header. */
interface Hit {
  host: string | undefined;
  path: string;
  authorization: string | undefined;
  oauthValid: boolean | undefined;
}

/**
 * A stand-in for GatewayAPI (or for the host a crafted baseUrl points at) on 127.0.0.1: answers
 * every POST like GatewayAPI and records it, checking an OAuth signature against the URL it got.
 */
async function startServer(): Promise<{ server: Server; port: number; hits: Hit[] }> {
  const hits: Hit[] = [];
  const server = createServer((req, res) => {
    req.resume();
    const path = new URL(req.url ?? '/', 'http://placeholder').pathname;
    const authorization = req.headers.authorization;
    const oauthValid = authorization?.startsWith('OAuth ') === true
      ? verifyOAuthRequest({
        method: req.method ?? '', baseUri: rfc5849BaseUri('http', req.headers.host ?? '', path), queryParams: [], authorization,
        secretsByKey: new Map([[KEY, SECRET]]), nowSeconds: Math.floor(Date.now() / 1000), maxSkewSeconds: 300, useNonce: () => true,
      }).ok
      : undefined;
    hits.push({ host: req.headers.host, path, authorization, oauthValid });
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ids: [1] }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return { server, port: (server.address() as AddressInfo).port, hits };
}

/** Only loopback traffic: a request for any other host is recorded and refused without touching the network. */
function loopbackOnlyFetch(): { fetch: typeof fetch; urls: string[] } {
  const urls: string[] = [];
  return {
    urls,
    fetch: async (input, init) => {
      const url = String(input);
      urls.push(url);
      if (new URL(url).hostname !== '127.0.0.1') throw new TypeError('fetch failed', { cause: Object.assign(new Error('blocked by the test'), { code: 'ECONNREFUSED' }) });
      return globalThis.fetch(input, init);
    },
  };
}

describe('GatewayApiSender: the request goes to baseUrl\'s own host and nowhere else', () => {
  let server: Server;
  let port: number;
  let hits: Hit[];

  beforeEach(async () => {
    ({ server, port, hits } = await startServer());
  });
  afterEach(async () => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  });

  // Resolved against the base, a path "//127.0.0.1:<port>/rest/mtsms" names a new host: the token
  // (or a signed OAuth header) and the code went to 127.0.0.1, and no plain-http warning was given
  // for gatewayapi.invalid because the check looked at the resolved host.
  const CRAFTED: Array<[string, (port: number) => string]> = [
    ['a path starting with //', (p) => `http://gatewayapi.invalid//127.0.0.1:${p}`],
    ['a path starting with // on https', (p) => `https://gatewayapi.invalid//127.0.0.1:${p}`],
    ['a path starting with // and a trailing slash', (p) => `http://gatewayapi.invalid//127.0.0.1:${p}/`],
    ['dot segments that leave //', (p) => `http://gatewayapi.invalid/gw/..//127.0.0.1:${p}`],
    ['backslashes (the URL parser reads them as slashes)', (p) => `http://gatewayapi.invalid/\\\\127.0.0.1:${p}`],
    ['an empty segment after a prefix', (p) => `http://gatewayapi.invalid/gw//127.0.0.1:${p}`],
  ];
  for (const [name, baseUrlFor] of CRAFTED) {
    for (const credentials of [{ token: TOKEN }, { key: KEY, secret: SECRET }]) {
      it(`refuses ${name} at construction (${'token' in credentials ? 'token' : 'OAuth'}); nothing reaches 127.0.0.1`, async () => {
        const spy = loopbackOnlyFetch();
        const warnings: string[] = [];
        let thrown: unknown;
        try {
          const sender = new GatewayApiSender({ baseUrl: baseUrlFor(port), ...credentials, fetch: spy.fetch, onWarning: (w) => warnings.push(w) } as GatewayApiSenderOptions);
          await sender.send(ALICE).catch(() => undefined);
        } catch (err) {
          thrown = err;
        }
        expect(hits, 'the request reached 127.0.0.1').to.deep.equal([]);
        expect(spy.urls.filter((url) => new URL(url).hostname !== 'gatewayapi.invalid'), 'a request was aimed at another host').to.deep.equal([]);
        expect(thrown).to.be.instanceOf(TypeError);
        expect((thrown as Error).message).to.match(/^GatewayApiSender: baseUrl/).and.not.include(TOKEN).and.not.include(SECRET);
      });
    }
  }

  const NORMAL: Array<[string, (port: number) => string, string]> = [
    ['no path', (p) => `http://127.0.0.1:${p}`, '/rest/mtsms'],
    ['a trailing slash', (p) => `http://127.0.0.1:${p}/`, '/rest/mtsms'],
    ['several trailing slashes', (p) => `http://127.0.0.1:${p}//`, '/rest/mtsms'],
    ['a path prefix', (p) => `http://127.0.0.1:${p}/gw`, '/gw/rest/mtsms'],
    ['a path prefix and a trailing slash', (p) => `http://127.0.0.1:${p}/gw/v1/`, '/gw/v1/rest/mtsms'],
    ['an encoded slash, kept as such', (p) => `http://127.0.0.1:${p}/gw%2F%2Fx`, '/gw%2F%2Fx/rest/mtsms'],
  ];
  for (const [name, baseUrlFor, path] of NORMAL) {
    it(`a baseUrl with ${name} posts to ${path} on its host, with token and with OAuth`, async () => {
      const warnings: string[] = [];
      const onWarning = (w: string): void => void warnings.push(w);
      await new GatewayApiSender({ baseUrl: baseUrlFor(port), token: TOKEN, onWarning }).send(ALICE);
      await new GatewayApiSender({ baseUrl: baseUrlFor(port), key: KEY, secret: SECRET, onWarning }).send(ALICE);
      expect(hits.map((hit) => [hit.host, hit.path])).to.deep.equal([[`127.0.0.1:${port}`, path], [`127.0.0.1:${port}`, path]]);
      expect(hits[0]?.authorization).to.equal(`Token ${TOKEN}`);
      expect(hits[1]?.oauthValid, 'the OAuth signature covers the URL the request went to').to.equal(true);
      expect(warnings).to.deep.equal([]);
    });
  }

  it('the plain-http warning judges the host baseUrl names', async () => {
    const spy = loopbackOnlyFetch();
    const warnings: string[] = [];
    const sender = new GatewayApiSender({ baseUrl: 'http://gatewayapi.example/gw/', token: TOKEN, fetch: spy.fetch, onWarning: (w) => warnings.push(w) });
    expect(warnings).to.have.length(1);
    expect(warnings[0]).to.match(/plain http: to gatewayapi\.example;/);
    await sender.send(ALICE).catch(() => undefined);
    expect(spy.urls).to.deep.equal(['http://gatewayapi.example/gw/rest/mtsms']);
    expect(hits).to.deep.equal([]);
  });

  it('a port that fetch refuses (6000, 10080) is a TypeError at construction, not a SEND_FAILED at every login', async () => {
    for (const port of [6000, 10080, 25]) {
      expect(() => new GatewayApiSender({ baseUrl: `http://127.0.0.1:${port}`, token: TOKEN }), String(port))
        .to.throw(TypeError, `GatewayApiSender: baseUrl's port ${port} is one that fetch refuses to connect to`);
    }
    // With fetch of the app's own (a proxy agent, say), the port is the app's business.
    const spy = loopbackOnlyFetch();
    expect(new GatewayApiSender({ baseUrl: 'http://127.0.0.1:6000', token: TOKEN, fetch: spy.fetch })).to.be.instanceOf(GatewayApiSender);
    // What it guards against, as Node's fetch does it: nothing leaves the machine.
    const refused = await fetch('http://127.0.0.1:6000/').then(() => undefined, (err: unknown) => err as Error & { cause?: Error });
    expect(refused?.cause?.message).to.equal('bad port');
  });
});
