import { createHash } from 'node:crypto';
import { SmsOtpError } from '../errors.js';
import type { AttemptInput, AttemptResult, CodeIssued, CodeRef, IssueInput, OtpStore, ResendInput, ResendResult } from '../store.js';

/** What this store needs of a node-redis client (v5 or v6), or of a cluster client. */
export interface RedisScriptClient {
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
  evalSha(sha1: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
}

export interface RedisOtpStoreOptions {
  /**
   * Key prefix. Keys are `<prefix>:{<user id>}:<part>`: the braces are a Redis
   * Cluster hash tag, so all of a user's keys share one slot.
   * @default 'sms-otp'
   */
  prefix?: string;
  /**
   * Milliseconds one store call may take before it fails (closed) with
   * `STORE_UNAVAILABLE`. node-redis queues commands while disconnected; this
   * bound turns an outage into an error instead of a hung login.
   * @default 2000
   */
  commandTimeoutMs?: number;
}

// KEYS: hotp, challenge, code, cooldown. ARGV: challenge id, new sealed secret, pending ttl ms, code ttl ms, cooldown ms.
const ISSUE = `
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'sealed', ARGV[2], 'counter', 0)
end
local counter = redis.call('HINCRBY', KEYS[1], 'counter', 1)
local sealed = redis.call('HGET', KEYS[1], 'sealed')
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('HSET', KEYS[2], 'id', ARGV[1], 'attempts', 0, 'sends', 1)
redis.call('PEXPIRE', KEYS[2], ARGV[3])
redis.call('HSET', KEYS[3], 'challenge', ARGV[1], 'counter', counter)
redis.call('PEXPIRE', KEYS[3], ARGV[4])
if tonumber(ARGV[5]) > 0 then redis.call('SET', KEYS[4], ARGV[1], 'PX', ARGV[5]) else redis.call('DEL', KEYS[4]) end
return {counter, sealed}
`;

// KEYS: hotp, challenge, code, cooldown. ARGV: challenge id, code ttl ms, cooldown ms, max sends, max attempts.
const RESEND = `
if redis.call('HGET', KEYS[2], 'id') ~= ARGV[1] then return {'no_challenge'} end
local sealed = redis.call('HGET', KEYS[1], 'sealed')
if not sealed then
  redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
  return {'no_challenge'}
end
if tonumber(redis.call('HGET', KEYS[2], 'attempts')) >= tonumber(ARGV[5]) then return {'exhausted'} end
local wait = redis.call('PTTL', KEYS[4])
if wait > 0 then return {'cooldown', wait} end
if tonumber(redis.call('HGET', KEYS[2], 'sends')) >= tonumber(ARGV[4]) then return {'send_limit'} end
redis.call('HINCRBY', KEYS[2], 'sends', 1)
local counter = redis.call('HINCRBY', KEYS[1], 'counter', 1)
redis.call('DEL', KEYS[3])
redis.call('HSET', KEYS[3], 'challenge', ARGV[1], 'counter', counter)
redis.call('PEXPIRE', KEYS[3], ARGV[2])
if tonumber(ARGV[3]) > 0 then redis.call('SET', KEYS[4], ARGV[1], 'PX', ARGV[3]) end
return {'issued', counter, sealed}
`;

// KEYS: challenge, code, hotp. ARGV: challenge id, max attempts.
// The attempt is counted before anything is compared: a crash between the two
// must not give a free guess. An exhausted challenge is left as it is (not
// deleted) so that a right code already being compared can still be consumed.
const ATTEMPT = `
if redis.call('HGET', KEYS[1], 'id') ~= ARGV[1] then return {'no_challenge'} end
local attempts = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
if attempts > tonumber(ARGV[2]) then return {'exhausted'} end
local code = redis.call('HMGET', KEYS[2], 'challenge', 'counter')
if code[1] ~= ARGV[1] then return {'expired', attempts} end
local sealed = redis.call('HGET', KEYS[3], 'sealed')
if not sealed then return {'no_challenge'} end
return {'compare', attempts, code[2], sealed}
`;

// KEYS: challenge, code. ARGV: challenge id, counter. DEL makes exactly one caller win.
const CONSUME = `
local code = redis.call('HMGET', KEYS[2], 'challenge', 'counter')
if code[1] ~= ARGV[1] or code[2] ~= ARGV[2] then return 0 end
if redis.call('HGET', KEYS[1], 'id') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
return 1
`;

// KEYS: challenge, code, cooldown. ARGV: challenge id, counter.
const CANCEL_SEND = `
local code = redis.call('HMGET', KEYS[2], 'challenge', 'counter')
if code[1] ~= ARGV[1] or code[2] ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[2], KEYS[3])
if redis.call('HGET', KEYS[1], 'id') == ARGV[1] and tonumber(redis.call('HGET', KEYS[1], 'sends')) > 0 then
  redis.call('HINCRBY', KEYS[1], 'sends', -1)
end
return 1
`;

// KEYS: hotp, challenge, code, cooldown. The secret and its counter share one key, so they die together.
const DELETE_USER = `return redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])`;

const PING = `return 1`;

interface Script { source: string; sha1: string }
const script = (source: string): Script => ({ source, sha1: createHash('sha1').update(source).digest('hex') });
const SCRIPTS = {
  issue: script(ISSUE),
  resend: script(RESEND),
  attempt: script(ATTEMPT),
  consume: script(CONSUME),
  cancelSend: script(CANCEL_SEND),
  deleteUser: script(DELETE_USER),
  ping: script(PING),
} as const;

/**
 * An {@link OtpStore} on Redis through a connected node-redis client (v5 or v6,
 * a single client or a cluster). Each method is one Lua script (`EVALSHA`, with
 * `EVAL` once per script and node when Redis does not know it yet) over keys
 * that share the user's hash tag. Any Redis failure or timeout is thrown as
 * `STORE_UNAVAILABLE`: the login fails closed, and the next call after Redis
 * returns works again.
 */
export class RedisOtpStore implements OtpStore {
  private readonly client: RedisScriptClient;
  private readonly prefix: string;
  private readonly timeoutMs: number;

  constructor(client: RedisScriptClient, options: RedisOtpStoreOptions = {}) {
    if (client === null || typeof client !== 'object' || typeof client.evalSha !== 'function' || typeof client.eval !== 'function') {
      throw new SmsOtpError('INVALID_OPTIONS', 'RedisOtpStore needs a node-redis client (createClient() or createCluster(), v5 or v6)');
    }
    const prefix = options.prefix ?? 'sms-otp';
    if (typeof prefix !== 'string' || !/^[A-Za-z0-9:_.-]{1,64}$/.test(prefix)) {
      throw new SmsOtpError('INVALID_OPTIONS', 'RedisOtpStore: prefix must be 1-64 letters, digits or ":_.-" (no braces: they would break the hash tag)');
    }
    const timeoutMs = options.commandTimeoutMs ?? 2000;
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1) throw new SmsOtpError('INVALID_OPTIONS', 'RedisOtpStore: commandTimeoutMs must be a positive whole number');
    this.client = client;
    this.prefix = prefix;
    this.timeoutMs = timeoutMs;
  }

  /** The keys of one user, in the order the scripts expect. Braces in ids are escaped so the hash tag stays intact. */
  keysOf(userId: string): { hotp: string; challenge: string; code: string; cooldown: string } {
    let tag: string;
    try {
      tag = encodeURIComponent(userId);
    } catch {
      throw new SmsOtpError('INVALID_OPTIONS', 'RedisOtpStore: a user id must be a well-formed string');
    }
    const base = `${this.prefix}:{${tag}}:`;
    return { hotp: `${base}hotp`, challenge: `${base}challenge`, code: `${base}code`, cooldown: `${base}cooldown` };
  }

  async issue(input: IssueInput): Promise<CodeIssued> {
    const k = this.keysOf(input.userId);
    const reply = await this.run(SCRIPTS.issue, [k.hotp, k.challenge, k.code, k.cooldown], [
      input.challengeId, input.newSealedSecret, String(input.pendingTtlMs), String(input.codeTtlMs), String(input.cooldownMs),
    ]);
    const [counter, sealedSecret] = list(reply);
    return { counter: int(counter), sealedSecret: str(sealedSecret) };
  }

  async resend(input: ResendInput): Promise<ResendResult> {
    const k = this.keysOf(input.userId);
    const [status, a, b] = list(await this.run(SCRIPTS.resend, [k.hotp, k.challenge, k.code, k.cooldown], [
      input.challengeId, String(input.codeTtlMs), String(input.cooldownMs), String(input.maxSends), String(input.maxAttempts),
    ]));
    switch (str(status)) {
      case 'issued': return { status: 'issued', counter: int(a), sealedSecret: str(b) };
      case 'cooldown': return { status: 'cooldown', retryAfterMs: int(a) };
      case 'exhausted': return { status: 'exhausted' };
      case 'send_limit': return { status: 'send_limit' };
      case 'no_challenge': return { status: 'no_challenge' };
      default: throw unexpected(status);
    }
  }

  async attempt(input: AttemptInput): Promise<AttemptResult> {
    const k = this.keysOf(input.userId);
    const [status, a, b, c] = list(await this.run(SCRIPTS.attempt, [k.challenge, k.code, k.hotp], [input.challengeId, String(input.maxAttempts)]));
    switch (str(status)) {
      case 'compare': return { status: 'compare', attempts: int(a), counter: int(b), sealedSecret: str(c) };
      case 'expired': return { status: 'expired', attempts: int(a) };
      case 'exhausted': return { status: 'exhausted' };
      case 'no_challenge': return { status: 'no_challenge' };
      default: throw unexpected(status);
    }
  }

  async consume(input: CodeRef): Promise<boolean> {
    const k = this.keysOf(input.userId);
    return int(await this.run(SCRIPTS.consume, [k.challenge, k.code], [input.challengeId, String(input.counter)])) === 1;
  }

  async cancelSend(input: CodeRef): Promise<void> {
    const k = this.keysOf(input.userId);
    await this.run(SCRIPTS.cancelSend, [k.challenge, k.code, k.cooldown], [input.challengeId, String(input.counter)]);
  }

  async deleteUser(userId: string): Promise<void> {
    const k = this.keysOf(userId);
    await this.run(SCRIPTS.deleteUser, [k.hotp, k.challenge, k.code, k.cooldown], []);
  }

  async ping(): Promise<void> {
    await this.run(SCRIPTS.ping, [this.keysOf('ping').hotp], []);
  }

  /** One script call: one round trip normally, two the first time a node sees the script. */
  private async run(s: Script, keys: string[], args: string[]): Promise<unknown> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new SmsOtpError('STORE_UNAVAILABLE', `The one-time-code store did not answer within ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    const call = (async () => {
      const options = { keys, arguments: args };
      try {
        return await this.client.evalSha(s.sha1, options);
      } catch (err) {
        if (err instanceof Error && err.message.startsWith('NOSCRIPT')) return await this.client.eval(s.source, options);
        throw err;
      }
    })();
    try {
      return await Promise.race([call, timeout]);
    } catch (cause) {
      if (cause instanceof SmsOtpError) throw cause;
      throw new SmsOtpError('STORE_UNAVAILABLE', undefined, { cause });
    } finally {
      clearTimeout(timer);
      call.catch(() => undefined);
    }
  }
}

function list(reply: unknown): unknown[] {
  if (!Array.isArray(reply)) throw unexpected(reply);
  return reply;
}

function str(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  throw unexpected(value);
}

function int(value: unknown): number {
  const n = typeof value === 'number' ? value : Number(str(value));
  if (!Number.isSafeInteger(n)) throw unexpected(value);
  return n;
}

function unexpected(value: unknown): SmsOtpError {
  return new SmsOtpError('STORE_UNAVAILABLE', `The one-time-code store gave an unexpected reply (${typeof value})`);
}
