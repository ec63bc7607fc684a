import { createHash } from 'node:crypto';
import { SmsOtpError } from '../errors.js';
import type { AttemptInput, AttemptResult, BudgetResult, CodeRef, IssueInput, IssueResult, OtpStore, PhoneSendInput, ResendInput, ResendResult } from '../store.js';

/** The Redis keys of one user; all share the hash tag `{<user id>}`. */
export interface UserKeys {
  hotp: string;
  challenge: string;
  code: string;
  cooldown: string;
  failures: string;
  sent: string;
}

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

// Shared Lua: the store's clock, the user lock and the rolling send budget.
const PRELUDE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function locked_for(failures_key, lock_after)
  local f = redis.call('HMGET', failures_key, 'count', 'until')
  local until_ms = tonumber(f[2] or '0')
  if tonumber(f[1] or '0') >= lock_after and until_ms > now then return until_ms - now end
  return 0
end
local function budget_wait(key, max, window_ms)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window_ms)
  if redis.call('ZCARD', key) < max then return 0 end
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  return math.max(1, tonumber(oldest[2]) + window_ms - now)
end
local function spend(key, send_id, window_ms)
  redis.call('ZADD', key, now, send_id)
  redis.call('PEXPIRE', key, window_ms)
end
`;

// KEYS: hotp, challenge, code, cooldown, failures, sent.
// ARGV: challenge id, send id, new sealed secret, pending ttl ms, code ttl ms, cooldown ms, lock after, budget max, budget window ms.
const ISSUE = `${PRELUDE}
local lock = locked_for(KEYS[5], tonumber(ARGV[7]))
if lock > 0 then return {'locked', lock} end
local wait = budget_wait(KEYS[6], tonumber(ARGV[8]), tonumber(ARGV[9]))
if wait > 0 then return {'over_budget', wait} end
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'sealed', ARGV[3], 'counter', 0)
end
local counter = redis.call('HINCRBY', KEYS[1], 'counter', 1)
local sealed = redis.call('HGET', KEYS[1], 'sealed')
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('HSET', KEYS[2], 'id', ARGV[1], 'attempts', 0, 'sends', 1)
redis.call('PEXPIRE', KEYS[2], ARGV[4])
redis.call('HSET', KEYS[3], 'challenge', ARGV[1], 'counter', counter)
redis.call('PEXPIRE', KEYS[3], ARGV[5])
if tonumber(ARGV[6]) > 0 then redis.call('SET', KEYS[4], ARGV[1], 'PX', ARGV[6]) else redis.call('DEL', KEYS[4]) end
spend(KEYS[6], ARGV[2], tonumber(ARGV[9]))
return {'issued', counter, sealed}
`;

// KEYS: hotp, challenge, code, cooldown, failures, sent.
// ARGV: challenge id, send id, code ttl ms, cooldown ms, max sends, max attempts, lock after, budget max, budget window ms.
const RESEND = `${PRELUDE}
if redis.call('HGET', KEYS[2], 'id') ~= ARGV[1] then return {'no_challenge'} end
local sealed = redis.call('HGET', KEYS[1], 'sealed')
if not sealed then
  redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
  return {'no_challenge'}
end
if tonumber(redis.call('HGET', KEYS[2], 'attempts')) >= tonumber(ARGV[6]) then return {'exhausted'} end
local lock = locked_for(KEYS[5], tonumber(ARGV[7]))
if lock > 0 then return {'locked', lock} end
local cooldown = redis.call('PTTL', KEYS[4])
if cooldown > 0 then return {'cooldown', cooldown} end
if tonumber(redis.call('HGET', KEYS[2], 'sends')) >= tonumber(ARGV[5]) then return {'send_limit'} end
local wait = budget_wait(KEYS[6], tonumber(ARGV[8]), tonumber(ARGV[9]))
if wait > 0 then return {'over_budget', wait} end
redis.call('HINCRBY', KEYS[2], 'sends', 1)
local counter = redis.call('HINCRBY', KEYS[1], 'counter', 1)
redis.call('DEL', KEYS[3])
redis.call('HSET', KEYS[3], 'challenge', ARGV[1], 'counter', counter)
redis.call('PEXPIRE', KEYS[3], ARGV[3])
if tonumber(ARGV[4]) > 0 then redis.call('SET', KEYS[4], ARGV[1], 'PX', ARGV[4]) end
spend(KEYS[6], ARGV[2], tonumber(ARGV[9]))
return {'issued', counter, sealed}
`;

// KEYS: challenge, code, hotp, failures.
// ARGV: challenge id, max attempts, backoff after, lock after, lock ms, base delay ms, failure memory ms.
// The attempt is counted, on the challenge and as a user failure, before anything is compared: a crash
// between the two must not give a free guess, and a wrong code then costs this one round trip. A right
// code's consume clears the failure. An exhausted challenge is left as it is (not deleted) so that a
// right code already being compared can still be consumed.
const ATTEMPT = `${PRELUDE}
if redis.call('HGET', KEYS[1], 'id') ~= ARGV[1] then return {'no_challenge'} end
local f = redis.call('HMGET', KEYS[4], 'count', 'until')
local until_ms = tonumber(f[2] or '0')
if until_ms > now then return {'locked', until_ms - now} end
local attempts = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
if attempts > tonumber(ARGV[2]) then return {'exhausted'} end
local failures = tonumber(f[1] or '0') + 1
local backoff_after, lock_after, lock_ms = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local delay = 0
if failures >= lock_after then delay = lock_ms
elseif failures >= backoff_after then delay = math.min(lock_ms, tonumber(ARGV[6]) * 2 ^ (failures - backoff_after)) end
redis.call('HSET', KEYS[4], 'count', failures, 'until', delay > 0 and (now + delay) or 0)
redis.call('PEXPIRE', KEYS[4], delay + tonumber(ARGV[7]))
local code = redis.call('HMGET', KEYS[2], 'challenge', 'counter')
if code[1] ~= ARGV[1] then return {'expired', attempts, failures} end
local sealed = redis.call('HGET', KEYS[3], 'sealed')
if not sealed then return {'no_challenge'} end
return {'compare', attempts, code[2], sealed, failures}
`;

// KEYS: challenge, code, failures. ARGV: challenge id, counter. DEL makes exactly one caller win.
const CONSUME = `
local code = redis.call('HMGET', KEYS[2], 'challenge', 'counter')
if code[1] ~= ARGV[1] or code[2] ~= ARGV[2] then return 0 end
if redis.call('HGET', KEYS[1], 'id') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
return 1
`;

// KEYS: challenge, code, cooldown, sent. ARGV: challenge id, counter, send id.
const CANCEL_SEND = `
local code = redis.call('HMGET', KEYS[2], 'challenge', 'counter')
if code[1] ~= ARGV[1] or code[2] ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('ZREM', KEYS[4], ARGV[3])
if redis.call('HGET', KEYS[1], 'id') == ARGV[1] and tonumber(redis.call('HGET', KEYS[1], 'sends')) > 0 then
  redis.call('HINCRBY', KEYS[1], 'sends', -1)
end
return 1
`;

// KEYS: the phone number's sends. ARGV: send id, budget max, budget window ms.
const RESERVE_PHONE_SEND = `${PRELUDE}
local wait = budget_wait(KEYS[1], tonumber(ARGV[2]), tonumber(ARGV[3]))
if wait > 0 then return wait end
spend(KEYS[1], ARGV[1], tonumber(ARGV[3]))
return 0
`;

// KEYS: the phone number's sends. ARGV: send id.
const RELEASE_PHONE_SEND = `return redis.call('ZREM', KEYS[1], ARGV[1])`;

// KEYS: hotp. ARGV: expected sealed secret, replacement. Compare-and-set, so a concurrent change wins.
const RESEAL = `
if redis.call('HGET', KEYS[1], 'sealed') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'sealed', ARGV[2])
return 1
`;

// KEYS: all of a user's keys. The secret and its counter share one key, so they die together.
const DELETE_USER = `return redis.call('DEL', unpack(KEYS))`;

const PING = `return 1`;

interface Script { source: string; sha1: string }
const script = (source: string): Script => ({ source, sha1: createHash('sha1').update(source).digest('hex') });
const SCRIPTS = {
  issue: script(ISSUE),
  resend: script(RESEND),
  attempt: script(ATTEMPT),
  consume: script(CONSUME),
  cancelSend: script(CANCEL_SEND),
  reservePhoneSend: script(RESERVE_PHONE_SEND),
  releasePhoneSend: script(RELEASE_PHONE_SEND),
  reseal: script(RESEAL),
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

  /** The keys of one user. Braces in ids are escaped so the hash tag stays intact. */
  keysOf(userId: string): UserKeys {
    let tag: string;
    try {
      tag = encodeURIComponent(userId);
    } catch {
      throw new SmsOtpError('INVALID_OPTIONS', 'RedisOtpStore: a user id must be a well-formed string');
    }
    const base = `${this.prefix}:{${tag}}:`;
    return { hotp: `${base}hotp`, challenge: `${base}challenge`, code: `${base}code`, cooldown: `${base}cooldown`, failures: `${base}failures`, sent: `${base}sent` };
  }

  /** The key of a phone number's sends, under its own hash tag. `phoneKey` is already a keyed hash. */
  phoneKeyOf(phoneKey: string): string {
    if (!/^[A-Za-z0-9_-]{1,128}$/.test(phoneKey)) throw new SmsOtpError('INVALID_OPTIONS', 'RedisOtpStore: a phone key must be 1-128 letters, digits, "_" or "-"');
    return `${this.prefix}:{phone:${phoneKey}}:sent`;
  }

  async issue(input: IssueInput): Promise<IssueResult> {
    const k = this.keysOf(input.userId);
    const reply = list(await this.run(SCRIPTS.issue, [k.hotp, k.challenge, k.code, k.cooldown, k.failures, k.sent], [
      input.challengeId, input.sendId, input.newSealedSecret, ms(input.pendingTtlMs), ms(input.codeTtlMs), ms(input.cooldownMs),
      String(input.lockAfter), String(input.userBudget.max), ms(input.userBudget.windowMs),
    ]));
    return issued(reply);
  }

  async resend(input: ResendInput): Promise<ResendResult> {
    const k = this.keysOf(input.userId);
    const reply = list(await this.run(SCRIPTS.resend, [k.hotp, k.challenge, k.code, k.cooldown, k.failures, k.sent], [
      input.challengeId, input.sendId, ms(input.codeTtlMs), ms(input.cooldownMs), String(input.maxSends), String(input.maxAttempts),
      String(input.lockAfter), String(input.userBudget.max), ms(input.userBudget.windowMs),
    ]));
    switch (str(reply[0])) {
      case 'cooldown': return { status: 'cooldown', retryAfterMs: int(reply[1]) };
      case 'exhausted': return { status: 'exhausted' };
      case 'send_limit': return { status: 'send_limit' };
      case 'no_challenge': return { status: 'no_challenge' };
      default: return issued(reply);
    }
  }

  async attempt(input: AttemptInput): Promise<AttemptResult> {
    const k = this.keysOf(input.userId);
    const p = input.failures;
    const [status, a, b, c, d] = list(await this.run(SCRIPTS.attempt, [k.challenge, k.code, k.hotp, k.failures], [
      input.challengeId, String(input.maxAttempts), String(p.backoffAfter), String(p.lockAfter), ms(p.lockMs), ms(p.baseDelayMs), ms(p.memoryMs),
    ]));
    switch (str(status)) {
      case 'compare': return { status: 'compare', attempts: int(a), counter: int(b), sealedSecret: str(c), failures: int(d) };
      case 'expired': return { status: 'expired', attempts: int(a), failures: int(b) };
      case 'locked': return { status: 'locked', retryAfterMs: int(a) };
      case 'exhausted': return { status: 'exhausted' };
      case 'no_challenge': return { status: 'no_challenge' };
      default: throw unexpected(status);
    }
  }

  async consume(input: CodeRef): Promise<boolean> {
    const k = this.keysOf(input.userId);
    return int(await this.run(SCRIPTS.consume, [k.challenge, k.code, k.failures], [input.challengeId, String(input.counter)])) === 1;
  }

  async cancelSend(input: CodeRef & { sendId: string }): Promise<void> {
    const k = this.keysOf(input.userId);
    await this.run(SCRIPTS.cancelSend, [k.challenge, k.code, k.cooldown, k.sent], [input.challengeId, String(input.counter), input.sendId]);
  }

  async reservePhoneSend(input: PhoneSendInput): Promise<BudgetResult> {
    const wait = int(await this.run(SCRIPTS.reservePhoneSend, [this.phoneKeyOf(input.phoneKey)], [input.sendId, String(input.budget.max), ms(input.budget.windowMs)]));
    return wait > 0 ? { ok: false, retryAfterMs: wait } : { ok: true };
  }

  async releasePhoneSend(input: { phoneKey: string; sendId: string }): Promise<void> {
    await this.run(SCRIPTS.releasePhoneSend, [this.phoneKeyOf(input.phoneKey)], [input.sendId]);
  }

  async reseal(input: { userId: string; expected: string; replacement: string }): Promise<boolean> {
    return int(await this.run(SCRIPTS.reseal, [this.keysOf(input.userId).hotp], [input.expected, input.replacement])) === 1;
  }

  async deleteUser(userId: string): Promise<void> {
    await this.run(SCRIPTS.deleteUser, Object.values(this.keysOf(userId)), []);
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

function issued(reply: unknown[]): IssueResult {
  switch (str(reply[0])) {
    case 'issued': return { status: 'issued', counter: int(reply[1]), sealedSecret: str(reply[2]) };
    case 'locked': return { status: 'locked', retryAfterMs: int(reply[1]) };
    case 'over_budget': return { status: 'over_budget', retryAfterMs: int(reply[1]) };
    default: throw unexpected(reply[0]);
  }
}

/** Milliseconds as a whole-number argument (Lua reads it back with tonumber). */
function ms(value: number): string {
  return String(Math.max(0, Math.round(value)));
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
