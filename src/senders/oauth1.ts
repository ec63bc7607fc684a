import { createHmac, randomBytes } from 'node:crypto';
import OAuth from 'oauth-1.0a';

/** One request to sign with two-legged OAuth 1.0a (consumer only, no token), HMAC-SHA1. */
export interface OAuth1SignInput {
  /** HTTP method, e.g. `POST`. */
  readonly method: string;
  /** The full request URL. Its query parameters are signed; a body never is (only form bodies would be, RFC 5849 §3.4.1.3.1). */
  readonly url: string;
  /** Consumer key (GatewayAPI: the API key). */
  readonly key: string;
  /** Consumer secret. The signing key is `percentEncode(secret) + '&'` (no token secret). */
  readonly secret: string;
  /**
   * `oauth_nonce`. Tests pin it; in production leave it out.
   * @default 16 bytes from `crypto.randomBytes`, hex
   */
  readonly nonce?: string;
  /**
   * `oauth_timestamp`, whole seconds since the Unix epoch.
   * @default the current time
   */
  readonly timestampSeconds?: number;
  /**
   * More protocol parameters to sign and send, each named `oauth_…`, such as
   * `oauth_callback` in RFC 5849's example. GatewayAPI needs none.
   * @default {}
   */
  readonly extraParams?: Readonly<Record<string, string>>;
  /**
   * Whether to send `oauth_version="1.0"` (optional in RFC 5849 §3.1; GatewayAPI's examples send it).
   * @default true
   */
  readonly includeVersion?: boolean;
}

/** The result of signing: the signature and the `Authorization` header value that carries it. */
export interface OAuth1Signed {
  /** Base64 HMAC-SHA1 signature, before percent-encoding. */
  readonly signature: string;
  /** `OAuth oauth_consumer_key="…", …, oauth_signature="…"` (no realm). */
  readonly authorization: string;
}

const GENERATED = new Set(['oauth_consumer_key', 'oauth_nonce', 'oauth_signature_method', 'oauth_timestamp', 'oauth_version']);
const FORBIDDEN_EXTRA = new Set(['oauth_signature', 'oauth_token']);

function hmacSha1Base64(baseString: string, signingKey: string): string {
  return createHmac('sha1', signingKey).update(baseString).digest('base64');
}

/** A fresh nonce: 128 bits from the CSPRNG (the library's own `getNonce` uses `Math.random`). */
export function newOAuthNonce(): string {
  return randomBytes(16).toString('hex');
}

/**
 * oauth-1.0a types `oauth_version` as required and `oauth_timestamp` as a
 * number, but RFC 5849 §3.1 makes the version optional and the library only
 * ever string-encodes the values. One cast, here, instead of many.
 */
function asLibraryData(params: Readonly<Record<string, string>>): OAuth.Authorization {
  return { ...params } as unknown as OAuth.Authorization;
}

function checkInput(input: OAuth1SignInput): void {
  if (typeof input.method !== 'string' || !/^[A-Za-z]+$/.test(input.method)) throw new TypeError('OAuth: method must be an HTTP method name');
  if (typeof input.key !== 'string' || input.key === '') throw new TypeError('OAuth: the consumer key must be a non-empty string');
  if (typeof input.secret !== 'string' || input.secret === '') throw new TypeError('OAuth: the consumer secret must be a non-empty string');
  if (input.nonce !== undefined && (typeof input.nonce !== 'string' || input.nonce === '')) {
    throw new TypeError('OAuth: nonce must be a non-empty string');
  }
  const ts = input.timestampSeconds;
  if (ts !== undefined && !(Number.isSafeInteger(ts) && ts >= 0)) throw new TypeError('OAuth: timestampSeconds must be a non-negative integer');
}

/**
 * The base URI (RFC 5849 §3.4.1.2 wants the scheme and host lower case and no default port; `URL`
 * does exactly that) and the query's parameters, decoded as §3.4.1.3.1 says (form decoding: `+`
 * is a space; names decoded too; every repeat and empty value kept). They go to the library as its
 * `data`, not in the URL: its own reading of a query decodes neither `+` nor names, drops an empty
 * first value, cuts a value at a second `=` and throws on a stray `%`.
 */
function splitUrl(url: string): { baseUrl: string; query: Record<string, string | string[]> } {
  const parsed = new URL(url);
  if (parsed.hash !== '') throw new TypeError('OAuth: the URL must not have a fragment');
  const query: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
  for (const [name, value] of parsed.searchParams) {
    // The oauth_* ones go in the header; `__proto__` would reach the library's plain objects.
    if (name.startsWith('oauth_') || name === '__proto__') throw new TypeError(`OAuth: the URL's query parameter ${JSON.stringify(name)} is not allowed`);
    const seen = query[name];
    query[name] = seen === undefined ? value : [...(Array.isArray(seen) ? seen : [seen]), value];
  }
  parsed.search = '';
  return { baseUrl: parsed.href, query };
}

/**
 * Signs a request with two-legged OAuth 1.0a, HMAC-SHA1, through the
 * `oauth-1.0a` library's base string, parameter encoding and header
 * formatting. It does not call the library's `authorize()`: that mutates
 * the request object it is given, always adds `oauth_version`, and draws its
 * nonce from `Math.random`. Every call builds its own library instance and
 * copies, so nothing shared is ever mutated.
 */
export function signOAuth1Request(input: OAuth1SignInput): OAuth1Signed {
  checkInput(input);
  const params: Record<string, string> = {
    oauth_consumer_key: input.key,
    oauth_nonce: input.nonce ?? newOAuthNonce(),
    oauth_signature_method: 'HMAC-SHA1',
    oauth_timestamp: String(input.timestampSeconds ?? Math.floor(Date.now() / 1000)),
  };
  if (input.includeVersion !== false) params['oauth_version'] = '1.0';
  for (const [name, value] of Object.entries(input.extraParams ?? {})) {
    if (!/^oauth_[a-z_]+$/.test(name) || GENERATED.has(name) || FORBIDDEN_EXTRA.has(name) || typeof value !== 'string') {
      throw new TypeError(`OAuth: extra parameter ${JSON.stringify(name)} is not allowed`);
    }
    params[name] = value;
  }
  const oauth = new OAuth({
    consumer: { key: input.key, secret: input.secret },
    signature_method: 'HMAC-SHA1',
    hash_function: hmacSha1Base64,
  });
  oauth.getNonce = newOAuthNonce;
  // The library merges URL parameters into the objects it is handed: give it throwaway copies.
  const { baseUrl, query } = splitUrl(input.url);
  const request = { method: input.method.toUpperCase(), url: baseUrl, data: query };
  const signature = oauth.getSignature(request, undefined, asLibraryData(params));
  const authorization = oauth.toHeader(asLibraryData({ ...params, oauth_signature: signature })).Authorization;
  return { signature, authorization };
}

/** The `Authorization` header value for a request; see {@link signOAuth1Request}. */
export function oauthAuthorizationHeader(input: OAuth1SignInput): string {
  return signOAuth1Request(input).authorization;
}
