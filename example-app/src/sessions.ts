import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type session from 'express-session';
import { DEFAULT_SESSION_KEY } from 'passport-sms-otp';

// Two costs of express-session that every login pays, taken off the code step's hot path. Both
// keep express-session's behaviour as it is seen from outside: the same ids, the same stored data.

/** How long Redis keeps a session that holds a login (full, or pending at the code step): a day, connect-redis's default. */
export const LOGIN_SESSION_TTL_SECONDS = 86_400;
/**
 * How long Redis keeps any other session: one that holds only a form's CSRF token (and perhaps a
 * flash message). Anyone can make one by loading the sign-in page, so they must not stay a day.
 * A sign-in form left open longer is refused (403) with a page that says it expired and links to sign in.
 */
export const ANONYMOUS_SESSION_TTL_SECONDS = 1800;

/** connect-redis's `ttl`: a day for a session that holds a login, half an hour for one that does not. */
export function sessionTtlSeconds(data: session.SessionData, pendingKey = DEFAULT_SESSION_KEY): number {
  const fields = data as unknown as Record<string, unknown> & { passport?: { user?: unknown } };
  const holdsLogin = fields.passport?.user !== undefined || fields[pendingKey] !== undefined;
  return holdsLogin ? LOGIN_SESSION_TTL_SECONDS : ANONYMOUS_SESSION_TTL_SECONDS;
}

/** As express-session's default generator (uid-safe): 24 random bytes, 32 base64url characters. */
const ID_BYTES = 24;
const IDS_PER_DRAW = 128;
let pool = Buffer.alloc(0);
let offset = 0;

/**
 * A session id for express-session's `genid`: 24 bytes of `crypto.randomBytes`, as the default,
 * but drawn 128 ids at a time. Each draw is a call into OpenSSL's CSPRNG that costs as much as the
 * rest of a regenerate (about 5 µs, measured with a CPU profile under `npm run bench`), and every
 * login regenerates its session twice. No byte is handed out twice; the next ids sit in this
 * process's memory until used, as they do in Node's own `crypto.randomUUID()` cache.
 */
export function sessionId(): string {
  if (offset + ID_BYTES > pool.length) {
    pool = randomBytes(ID_BYTES * IDS_PER_DRAW);
    offset = 0;
  }
  const id = pool.toString('base64url', offset, offset + ID_BYTES);
  offset += ID_BYTES;
  return id;
}

type Callback = (err?: unknown) => void;
const settle = (run: (done: Callback) => void): Promise<void> => new Promise((resolve, reject) => { run((err) => (err ? reject(err) : resolve())); });
const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/**
 * A session store call that got no answer within `timeoutMs`: status 503, which the app's error
 * handler answers as it does when Redis is down (`service_unavailable`, "The session store is
 * unavailable").
 */
export class SessionStoreTimeout extends Error {
  readonly status = 503;
  constructor(call: string, timeoutMs: number) {
    super(`The session store did not answer a ${call} within ${timeoutMs} ms`);
    this.name = 'SessionStoreTimeout';
  }
}

/** The longest `timeoutMs`: a minute, as the package's `commandTimeoutMs`. */
const MAX_TIMEOUT_MS = 60_000;

/**
 * `done` for one store call, called once: with the store's answer, or with a {@link SessionStoreTimeout}
 * (503, as the package's RedisOtpStore times out) if none came within `timeoutMs`. A Redis that
 * hangs (paused, or a network that drops packets without closing the connection) leaves
 * node-redis connected and "ready", and its commands wait for ever; their late answers go nowhere.
 */
function within<T>(timeoutMs: number, call: string, done: (err?: unknown, value?: T) => void): (err?: unknown, value?: T) => void {
  let settled = false;
  const timer = setTimeout(() => {
    settled = true;
    done(new SessionStoreTimeout(call, timeoutMs));
  }, timeoutMs);
  return (err, value) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    done(err, value);
  };
}

type AnsweredRequest = { method?: string; originalUrl?: string; url?: string; res?: ServerResponse };

/**
 * The request of a session (express-session's `Session` keeps it as `req`) once its answer has
 * gone out: express-session's own write or touch as the response ends comes after the answer.
 */
function answered(data: unknown): AnsweredRequest & { res: ServerResponse } | undefined {
  const req = (data as { req?: AnsweredRequest } | null | undefined)?.req;
  return req?.res?.headersSent === true ? req as AnsweredRequest & { res: ServerResponse } : undefined;
}

/**
 * What to hand express-session for a write or touch that failed. After an error answer (4xx/5xx,
 * as the app's error handler sends) nothing: express-session passes the error to next() after
 * the answer, and next() is then past the app's error handler, in Express's final handler, which
 * prints the error's stack and destroys the connection (a keep-alive client loses it). The client
 * has its answer; the log gets one line. After any other answer, next() still reaches the app's
 * error handler, which logs it.
 */
function toReport(data: unknown, err: unknown, what: string): unknown {
  const req = answered(data);
  if (req === undefined || req.res.statusCode < 400) return err;
  const path = (req.originalUrl ?? req.url ?? '').split('?')[0];
  console.error(`session store: ${req.method} ${path} -> ${what} after its answer (${req.res.statusCode}) was sent (${messageOf(err)})`);
  return undefined;
}

/** Options of {@link fewerLoginWrites}. */
export interface FewerLoginWritesOptions {
  /**
   * A touch (express-session's "still in use": connect-redis sends `EXPIRE`) is skipped when this
   * process wrote or touched the same session less than this many seconds ago (or a tenth of the
   * cookie's `maxAge`, or of the store's `ttl` (connect-redis's: seconds, or a function of the session),
   * if that is shorter). A session may then expire up to this long before its last request plus
   * its lifetime. 0 touches every time.
   * @default 60
   */
  touchAfterSeconds?: number;
  /**
   * How many sessions' write times are kept per `touchAfterSeconds` (two such windows are kept);
   * beyond that a session is touched as usual. Also how many ended sessions are kept for ten
   * minutes at least (see below): beyond that the older ones are forgotten, a window's worth at
   * a time. Bounds the memory to about 300 bytes per session, in each of the two.
   * @default 100000
   */
  maxRemembered?: number;
  /**
   * Milliseconds each call to the store (get, set, destroy, touch, and a regenerate's destroy)
   * may take before it fails with a {@link SessionStoreTimeout} (503), as the package's `commandTimeoutMs`:
   * a Redis that hangs without closing the connection would otherwise hang every request that
   * has a session. From 1 to 60 000.
   * @default 2000
   */
  timeoutMs?: number;
}

/**
 * How long this process remembers a session it ended, to drop writes of requests that loaded it
 * before: longer than any request runs.
 */
const ENDED_WINDOW_MS = 10 * 60_000;

/** Milliseconds on a clock that never goes back (setting the system clock does not move it). */
const monotonicMs = (): number => performance.now();

/**
 * When this process last set each session's expiry, for `touchAfterSeconds`: two maps, each for
 * one window, so entries go away on their own without a timer, and memory stays bounded.
 */
class RecentExpiries {
  private current = new Map<string, number>();
  private previous = new Map<string, number>();
  private startedAt = monotonicMs();
  /**
   * With `keepNewest` (for ended sessions: the newest logout must always be kept), a full window
   * becomes the previous one and a new one starts, so the newest `max` at least are kept (and at
   * most `2 * max`, as with the two windows by time). (Forgetting the oldest entry one at a time
   * instead leaves a hole at the front of a Map for every entry: finding the next oldest then
   * walks all of them, and a full map cost a login tens of µs more each time.) Without, a full
   * window takes no more (for touches: a session not remembered is simply touched).
   */
  constructor(private readonly windowMs: number, private readonly max: number, private readonly keepNewest = false) {}

  /**
   * The session's expiry was set (the write or touch was sent) at `at`. Deleted sessions are not
   * taken out: their ids never come back, and their entries go with their window (they do take
   * up to two of `max` slots per login until then).
   */
  note(sid: string, at: number): void {
    this.roll(at);
    if (this.current.size >= this.max && !this.current.has(sid)) {
      if (!this.keepNewest) return;
      // A new window: the next roll by time then forgets only entries a whole window old, never
      // one of the newest `max`.
      this.previous = this.current;
      this.current = new Map();
      this.startedAt = at;
    }
    this.current.set(sid, at);
  }

  /** True when the session's expiry was set less than one window ago (or a tenth of `lifetimeMs`, if shorter). */
  fresh(sid: string, now: number, lifetimeMs?: number): boolean {
    this.roll(now);
    const at = this.current.get(sid) ?? this.previous.get(sid);
    return at !== undefined && now - at < Math.min(this.windowMs, lifetimeMs === undefined ? Infinity : lifetimeMs / 10);
  }

  forget(sid: string): void {
    this.current.delete(sid);
    this.previous.delete(sid);
  }

  private roll(now: number): void {
    if (now - this.startedAt < this.windowMs) return;
    this.previous = now - this.startedAt < 2 * this.windowMs ? this.current : new Map();
    this.current = new Map();
    this.startedAt = now;
  }
}

/**
 * One Redis write and one wait on Redis fewer on every login, with the same sessions stored as before. Passport's
 * `req.logIn` regenerates the session (DEL of the old one), saves the new one (SET) and only then
 * lets the app answer; express-session then saves it once more as the response ends, because its
 * bookkeeping still compares with the id the request came with. This store wrapper:
 *
 * - sends the old session's DEL when the session is regenerated, but does not wait for it there:
 *   the new session's writes wait for it, so the first goes out in the same batch of commands.
 *   If the DEL fails, every write of the new session fails too (so `req.logIn` does) and the new
 *   session is deleted again, so no login outlives an old session that could not be removed. If
 *   nothing writes the new session, a failed DEL is logged.
 * - drops a write that repeats, byte for byte, the newest write of the same session object once
 *   that succeeded. A session object lives for one request, so the repeat can only be that
 *   request's; a session changed since, a write still in flight or one that failed is written.
 * - skips a touch (a request that changed nothing: connect-redis sends `EXPIRE` and express-session
 *   holds the answer's last byte back until it returns) when this process wrote or touched the
 *   session less than `touchAfterSeconds` ago, as connect-mongo's `touchAfter` does. A wrong code
 *   typed a few seconds after the password step then costs the session store nothing.
 *
 * And, so that a session stays ended:
 *
 * - a write or touch of a session this process deleted (a logout, the old session of a login) in
 *   the last ten minutes is dropped. express-session writes a changed session back as the request
 *   ends: a slow request that loaded it before a logout would otherwise bring the logged-in session
 *   back under its old id. (Another process's in-flight request can still do so.)
 *
 * And, so that a Redis outage answers every request once, at once, with a 503:
 *
 * - every store call fails with a 503 after `timeoutMs` (a late answer is dropped).
 * - a failure is reported once. express-session's write or touch as the response ends, after an
 *   error answer, is not passed on (it would reach Express's final handler: a stack trace, and the
 *   connection destroyed): a failed DEL reported already is not reported again, anything else is
 *   one line of log.
 */
export function fewerLoginWrites<S extends session.Store>(store: S, options: FewerLoginWritesOptions = {}): S {
  const touchAfterSeconds = options.touchAfterSeconds ?? 60;
  const maxRemembered = options.maxRemembered ?? 100_000;
  if (typeof touchAfterSeconds !== 'number' || !(touchAfterSeconds >= 0) || !Number.isFinite(touchAfterSeconds)) throw new TypeError('fewerLoginWrites: touchAfterSeconds must be a number of seconds, 0 or more');
  if (!Number.isSafeInteger(maxRemembered) || maxRemembered < 0) throw new TypeError('fewerLoginWrites: maxRemembered must be a whole number, 0 or more');
  const timeoutMs = options.timeoutMs ?? 2000;
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_TIMEOUT_MS) throw new TypeError(`fewerLoginWrites: timeoutMs must be a whole number of ms from 1 to ${MAX_TIMEOUT_MS}`);
  // Every call forwarded to the store gives up after timeoutMs; express-session's own get and
  // destroy (and a reload, through get) too.
  const get = store.get.bind(store);
  const rawSet = store.set.bind(store);
  const rawDestroy = store.destroy.bind(store);
  const set = (sid: string, data: session.SessionData, done: Callback): void => rawSet(sid, data, within(timeoutMs, 'set', done));
  // Sessions this process ended (a logout, a login's old session): a request that loaded one before
  // it ended must not write it back when it ends after (a logout undone by a slow request).
  const ended = maxRemembered > 0 ? new RecentExpiries(ENDED_WINDOW_MS, maxRemembered, true) : undefined;
  const destroy = (sid: string, done: Callback): void => {
    ended?.note(sid, monotonicMs());
    rawDestroy(sid, within(timeoutMs, 'destroy', done));
  };
  store.get = (sid, callback) => get(sid, within(timeoutMs, 'get', callback));
  store.destroy = (sid, callback) => destroy(sid, callback ?? (() => undefined));
  // A store whose sessions live a fixed number of seconds (connect-redis's `ttl`, a day by
  // default): never skip more than a tenth of that either (a ttl per session: see touch).
  const storeTtl = (store as { ttl?: unknown }).ttl;
  const windowMs = Math.min(touchAfterSeconds * 1000, typeof storeTtl === 'number' && storeTtl > 0 ? storeTtl * 100 : Infinity);
  const recent = windowMs > 0 && maxRemembered > 0 ? new RecentExpiries(windowMs, maxRemembered) : undefined;
  // Per session object (one request's): the DEL of the session(s) it replaced, until it succeeds;
  // the DEL's error once it failed; whether a write waits for (and so reports) the DEL; the
  // newest write sent; and that write's content once it succeeded.
  const replaced = new WeakMap<object, Promise<void>>();
  const failed = new WeakMap<object, unknown>();
  const reported = new WeakSet<object>();
  const sent = new WeakMap<object, number>();
  const written = new WeakMap<object, string>();
  // Session objects made by a regenerate (a login step) in this process.
  const regenerated = new WeakSet<object>();

  store.regenerate = (req, callback) => {
    // A session regenerated twice in one request: the new one waits for both DELs.
    const earlier = replaced.get(req.session);
    // ...and reports their failure: the session it replaces no longer does.
    if (earlier !== undefined) reported.add(req.session);
    const oldId = req.sessionID;
    const deleted = Promise.all([earlier, settle((done) => destroy(oldId, done))]).then(() => undefined);
    (store as S & { generate(r: typeof req): void }).generate(req);
    const fresh = req.session;
    regenerated.add(fresh);
    replaced.set(fresh, deleted);
    deleted.then(() => { replaced.delete(fresh); }, (err: unknown) => {
      failed.set(fresh, err);
      // Every write of the new session waits for this DEL and reports it; with none, say it here.
      if (!reported.has(fresh)) console.error(`session store: the replaced session was not deleted (${messageOf(err)})`);
    });
    callback();
  };

  store.set = (sid, data, callback) => {
    const done: Callback = callback ?? (() => undefined);
    // Ended while this request ran: it stays ended (ids never come back, so nothing else is lost).
    if (ended?.fresh(sid, monotonicMs())) return queueMicrotask(() => done());
    if (failed.has(data)) {
      // The failure (of the old session's DEL, or of an earlier write of this regenerated session)
      // is reported already. Any write before the answer fails with it; express-session's write
      // after the answer is dropped, not reported twice. Decided once express-session has sent
      // the answer's head.
      const err = failed.get(data);
      return queueMicrotask(() => done(answered(data) === undefined ? err : undefined));
    }
    const record = `${sid}\n${JSON.stringify(data)}`;
    const deleted = replaced.get(data);
    if (deleted === undefined && written.get(data) === record) return done();
    // Only the newest write sent may be taken for what the store holds.
    const n = (sent.get(data) ?? 0) + 1;
    sent.set(data, n);
    written.delete(data);
    if (deleted !== undefined) reported.add(data);
    const sentAt = monotonicMs();
    const wrote = settle((d) => set(sid, data, d));
    Promise.all([deleted, wrote]).then(() => {
      if (sent.get(data) === n) written.set(data, record);
      recent?.note(sid, sentAt);
      done();
    }, (err: unknown) => {
      // A regenerated session (a login step's) whose write failed or timed out must not exist: the
      // client is told the step failed. Its later writes fail or are dropped (express-session's own
      // at the end of the request would store the login after all), and the key is deleted, after
      // this write on the same connection, so a late SET does not bring it back. The same when the
      // old session may still be there (its DEL failed).
      if (regenerated.has(data)) {
        if (!failed.has(data)) {
          failed.set(data, err);
          // This write failed on its own: a failure of the DEL it waited for is not reported with it.
          reported.delete(data);
        }
        destroy(sid, () => undefined);
      }
      recent?.forget(sid);
      done(toReport(data, err, 'the session was not saved'));
    });
  };

  const touch = store.touch?.bind(store) as ((sid: string, data: session.SessionData, done: Callback) => void) | undefined;
  if (touch !== undefined) {
    store.touch = (sid, data, typedCallback) => {
      // Typed without arguments, but stores hand an error to it and express-session passes it on.
      const callback = typedCallback as Callback | undefined;
      const now = monotonicMs();
      if (ended?.fresh(sid, now)) return callback?.();
      // Answered at once, so express-session sends the whole answer in one write, too.
      // A cookie with a maxAge, or a store ttl that depends on the session (connect-redis's `ttl` as
      // a function), sets the session's lifetime: never skip more than a tenth of it.
      const maxAge = (data as { cookie?: { originalMaxAge?: unknown } } | undefined)?.cookie?.originalMaxAge;
      const lifetimeMs = typeof maxAge === 'number' ? maxAge : typeof storeTtl === 'function' ? Number(storeTtl(data)) * 1000 : undefined;
      if (recent?.fresh(sid, now, lifetimeMs !== undefined && Number.isFinite(lifetimeMs) && lifetimeMs > 0 ? lifetimeMs : undefined)) return callback?.();
      touch(sid, data, within(timeoutMs, 'touch', (err?: unknown) => {
        if (!err) recent?.note(sid, now);
        callback?.(err ? toReport(data, err, 'the session\'s expiry was not pushed back') : undefined);
      }));
    };
  }
  return store;
}
