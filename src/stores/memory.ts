import type { AttemptInput, AttemptResult, CodeIssued, CodeRef, IssueInput, OtpStore, ResendInput, ResendResult } from '../store.js';

interface Hotp { sealedSecret: string; counter: number }
interface Challenge { id: string; attempts: number; sends: number; expiresAtMs: number }
interface Code { challengeId: string; counter: number; expiresAtMs: number }

export interface MemoryOtpStoreOptions {
  /**
   * Milliseconds between sweeps that drop expired challenges, codes and cooldowns.
   * The timer is `unref()`ed, so it never keeps a process alive.
   * @default 60000
   */
  sweepIntervalMs?: number;
  /** The clock, for tests. @default Date.now */
  now?: () => number;
}

/**
 * An {@link OtpStore} in this process's memory: for development, tests and
 * single-process apps. Every method runs synchronously inside one tick, so each
 * is atomic. Expired entries are dropped when read and by a periodic sweep, so
 * memory stays bounded by the live logins (plus one small entry per user for the
 * secret and counter, which never expire, as in Redis).
 */
export class MemoryOtpStore implements OtpStore {
  private readonly hotp = new Map<string, Hotp>();
  private readonly challenges = new Map<string, Challenge>();
  private readonly codes = new Map<string, Code>();
  private readonly cooldowns = new Map<string, number>();
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;

  constructor(options: MemoryOtpStoreOptions = {}) {
    this.now = options.now ?? Date.now;
    const interval = options.sweepIntervalMs ?? 60_000;
    if (!Number.isInteger(interval) || interval < 1) throw new TypeError('MemoryOtpStore: sweepIntervalMs must be a positive whole number');
    this.timer = setInterval(() => this.sweep(), interval);
    this.timer.unref();
  }

  /** Entries currently held (live or not yet swept), for tests and metrics. */
  get size(): { users: number; challenges: number; codes: number; cooldowns: number } {
    return { users: this.hotp.size, challenges: this.challenges.size, codes: this.codes.size, cooldowns: this.cooldowns.size };
  }

  /** Drops every expired entry now. */
  sweep(): void {
    const now = this.now();
    for (const [k, v] of this.challenges) if (v.expiresAtMs <= now) this.challenges.delete(k);
    for (const [k, v] of this.codes) if (v.expiresAtMs <= now) this.codes.delete(k);
    for (const [k, v] of this.cooldowns) if (v <= now) this.cooldowns.delete(k);
  }

  /** Stops the sweep timer. */
  close(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  async issue(input: IssueInput): Promise<CodeIssued> {
    const now = this.now();
    const hotp = this.hotp.get(input.userId) ?? { sealedSecret: input.newSealedSecret, counter: 0 };
    hotp.counter += 1;
    this.hotp.set(input.userId, hotp);
    this.challenges.set(input.userId, { id: input.challengeId, attempts: 0, sends: 1, expiresAtMs: now + input.pendingTtlMs });
    this.codes.set(input.userId, { challengeId: input.challengeId, counter: hotp.counter, expiresAtMs: now + input.codeTtlMs });
    this.setCooldown(input.userId, now, input.cooldownMs);
    return { counter: hotp.counter, sealedSecret: hotp.sealedSecret };
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
    const until = this.cooldowns.get(input.userId);
    if (until !== undefined && until > now) return { status: 'cooldown', retryAfterMs: until - now };
    if (challenge.sends >= input.maxSends) return { status: 'send_limit' };
    challenge.sends += 1;
    hotp.counter += 1;
    this.codes.set(input.userId, { challengeId: input.challengeId, counter: hotp.counter, expiresAtMs: now + input.codeTtlMs });
    this.setCooldown(input.userId, now, input.cooldownMs);
    return { status: 'issued', counter: hotp.counter, sealedSecret: hotp.sealedSecret };
  }

  async attempt(input: AttemptInput): Promise<AttemptResult> {
    const now = this.now();
    const challenge = this.liveChallenge(input.userId, input.challengeId, now);
    if (challenge === undefined) return { status: 'no_challenge' };
    challenge.attempts += 1;
    if (challenge.attempts > input.maxAttempts) return { status: 'exhausted' };
    const code = this.codes.get(input.userId);
    if (code === undefined || code.expiresAtMs <= now || code.challengeId !== input.challengeId) {
      return { status: 'expired', attempts: challenge.attempts };
    }
    const hotp = this.hotp.get(input.userId);
    if (hotp === undefined) return { status: 'no_challenge' };
    return { status: 'compare', attempts: challenge.attempts, counter: code.counter, sealedSecret: hotp.sealedSecret };
  }

  async consume(input: CodeRef): Promise<boolean> {
    const now = this.now();
    const code = this.codes.get(input.userId);
    if (code === undefined || code.expiresAtMs <= now || code.challengeId !== input.challengeId || code.counter !== input.counter) return false;
    if (this.liveChallenge(input.userId, input.challengeId, now) === undefined) return false;
    this.codes.delete(input.userId);
    this.challenges.delete(input.userId);
    return true;
  }

  async cancelSend(input: CodeRef): Promise<void> {
    const code = this.codes.get(input.userId);
    if (code === undefined || code.challengeId !== input.challengeId || code.counter !== input.counter) return;
    this.codes.delete(input.userId);
    this.cooldowns.delete(input.userId);
    const challenge = this.challenges.get(input.userId);
    if (challenge !== undefined && challenge.id === input.challengeId && challenge.sends > 0) challenge.sends -= 1;
  }

  async deleteUser(userId: string): Promise<void> {
    this.hotp.delete(userId);
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
