import { deepFreeze } from '../freeze.js';
import { SmsSendError } from '../errors.js';

/** What one GatewayAPI error code means for the app. */
export interface GatewayApiCodeInfo {
  /** Short English description, safe for logs (no `%1` variables filled in). */
  readonly description: string;
  /** An operator must change something (credentials, account, credit, template); every send fails until then. */
  readonly configuration: boolean;
}

/**
 * GatewayAPI's API error codes (`docs/errors.rst` in `onlinecity/gatewayapi-docs`)
 * that a code send can meet. Codes not listed fall back on the HTTP status.
 */
export const GATEWAYAPI_ERROR_CODES: Readonly<Record<string, Readonly<GatewayApiCodeInfo>>> = deepFreeze({
  '0x0213': { description: 'unauthorized IP address', configuration: true },
  '0x0214': { description: 'recipient temporarily blacklisted', configuration: false },
  '0x0215': { description: 'recipient blacklisted', configuration: false },
  '0x0216': { description: 'insufficient credit', configuration: true },
  '0x0217': { description: 'destination country not allowed for this account', configuration: true },
  '0x0218': { description: 'unknown message class', configuration: true },
  '0x021D': { description: 'SMS not enabled for this account', configuration: true },
  '0x021E': { description: 'message class not enabled for this account', configuration: true },
  '0x021F': { description: 'destination operator not allowed for this account', configuration: true },
  '0x0220': { description: 'unsupported parameter', configuration: false },
  '0x0221': { description: 'unsupported OAuth signature method', configuration: true },
  '0x0222': { description: 'missing required parameter', configuration: false },
  '0x0223': { description: 'invalid OAuth consumer key', configuration: true },
  '0x0224': { description: 'invalid OAuth signature (check the secret)', configuration: true },
  '0x0225': { description: 'expired OAuth timestamp (check the server clock)', configuration: true },
  '0x0226': { description: 'invalid or reused OAuth nonce', configuration: true },
  '0x0229': { description: 'invalid API token', configuration: true },
  '0x022A': { description: 'account frozen', configuration: true },
  '0x0310': { description: 'duplicate recipient', configuration: false },
  '0x0311': { description: 'priority not available', configuration: true },
  '0x0312': { description: 'message filtered (links must be on the account whitelist)', configuration: true },
});

/** Only well-formed codes and ids from the answer reach our error; never free text from it. */
const CODE_PATTERN = /^0x[0-9a-f]{1,8}$/i;
// GatewayAPI's incident ids are UUIDs; anything else (a number, say) is not repeated.
const INCIDENT_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

interface ErrorBody {
  code: string | undefined;
  incidentId: string | undefined;
}

function readErrorBody(text: string): ErrorBody {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { code: undefined, incidentId: undefined };
  }
  if (typeof parsed !== 'object' || parsed === null) return { code: undefined, incidentId: undefined };
  const record = parsed as Record<string, unknown>;
  const code = typeof record['code'] === 'string' && CODE_PATTERN.test(record['code']) ? `0x${record['code'].slice(2).toUpperCase()}` : undefined;
  const incident = record['incident_uuid'];
  return { code, incidentId: typeof incident === 'string' && INCIDENT_PATTERN.test(incident) ? incident : undefined };
}

/**
 * Statuses that say `baseUrl` points somewhere that is not GatewayAPI's REST API; a redirect that
 * a `fetch` reports as opaque (status 0, as browsers' does) is one too.
 */
function isWrongEndpoint(status: number, opaqueRedirect: boolean): boolean {
  return opaqueRedirect || (status >= 300 && status < 400) || status === 404 || status === 405;
}

/**
 * Turns a non-2xx answer into an {@link SmsSendError}. GatewayAPI's own
 * `message` and `variables` are left out on purpose: the variables can hold
 * the recipient's number.
 */
export function errorFromResponse(status: number, bodyText: string, redactedTo: string, opaqueRedirect = false): SmsSendError {
  const { code, incidentId } = readErrorBody(bodyText);
  const known = code === undefined ? undefined : GATEWAYAPI_ERROR_CODES[code];
  const retryable = status >= 500 || status === 408 || status === 429;
  const wrongEndpoint = isWrongEndpoint(status, opaqueRedirect);
  // A 401 is the credentials or the signature whatever its code (a missing Authorization header is
  // 0x0222, "missing required parameter"): every send fails until someone acts. A 403 may be
  // about one recipient (blacklisted), so there the code decides.
  const configuration = status === 401 || (known?.configuration ?? (status === 403 || wrongEndpoint));
  const parts = [`HTTP ${status}`];
  if (code !== undefined) parts.push(known === undefined ? code : `${code} ${known.description}`);
  else if (wrongEndpoint) parts.push('check baseUrl');
  if (incidentId !== undefined) parts.push(`incident ${incidentId}`);
  return new SmsSendError(`GatewayAPI refused the message to ${redactedTo} (${parts.join(', ')}).`, {
    httpStatus: status,
    providerCode: code,
    incidentId,
    retryable,
    configuration,
    // A 4xx is a refusal and a redirect was not followed: GatewayAPI did not take the message.
    // Anything else (a 5xx, an opaque answer of a custom fetch) proves nothing either way.
    mayHaveBeenSent: !(wrongEndpoint || (status >= 400 && status < 500)),
  });
}

/**
 * GatewayAPI's success answer is documented as subject to change, so only
 * `ids` (a non-empty array) is required. A 2xx without it is an error that
 * must not be retried: the message may well have gone out.
 */
export function checkSuccessBody(status: number, bodyText: string, redactedTo: string, bodyLost?: string): void {
  let parsed: unknown;
  try {
    parsed = JSON.parse(bodyText);
  } catch {
    parsed = undefined;
  }
  const ids = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>)['ids'] : undefined;
  if (Array.isArray(ids) && ids.length > 0) return;
  const what = bodyLost === undefined ? 'without the expected JSON (an "ids" array)' : `but ${bodyLost}`;
  throw new SmsSendError(
    `GatewayAPI answered HTTP ${status} for the message to ${redactedTo} ${what}; the message may have been sent.`,
    { httpStatus: status, retryable: false },
  );
}

/** A request that got no usable answer: refused connection, DNS failure, reset, or our own timeout. */
export function transportError(cause: unknown, redactedTo: string, timedOut: boolean, timeoutMs: number): SmsSendError {
  if (timedOut) {
    return new SmsSendError(
      `GatewayAPI did not answer within ${timeoutMs} ms for the message to ${redactedTo}; it may or may not have been sent.`,
      { retryable: true, cause },
    );
  }
  const detail = networkErrorCode(cause);
  if (detail !== undefined && TLS_REFUSED.has(detail)) {
    // The request waits for the handshake: it never left. Every send fails until someone fixes it.
    return new SmsSendError(
      `GatewayAPI's TLS connection was refused for the message to ${redactedTo} (${detail}): check baseUrl, the proxy and the CA certificates.`,
      { retryable: false, configuration: true, cause, mayHaveBeenSent: false },
    );
  }
  return new SmsSendError(
    `GatewayAPI could not be reached for the message to ${redactedTo}${detail === undefined ? '' : ` (${detail})`}.`,
    // Only a connection that never opened proves the request never left.
    { retryable: true, cause, mayHaveBeenSent: detail === undefined || !NEVER_CONNECTED.has(detail) },
  );
}

/**
 * TLS failures that come before the request is written: a certificate the client does not accept.
 * (Not a malformed record such as ERR_SSL_WRONG_VERSION_NUMBER: OpenSSL raises that after the
 * handshake too, when the request may have gone out.)
 */
const TLS_REFUSED: ReadonlySet<string> = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'CERT_UNTRUSTED', 'CERT_REJECTED', 'CERT_REVOKED',
  'CERT_SIGNATURE_FAILURE', 'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** Network errors raised before a connection existed: the request cannot have reached GatewayAPI. */
const NEVER_CONNECTED: ReadonlySet<string> = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'UND_ERR_CONNECT_TIMEOUT']);

/** The system error code (`ECONNREFUSED`, `ENOTFOUND`, …) somewhere in a fetch failure's cause chain. */
function networkErrorCode(err: unknown): string | undefined {
  for (let current = err, depth = 0; typeof current === 'object' && current !== null && depth < 5; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && /^[A-Z][A-Z0-9_]{1,40}$/.test(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}
