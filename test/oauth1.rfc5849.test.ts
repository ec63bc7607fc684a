import { expect } from 'chai';
import { oauthAuthorizationHeader, signOAuth1Request, type OAuth1SignInput } from '../src/senders/oauth1.js';
import {
  parseOAuthHeader,
  rfc5849BaseString,
  rfc5849BaseUri,
  rfc5849Encode,
  rfc5849HmacSha1,
  verifyOAuthRequest,
  type OAuthCheck,
} from './helpers/oauth1-verifier.js';

// RFC 5849 §1.2, the temporary-credentials request of the printer example.
const INITIATE: OAuth1SignInput = {
  method: 'POST',
  url: 'https://photos.example.net/initiate',
  key: 'dpf43f3p2l4k3l03',
  secret: 'kd94hf93k423kf44',
  nonce: 'wIjqoS',
  timestampSeconds: 137131200,
  extraParams: { oauth_callback: 'http://printer.example.com/ready' },
  includeVersion: false,
};
const INITIATE_SIGNATURE = '74KNZJeDHnMBp0EMJ9ZHt/XKycU=';
// The same request as printed in RFC 5849 §1.2, realm and all.
const INITIATE_HEADER_FROM_RFC =
  'OAuth realm="Photos", oauth_consumer_key="dpf43f3p2l4k3l03", oauth_signature_method="HMAC-SHA1", ' +
  'oauth_timestamp="137131200", oauth_nonce="wIjqoS", oauth_callback="http%3A%2F%2Fprinter.example.com%2Fready", ' +
  'oauth_signature="74KNZJeDHnMBp0EMJ9ZHt%2FXKycU%3D"';

function checkFor(authorization: string, overrides: Partial<OAuthCheck> = {}): OAuthCheck {
  return {
    method: 'POST',
    baseUri: rfc5849BaseUri('https', 'photos.example.net', '/initiate'),
    queryParams: [],
    authorization,
    secretsByKey: new Map([['dpf43f3p2l4k3l03', 'kd94hf93k423kf44']]),
    nowSeconds: 137131200,
    maxSkewSeconds: 300,
    useNonce: () => true,
    ...overrides,
  };
}

describe('OAuth 1.0a signing (RFC 5849)', () => {
  it('reproduces the §1.2 /initiate signature through the package signing code', () => {
    expect(signOAuth1Request(INITIATE).signature).to.equal(INITIATE_SIGNATURE);
  });

  it('puts every signed parameter, percent-encoded, in the Authorization header', () => {
    const params = parseOAuthHeader(oauthAuthorizationHeader(INITIATE));
    expect(params).to.not.equal(undefined);
    expect(Object.fromEntries(params ?? [])).to.deep.equal({
      oauth_callback: 'http://printer.example.com/ready',
      oauth_consumer_key: 'dpf43f3p2l4k3l03',
      oauth_nonce: 'wIjqoS',
      oauth_signature: INITIATE_SIGNATURE,
      oauth_signature_method: 'HMAC-SHA1',
      oauth_timestamp: '137131200',
    });
    expect(oauthAuthorizationHeader(INITIATE)).to.contain('oauth_signature="74KNZJeDHnMBp0EMJ9ZHt%2FXKycU%3D"');
  });

  it('is accepted by the double\'s independent verifier', () => {
    expect(verifyOAuthRequest(checkFor(oauthAuthorizationHeader(INITIATE)))).to.deep.equal({ ok: true, key: 'dpf43f3p2l4k3l03' });
  });

  it('the double\'s verifier accepts the header exactly as printed in the RFC (realm is not signed)', () => {
    expect(verifyOAuthRequest(checkFor(INITIATE_HEADER_FROM_RFC))).to.deep.equal({ ok: true, key: 'dpf43f3p2l4k3l03' });
  });

  it('the double\'s verifier rejects the RFC request signed with another secret, or with a changed parameter', () => {
    const wrongSecret = oauthAuthorizationHeader({ ...INITIATE, secret: 'kd94hf93k423kf45' });
    expect(verifyOAuthRequest(checkFor(wrongSecret))).to.include({ ok: false, code: '0x0224' });
    const tampered = INITIATE_HEADER_FROM_RFC.replace('oauth_nonce="wIjqoS"', 'oauth_nonce="wIjqoT"');
    expect(verifyOAuthRequest(checkFor(tampered))).to.include({ ok: false, code: '0x0224' });
    const otherUrl = checkFor(INITIATE_HEADER_FROM_RFC, { baseUri: 'https://photos.example.net/initiate2' });
    expect(verifyOAuthRequest(otherUrl)).to.include({ ok: false, code: '0x0224' });
  });

  it('the double\'s verifier rejects an old timestamp, an unknown key and a reused nonce', () => {
    expect(verifyOAuthRequest(checkFor(INITIATE_HEADER_FROM_RFC, { nowSeconds: 137131200 + 301 }))).to.include({ code: '0x0225' });
    expect(verifyOAuthRequest(checkFor(INITIATE_HEADER_FROM_RFC, { secretsByKey: new Map() }))).to.include({ code: '0x0223' });
    expect(verifyOAuthRequest(checkFor(INITIATE_HEADER_FROM_RFC, { useNonce: () => false }))).to.include({ code: '0x0226' });
  });

  it('the double\'s base string matches RFC 5849 §3.4.1.1 (encoding, sorting, duplicate names)', () => {
    const params: Array<[string, string]> = [
      ['b5', '=%3D'], ['a3', 'a'], ['c@', ''], ['a2', 'r b'], // query, decoded
      ['c2', ''], ['a3', '2 q'], // form body, decoded
      ['oauth_consumer_key', '9djdj82h48djs9d2'], ['oauth_token', 'kkk9d7dh3k39sjv7'],
      ['oauth_signature_method', 'HMAC-SHA1'], ['oauth_timestamp', '137131201'], ['oauth_nonce', '7d8f3e4a'],
    ];
    expect(rfc5849BaseString('POST', rfc5849BaseUri('http', 'EXAMPLE.COM:80', '/request'), params)).to.equal(
      'POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q%26a3%3Da%26b5%3D%253D%25253D%26c%2540%3D%26c2%3D%26' +
        'oauth_consumer_key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a%26oauth_signature_method%3DHMAC-SHA1%26' +
        'oauth_timestamp%3D137131201%26oauth_token%3Dkkk9d7dh3k39sjv7',
    );
    expect(rfc5849Encode('a b~*ø')).to.equal('a%20b~%2A%C3%B8');
    expect(rfc5849HmacSha1('x', 'a&b')).to.not.equal(rfc5849HmacSha1('x', 'a', 'b'));
  });

  it('signs query parameters of the URL, and agrees with the verifier on a secret that needs encoding', () => {
    // RFC 5849 §3.6 encodes !*'() too, which encodeURIComponent leaves alone.
    const input: OAuth1SignInput = { method: 'post', url: "HTTP://Example.COM:80/rest/mtsms?x=1%202&y=a!*'()", key: 'k', secret: "s/e+c&r=t ø!*'()", nonce: 'n1', timestampSeconds: 1000 };
    const check = checkFor(oauthAuthorizationHeader(input), {
      baseUri: 'http://example.com/rest/mtsms',
      queryParams: [['x', '1 2'], ['y', "a!*'()"]],
      secretsByKey: new Map([['k', "s/e+c&r=t ø!*'()"]]),
      nowSeconds: 1000,
    });
    expect(verifyOAuthRequest(check)).to.deep.equal({ ok: true, key: 'k' });
    expect(verifyOAuthRequest({ ...check, queryParams: [['x', '1 3']] })).to.include({ code: '0x0224' });
  });

  for (const [query, decoded] of [
    ['a=b+c', [['a', 'b c']]],
    ['a%20b=1&a+b=2', [['a b', '1'], ['a b', '2']]],
    ['a=&a=2', [['a', ''], ['a', '2']]],
    ['x=1=2', [['x', '1=2']]],
    ['a=%zz', [['a', '%zz']]],
    ['%C3%B8=1&z=2&%C3%B8=', [['ø', '1'], ['z', '2'], ['ø', '']]],
    ['flag', [['flag', '']]],
  ] as Array<[string, Array<[string, string]>]>) {
    it(`signs the query ?${query} as its decoded parameters (form decoding, repeats and empty values kept)`, () => {
      const input: OAuth1SignInput = { method: 'POST', url: `https://example.com/rest/mtsms?${query}`, key: 'k', secret: 's', nonce: 'n', timestampSeconds: 1000 };
      const check = checkFor(oauthAuthorizationHeader(input), { baseUri: 'https://example.com/rest/mtsms', queryParams: decoded, secretsByKey: new Map([['k', 's']]), nowSeconds: 1000 });
      expect(verifyOAuthRequest(check)).to.deep.equal({ ok: true, key: 'k' });
    });
  }

  it('refuses oauth_* and __proto__ parameters in the URL\'s query (the oauth_* ones belong in the header)', () => {
    for (const query of ['oauth_nonce=x', 'a=1&oauth_token=t', '__proto__=1']) {
      expect(() => signOAuth1Request({ method: 'POST', url: `https://example.com/?${query}`, key: 'k', secret: 's' }), query).to.throw(TypeError, /query parameter/);
    }
  });

  it('sends oauth_version="1.0" by default, no oauth_token, no realm, and a fresh 128-bit hex nonce each time', () => {
    const input: OAuth1SignInput = { method: 'POST', url: 'https://gatewayapi.com/rest/mtsms', key: 'k', secret: 's' };
    const nonces = new Set<string>();
    for (let i = 0; i < 50; i += 1) {
      const params = parseOAuthHeader(oauthAuthorizationHeader(input)) ?? new Map<string, string>();
      expect(params.get('oauth_version')).to.equal('1.0');
      expect(params.has('oauth_token')).to.equal(false);
      expect(params.has('realm')).to.equal(false);
      expect(params.get('oauth_nonce')).to.match(/^[0-9a-f]{32}$/);
      nonces.add(params.get('oauth_nonce') ?? '');
      expect(Math.abs(Number(params.get('oauth_timestamp')) - Date.now() / 1000)).to.be.below(5);
    }
    expect(nonces.size).to.equal(50);
  });

  it('does not mutate its input', () => {
    const extraParams = { oauth_callback: 'http://printer.example.com/ready' };
    const input = { ...INITIATE, url: 'https://photos.example.net/initiate?a=1', extraParams };
    const snapshot = JSON.stringify(input);
    signOAuth1Request(input);
    signOAuth1Request(input);
    expect(JSON.stringify(input)).to.equal(snapshot);
    expect(Object.keys(extraParams)).to.deep.equal(['oauth_callback']);
  });

  const refused: Array<[string, Partial<OAuth1SignInput>]> = [
    ['an empty key', { key: '' }],
    ['an empty secret', { secret: '' }],
    ['a negative timestamp', { timestampSeconds: -1 }],
    ['a fractional timestamp', { timestampSeconds: 1.5 }],
    ['an extra parameter that is not oauth_*', { extraParams: { callback: 'x' } }],
    ['an extra parameter overriding a generated one', { extraParams: { oauth_nonce: 'x' } }],
    ['an oauth_token (two-legged only)', { extraParams: { oauth_token: 'x' } }],
    ['a URL with a fragment', { url: 'https://photos.example.net/initiate#x' }],
    ['a method that is not a word', { method: 'PO ST' }],
  ];
  for (const [name, override] of refused) {
    it(`refuses ${name} with a TypeError`, () => {
      expect(() => signOAuth1Request({ ...INITIATE, ...override })).to.throw(TypeError);
    });
  }
});
