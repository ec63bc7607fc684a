/**
 * An independent RFC 5849 (OAuth 1.0) HMAC-SHA1 verifier for the GatewayAPI
 * double. It shares no code with `oauth-1.0a` or src/senders/oauth1.ts, so a
 * signing bug in the package cannot hide behind the same bug in the check.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

const UNRESERVED = /^[A-Za-z0-9\-._~]$/;

/** RFC 5849 §3.6: UTF-8, then every byte outside ALPHA / DIGIT / "-" / "." / "_" / "~" as %XX (upper-case hex). */
export function rfc5849Encode(value: string): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    const char = String.fromCharCode(byte);
    out += byte < 0x80 && UNRESERVED.test(char) ? char : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** RFC 5849 §3.4.1.2: scheme and host in lower case, the port only when it is not the scheme's default. */
export function rfc5849BaseUri(scheme: string, hostHeader: string, path: string): string {
  const lowerScheme = scheme.toLowerCase();
  const match = /^(.*?)(?::(\d+))?$/.exec(hostHeader.toLowerCase());
  const host = match?.[1] ?? '';
  const port = match?.[2];
  const defaultPort = lowerScheme === 'https' ? '443' : '80';
  return `${lowerScheme}://${host}${port === undefined || port === defaultPort ? '' : `:${port}`}${path === '' ? '/' : path}`;
}

/** RFC 5849 §3.4.1: method, base string URI and the normalised parameters (§3.4.1.3.2), each encoded and joined by "&". */
export function rfc5849BaseString(method: string, baseUri: string, params: ReadonlyArray<readonly [string, string]>): string {
  const encoded = params.map(([name, value]) => [rfc5849Encode(name), rfc5849Encode(value)] as const);
  encoded.sort((a, b) => (a[0] === b[0] ? compare(a[1], b[1]) : compare(a[0], b[0])));
  const normalized = encoded.map(([name, value]) => `${name}=${value}`).join('&');
  return [method.toUpperCase(), rfc5849Encode(baseUri), rfc5849Encode(normalized)].join('&');
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** RFC 5849 §3.4.2: HMAC-SHA1 keyed with `encode(consumer secret) & encode(token secret)`, base64. */
export function rfc5849HmacSha1(baseString: string, consumerSecret: string, tokenSecret = ''): string {
  const key = `${rfc5849Encode(consumerSecret)}&${rfc5849Encode(tokenSecret)}`;
  return createHmac('sha1', key).update(baseString, 'utf8').digest('base64');
}

/** RFC 5849 §3.5.1: `OAuth name="value", …`; `undefined` when the header is not that. Duplicate names are refused. */
export function parseOAuthHeader(header: string): Map<string, string> | undefined {
  const scheme = /^OAuth\s+/i.exec(header);
  if (scheme === null) return undefined;
  const params = new Map<string, string>();
  const item = /\s*([A-Za-z0-9%._~-]+)="([^"]*)"\s*(,|$)/y;
  item.lastIndex = scheme[0].length;
  while (item.lastIndex < header.length) {
    const match = item.exec(header);
    if (match === null) return undefined;
    let name: string;
    let value: string;
    try {
      name = decodeURIComponent(match[1] ?? '');
      value = decodeURIComponent(match[2] ?? '');
    } catch {
      return undefined;
    }
    if (params.has(name)) return undefined;
    params.set(name, value);
    if (match[3] === '') break;
  }
  return params;
}

/** What the double needs to check one request's OAuth header. */
export interface OAuthCheck {
  readonly method: string;
  readonly baseUri: string;
  /** Decoded query parameters of the request URL (they are signed). */
  readonly queryParams: ReadonlyArray<readonly [string, string]>;
  readonly authorization: string;
  readonly secretsByKey: ReadonlyMap<string, string>;
  readonly nowSeconds: number;
  readonly maxSkewSeconds: number;
  /** Records the nonce; returns false when it was seen before. */
  readonly useNonce: (key: string, timestamp: string, nonce: string) => boolean;
}

export type OAuthResult = { ok: true; key: string } | { ok: false; code: string; message: string };

const REQUIRED = ['oauth_consumer_key', 'oauth_signature_method', 'oauth_timestamp', 'oauth_nonce', 'oauth_signature'];

/** Checks a two-legged OAuth 1.0a request the way GatewayAPI documents it, answering with GatewayAPI's codes. */
export function verifyOAuthRequest(check: OAuthCheck): OAuthResult {
  const params = parseOAuthHeader(check.authorization);
  if (params === undefined) return { ok: false, code: '0x0222', message: 'Missing required parameter %1' };
  const missing = REQUIRED.find((name) => !params.has(name));
  if (missing !== undefined) return { ok: false, code: '0x0222', message: 'Missing required parameter %1' };
  const get = (name: string): string => params.get(name) ?? '';
  if (get('oauth_signature_method') !== 'HMAC-SHA1') return { ok: false, code: '0x0221', message: 'Unsupported signature method %1' };
  if (params.has('oauth_version') && get('oauth_version') !== '1.0') return { ok: false, code: '0x0220', message: 'Unsupported parameter %1' };
  if (get('oauth_token') !== '') return { ok: false, code: '0x0220', message: 'Unsupported parameter %1' };
  const key = get('oauth_consumer_key');
  const secret = check.secretsByKey.get(key);
  if (secret === undefined) return { ok: false, code: '0x0223', message: 'Invalid Consumer Key' };
  const timestamp = get('oauth_timestamp');
  if (!/^\d{1,12}$/.test(timestamp) || Math.abs(check.nowSeconds - Number(timestamp)) > check.maxSkewSeconds) {
    return { ok: false, code: '0x0225', message: 'Expired timestamp' };
  }
  const signed = [...params].filter(([name]) => name !== 'oauth_signature' && name !== 'realm');
  const baseString = rfc5849BaseString(check.method, check.baseUri, [...signed, ...check.queryParams]);
  const expected = Buffer.from(rfc5849HmacSha1(baseString, secret));
  const given = Buffer.from(get('oauth_signature'));
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return { ok: false, code: '0x0224', message: 'Invalid signature' };
  // Only a correctly signed request may spend a nonce, or anyone could burn them.
  if (!check.useNonce(key, timestamp, get('oauth_nonce'))) return { ok: false, code: '0x0226', message: 'Invalid / used nonce' };
  return { ok: true, key };
}
