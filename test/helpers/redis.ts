import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { createClient } from 'redis';
import { freePort, stopChild } from './process.js';

const RUN_KEY = Symbol.for('passport-sms-otp: test run');

/** The Redis the suite runs against; `npm test` makes sure it answers. */
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

export type TestRedisClient = ReturnType<typeof createClient>;

/** A connected node-redis 5 client on REDIS_URL. */
export async function connectRedis(url: string = REDIS_URL): Promise<TestRedisClient> {
  const client = createClient({ url });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/**
 * This run of the suite: every key it writes under a test prefix starts `test-<RUN>-`, for the
 * clean-up at its end (test/root-hooks.test.ts). Kept on globalThis: mocha may load this module
 * twice in one run (required by one spec, imported by another), and both must agree.
 */
const runSlot = globalThis as typeof globalThis & { [RUN_KEY]?: string };
export const RUN: string = (runSlot[RUN_KEY] ??= `${process.pid}x${randomBytes(6).toString('hex')}`);

/** A unique prefix per test, so tests never see each other's keys. */
export function uniquePrefix(name: string): string {
  return `test-${RUN}-${name}-${Math.random().toString(36).slice(2, 10)}`;
}

/** Deletes every key written under these prefixes. */
export async function dropPrefixes(client: TestRedisClient, prefixes: readonly string[]): Promise<void> {
  for (const prefix of prefixes) {
    for await (const keys of client.scanIterator({ MATCH: `${prefix}:*`, COUNT: 1000 })) {
      if (keys.length > 0) await client.del(keys);
    }
  }
}

/**
 * One Redis client for a describe block (connected in `before`, closed in `after`) and fresh key
 * prefixes for its stores; every key written under them is deleted in `after`.
 */
export function redisForSuite(name: string): { readonly client: TestRedisClient; prefix(): string } {
  let client: TestRedisClient | undefined;
  const prefixes: string[] = [];
  before(async () => { client = await connectRedis(); });
  after(async () => {
    if (client === undefined) return;
    await dropPrefixes(client, prefixes);
    await client.quit();
  });
  return {
    get client(): TestRedisClient {
      if (client === undefined) throw new Error('redisForSuite: the client connects in before()');
      return client;
    },
    prefix(): string {
      const prefix = uniquePrefix(name);
      prefixes.push(prefix);
      return prefix;
    },
  };
}

export { freePort } from './process.js';

function pings(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.createConnection({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => { socket.destroy(); resolve(ok); };
    socket.setTimeout(500, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (data) => done(data.toString('latin1').startsWith('+PONG')));
  });
}

/** A redis-server of the test's own on a free loopback port, which the test may stop and start again. */
export class ThrowawayRedis {
  private process: ChildProcess | undefined;
  private constructor(readonly port: number) {}

  static async start(): Promise<ThrowawayRedis> {
    const redis = new ThrowawayRedis(await freePort());
    await redis.start();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.process = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    for (let i = 0; i < 200; i++) {
      if (await pings(this.port)) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`redis-server did not start on port ${this.port}`);
  }

  /** Pauses the server (SIGSTOP): its connections stay open, nothing answers. */
  pause(): void { this.process?.kill('SIGSTOP'); }
  resume(): void { this.process?.kill('SIGCONT'); }

  async stop(): Promise<void> {
    const child = this.process;
    this.process = undefined;
    child?.kill('SIGCONT');
    await stopChild(child, 'SIGKILL');
  }
}
