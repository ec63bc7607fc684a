import { SmsOtpError } from '../errors.js';
import { checkOptionNames, type OptionNames } from '../options.js';
import { SCRIPTS, type Script } from './redis-scripts.js';
import type { ArmInput, AttemptInput, AttemptResult, BudgetResult, CancelSendInput, IssueInput, IssueResult, OtpStore, PhoneSendInput, ResendInput, ResendResult } from '../store.js';

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

/** The longest `commandTimeoutMs`: a minute. */
const MAX_COMMAND_TIMEOUT_MS = 60_000;

export interface RedisOtpStoreOptions {
  /**
   * Key prefix. Keys are `<prefix>:{<user id>}:<part>`: the braces are a Redis
   * Cluster hash tag, so all of a user's keys share one slot.
   * @default 'sms-otp'
   */
  prefix?: string | undefined;
  /**
   * Milliseconds one store call may take before it fails (closed) with
   * `STORE_UNAVAILABLE`. node-redis queues commands while disconnected; this
   * bound turns an outage into an error instead of a hung login. At most 60 000: a login
   * that waits longer has been given up on.
   * @default 2000
   */
  commandTimeoutMs?: number | undefined;
}



const REDIS_OPTION_NAMES = Object.keys({ prefix: true, commandTimeoutMs: true } satisfies OptionNames<RedisOtpStoreOptions>);

/**
 * An {@link OtpStore} on Redis through a connected node-redis client (v5 or v6,
 * a single client or a cluster). Each method is one Lua script (`EVALSHA`, with
 * `EVAL` once per script and node when Redis does not know it yet) over keys
 * that share the user's hash tag. Any Redis failure or timeout is thrown as
 * `STORE_UNAVAILABLE`: the login fails closed, and the next call after Redis
 * returns works again.
 */
/** How long to wait before sending a script again that a cluster answered TRYAGAIN (a slot being moved). */
const TRYAGAIN_DELAY_MS = 50;
/** How many more times a give-back answered TRYAGAIN after its call timed out is sent again: two seconds' worth. */
const GIVE_BACK_LATE_TRYAGAINS = 40;

export class RedisOtpStore implements OtpStore {
  private readonly client: RedisScriptClient;
  private readonly prefix: string;
  private readonly timeoutMs: number;

  constructor(client: RedisScriptClient, options: RedisOtpStoreOptions = {}) {
    if (client === null || typeof client !== 'object' || typeof client.evalSha !== 'function' || typeof client.eval !== 'function') {
      throw new SmsOtpError('INVALID_OPTIONS', 'RedisOtpStore needs a node-redis client (createClient() or createCluster(), v5 or v6)');
    }
    if (options === null || typeof options !== 'object') throw new SmsOtpError('INVALID_OPTIONS', 'RedisOtpStore: options must be an object');
    checkOptionNames('passport-sms-otp: RedisOtpStore', options, REDIS_OPTION_NAMES);
    const prefix = options.prefix ?? 'sms-otp';
    if (typeof prefix !== 'string' || !/^[A-Za-z0-9:_.-]{1,64}$/.test(prefix)) {
      throw new SmsOtpError('INVALID_OPTIONS', 'RedisOtpStore: prefix must be 1-64 letters, digits or ":_.-" (no braces: they would break the hash tag)');
    }
    const timeoutMs = options.commandTimeoutMs ?? 2000;
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_COMMAND_TIMEOUT_MS) {
      throw new SmsOtpError('INVALID_OPTIONS', `RedisOtpStore: commandTimeoutMs must be a whole number of ms from 1 to ${MAX_COMMAND_TIMEOUT_MS}, got ${String(timeoutMs)}`);
    }
    this.client = client;
    this.prefix = prefix;
    this.timeoutMs = timeoutMs;
  }

  /** The keys of one user. The id is percent-encoded (encodeURIComponent), so a brace in it cannot end the hash tag. */
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

  async arm(input: ArmInput): Promise<boolean> {
    const k = this.keysOf(input.userId);
    const args = [input.challengeId, String(input.counter), input.codeDigest];
    if (input.reseal !== undefined) args.push(input.reseal.expected, input.reseal.replacement);
    return int(await this.run(SCRIPTS.arm, [k.code, k.hotp], args)) === 1;
  }

  async attempt(input: AttemptInput): Promise<AttemptResult> {
    const k = this.keysOf(input.userId);
    const p = input.failures;
    const [status, a, b] = list(await this.run(SCRIPTS.attempt, [k.challenge, k.code, k.hotp, k.failures], [
      input.challengeId, String(input.maxAttempts), String(p.backoffAfter), String(p.lockAfter), ms(p.lockMs), ms(p.baseDelayMs), ms(p.memoryMs),
      ...input.codeDigests,
    ]));
    switch (str(status)) {
      case 'accepted': return { status: 'accepted', attempts: int(a) };
      case 'unknown_key': return { status: 'unknown_key', attempts: int(a) };
      case 'wrong': return { status: 'wrong', attempts: int(a), failures: int(b) };
      case 'expired': return { status: 'expired', attempts: int(a), failures: int(b) };
      case 'locked': return { status: 'locked', retryAfterMs: int(a) };
      case 'exhausted': return { status: 'exhausted' };
      case 'no_challenge': return { status: 'no_challenge' };
      default: throw unexpected(status);
    }
  }

  async cancelSend(input: CancelSendInput): Promise<void> {
    const k = this.keysOf(input.userId);
    await this.run(SCRIPTS.cancelSend, [k.challenge, k.code, k.cooldown, k.sent], [input.challengeId, input.counter === undefined ? '' : String(input.counter), input.sendId]);
  }

  async reservePhoneSend(input: PhoneSendInput): Promise<BudgetResult> {
    const wait = int(await this.run(SCRIPTS.reservePhoneSend, [this.phoneKeyOf(input.phoneKey)], [input.sendId, String(input.budget.max), ms(input.budget.windowMs)]));
    return wait > 0 ? { ok: false, retryAfterMs: wait } : { ok: true };
  }

  async releasePhoneSend(input: { phoneKey: string; sendId: string }): Promise<void> {
    await this.run(SCRIPTS.releasePhoneSend, [this.phoneKeyOf(input.phoneKey)], [input.sendId]);
  }

  async deleteUser(userId: string): Promise<void> {
    await this.run(SCRIPTS.deleteUser, Object.values(this.keysOf(userId)), []);
  }

  async ping(): Promise<void> {
    await this.run(SCRIPTS.ping, [this.keysOf('ping').hotp], []);
  }

  /**
   * One script call: one round trip normally, two the first time a node sees the script (and more
   * while a cluster slot moves: a TRYAGAIN answer is sent again 50 ms later, until the timeout). Written
   * with one promise and plain callbacks (no race, no async wrapper): it runs on every code check.
   */
  private run(s: Script, keys: string[], args: string[]): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const options = { keys, arguments: args };
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        reject(new SmsOtpError('STORE_UNAVAILABLE', `The one-time-code store did not answer within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      // After a timeout these still run (and settle nothing): no late rejection goes unhandled.
      const answered = (reply: unknown): void => {
        clearTimeout(timer);
        resolve(reply);
      };
      const failed = (cause: unknown): void => {
        clearTimeout(timer);
        reject(cause instanceof SmsOtpError ? cause : new SmsOtpError('STORE_UNAVAILABLE', undefined, { cause }));
      };
      const call = (command: () => Promise<unknown>, onError: (err: unknown) => void): void => {
        // An error handler that throws (an error with a strange message) still fails the call.
        const handle = (err: unknown): void => {
          try {
            onError(err);
          } catch (thrown) {
            failed(thrown);
          }
        };
        try {
          command().then(answered, handle);
        } catch (err) {
          handle(err);
        }
      };
      // TRYAGAIN: a cluster slot is being moved and this script's keys are split between two nodes
      // for now. Redis ran nothing: the script is sent again shortly, until the call times out (a
      // give-back, which must run after what it gives back, a while longer).
      let lateRetries = 0;
      const stillWanted = (): boolean => !timedOut || s.giveBack === true;
      const retryLater = (err: unknown, send: () => void): boolean => {
        if (!(err instanceof Error && typeof err.message === 'string' && err.message.startsWith('TRYAGAIN'))) return false;
        if (!timedOut || (s.giveBack === true && lateRetries++ < GIVE_BACK_LATE_TRYAGAINS)) setTimeout(() => { if (stillWanted()) send(); }, TRYAGAIN_DELAY_MS);
        return true;
      };
      const viaEval = (): void => call(() => this.client.eval(s.source, options), (err) => { if (!retryLater(err, viaEval)) failed(err); });
      const viaEvalSha = (): void => call(() => this.client.evalSha(s.sha1, options), (err) => {
        if (retryLater(err, viaEvalSha)) return;
        const noScript = err instanceof Error && typeof err.message === 'string' && err.message.startsWith('NOSCRIPT');
        // The caller was told the store failed: a script loaded now would count (or spend) an
        // attempt nobody waits for. Not so a give-back, which must run after what it gives back.
        if (noScript && !stillWanted()) return;
        if (noScript) viaEval();
        else failed(err);
      });
      viaEvalSha();
    });
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
