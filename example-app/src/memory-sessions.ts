import session from 'express-session';
import { sessionTtlSeconds } from './sessions.js';

type Callback = (err?: unknown) => void;

/**
 * The session store of memory mode (no REDIS_URL): express-session's MemoryStore expires a
 * session only by its cookie's `maxAge`, which this app does not set (its cookie ends with the
 * browser), so there every session lived until the process ended: a login that never expired on
 * the server, and an anonymous session kept for good per load of the sign-in page. This store
 * gives sessions the lifetimes they have in Redis (`sessionTtlSeconds`: a day for one that holds
 * a login, half an hour for any other), pushed back by each write and touch, and drops expired
 * ones when read and once a minute. Callbacks run on a later turn, as MemoryStore's do.
 */
export class MemorySessionStore extends session.Store {
  /** Seconds a session lives from its last write or touch, as connect-redis's `ttl` (fewerLoginWrites reads it). */
  readonly ttl = (data: session.SessionData): number => sessionTtlSeconds(data);
  private readonly sessions = new Map<string, { json: string; expiresAtMs: number }>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly now: () => number = Date.now, sweepIntervalMs = 60_000) {
    super();
    this.sweeper = setInterval(() => this.sweep(), sweepIntervalMs);
    this.sweeper.unref();
  }

  override get(sid: string, callback: (err: unknown, data?: session.SessionData | null) => void): void {
    const entry = this.live(sid);
    setImmediate(() => callback(null, entry === undefined ? null : JSON.parse(entry.json) as session.SessionData));
  }

  override set(sid: string, data: session.SessionData, callback?: Callback): void {
    this.sessions.set(sid, { json: JSON.stringify(data), expiresAtMs: this.expiry(data) });
    if (callback) setImmediate(callback);
  }

  override touch(sid: string, data: session.SessionData, callback?: () => void): void {
    const entry = this.live(sid);
    if (entry !== undefined) entry.expiresAtMs = this.expiry(data);
    if (callback) setImmediate(callback);
  }

  override destroy(sid: string, callback?: Callback): void {
    this.sessions.delete(sid);
    if (callback) setImmediate(callback);
  }

  /** Every live session by id, as MemoryStore's `all` gives them. */
  override all(callback: (err: unknown, sessions?: Record<string, session.SessionData> | null) => void): void {
    this.sweep();
    const all = Object.fromEntries([...this.sessions].map(([sid, entry]) => [sid, JSON.parse(entry.json) as session.SessionData]));
    setImmediate(() => callback(null, all));
  }

  /** Live sessions, expired ones dropped first. */
  get size(): number {
    this.sweep();
    return this.sessions.size;
  }

  /** Stops the sweep timer (it is unref'd: it never keeps the process alive). */
  close(): void {
    clearInterval(this.sweeper);
  }

  private expiry(data: session.SessionData): number {
    return this.now() + this.ttl(data) * 1000;
  }

  private live(sid: string): { json: string; expiresAtMs: number } | undefined {
    const entry = this.sessions.get(sid);
    if (entry === undefined || entry.expiresAtMs > this.now()) return entry;
    this.sessions.delete(sid);
    return undefined;
  }

  private sweep(): void {
    const now = this.now();
    for (const [sid, entry] of this.sessions) if (entry.expiresAtMs <= now) this.sessions.delete(sid);
  }
}
