/**
 * A stand-in for GatewayAPI's `POST /rest/mtsms` on 127.0.0.1: checks the
 * token or the OAuth 1.0a signature (by its own RFC 5849 code), the timestamp
 * and nonce, and the JSON body; answers with GatewayAPI's documented success
 * and error shapes. It is stricter than GatewayAPI where the package always
 * sends a field (`sender` is required here) so a regression shows.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { rfc5849BaseUri, verifyOAuthRequest } from './oauth1-verifier.js';

/** What the double does with the next requests. */
export type GatewayApiScenario =
  | 'ok' // 200 {ids, usage}
  | 'insufficient-credit' // 403 0x0216
  | 'unprocessable' // 422 without a code
  | 'server-error' // 500
  | 'hang' // never answers
  | 'malformed-json'; // 200 with a truncated JSON body

/** A message the double accepted. */
export interface ReceivedSms {
  readonly auth: 'token' | 'oauth';
  readonly sender: string;
  readonly text: string;
  readonly msisdns: readonly number[];
  readonly body: Readonly<Record<string, unknown>>;
}

/** Every request that reached the double, accepted or not. */
export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly authorization: string | undefined;
  status: number | undefined;
}

export interface GatewayApiDoubleOptions {
  token?: string;
  key?: string;
  secret?: string;
  /** Allowed clock difference for `oauth_timestamp` (GatewayAPI does not document its own). */
  maxSkewSeconds?: number;
}

const ALLOWED_FIELDS = new Set(['message', 'recipients', 'sender', 'class', 'userref', 'label', 'encoding']);
const SENDER_PATTERN = /^(?:[A-Za-z0-9]{1,11}|[0-9]{1,15})$/;
const MAX_BODY_BYTES = 1 << 20;

class Refusal {
  constructor(readonly status: number, readonly code: string | undefined, readonly message: string, readonly variables: string[] = []) {}
}

export class GatewayApiDouble {
  readonly token: string;
  readonly key: string;
  /** Holds characters that must be percent-encoded in the signing key. */
  readonly secret: string;
  readonly maxSkewSeconds: number;
  scenario: GatewayApiScenario = 'ok';
  /** How long the double waits before it answers each request (a slow provider). */
  delayMs = 0;
  readonly received: ReceivedSms[] = [];
  /** Every well-formed message, the ones a failure scenario then refused included. */
  readonly parsed: ReceivedSms[] = [];
  readonly requests: RecordedRequest[] = [];
  readonly #nonces = new Set<string>();
  readonly #server: Server;
  #nextId = 421332671;
  #port: number | undefined;

  constructor(options: GatewayApiDoubleOptions = {}) {
    const tag = randomBytes(6).toString('hex');
    this.token = options.token ?? `tok${tag}GwApiDouble`;
    this.key = options.key ?? `key${tag}`;
    this.secret = options.secret ?? `s3cr/et+${tag}&=ø`;
    this.maxSkewSeconds = options.maxSkewSeconds ?? 300;
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch(() => res.destroy());
    });
  }

  /** `http://127.0.0.1:<port>`, for the sender's `baseUrl`. */
  get baseUrl(): string {
    if (this.#port === undefined) throw new Error('GatewayApiDouble: start() first');
    return `http://127.0.0.1:${this.#port}`;
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(0, '127.0.0.1', () => resolve());
    });
    this.#port = (this.#server.address() as AddressInfo).port;
    return this;
  }

  /** Stops listening and cuts every open connection, hanging ones included. */
  async close(): Promise<void> {
    if (!this.#server.listening) return;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeAllConnections();
    await closed;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://placeholder');
    const record: RecordedRequest = { method: req.method ?? '', path: url.pathname, authorization: req.headers.authorization, status: undefined };
    this.requests.push(record);
    const raw = await readBody(req);
    if (this.scenario === 'hang') return; // the socket stays open until close()
    if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    const answer = (status: number, body: string): void => {
      record.status = status;
      res.writeHead(status, { 'content-type': 'application/json' }).end(body);
    };
    try {
      if (req.method !== 'POST' || url.pathname !== '/rest/mtsms') throw new Refusal(404, undefined, 'Not found');
      const auth = this.#authenticate(req, url);
      if (raw === undefined) throw new Refusal(413, undefined, 'Request body too large');
      const sms = parseSms(req.headers['content-type'], raw, auth);
      this.parsed.push(sms);
      if (this.scenario === 'insufficient-credit') throw new Refusal(403, '0x0216', 'Insufficient credit');
      if (this.scenario === 'unprocessable') throw new Refusal(422, undefined, 'Invalid json request body');
      if (this.scenario === 'server-error') throw new Refusal(500, undefined, 'Internal server error');
      if (this.scenario === 'malformed-json') return answer(200, '{"ids": [4213');
      this.received.push(sms);
      const ids = sms.msisdns.map(() => this.#nextId++);
      return answer(200, JSON.stringify({ ids, usage: { countries: { DK: ids.length }, currency: 'DKK', total_cost: 0.3 * ids.length } }));
    } catch (err) {
      if (!(err instanceof Refusal)) throw err;
      const body: Record<string, unknown> = { message: err.message, incident_uuid: randomUUID() };
      if (err.code !== undefined) body['code'] = err.code;
      if (err.variables.length > 0) body['variables'] = err.variables;
      return answer(err.status, JSON.stringify(body));
    }
  }

  #authenticate(req: IncomingMessage, url: URL): 'token' | 'oauth' {
    const header = req.headers.authorization ?? '';
    const token = /^Token (.+)$/.exec(header);
    if (token !== null) {
      if (token[1] !== this.token) throw new Refusal(401, '0x0229', 'Invalid token');
      return 'token';
    }
    if (!/^OAuth\s/i.test(header)) throw new Refusal(401, '0x0222', 'Missing required parameter %1', ['authorization']);
    const result = verifyOAuthRequest({
      method: req.method ?? '',
      baseUri: rfc5849BaseUri('http', req.headers.host ?? '', url.pathname),
      queryParams: [...url.searchParams],
      authorization: header,
      secretsByKey: new Map([[this.key, this.secret]]),
      nowSeconds: Math.floor(Date.now() / 1000),
      maxSkewSeconds: this.maxSkewSeconds,
      useNonce: (key, timestamp, nonce) => {
        const id = `${key}\n${timestamp}\n${nonce}`;
        if (this.#nonces.has(id)) return false;
        this.#nonces.add(id);
        return true;
      },
    });
    if (!result.ok) throw new Refusal(401, result.code, result.message);
    return 'oauth';
  }
}

async function readBody(req: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size <= MAX_BODY_BYTES) chunks.push(buffer);
  }
  return size > MAX_BODY_BYTES ? undefined : Buffer.concat(chunks).toString('utf8');
}

function parseSms(contentType: string | undefined, raw: string, auth: 'token' | 'oauth'): ReceivedSms {
  if (!/^application\/json\b/i.test(contentType ?? '')) throw new Refusal(422, undefined, 'Invalid json request body');
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new Refusal(422, undefined, 'Invalid json request body');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Refusal(422, undefined, 'Invalid json request body');
  const body = parsed as Record<string, unknown>;
  for (const field of Object.keys(body)) {
    if (!ALLOWED_FIELDS.has(field)) throw new Refusal(400, '0x0220', 'Unsupported parameter %1', [field]);
  }
  const { message, recipients, sender } = body;
  if (typeof message !== 'string' || message === '') throw new Refusal(400, '0x0222', 'Missing required parameter %1', ['message']);
  if (typeof sender !== 'string' || !SENDER_PATTERN.test(sender)) throw new Refusal(400, '0x0308', 'Invalid argument %1', ['sender']);
  if (body['class'] !== undefined && !['standard', 'premium', 'secret'].includes(String(body['class']))) {
    throw new Refusal(400, '0x0218', 'Unknown message class id %1', [String(body['class'])]);
  }
  if (body['encoding'] !== undefined && body['encoding'] !== 'UTF8' && body['encoding'] !== 'UCS2') {
    throw new Refusal(400, '0x0308', 'Invalid argument %1', ['encoding']);
  }
  for (const field of ['userref', 'label']) {
    if (body[field] !== undefined && typeof body[field] !== 'string') throw new Refusal(400, '0x0308', 'Invalid argument %1', [field]);
  }
  if (!Array.isArray(recipients) || recipients.length === 0) throw new Refusal(400, '0x0222', 'Missing required parameter %1', ['recipients']);
  const msisdns = recipients.map((recipient: unknown) => {
    const entry = typeof recipient === 'object' && recipient !== null ? (recipient as Record<string, unknown>) : {};
    const msisdn = entry['msisdn'];
    const keys = Object.keys(entry);
    if (keys.length !== 1 || typeof msisdn !== 'number' || !Number.isSafeInteger(msisdn) || msisdn <= 0 || String(msisdn).length > 15) {
      throw new Refusal(400, '0x0308', 'Invalid argument %1', ['recipients.msisdn']);
    }
    return msisdn;
  });
  const duplicate = msisdns.find((m, i) => msisdns.indexOf(m) !== i);
  if (duplicate !== undefined) throw new Refusal(400, '0x0310', 'A message contains the same recipient more than once. MSISDNs %1 is duplicated', [String(duplicate)]);
  return { auth, sender, text: message, msisdns, body };
}

/** A loopback URL on which nothing listens: bind a port, then let it go. */
export async function closedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}
