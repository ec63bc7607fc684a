import { timingSafeEqual } from 'node:crypto';
import { SmsOtpError } from '../errors.js';
import { checkOptionNames, type OptionNames } from '../options.js';
import { failureDelayMs, type ArmInput, type AttemptInput, type AttemptResult, type BudgetResult, type CancelSendInput, type IssueInput, type IssueResult, type OtpStore, type PhoneSendInput, type ResendInput, type ResendResult, type SendBudget } from '../store.js';

interface Hotp { sealedSecret: string; counter: number }
interface Failures { count: number; untilMs: number; expiresAtMs: number }
/** Sends in a rolling window, oldest first. */
type Sends = Array<{ id: string; atMs: number }>;
interface Challenge { id: string; attempts: number; sends: number; expiresAtMs: number }
interface Code {
  challengeId: string;
  counter: number;
  expiresAtMs: number;
  digest?: Buffer;
  /** The send that issued this code (a cancelSend without a counter finds it by this). */
  sendId?: string;
  /** The armed code a resend (or a new login) replaced, live again if this send is cancelled. */
  previous?: { counter: number; expiresAtMs: number; digest: Buffer };
  /** The login a new one replaced (its challenge and cooldown), live again if this send is cancelled. */
  replacedLogin?: { challenge: Challenge; cooldownUntil?: number };
}

/** The longest `sweepIntervalMs`: a day. */
const MAX_SWEEP_INTERVAL_MS = 86_400_000;

export interface MemoryOtpStoreOptions {
  /**
   * Milliseconds between sweeps that drop expired challenges, codes and cooldowns.
   * The timer is `unref()`ed, so it never keeps a process alive.
   * @default 60000
   */
  sweepIntervalMs?: number | undefined;
  /** The clock, for tests. @default Date.now */
  now?: (() => number) | undefined;
}

/**
 * An {@link OtpStore} in this process's memory: for development, tests and
 * single-process apps. Every method runs synchronously inside one tick, so each
 * is atomic. Expired entries are dropped when read and by a periodic sweep, so
 * memory stays bounded by the live logins (plus one small entry per user for the
 * secret and counter, which never expire, as in Redis).
 */
const MEMORY_OPTION_NAMES = Object.keys({ sweepIntervalMs: true, now: true } satisfies OptionNames<MemoryOtpStoreOptions>);

export class MemoryOtpStore implements OtpStore {
  private readonly hotp = new Map<string, Hotp>();
  private readonly challenges = new Map<string, Challenge>();
  private readonly codes = new Map<string, Code>();
  private readonly cooldowns = new Map<string, number>();
  private readonly failures = new Map<string, Failures>();
  private readonly userSends = new Map<string, Sends>();
  private readonly phoneSends = new Map<string, Sends>();
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;

  constructor(options: MemoryOtpStoreOptions = {}) {
    if (options === null || typeof options !== 'object') throw new SmsOtpError('INVALID_OPTIONS', 'MemoryOtpStore: options must be an object');
    checkOptionNames('passport-sms-otp: MemoryOtpStore', options, MEMORY_OPTION_NAMES);
    if (options.now !== undefined && typeof options.now !== 'function') throw new SmsOtpError('INVALID_OPTIONS', 'MemoryOtpStore: now must be a function returning milliseconds');
    this.now = options.now ?? Date.now;
    const interval = options.sweepIntervalMs ?? 60_000;
    // setInterval turns anything above 2^31-1 ms into 1 ms: a sweep that never rests.
    if (!Number.isInteger(interval) || interval < 1 || interval > MAX_SWEEP_INTERVAL_MS) {
      throw new SmsOtpError('INVALID_OPTIONS', `MemoryOtpStore: sweepIntervalMs must be a whole number of ms from 1 to ${MAX_SWEEP_INTERVAL_MS}, got ${String(interval)}`);
    }
    this.timer = setInterval(() => this.sweep(), interval);
    this.timer.unref();
  }

  /** Entries currently held (live or not yet swept), for tests and metrics. */
  get size(): { users: number; challenges: number; codes: number; cooldowns: number; failures: number; sendWindows: number } {
    return {
      users: this.hotp.size,
      challenges: this.challenges.size,
      codes: this.codes.size,
      cooldowns: this.cooldowns.size,
      failures: this.failures.size,
      sendWindows: this.userSends.size + this.phoneSends.size,
    };
  }

  /** Drops every expired entry now. */
  sweep(): void {
    const now = this.now();
    for (const [k, v] of this.challenges) if (v.expiresAtMs <= now) this.challenges.delete(k);
    for (const [k, v] of this.codes) if (v.expiresAtMs <= now) this.codes.delete(k);
    for (const [k, v] of this.cooldowns) if (v <= now) this.cooldowns.delete(k);
    for (const [k, v] of this.failures) if (v.expiresAtMs <= now) this.failures.delete(k);
    for (const sends of [this.userSends, this.phoneSends]) {
      for (const [k, v] of sends) if ((v.at(-1)?.atMs ?? 0) <= now - this.longestWindowMs) sends.delete(k);
    }
  }

  /** The longest budget window seen, so the sweep never drops sends a budget still counts. */
  private longestWindowMs = 0;

  /** Stops the sweep timer. */
  close(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  async issue(input: IssueInput): Promise<IssueResult> {
    const now = this.now();
    const lock = this.lockedFor(input.userId, input.lockAfter, now);
    if (lock > 0) return { status: 'locked', retryAfterMs: lock };
    const wait = this.budgetWait(this.userSends, input.userId, input.userBudget, now);
    if (wait > 0) return { status: 'over_budget', retryAfterMs: wait };
    const hotp = this.hotp.get(input.userId) ?? { sealedSecret: input.newSealedSecret, counter: 0 };
    hotp.counter += 1;
    this.hotp.set(input.userId, hotp);
    // The live login this one replaces is kept aside until the send goes out (see cancelSend).
    const oldChallenge = this.challenges.get(input.userId);
    const oldCode = this.codes.get(input.userId);
    const oldCooldown = this.cooldowns.get(input.userId);
    let kept: Pick<Code, 'previous' | 'replacedLogin'> = {};
    if (oldChallenge !== undefined && oldChallenge.id !== input.challengeId && oldChallenge.expiresAtMs > now) {
      // The live code not armed yet: its send is still on its way, and this one replaces it (it can
      // never be armed now). What comes back if this send is cancelled is what that send had kept
      // aside: a double-submitted login refused twice leaves the login before it as it was.
      const inFlight = oldCode !== undefined && oldCode.challengeId === oldChallenge.id && oldCode.digest === undefined && oldCode.expiresAtMs > now;
      if (inFlight && oldCode.replacedLogin !== undefined) {
        kept = { replacedLogin: oldCode.replacedLogin, ...(oldCode.previous === undefined ? {} : { previous: oldCode.previous }) };
      } else if (!(inFlight && oldCode.previous === undefined && oldChallenge.sends <= 1)) {
        kept = { replacedLogin: { challenge: { ...oldChallenge }, ...(oldCooldown !== undefined && oldCooldown > now ? { cooldownUntil: oldCooldown } : {}) } };
        if (oldCode !== undefined && oldCode.challengeId === oldChallenge.id && oldCode.digest !== undefined && oldCode.expiresAtMs > now) {
          kept.previous = { counter: oldCode.counter, expiresAtMs: oldCode.expiresAtMs, digest: oldCode.digest };
        } else if (inFlight && oldCode.previous !== undefined) {
          // A resend on its way: the login comes back with the code it had before that resend.
          kept.previous = oldCode.previous;
        }
      }
      // Else the login's first text is on its way, with nothing before it: nothing to bring back.
    }
    this.challenges.set(input.userId, { id: input.challengeId, attempts: 0, sends: 1, expiresAtMs: now + input.pendingTtlMs });
    this.codes.set(input.userId, { challengeId: input.challengeId, counter: hotp.counter, expiresAtMs: now + input.codeTtlMs, sendId: input.sendId, ...kept });
    this.setCooldown(input.userId, now, input.cooldownMs);
    this.spend(this.userSends, input.userId, input.sendId, now);
    return { status: 'issued', counter: hotp.counter, sealedSecret: hotp.sealedSecret };
  }

  async resend(input: ResendInput): Promise<ResendResult> {
    const now = this.now();
    const challenge = this.liveChallenge(input.userId, input.challengeId, now);
    if (challenge === undefined) return { status: 'no_challenge' };
    const hotp = this.hotp.get(input.userId);
    if (hotp === undefined) {
      this.forget(input.userId);
      return { status: 'no_challenge' };
    }
    if (challenge.attempts >= input.maxAttempts) return { status: 'exhausted' };
    const lock = this.lockedFor(input.userId, input.lockAfter, now);
    if (lock > 0) return { status: 'locked', retryAfterMs: lock };
    const until = this.cooldowns.get(input.userId);
    // The login's last text spent: waiting does not help, so that is the answer, not the cooldown.
    if (challenge.sends >= input.maxSends) return { status: 'send_limit' };
    if (until !== undefined && until > now) return { status: 'cooldown', retryAfterMs: until - now };
    const wait = this.budgetWait(this.userSends, input.userId, input.userBudget, now);
    if (wait > 0) return { status: 'over_budget', retryAfterMs: wait };
    challenge.sends += 1;
    hotp.counter += 1;
    const old = this.codes.get(input.userId);
    // The live code not armed yet (a resend still on its way, replaced before it was): what comes
    // back if this send is cancelled is the code that one kept aside.
    const sameChallenge = old !== undefined && old.challengeId === input.challengeId && old.expiresAtMs > now;
    const previous = sameChallenge && old.digest !== undefined
      ? { counter: old.counter, expiresAtMs: old.expiresAtMs, digest: old.digest }
      : sameChallenge && old.digest === undefined && old.replacedLogin === undefined ? old.previous : undefined;
    this.codes.set(input.userId, { challengeId: input.challengeId, counter: hotp.counter, expiresAtMs: now + input.codeTtlMs, sendId: input.sendId, ...(previous === undefined ? {} : { previous }) });
    this.setCooldown(input.userId, now, input.cooldownMs);
    this.spend(this.userSends, input.userId, input.sendId, now);
    return { status: 'issued', counter: hotp.counter, sealedSecret: hotp.sealedSecret };
  }

  async arm(input: ArmInput): Promise<boolean> {
    const code = this.codes.get(input.userId);
    if (code === undefined || code.expiresAtMs <= this.now() || code.challengeId !== input.challengeId || code.counter !== input.counter) return false;
    code.digest = Buffer.from(input.codeDigest);
    const hotp = this.hotp.get(input.userId);
    if (input.reseal !== undefined && hotp !== undefined && hotp.sealedSecret === input.reseal.expected) hotp.sealedSecret = input.reseal.replacement;
    return true;
  }

  async attempt(input: AttemptInput): Promise<AttemptResult> {
    const now = this.now();
    const challenge = this.liveChallenge(input.userId, input.challengeId, now);
    if (challenge === undefined || !this.hotp.has(input.userId)) return { status: 'no_challenge' };
    const previous = this.liveFailures(input.userId, now);
    if (previous.untilMs > now) return { status: 'locked', retryAfterMs: previous.untilMs - now };
    // Counted before the comparison.
    challenge.attempts += 1;
    if (challenge.attempts > input.maxAttempts) return { status: 'exhausted' };
    const code = this.codes.get(input.userId);
    const live = code !== undefined && code.expiresAtMs > now && code.challengeId === input.challengeId;
    if (live && code.digest !== undefined) {
      const stored = code.digest;
      if (input.codeDigests.some((digest) => digestsEqual(stored, digest))) {
        this.codes.delete(input.userId);
        this.challenges.delete(input.userId);
        this.failures.delete(input.userId);
        return { status: 'accepted', attempts: challenge.attempts };
      }
      // Armed under a key this instance does not have: a configuration error, not the user's failure.
      const keyId = stored.subarray(0, stored.indexOf('.') + 1).toString();
      // Nothing was compared (no MAC of this instance can match one under another key): not counted either.
      if (!input.codeDigests.some((digest) => digest.startsWith(keyId))) {
        challenge.attempts -= 1;
        return { status: 'unknown_key', attempts: challenge.attempts };
      }
    }
    const failures = previous.count + 1;
    const delay = failureDelayMs(failures, input.failures);
    this.failures.set(input.userId, { count: failures, untilMs: delay > 0 ? now + delay : 0, expiresAtMs: now + delay + input.failures.memoryMs });
    return { status: live ? 'wrong' : 'expired', attempts: challenge.attempts, failures };
  }

  async cancelSend(input: CancelSendInput): Promise<void> {
    const code = this.codes.get(input.userId);
    // The send surely did not go out: its budget slot is given back even when its code is gone.
    this.unspend(this.userSends, input.userId, input.sendId);
    // An expired code is gone, as its Redis key is, and a replaced one belongs to a newer send:
    // nothing else of this send is given back.
    const now = this.now();
    if (code === undefined || code.expiresAtMs <= now || code.challengeId !== input.challengeId || (input.counter === undefined ? code.sendId !== input.sendId : code.counter !== input.counter)) return;
    this.codes.delete(input.userId);
    this.cooldowns.delete(input.userId);
    const challenge = this.challenges.get(input.userId);
    if (challenge === undefined || challenge.id !== input.challengeId) return;
    // What the send replaced is live again, each until its own expiry: the login a new one
    // replaced (challenge, cooldown), and the code a resend or that new login replaced.
    let challengeId = input.challengeId;
    const replaced = code.replacedLogin;
    if (replaced !== undefined) {
      this.challenges.delete(input.userId);
      if (replaced.challenge.expiresAtMs <= now) return;
      this.challenges.set(input.userId, { ...replaced.challenge });
      challengeId = replaced.challenge.id;
      if (replaced.cooldownUntil !== undefined && replaced.cooldownUntil > now) this.cooldowns.set(input.userId, replaced.cooldownUntil);
    } else if (challenge.sends > 0) challenge.sends -= 1;
    const previous = code.previous;
    if (previous !== undefined && previous.expiresAtMs > now) this.codes.set(input.userId, { challengeId, ...previous });
  }

  async reservePhoneSend(input: PhoneSendInput): Promise<BudgetResult> {
    const now = this.now();
    const wait = this.budgetWait(this.phoneSends, input.phoneKey, input.budget, now);
    if (wait > 0) return { ok: false, retryAfterMs: wait };
    this.spend(this.phoneSends, input.phoneKey, input.sendId, now);
    return { ok: true };
  }

  async releasePhoneSend(input: { phoneKey: string; sendId: string }): Promise<void> {
    this.unspend(this.phoneSends, input.phoneKey, input.sendId);
  }

  async deleteUser(userId: string): Promise<void> {
    this.hotp.delete(userId);
    this.failures.delete(userId);
    this.userSends.delete(userId);
    this.forget(userId);
  }

  async ping(): Promise<void> {}

  private liveChallenge(userId: string, challengeId: string, now: number): Challenge | undefined {
    const challenge = this.challenges.get(userId);
    if (challenge === undefined) return undefined;
    if (challenge.expiresAtMs <= now) {
      this.challenges.delete(userId);
      return undefined;
    }
    return challenge.id === challengeId ? challenge : undefined;
  }

  private liveFailures(userId: string, now: number): Failures {
    const failures = this.failures.get(userId);
    if (failures === undefined || failures.expiresAtMs <= now) return { count: 0, untilMs: 0, expiresAtMs: 0 };
    return failures;
  }

  private lockedFor(userId: string, lockAfter: number, now: number): number {
    const failures = this.liveFailures(userId, now);
    return failures.count >= lockAfter && failures.untilMs > now ? failures.untilMs - now : 0;
  }

  /** Drops sends older than the window; the wait until one leaves it when the budget is spent, else 0. */
  private budgetWait(map: Map<string, Sends>, key: string, budget: SendBudget, now: number): number {
    this.longestWindowMs = Math.max(this.longestWindowMs, budget.windowMs);
    const sends = (map.get(key) ?? []).filter((send) => send.atMs > now - budget.windowMs);
    map.set(key, sends);
    if (sends.length < budget.max) return 0;
    return Math.max(1, (sends[0]?.atMs ?? now) + budget.windowMs - now);
  }

  private spend(map: Map<string, Sends>, key: string, id: string, now: number): void {
    const sends = map.get(key) ?? [];
    sends.push({ id, atMs: now });
    map.set(key, sends);
  }

  private unspend(map: Map<string, Sends>, key: string, id: string): void {
    const sends = map.get(key);
    if (sends === undefined) return;
    const kept = sends.filter((send) => send.id !== id);
    if (kept.length === 0) map.delete(key);
    else map.set(key, kept);
  }

  private setCooldown(userId: string, now: number, cooldownMs: number): void {
    if (cooldownMs > 0) this.cooldowns.set(userId, now + cooldownMs);
    else this.cooldowns.delete(userId);
  }

  private forget(userId: string): void {
    this.challenges.delete(userId);
    this.codes.delete(userId);
    this.cooldowns.delete(userId);
  }
}

/** MACs compared in constant time (as the code rule asks, though a MAC's bytes cannot be chosen). */
function digestsEqual(stored: Buffer, submitted: string): boolean {
  const candidate = Buffer.from(submitted);
  return candidate.length === stored.length && timingSafeEqual(candidate, stored);
}
