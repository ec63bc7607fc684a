import { unknownOptions, type OptionNames } from '../options.js';
import { normalizePhoneNumber } from '../phone.js';
import {
  checkMessageOptions,
  redactPhoneNumber,
  renderMessage,
  SAMPLE_MESSAGE,
  type MessageOptions,
  type SmsMessage,
  type SmsSender,
} from '../sender.js';
import { checkSuccessBody, errorFromResponse, transportError } from './gatewayapi-errors.js';
import { isFetchBadPort, isLoopback, readEndpoint } from './gatewayapi-url.js';
import { signOAuth1Request } from './oauth1.js';
import { smsLength } from './sms-segments.js';

/** GatewayAPI's message classes. `secret` hides the text in GatewayAPI's own logs and dashboard. */
export type GatewayApiMessageClass = 'standard' | 'premium' | 'secret';

/** Options of {@link GatewayApiSender} other than the credentials. */
export interface GatewayApiCommonOptions extends MessageOptions {
  /**
   * Where GatewayAPI lives: `https://gatewayapi.eu` for accounts on the EU
   * platform (credentials belong to one platform). Any http(s) URL is
   * accepted, so tests can point it at a local double; a trailing path is kept.
   * @default 'https://gatewayapi.com'
   */
  baseUrl?: string | undefined;
  /**
   * The sender shown on the phone: 1–11 letters and digits (`a–z A–Z 0–9`),
   * or 1–15 digits. Set your app's name; the default is generic.
   * @default 'Login'
   */
  sender?: string | undefined;
  /**
   * GatewayAPI message class. `secret` blurs the text in GatewayAPI's logs and
   * dashboard (priced as premium, must be enabled on the account); a good fit
   * for one-time codes. `premium` uses premium routes.
   * @default 'standard'
   */
  class?: GatewayApiMessageClass | undefined;
  /**
   * Your reference, echoed in GatewayAPI's delivery reports.
   * @default undefined (not sent)
   */
  userref?: string | undefined;
  /**
   * A label for GatewayAPI's invoicing breakdown.
   * @default undefined (not sent)
   */
  label?: string | undefined;
  /**
   * How long to wait for GatewayAPI's full answer before aborting, 1–120000 ms.
   * @default 10000
   */
  timeoutMs?: number | undefined;
  /**
   * The `fetch` to use (tests, proxies, instrumentation).
   * @default globalThis.fetch
   */
  fetch?: typeof globalThis.fetch | undefined;
  /**
   * Receives configuration warnings found at construction (a message longer
   * than one SMS segment, plain `http:` to a non-loopback host).
   * @default process.emitWarning
   */
  onWarning?: ((message: string) => void) | undefined;
}

/** Token authentication (`Authorization: Token …`), what GatewayAPI recommends. */
export interface GatewayApiTokenAuth {
  /** The API token (GatewayAPI dashboard, API keys). */
  token: string;
  key?: undefined;
  secret?: undefined;
}

/** Two-legged OAuth 1.0a, HMAC-SHA1, with the API key and secret. */
export interface GatewayApiOAuthAuth {
  /** The API key (OAuth consumer key). */
  key: string;
  /** The API secret (OAuth consumer secret). */
  secret: string;
  token?: undefined;
}

/** Options of {@link GatewayApiSender}: exactly one kind of credentials plus {@link GatewayApiCommonOptions}. */
export type GatewayApiSenderOptions = GatewayApiCommonOptions & (GatewayApiTokenAuth | GatewayApiOAuthAuth);

/** The defaults of {@link GatewayApiSender}. */
export const GATEWAYAPI_DEFAULTS = Object.freeze({
  baseUrl: 'https://gatewayapi.com',
  sender: 'Login',
  class: 'standard' as GatewayApiMessageClass,
  timeoutMs: 10_000,
});

const OPTION_NAMES: readonly string[] = Object.freeze(Object.keys({
  token: true,
  key: true,
  secret: true,
  baseUrl: true,
  sender: true,
  class: true,
  userref: true,
  label: true,
  timeoutMs: true,
  fetch: true,
  onWarning: true,
  messageTemplate: true,
  webOtpHost: true,
} satisfies OptionNames<GatewayApiSenderOptions>));

const MAX_TIMEOUT_MS = 120_000;
const CLASSES: ReadonlySet<string> = new Set(['standard', 'premium', 'secret']);
const SENDER_PATTERN = /^(?:[A-Za-z0-9]{1,11}|[0-9]{1,15})$/;
const TOKEN_PATTERN = /^[\x21-\x7e]+$/;

type Auth = { kind: 'token'; token: string } | { kind: 'oauth'; key: string; secret: string };

function isNonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value !== '';
}

/** Never echoes a credential: only says which fields were present. */
function readAuth(options: GatewayApiSenderOptions): Auth {
  const hasToken = options.token !== undefined;
  const hasOAuth = options.key !== undefined || options.secret !== undefined;
  if (hasToken && hasOAuth) {
    throw new TypeError('GatewayApiSender: give either token, or key and secret, not both kinds of credentials');
  }
  if (hasToken) {
    if (!isNonEmptyString(options.token) || !TOKEN_PATTERN.test(options.token)) {
      throw new TypeError('GatewayApiSender: token must be a non-empty string of visible ASCII characters');
    }
    return { kind: 'token', token: options.token };
  }
  if (hasOAuth) {
    if (!isNonEmptyString(options.key) || !TOKEN_PATTERN.test(options.key)) {
      throw new TypeError('GatewayApiSender: key must be a non-empty string of visible ASCII characters (OAuth needs key and secret)');
    }
    // A lone UTF-16 surrogate cannot be percent-encoded for the signature: said here, not at a login.
    if (!isNonEmptyString(options.secret) || /\p{Cs}/u.test(options.secret)) {
      throw new TypeError('GatewayApiSender: secret must be a non-empty string of well-formed text (OAuth needs key and secret)');
    }
    return { kind: 'oauth', key: options.key, secret: options.secret };
  }
  throw new TypeError('GatewayApiSender: credentials are required: { token } or { key, secret }');
}

function checkOptionalText(name: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (!isNonEmptyString(value)) throw new TypeError(`GatewayApiSender: ${name} must be a non-empty string when given`);
  return value;
}

/**
 * Sends one-time codes through GatewayAPI's REST API (`POST /rest/mtsms`).
 * Options are read and checked once, here; a mistake is a `TypeError` at
 * construction, not at a user's login. A send makes exactly one HTTP request
 * and never retries: a duplicate SMS costs money and confuses the user.
 */
export class GatewayApiSender implements SmsSender {
  readonly #auth: Auth;
  readonly #endpoint: string;
  readonly #sender: string;
  readonly #class: GatewayApiMessageClass;
  readonly #userref: string | undefined;
  readonly #label: string | undefined;
  readonly #timeoutMs: number;
  readonly #fetch: typeof globalThis.fetch;
  readonly #messageOptions: MessageOptions;

  constructor(options: GatewayApiSenderOptions) {
    if (typeof options !== 'object' || options === null) throw new TypeError('GatewayApiSender: options are required');
    // First: a misspelled option (`classs`, `timeout`) is a mistake to name, not a default to fall back on.
    const unknown = unknownOptions('GatewayApiSender', options, OPTION_NAMES);
    if (unknown !== undefined) throw new TypeError(unknown);
    this.#auth = readAuth(options);
    const endpoint = readEndpoint(options.baseUrl ?? GATEWAYAPI_DEFAULTS.baseUrl);
    this.#endpoint = endpoint.href;

    const sender = options.sender ?? GATEWAYAPI_DEFAULTS.sender;
    if (typeof sender !== 'string' || !SENDER_PATTERN.test(sender)) {
      throw new TypeError('GatewayApiSender: sender must be 1-11 letters/digits (a-z, A-Z, 0-9) or 1-15 digits');
    }
    this.#sender = sender;

    const messageClass = options.class ?? GATEWAYAPI_DEFAULTS.class;
    if (!CLASSES.has(messageClass)) throw new TypeError('GatewayApiSender: class must be "standard", "premium" or "secret"');
    this.#class = messageClass;
    this.#userref = checkOptionalText('userref', options.userref);
    this.#label = checkOptionalText('label', options.label);

    const timeoutMs = options.timeoutMs ?? GATEWAYAPI_DEFAULTS.timeoutMs;
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_TIMEOUT_MS) {
      throw new TypeError(`GatewayApiSender: timeoutMs must be an integer from 1 to ${MAX_TIMEOUT_MS}`);
    }
    this.#timeoutMs = timeoutMs;

    const fetchImpl = options.fetch ?? globalThis.fetch;
    if (typeof fetchImpl !== 'function') throw new TypeError('GatewayApiSender: fetch must be a function (Node 20 has a global fetch)');
    this.#fetch = fetchImpl;
    // Every send would fail before leaving the machine, at a user's login instead of here.
    if (options.fetch === undefined && isFetchBadPort(endpoint)) {
      throw new TypeError(`GatewayApiSender: baseUrl's port ${endpoint.port} is one that fetch refuses to connect to (a "bad port" in the Fetch standard); use another port`);
    }

    this.#messageOptions = checkMessageOptions('GatewayApiSender', options);

    const onWarning = options.onWarning ?? ((text: string) => process.emitWarning(text, 'PassportSmsOtpWarning'));
    if (typeof onWarning !== 'function') throw new TypeError('GatewayApiSender: onWarning must be a function');
    this.#warnIfLong(onWarning);
    // The endpoint's host is baseUrl's own (readEndpoint makes sure), so this judges what was configured.
    if (endpoint.protocol === 'http:' && !isLoopback(endpoint.hostname)) {
      onWarning(`GatewayApiSender: baseUrl uses plain http: to ${endpoint.host}; credentials and codes travel unencrypted.`);
    }
  }

  /** Renders the worst case once: a text longer than one SMS segment is a warning. */
  #warnIfLong(onWarning: (message: string) => void): void {
    const length = smsLength(renderMessage(SAMPLE_MESSAGE, this.#messageOptions));
    if (length.segments > 1) {
      onWarning(
        `GatewayApiSender: the SMS text is ${length.units} ${length.encoding} characters with a ${SAMPLE_MESSAGE.code.length}-digit code ` +
          `(one segment holds ${length.singleSegmentLimit}); it will go out as ${length.segments} segments and cost as many.`,
      );
    }
  }

  #authorization(): string {
    if (this.#auth.kind === 'token') return `Token ${this.#auth.token}`;
    return signOAuth1Request({ method: 'POST', url: this.#endpoint, key: this.#auth.key, secret: this.#auth.secret }).authorization;
  }

  /**
   * Sends one code. Resolves once GatewayAPI accepted the message.
   * @throws {SmsOtpError} `PHONE_NUMBER_INVALID` before any HTTP request when `to` is not a usable E.164 number.
   * @throws {SmsSendError} `SEND_FAILED` with `httpStatus`, `providerCode`, `incidentId`, `retryable`, `configuration`.
   */
  async send(message: SmsMessage): Promise<void> {
    const { msisdn } = normalizePhoneNumber(message.to);
    const redactedTo = redactPhoneNumber(message.to);
    const text = renderMessage(message, this.#messageOptions);
    const body: Record<string, unknown> = { sender: this.#sender, message: text, recipients: [{ msisdn }], class: this.#class };
    // GatewayAPI's default encoding is GSM 03.38; other characters need UCS-2 or they are mangled.
    if (smsLength(text).encoding === 'UCS-2') body['encoding'] = 'UCS2';
    if (this.#userref !== undefined) body['userref'] = this.#userref;
    if (this.#label !== undefined) body['label'] = this.#label;

    const headers = { authorization: this.#authorization(), 'content-type': 'application/json', accept: 'application/json' };
    const signal = AbortSignal.timeout(this.#timeoutMs);
    let response: Response;
    try {
      response = await this.#fetch(this.#endpoint, {
        method: 'POST',
        headers,
        body: JSON.stringify(body),
        // A redirect would turn the POST into a GET or carry credentials elsewhere: report it instead.
        redirect: 'manual',
        signal,
      });
    } catch (err) {
      throw transportError(err, redactedTo, signal.aborted, this.#timeoutMs);
    }
    let bodyText: string;
    try {
      bodyText = await readAnswer(response);
    } catch {
      // The status came and only the body broke off: judged by the status alone (a 2xx may have
      // sent the text, a 4xx is still a refusal, a 5xx proves nothing).
      if (response.ok) checkSuccessBody(response.status, '', redactedTo, signal.aborted ? `its body did not come within ${this.#timeoutMs} ms` : 'its body broke off');
      throw errorFromResponse(response.status, '', redactedTo, response.type === 'opaqueredirect');
    }
    if (response.ok) {
      checkSuccessBody(response.status, bodyText, redactedTo);
      return;
    }
    throw errorFromResponse(response.status, bodyText, redactedTo, response.type === 'opaqueredirect');
  }
}

/**
 * GatewayAPI's answers are a few hundred bytes; only `ids`, `code` and `incident_uuid` are read.
 * A longer body (a proxy's or a captive portal's page on a wrong `baseUrl`) is not kept in memory:
 * reading stops past this many bytes and the answer counts as one without the expected JSON.
 */
export const MAX_ANSWER_BYTES = 64 * 1024;

/** The answer's text, or '' when it is longer than {@link MAX_ANSWER_BYTES} (the rest is never read). */
async function readAnswer(response: Response): Promise<string> {
  const body = (response as Partial<Response>).body;
  // A custom fetch's answer without a stream: its text, as a whole.
  if (body === undefined || body === null || typeof body.getReader !== 'function') {
    const text = typeof response.text === 'function' ? await response.text() : '';
    return Buffer.byteLength(text, 'utf8') > MAX_ANSWER_BYTES ? '' : text;
  }
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_ANSWER_BYTES) {
      // Stops the download and frees the connection; a failure to cancel changes nothing here.
      reader.cancel().catch(() => undefined);
      return '';
    }
    chunks.push(value);
  }
  return new TextDecoder().decode(Buffer.concat(chunks));
}
