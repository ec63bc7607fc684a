import { RedisStore } from 'connect-redis';
import session from 'express-session';
import { createClient, createCluster } from 'redis';
import ipaddr from 'ipaddr.js';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { GatewayApiSender, MemoryOtpStore, OutboxSender, RedisOtpStore, type OtpStore, type SmsSender } from 'passport-sms-otp';
import type { AppConfig } from './config.js';
import { MemorySessionStore } from './memory-sessions.js';
import { fewerLoginWrites, sessionTtlSeconds } from './sessions.js';

export type RedisClient = ReturnType<typeof createClient>;
export type RedisClusterClient = ReturnType<typeof createCluster>;

/**
 * The app's Redis: one node (REDIS_URL) or a Redis Cluster (REDIS_CLUSTER_NODES). Sessions
 * (connect-redis), codes (RedisOtpStore) and the per-IP limiter (rate-limiter-flexible) all take
 * either node-redis client as it is: each of their commands and scripts names keys of one slot.
 */
export interface RedisConnection {
  readonly topology: 'single' | 'cluster';
  readonly client: RedisClient | RedisClusterClient;
  /** True while commands can be sent: the client (or, on a cluster, every primary's client) is connected. */
  readonly isReady: boolean;
  /** Resolves when Redis (every primary of a cluster) answers PING. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** The stores and the sender the config asks for: Redis or memory, GatewayAPI or the dev outbox. */
export interface Infrastructure {
  redis: RedisConnection | undefined;
  sessionStore: session.Store;
  otpStore: OtpStore;
  sender: SmsSender;
  outbox: OutboxSender | undefined;
  storeKind: 'redis' | 'memory';
  senderKind: 'gatewayapi (token)' | 'gatewayapi (oauth 1.0a)' | 'dev outbox';
  close(): Promise<void>;
}

// No offline queue: while Redis is away every command fails at once (503) instead of hanging a login.
// Reconnect attempts at most 1 s apart, so logins work again within about a second of Redis's return.
const CLIENT_DEFAULTS = {
  disableOfflineQueue: true,
  socket: { connectTimeout: 2000, reconnectStrategy: (retries: number) => Math.min(100 * 2 ** retries, 1000) },
};

/** How long a Redis error, once logged, is not logged again (a reconnect loop repeats a few errors, often in turn). */
const REPEATED_ERROR_QUIET_MS = 60_000;

/** Logs each Redis error once a minute at most; returns the newest one's message ('' before any). */
function logErrors(emitter: { on(event: string, listener: (err: unknown) => void): unknown }, events: string[]): () => string {
  let lastError = '';
  const loggedAt = new Map<string, number>();
  const log = (err: unknown): void => {
    const text = err instanceof Error ? err.message : String(err);
    lastError = text;
    const now = performance.now();
    const last = loggedAt.get(text);
    if (last !== undefined && now - last < REPEATED_ERROR_QUIET_MS) return;
    // Bounded: a reconnect loop has a handful of distinct messages; forget the oldest beyond 100.
    if (loggedAt.size >= 100) loggedAt.delete(loggedAt.keys().next().value as string);
    loggedAt.delete(text);
    loggedAt.set(text, now);
    console.error(`redis: ${text}`);
  };
  for (const event of events) emitter.on(event, log);
  return () => lastError;
}

/**
 * Runs `connect`, failing with a clear message instead of hanging when Redis does not answer:
 * with Redis's own last error in it (a wrong password, a database that does not exist).
 */
async function connectWithin(connect: () => Promise<unknown>, destroy: () => void, what: string, timeoutMs: number, lastError: () => string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = (): Error => {
    const cause = lastError();
    return new Error(`${what} did not answer within ${timeoutMs / 1000} s${cause === '' ? '' : ` (last error: ${cause})`}`);
  };
  try {
    await Promise.race([
      connect(),
      new Promise((_, reject) => { timer = setTimeout(() => reject(timedOut()), timeoutMs); }),
    ]);
  } catch (err) {
    destroy();
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

async function connectRedis(url: string, timeoutMs = 5000): Promise<RedisConnection> {
  const client = createClient({ url, ...CLIENT_DEFAULTS });
  const lastError = logErrors(client, ['error']);
  await connectWithin(() => client.connect(), () => client.destroy(), 'Redis (REDIS_URL)', timeoutMs, lastError);
  return {
    topology: 'single',
    client,
    get isReady() { return client.isReady; },
    async ping() { await client.ping(); },
    async close() { if (client.isOpen) await client.close().catch(() => client.destroy()); },
  };
}

async function connectCluster(rootNodes: string[], timeoutMs = 5000): Promise<RedisConnection> {
  const cluster = createCluster({ rootNodes: rootNodes.map((url) => ({ url })), defaults: CLIENT_DEFAULTS });
  // 'error' is the cluster's own (topology discovery); 'node-error' is one node's connection.
  const lastError = logErrors(cluster, ['error', 'node-error']);
  await connectWithin(() => cluster.connect(), () => cluster.destroy(), 'Redis Cluster (REDIS_CLUSTER_NODES)', timeoutMs, lastError);
  return {
    topology: 'cluster',
    client: cluster,
    get isReady() { return cluster.isOpen && cluster.masters.every((master) => master.client?.isReady === true); },
    async ping() { await Promise.all(cluster.masters.map(async (master) => (await cluster.nodeClient(master)).ping())); },
    async close() { if (cluster.isOpen) await cluster.close().catch(() => cluster.destroy()); },
  };
}

/** The senders' option names as the app's environment calls them. */
const SENDER_VARS: Readonly<Record<string, string>> = { baseUrl: 'GATEWAYAPI_BASE_URL', sender: 'SMS_SENDER', token: 'GATEWAYAPI_TOKEN', key: 'GATEWAYAPI_KEY', secret: 'GATEWAYAPI_SECRET', webOtpHost: 'WEBOTP_HOST' };

/** Builds a sender; a setting it refuses is named by its environment variable. */
function buildSender<S>(build: () => S): S {
  try {
    return build();
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const [, prefix = '', option] = /^((?:GatewayApiSender|OutboxSender): )?(\w+)/.exec(message) ?? [];
    const variable = option === undefined ? undefined : SENDER_VARS[option];
    throw variable === undefined ? err : new Error(`${variable}: ${message.slice(prefix.length)}`, { cause: err });
  }
}

export async function createInfrastructure(config: AppConfig): Promise<Infrastructure> {
  const redis = config.redisUrl !== undefined ? await connectRedis(config.redisUrl)
    : config.redisClusterNodes !== undefined ? await connectCluster(config.redisClusterNodes)
    : undefined;
  const memoryStore = redis === undefined ? new MemoryOtpStore() : undefined;
  const otpStore: OtpStore = redis !== undefined ? new RedisOtpStore(redis.client) : (memoryStore as MemoryOtpStore);
  // connect-redis 9 takes a cluster client too: a session is one key (GET, SET EX, EXPIRE, DEL).
  // A login costs one session write and no wait for the old session's DEL, and a request that
  // changes nothing within 60 s of the last write or touch sends no EXPIRE (see sessions.ts).
  const memorySessions = redis === undefined ? new MemorySessionStore() : undefined;
  const sessionStore: session.Store = fewerLoginWrites(redis !== undefined ? new RedisStore({ client: redis.client, prefix: 'example-app:sess:', ttl: (data) => sessionTtlSeconds(data) }) : (memorySessions as MemorySessionStore));

  let sender: SmsSender;
  let outbox: OutboxSender | undefined;
  let senderKind: Infrastructure['senderKind'];
  const message = { webOtpHost: config.webOtpHost };
  if (config.gatewayApi !== undefined) {
    const gatewayApi = config.gatewayApi;
    sender = buildSender(() => new GatewayApiSender({ ...gatewayApi, sender: config.smsSender, ...message }));
    senderKind = 'token' in config.gatewayApi ? 'gatewayapi (token)' : 'gatewayapi (oauth 1.0a)';
  } else {
    // The benchmark reads the codes of thousands of logins from the outbox in one go.
    outbox = buildSender(() => new OutboxSender({ ...message, ...(config.bench.users > 0 ? { maxMessages: 100_000 } : {}) }));
    sender = outbox;
    senderKind = 'dev outbox';
  }

  return {
    redis,
    sessionStore,
    otpStore,
    sender,
    outbox,
    storeKind: redis !== undefined ? 'redis' : 'memory',
    senderKind,
    async close() {
      memoryStore?.close();
      memorySessions?.close();
      await redis?.close();
    },
  };
}

/** What the per-IP limit answers with: the status, and the JSON body an API client gets. */
export interface LimitRefusal {
  status: 429 | 503;
  body: { error: 'rate_limited'; message: string; retryAfterSeconds: number } | { error: 'service_unavailable'; message: string };
}

/** Sends a {@link LimitRefusal}; `Retry-After` is set already. The app's gives browsers a page. */
export type LimitResponder = (req: Request, res: Response, refusal: LimitRefusal) => void;

const answerJson: LimitResponder = (_req, res, { status, body }) => { res.status(status).json(body); };

/**
 * Whom the per-IP limit counts: an IPv4 address (an IPv4-mapped IPv6 one too), or an IPv6 address's
 * /64 network. One client usually holds a whole /64 (a home line, a cloud host), so counting each
 * IPv6 address alone would give it billions of budgets.
 */
export function clientKey(ip: string | undefined): string {
  if (ip === undefined || !ipaddr.isValid(ip)) return 'unknown';
  const address = ipaddr.process(ip);
  if (address.kind() === 'ipv4') return address.toString();
  return `${(address as ipaddr.IPv6).toNormalizedString().split(':').slice(0, 4).join(':')}::/64`;
}

/** How long the per-IP limit waits for its store, as the session store does (see `fewerLoginWrites`). */
export const LIMIT_TIMEOUT_MS = 2000;

/**
 * A per-IP limit of `perMinute` requests on a route (Redis-backed when Redis is
 * used, so all instances share it). Over it: 429 with `Retry-After`. If the
 * limiter's store fails, or gives no answer within `timeoutMs` (a Redis that
 * hangs leaves node-redis connected, and its commands wait for ever), the
 * request is refused (503) and the log says why: login routes fail closed.
 * `respond` sends the refusal (default: its JSON body to everyone).
 */
export function perIpLimit(redis: RedisConnection | undefined, perMinute: number, name: string, respond: LimitResponder = answerJson, timeoutMs = LIMIT_TIMEOUT_MS): RequestHandler[] {
  // Turned off: no middleware at all (a route takes the list as it takes one handler).
  if (perMinute === 0) return [];
  const options = { keyPrefix: `example-app:rl:${name}`, points: perMinute, duration: 60 };
  // With useRedisPackage, consume() is one EVAL on one key: it runs on a cluster client as well.
  const limiter: RateLimiterAbstract = redis !== undefined
    ? new RateLimiterRedis({ ...options, storeClient: redis.client, useRedisPackage: true })
    : new RateLimiterMemory(options);
  return [(req: Request, res: Response, next: NextFunction) => {
    let settled = false;
    const unavailable = (why: string) => {
      console.error(`error: ${req.method} ${req.path} -> 503 the per-IP limit (${name}) is unavailable: ${why}`);
      respond(req, res, { status: 503, body: { error: 'service_unavailable', message: 'The rate limiter is unavailable.' } });
    };
    // A late answer changes nothing: the request was refused (its point may still be counted).
    const timer = setTimeout(() => {
      settled = true;
      unavailable(`no answer within ${timeoutMs} ms`);
    }, timeoutMs);
    limiter.consume(clientKey(req.ip)).then(
      () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        next();
      },
      (rejection: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (rejection instanceof RateLimiterRes) {
          const retryAfter = Math.max(1, Math.ceil(rejection.msBeforeNext / 1000));
          res.setHeader('Retry-After', String(retryAfter));
          respond(req, res, { status: 429, body: { error: 'rate_limited', message: 'Too many requests from this address; try again later.', retryAfterSeconds: retryAfter } });
          return;
        }
        unavailable(rejection instanceof Error ? `${rejection.name}: ${rejection.message}` : String(rejection));
      },
    );
  }];
}
