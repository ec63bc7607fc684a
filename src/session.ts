import { SmsOtpError } from './errors.js';

/** The half-authenticated record: who passed the password step, and which challenge is theirs. */
export interface PendingLogin {
  userId: string;
  challengeId: string;
  startedAtMs: number;
  expiresAtMs: number;
}

/** What this package needs of `req.session`: express-session's regenerate and save. */
export interface RegenerableSession {
  regenerate(callback: (err?: unknown) => void): unknown;
  save(callback: (err?: unknown) => void): unknown;
  [key: string]: unknown;
}

/** Any request object; only its `session` property is read. */
export type SessionRequest = object;

function sessionOf(req: SessionRequest): unknown {
  return (req as { session?: unknown }).session;
}

/** Where the pending record lives in `req.session`. @default 'smsOtp' */
export const DEFAULT_SESSION_KEY = 'smsOtp';

/** Names that would reach an object's prototype instead of a property of its own. */
const PROTOTYPE_NAMES: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);
/** What express-session and Passport keep in a session themselves (Passport: the login, `messages`, `returnTo`), and the session's own methods. */
const SESSION_NAMES: ReadonlySet<string> = new Set(['cookie', 'passport', 'messages', 'returnTo', 'id', 'req', 'regenerate', 'save', 'reload', 'destroy', 'touch', 'resetMaxAge']);

/**
 * A property name given as an option (`codeField`, `sessionKey`, `userProperty`): `fallback`
 * when not given, else a string of 1-64 characters that is not a prototype name nor one of
 * `reserved`. Anything else is an `INVALID_OPTIONS` error at construction, not a login that
 * fails on every request.
 */
export function propertyNameOption(option: string, value: unknown, fallback: string, reserved: ReadonlySet<string> = new Set()): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || value.length === 0 || value.length > 64 || PROTOTYPE_NAMES.has(value) || value in Object.prototype || reserved.has(value)) {
    const taken = [...PROTOTYPE_NAMES, 'the names of Object.prototype', ...reserved].map((n) => (n.includes(' ') ? n : JSON.stringify(n))).join(', ');
    throw new SmsOtpError('INVALID_OPTIONS', `passport-sms-otp: ${option} must be a name of 1-64 characters other than ${taken}; got ${typeof value === 'string' ? JSON.stringify(value.slice(0, 80)) : typeof value}`);
  }
  return value;
}

/** The `sessionKey` option: where the pending record lives; not a name express-session or Passport uses. */
export function sessionKeyOption(value: unknown): string {
  return propertyNameOption('sessionKey', value, DEFAULT_SESSION_KEY, SESSION_NAMES);
}

/** The session of a request if it can be regenerated, else `SESSION_UNSUPPORTED` (no express-session, or cookie-session). */
export function regenerableSession(req: SessionRequest): RegenerableSession {
  const session = sessionOf(req) as Partial<RegenerableSession> | null | undefined;
  if (session === null || typeof session !== 'object' || typeof session.regenerate !== 'function' || typeof session.save !== 'function') {
    throw new SmsOtpError('SESSION_UNSUPPORTED');
  }
  return session as RegenerableSession;
}

/** The live pending record, or undefined. A malformed or expired record is removed. */
export function readPending(req: SessionRequest, key: string, nowMs: number = Date.now()): PendingLogin | undefined {
  const session = sessionOf(req) as Record<string, unknown> | null | undefined;
  if (session === null || typeof session !== 'object') return undefined;
  const record = session[key] as Partial<PendingLogin> | undefined;
  if (record === undefined) return undefined;
  const live = record !== null && typeof record === 'object'
    && typeof record.userId === 'string' && record.userId.length > 0
    && typeof record.challengeId === 'string' && record.challengeId.length > 0
    && typeof record.startedAtMs === 'number' && typeof record.expiresAtMs === 'number'
    && record.expiresAtMs > nowMs;
  if (!live) {
    delete session[key];
    return undefined;
  }
  return { userId: record.userId as string, challengeId: record.challengeId as string, startedAtMs: record.startedAtMs as number, expiresAtMs: record.expiresAtMs as number };
}

export function writePending(session: RegenerableSession, key: string, pending: PendingLogin): void {
  session[key] = { ...pending };
}

export function clearPending(req: SessionRequest, key: string): void {
  const session = sessionOf(req) as Record<string, unknown> | null | undefined;
  if (session !== null && typeof session === 'object') delete session[key];
}

/** `session.regenerate()` as a promise: a new session id, nothing carried over. */
export function regenerate(session: RegenerableSession): Promise<void> {
  return callback((done) => session.regenerate(done));
}

/** `session.save()` as a promise, so the pending record is stored before the client is answered. */
export function save(session: RegenerableSession): Promise<void> {
  return callback((done) => session.save(done));
}

function callback(run: (done: (err?: unknown) => void) => unknown): Promise<void> {
  return new Promise((resolve, reject) => {
    run((err) => (err ? reject(err) : resolve()));
  });
}
