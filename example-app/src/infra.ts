import { RedisStore } from 'connect-redis';
import session from 'express-session';
import { createClient } from 'redis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { GatewayApiSender, MemoryOtpStore, OutboxSender, RedisOtpStore, type OtpStore, type SmsSender } from 'passport-sms-otp';
import type { AppConfig } from './config.js';

export type RedisClient = ReturnType<typeof createClient>;

/** The stores and the sender the config asks for: Redis or memory, GatewayAPI or the dev outbox. */
export interface Infrastructure {
  redis: RedisClient | undefined;
  sessionStore: session.Store;
  otpStore: OtpStore;
  sender: SmsSender;
  outbox: OutboxSender | undefined;
  storeKind: 'redis' | 'memory';
  senderKind: 'gatewayapi (token)' | 'gatewayapi (oauth 1.0a)' | 'dev outbox';
  close(): Promise<void>;
}

/** Connects to Redis, failing with a clear message instead of hanging when it does not answer. */
async function connectRedis(url: string, timeoutMs = 5000): Promise<RedisClient> {
  // No offline queue: while Redis is away every command fails at once (503) instead of hanging a login.
  const client = createClient({ url, disableOfflineQueue: true, socket: { connectTimeout: 2000, reconnectStrategy: (retries) => Math.min(100 * 2 ** retries, 2000) } });
  let lastError = '';
  client.on('error', (err: unknown) => {
    const text = err instanceof Error ? err.message : String(err);
    if (text !== lastError) console.error(`redis: ${text}`);
    lastError = text;
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      client.connect(),
      new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`Redis (REDIS_URL) did not answer within ${timeoutMs / 1000} s`)), timeoutMs); }),
    ]);
  } catch (err) {
    client.destroy();
    throw err;
  } finally {
    clearTimeout(timer);
  }
  return client;
}

export async function createInfrastructure(config: AppConfig): Promise<Infrastructure> {
  const redis = config.redisUrl === undefined ? undefined : await connectRedis(config.redisUrl);
  const memoryStore = redis === undefined ? new MemoryOtpStore() : undefined;
  const otpStore: OtpStore = redis !== undefined ? new RedisOtpStore(redis) : (memoryStore as MemoryOtpStore);
  const sessionStore: session.Store = redis !== undefined ? new RedisStore({ client: redis, prefix: 'example-app:sess:' }) : new session.MemoryStore();

  let sender: SmsSender;
  let outbox: OutboxSender | undefined;
  let senderKind: Infrastructure['senderKind'];
  const message = { webOtpHost: config.webOtpHost };
  if (config.gatewayApi !== undefined) {
    sender = new GatewayApiSender({ ...config.gatewayApi, sender: config.smsSender, ...message });
    senderKind = 'token' in config.gatewayApi ? 'gatewayapi (token)' : 'gatewayapi (oauth 1.0a)';
  } else {
    outbox = new OutboxSender(message);
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
      if (redis?.isOpen) await redis.close().catch(() => redis.destroy());
    },
  };
}

/**
 * A per-IP limit of `perMinute` requests on a route (Redis-backed when Redis is
 * used, so all instances share it). Over it: 429 with `Retry-After`. If the
 * limiter's store fails, the request is refused (503): login routes fail closed.
 */
export function perIpLimit(redis: RedisClient | undefined, perMinute: number, name: string): RequestHandler {
  if (perMinute === 0) return (_req, _res, next) => next();
  const options = { keyPrefix: `example-app:rl:${name}`, points: perMinute, duration: 60 };
  const limiter: RateLimiterAbstract = redis !== undefined
    ? new RateLimiterRedis({ ...options, storeClient: redis, useRedisPackage: true })
    : new RateLimiterMemory(options);
  return (req: Request, res: Response, next: NextFunction) => {
    limiter.consume(req.ip ?? 'unknown').then(
      () => next(),
      (rejection: unknown) => {
        if (rejection instanceof RateLimiterRes) {
          const retryAfter = Math.max(1, Math.ceil(rejection.msBeforeNext / 1000));
          res.setHeader('Retry-After', String(retryAfter));
          res.status(429).json({ error: 'rate_limited', message: 'Too many requests from this address; try again later.', retryAfterSeconds: retryAfter });
          return;
        }
        res.status(503).json({ error: 'service_unavailable', message: 'The rate limiter is unavailable.' });
      },
    );
  };
}
