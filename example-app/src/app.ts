import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import session from 'express-session';
import passportModule from 'passport';
import { Strategy as LocalStrategy } from 'passport-local';
import { csrfSync } from 'csrf-sync';
import { ClientClosedError, ClientOfflineError, ConnectionTimeoutError, DisconnectsClientError, ErrorReply, ReconnectStrategyError, RootNodesUnavailableError, SocketClosedUnexpectedlyError, SocketTimeoutError, TimeoutError } from 'redis';
import { ERROR_CODES, SmsOtp, SmsOtpError } from 'passport-sms-otp';
import type { AppConfig } from './config.js';
import { createInfrastructure, type Infrastructure } from './infra.js';
import { messagePage, SCRIPT_SOURCES, waitText } from './pages.js';
import { mountHealthCheck, mountRoutes } from './routes.js';
import { mountBenchRoutes } from './bench-routes.js';
import { sessionId } from './sessions.js';
import { UserDirectory, type User } from './users.js';

export interface ExampleApp {
  app: Express;
  infra: Infrastructure;
  close(): Promise<void>;
}

const MAX_FIELD_LENGTH = 256;

/**
 * `decide(req)`, remembered per value of one request header: the same few `Accept` and
 * `Content-Type` values come again and again, and parsing them costs more than the rest of a
 * wrong-code check in Express. At most 64 values of up to 256 characters are kept.
 */
function perHeaderValue<T>(header: 'accept' | 'content-type', decide: (req: Request) => T): (req: Request) => T {
  const seen = new Map<string | undefined, T>();
  return (req) => {
    const value = req.headers[header];
    if (value !== undefined && value.length > 256) return decide(req);
    const known = seen.get(value);
    if (known !== undefined) return known;
    const answer = decide(req);
    if (seen.size >= 64) seen.clear();
    seen.set(value, answer);
    return answer;
  };
}

/**
 * HTML and redirects for browsers (whose `Accept` prefers text/html); JSON and a status code for
 * everyone else: `Accept: application/json`, any type, or no `Accept` at all (curl, scripts, tests).
 */
export const wantsJson: (req: Request) => boolean = perHeaderValue('accept', (req) => req.accepts(['json', 'html']) === 'json');

/** As type-is decides whether a request has a body: a Transfer-Encoding, or a Content-Length. */
const hasBody = (req: Request): boolean => req.headers['transfer-encoding'] !== undefined || !isNaN(req.headers['content-length'] as unknown as number);
/** The body's type is application/json, as `req.is()` says; for a request that has a body. */
const jsonType = perHeaderValue('content-type', (req) => req.is('application/json') === 'application/json');
/** `req.is('application/json') === 'application/json'`, with the type's answer remembered. */
const isJsonBody = (req: Request): boolean => hasBody(req) && jsonType(req);
/**
 * The request says its body is JSON (`Content-Type: application/json`, parameters aside), body or
 * not: a page on another origin cannot send that type without a CORS preflight, which this app
 * never grants, so such a request needs no CSRF token even when it carries nothing.
 */
const saysJson = perHeaderValue('content-type', (req) => (req.headers['content-type'] ?? '').split(';', 1)[0]?.trim().toLowerCase() === 'application/json');

/**
 * Whether an error answer (the error handler's, the per-IP limit's) is JSON: as {@link wantsJson}
 * says, and JSON either way to a request whose body is JSON.
 */
export const wantsJsonError = (req: Request): boolean => wantsJson(req) || (req.method !== 'GET' && isJsonBody(req));

/** True when a browser says the request came from another origin (Origin, Sec-Fetch-Site). */
function fromAnotherOrigin(req: Request): boolean {
  const site = req.get('sec-fetch-site');
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return true;
  const origin = req.get('origin');
  if (origin === undefined) return false;
  try {
    return new URL(origin).host !== req.get('host');
  } catch {
    return true;
  }
}

/** The pages' own scripts run (by hash), nothing else: no inline script that markup could inject. */
const CSP = `default-src 'self'; style-src 'unsafe-inline'; script-src ${SCRIPT_SOURCES.join(' ')}; frame-ancestors 'none'; form-action 'self'`;

/** Builds the whole example app from a checked config. */
export async function createExampleApp(config: AppConfig): Promise<ExampleApp> {
  const infra = await createInfrastructure(config);
  const users = await UserDirectory.demo(config.bench.users);
  const passport = new passportModule.Passport();

  const smsOtp = new SmsOtp<User>({
    store: infra.otpStore,
    sender: infra.sender,
    encryptionKey: config.encryptionKey,
    loadUser: (id) => users.findById(id),
    userId: (user) => user.id,
    phoneNumber: (user) => user.phone,
    ...config.numbers,
  });

  // Audit events as JSON lines; they never hold a code, a secret or a full phone number.
  if (config.auditLog) smsOtp.challenges.events.onAny((event) => console.log(JSON.stringify(event)));

  passport.use(new LocalStrategy((username, password, done) => {
    // passport-local hands over whatever the body held: only short strings go on to scrypt.
    if (typeof username !== 'string' || typeof password !== 'string' || username.length > MAX_FIELD_LENGTH || password.length > MAX_FIELD_LENGTH) {
      return done(null, false);
    }
    users.verifyPassword(username, password).then((user) => done(null, user ?? false), done);
  }));
  passport.use(smsOtp.strategy);
  passport.serializeUser((user, done) => done(null, (user as User).id));
  passport.deserializeUser((id: unknown, done) => done(null, typeof id === 'string' ? users.findById(id) ?? false : false));

  const csrf = csrfSync({
    // 32 random bytes (256 bits) is plenty; the default 128 made every anonymous session four times larger.
    size: 32,
    getTokenFromRequest: (req) => {
      const body = req.body as Record<string, unknown> | undefined;
      const fromBody = body !== null && typeof body === 'object' ? body['_csrf'] : undefined;
      return typeof fromBody === 'string' ? fromBody : req.get('x-csrf-token');
    },
    // A cross-site form always sends a form type (urlencoded, multipart or text/plain), and this app
    // allows no cross-origin requests, so a JSON body (which needs a CORS preflight) cannot come from
    // another origin. A bodiless request is no form either, but a page on another origin of the same
    // site can send one with the SameSite=Lax cookie (fetch, mode no-cors): it skips the token only
    // when no browser says it came from elsewhere (no foreign Origin, no same-site/cross-site fetch).
    skipCsrfProtection: (req) => saysJson(req) || (!req.get('content-type') && !fromAnotherOrigin(req)),
  });

  const app = express();
  app.disable('x-powered-by');
  if (config.trustProxyHops > 0) app.set('trust proxy', config.trustProxyHops);
  app.use((_req, res, next) => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('Referrer-Policy', 'same-origin');
    // Pages show who is signed in and one-time-code forms: never from the browser's cache (Back after sign-out).
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Content-Security-Policy', CSP);
    next();
  });
  // Before the body parsers and the session: a health check never depends on a cookie.
  mountHealthCheck(app, { infra, smsOtp });
  app.use(express.json({ limit: '16kb' }));
  app.use(express.urlencoded({ extended: false, limit: '16kb' }));
  app.use(session({
    name: 'sid',
    secret: config.sessionSecret,
    store: infra.sessionStore,
    genid: sessionId,
    resave: false,
    saveUninitialized: false,
    cookie: { httpOnly: true, sameSite: 'lax', secure: config.production },
  }));
  app.use(passport.initialize());
  app.use(passport.session());

  const routes = mountRoutes(app, { config, infra, passport, smsOtp, csrf, users });
  if (config.bench.routes) mountBenchRoutes(app, { passport, smsOtp, users });

  app.use((req: Request, res: Response) => {
    if (wantsJson(req) || req.method !== 'GET') res.status(404).json({ error: 'not_found' });
    else res.status(404).send(messagePage('Not found', 'There is no page here.'));
  });
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const { status, body, headers } = describeError(err, infra);
    const detail = `${body.error}${err instanceof Error ? ` (${err.name}: ${err.message}${storeCause(err)})` : ''}`;
    // Answered already (e.g. express-session failing to save a page's session during an outage):
    // touching the headers now would throw and Express would reset the connection instead. The
    // log says what the client got.
    if (res.headersSent) {
      if (status >= 500) console.error(`error: ${req.method} ${req.path} -> failed after its answer (${res.statusCode}) was sent: ${detail}`);
      return;
    }
    if (status >= 500) console.error(`error: ${req.method} ${req.path} -> ${status} ${detail}`);
    for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
    if (wantsJsonError(req)) res.status(status).json(body);
    else if (body.error === 'csrf_invalid') routes.answerStaleForm(req, res);
    else res.status(status).send(messagePage(status === 429 ? 'Please wait' : 'Something went wrong', `${body.message}${waitText(body.retryAfterSeconds)}`));
  });

  return {
    app,
    infra,
    close: () => infra.close(),
  };
}

/**
 * Why the code store failed, for the log: node-redis's own error ("The client is offline", a
 * connection reset). Only for STORE_UNAVAILABLE: other causes (a custom sender's error) could hold
 * a phone number.
 */
function storeCause(err: Error): string {
  const cause = (err as { cause?: unknown }).cause;
  if (!(err instanceof SmsOtpError) || err.code !== 'STORE_UNAVAILABLE' || !(cause instanceof Error)) return '';
  return `; cause: ${cause.name}: ${cause.message.slice(0, 200)}`;
}

const REDIS_FAILURES = [ErrorReply, ClientClosedError, ClientOfflineError, ConnectionTimeoutError, DisconnectsClientError, ReconnectStrategyError, RootNodesUnavailableError, SocketClosedUnexpectedlyError, SocketTimeoutError, TimeoutError];

/** Whether node-redis raised this: an error reply of the server, or one of the client's own (closed, offline, timed out). */
function isRedisFailure(err: unknown): boolean {
  return REDIS_FAILURES.some((kind) => err instanceof kind);
}

/** Turns any error into a status and a JSON body that never leaks internals; client mistakes are 4xx. */
function describeError(err: unknown, infra: Infrastructure): { status: number; body: { error: string; message: string; retryAfterSeconds?: number }; headers: Record<string, string> } {
  if (err instanceof SmsOtpError) {
    const headers: Record<string, string> = err.retryAfterSeconds !== undefined ? { 'Retry-After': String(err.retryAfterSeconds) } : {};
    const message = err.status >= 500 ? ERROR_CODES[err.code] : err.message;
    const body = { error: err.code, message, ...(err.retryAfterSeconds !== undefined ? { retryAfterSeconds: err.retryAfterSeconds } : {}) };
    return { status: err.status, body, headers };
  }
  const fields = (err ?? {}) as { status?: unknown; statusCode?: unknown; type?: unknown; code?: unknown };
  const status = typeof fields.status === 'number' ? fields.status : typeof fields.statusCode === 'number' ? fields.statusCode : 500;
  if (status === 403 && (fields.code === 'EBADCSRFTOKEN' || String((err as Error).message).includes('csrf'))) {
    return { status: 403, body: { error: 'csrf_invalid', message: 'The form expired; reload the page and try again.' }, headers: {} };
  }
  if (status >= 400 && status < 500) {
    const message = fields.type === 'entity.parse.failed' ? 'The request body is not valid JSON.' : fields.type === 'entity.too.large' ? 'The request body is too large.' : 'The request is not valid.';
    return { status, body: { error: 'invalid_request', message }, headers: {} };
  }
  // Redis down, the session store's own timeout (SessionStoreTimeout: a Redis that hangs stays
  // "ready"), or Redis answering with an error on a ready connection (a cluster that is down or
  // still joining a restarted node: CLUSTERDOWN; LOADING, READONLY, MASTERDOWN): the store failed.
  if (status === 503 || (infra.redis !== undefined && (!infra.redis.isReady || isRedisFailure(err)))) {
    return { status: 503, body: { error: 'service_unavailable', message: 'The session store is unavailable; try again shortly.' }, headers: {} };
  }
  return { status: 500, body: { error: 'internal', message: 'Something went wrong.' }, headers: {} };
}
