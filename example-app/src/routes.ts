import type { Express, NextFunction, Request, RequestHandler, Response } from 'express';
import type passportModule from 'passport';
import type { CsrfSync } from 'csrf-sync';
import { DEFAULT_SESSION_KEY, ERROR_CODES, isSmsOtpError, readPending, redactPhoneNumber, SmsOtpError, type SmsOtp, type SmsOtpFailure } from 'passport-sms-otp';
import { encryptionKeyIsPerStart, type AppConfig } from './config.js';
import { perIpLimit, type Infrastructure, type LimitResponder } from './infra.js';
import { accountPage, codePage, loginPage, messagePage, outboxPage, waitText } from './pages.js';
import type { User, UserDirectory } from './users.js';
import { wantsJson, wantsJsonError } from './app.js';

interface RouteDeps {
  config: AppConfig;
  infra: Infrastructure;
  passport: InstanceType<typeof passportModule.Passport>;
  smsOtp: SmsOtp<User>;
  csrf: CsrfSync;
  users: UserDirectory;
}

type Flash = { flash?: string };
const takeFlash = (req: Request): string | undefined => {
  const store = req.session as unknown as Flash;
  const text = store.flash;
  delete store.flash;
  return text;
};
const setFlash = (req: Request, text: string): void => {
  (req.session as unknown as Flash).flash = text;
};

/** Which failures send a browser back to the password step. */
const RESTART = new Set(['NO_PENDING_LOGIN', 'CHALLENGE_EXHAUSTED', 'USER_NOT_FOUND']);

/**
 * A field of the request body as passport-local reads it (a nested object or array counts as
 * missing), from the body only: passport-local falls back to the query string, and credentials
 * in a URL end up in access logs, browser history and Referer headers.
 */
function bodyField(req: Request, name: string): string | undefined {
  const body: unknown = req.body;
  if (body === null || typeof body !== 'object' || !Object.hasOwn(body, name)) return undefined;
  const value = (body as Record<string, unknown>)[name];
  // A form field is always a string; JSON may send a number, a boolean or an object: no username or password.
  return typeof value === 'string' ? value : undefined;
}

/** The per-IP limit's refusal as the app's other error answers: JSON to API clients, a page to browsers. */
const answerLimited: LimitResponder = (req, res, { status, body }) => {
  if (wantsJsonError(req)) {
    res.status(status).json(body);
    return;
  }
  res.status(status).send(messagePage(status === 429 ? 'Please wait' : 'Something went wrong', `${body.message}${waitText('retryAfterSeconds' in body ? body.retryAfterSeconds : undefined)}`));
};

/** Whether a logout has anything to end: a logged-in user, or a pending (half-authenticated) login. */
function holdsLogin(req: Request): boolean {
  return req.isAuthenticated() || readPendingRecord(req) !== undefined;
}

/** The session's pending record, if any (whatever its shape: the package checks it). */
const readPendingRecord = (req: Request): unknown => (req.session as unknown as Record<string, unknown> | undefined)?.[DEFAULT_SESSION_KEY];

/** Whether the session holds a CSRF token already (csrf-sync keeps it as `csrfToken`). */
const hasCsrfToken = (req: Request): boolean => (req.session as unknown as { csrfToken?: unknown } | undefined)?.csrfToken !== undefined;

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([promise, new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error('timeout')), ms); })]).finally(() => clearTimeout(timer));
}

/** What the routes hand back to the app's error handler. */
export interface MountedRoutes {
  /** A browser's form post refused for its CSRF token: see mountRoutes. */
  answerStaleForm(req: Request, res: Response): void;
}

export function mountRoutes(app: Express, { config, infra, passport, smsOtp, csrf, users }: RouteDeps): MountedRoutes {
  const digits = smsOtp.challenges.numbers.digits;
  const limit = (name: string) => perIpLimit(infra.redis, config.rateLimitPerIpPerMin, name, answerLimited);
  /** The session's CSRF token for a form; the first one a session gets is marked, see sendPage. */
  const token = (req: Request): string => {
    const minted = !hasCsrfToken(req);
    const value = csrf.generateToken(req);
    if (minted) mintedToken.add(req);
    return value;
  };
  const mintedToken = new WeakSet<Request>();
  /**
   * Sends an HTML page. A page that has just given its session a CSRF token saves the session
   * before it is sent: otherwise a session store that fails or hangs (its write comes after the
   * answer) leaves a 200 form whose post can only fail ("form expired"); now it is a 503 page.
   */
  const sendPage = (req: Request, res: Response, html: string, status = 200): void => {
    if (!mintedToken.has(req)) {
      res.status(status).send(html);
      return;
    }
    req.session.save((err: unknown) => {
      if (err) {
        // The same answer as any session store failure (the app's error handler).
        req.next?.(err);
        return;
      }
      res.status(status).send(html);
    });
  };
  const protect = csrf.csrfSynchronisedProtection;
  const forgetUnreadable = encryptionKeyIsPerStart(config);
  /** Where the pending login's code went, masked (`********78`): two tabs' logins are told apart. */
  const sentTo = (req: Request): string | undefined => {
    const userId = (readPendingRecord(req) as { userId?: unknown } | undefined)?.userId;
    const phone = typeof userId === 'string' ? users.findById(userId)?.phone : undefined;
    return phone === undefined ? undefined : redactPhoneNumber(phone);
  };

  /** A code step's failure: JSON with its code (and what a client may be told), or the code page / the password step for a browser. */
  const answerCodeFailure = (req: Request, res: Response, code: string, message: string, httpStatus: number, info?: SmsOtpFailure) => {
    // Retry-After is already set: the strategy sets it with retryAfterSeconds.
    if (wantsJson(req)) {
      const body: Record<string, unknown> = { error: code, message };
      if (info?.attemptsLeft !== undefined) body.attemptsLeft = info.attemptsLeft;
      if (info?.retryAfterSeconds !== undefined) body.retryAfterSeconds = info.retryAfterSeconds;
      return res.status(httpStatus).json(body);
    }
    // A malformed code is refused before its login is checked: without a pending login (none, or
    // one the strategy found expired and removed), the code page would ask for a code that cannot
    // be checked. The password step, as for any other code without a login.
    if (code === 'CODE_MALFORMED' && readPendingRecord(req) === undefined) return answerCodeFailure(req, res, 'NO_PENDING_LOGIN', ERROR_CODES.NO_PENDING_LOGIN, 401);
    if (RESTART.has(code)) {
      setFlash(req, message);
      return res.redirect(303, '/login');
    }
    // A person reads this: the length they must type, how many tries are left, how long to wait.
    const shown = code === 'CODE_MALFORMED' ? `Enter the ${digits}-digit code from the text message.` : message;
    const left = info?.attemptsLeft === undefined ? '' : ` ${info.attemptsLeft} ${info.attemptsLeft === 1 ? 'try' : 'tries'} left.`;
    return sendPage(req, res, codePage(token(req), digits, sentTo(req), `${shown}${left}${waitText(info?.retryAfterSeconds)}`), httpStatus);
  };

  /**
   * With a per-start key (see startStep): a pending login whose secret an earlier run sealed can
   * never be checked or resent. It ends (NO_PENDING_LOGIN, password again, where startStep makes
   * a new secret) instead of a 500 on every try. Anything else goes on to `next`.
   */
  const endUnreadableLogin = (err: unknown, req: Request, res: Response, next: NextFunction) => {
    if (!forgetUnreadable || !isUnreadable(err)) return next(err);
    const session = req.session as unknown as Record<string, unknown>;
    const pending = session[DEFAULT_SESSION_KEY] as { userId?: unknown } | undefined;
    delete session[DEFAULT_SESSION_KEY];
    const ended = new SmsOtpError('NO_PENDING_LOGIN');
    const answer = () => answerCodeFailure(req, res, ended.code, ended.message, ended.status);
    if (typeof pending?.userId !== 'string') return answer();
    const userId = pending.userId;
    return forgetUnreadableSecret(smsOtp, userId).then(answer, next);
  };

  app.get('/', (req, res) => res.redirect(req.isAuthenticated() ? '/account' : '/login'));
  app.get('/favicon.ico', (_req, res) => res.status(204).end());

  // A browser's first look at the sign-in page stores a session (its form's CSRF token) that anyone
  // can make. With RATE_LIMIT_LOGIN_PAGE_PER_IP_PER_MIN those count in a per-IP limit of their own;
  // a JSON client or a session that has its token already does not. Off by default: the contract
  // limits POST routes only, and many browsers behind one address load the page.
  const pageLimit = perIpLimit(infra.redis, config.loginPageLimitPerIpPerMin, 'login-page', answerLimited);
  const newSessionLimit = pageLimit.map((limiter): RequestHandler => (req, res, next) => {
    return wantsJson(req) || hasCsrfToken(req) ? next() : limiter(req, res, next);
  });
  app.get('/login', ...newSessionLimit, (req, res) => {
    // A login waiting for its code says so (as `GET /login/otp` does), so a client can pick up where it was.
    if (wantsJson(req)) return res.json({ status: req.isAuthenticated() ? 'authenticated' : readPending(req, DEFAULT_SESSION_KEY) !== undefined ? 'otp_required' : 'anonymous' });
    // Signed in already (Back after signing in): the account page, not a form that would end this login.
    if (req.isAuthenticated()) return res.redirect(303, '/account');
    return sendPage(req, res, loginPage(token(req), takeFlash(req)));
  });

  const refuseLogin = (req: Request, res: Response, missing: boolean) => {
    const message = missing ? 'Enter a username and a password.' : 'Wrong username or password.';
    if (wantsJson(req)) return res.status(missing ? 400 : 401).json({ error: missing ? 'invalid_request' : 'invalid_credentials', message });
    const username = bodyField(req, 'username');
    return sendPage(req, res, loginPage(token(req), message, typeof username === 'string' ? username.slice(0, 256) : ''), missing ? 400 : 401);
  };

  // In production the session cookie is secure-only: a login over plain HTTP (no TLS proxy, or one
  // that is not trusted, see TRUST_PROXY) gets a text but never its cookie. Said once in the log.
  let plainHttpWarned = !config.production;
  app.post('/login', ...limit('login'), protect, (req: Request, res: Response, next: NextFunction) => {
    if (!plainHttpWarned && !req.secure) {
      plainHttpWarned = true;
      console.warn('warning: a login arrived over plain HTTP in production: its session cookie is secure-only and will not be set, so the login cannot finish; serve the app behind a TLS proxy that sends X-Forwarded-Proto, and set TRUST_PROXY to the number of proxies');
    }
    // passport-local's own check (an empty or missing field is a 400), made on the body alone: with
    // both fields there, passport-local takes them and never looks at the query string.
    if (!bodyField(req, 'username') || !bodyField(req, 'password')) return refuseLogin(req, res, true);
    passport.authenticate('local', { session: false }, (err: unknown, user: User | false, _info: unknown, status?: number) => {
      if (err) return next(err);
      if (user) {
        (req as unknown as { passwordUser: User }).passwordUser = user;
        return next();
      }
      // Unknown user and wrong password end here alike: same status, same body, same scrypt work.
      return refuseLogin(req, res, status === 400);
    })(req, res, next);
  }, startStep(smsOtp, forgetUnreadable), (req, res) => {
    if (wantsJson(req)) return res.json({ status: 'otp_required' });
    return res.redirect(303, '/login/otp');
  });

  const pendingOnly = smsOtp.requirePendingLogin({
    onDenied: (req, res, _next, error) => (wantsJson(req) ? res.status(401).json({ error: error.code, message: error.message }) : res.redirect(303, req.isAuthenticated() ? '/account' : '/login')),
  });

  app.get('/login/otp', pendingOnly, (req, res) => {
    if (wantsJson(req)) return res.json({ status: 'otp_required', digits });
    return sendPage(req, res, codePage(token(req), digits, sentTo(req), undefined, takeFlash(req) ?? (req.query.sent === '1' ? 'A new code is on its way.' : undefined)));
  });

  app.post('/login/otp', ...limit('otp'), protect, (req: Request, res: Response, next: NextFunction) => {
    passport.authenticate('sms-otp', (err: unknown, user: User | false, info: SmsOtpFailure | undefined, status?: number) => {
      if (err) return endUnreadableLogin(err, req, res, next);
      if (!user) return answerCodeFailure(req, res, info?.code ?? 'CODE_WRONG', info?.message ?? 'The code is not correct.', status ?? 401, info);
      return req.logIn(user, (loginErr) => {
        if (loginErr) return next(loginErr);
        return wantsJson(req) ? res.json({ status: 'authenticated' }) : res.redirect(303, '/account');
      });
    })(req, res, next);
  });

  app.post('/login/otp/resend', ...limit('resend'), protect, smsOtp.resend(), (req: Request, res: Response) => {
    if (wantsJson(req)) return res.json({ status: 'otp_sent' });
    return res.redirect(303, '/login/otp?sent=1');
  }, endUnreadableLogin, (err: unknown, req: Request, res: Response, next: NextFunction) => {
    // Browsers stay on the code page with the reason, or go back to the password step with it
    // when the login is over (as at the code step); API clients get the generic error answer.
    if (wantsJson(req) || !isSmsOtpError(err)) return next(err);
    if (RESTART.has(err.code)) {
      setFlash(req, err.message);
      return res.redirect(303, '/login');
    }
    if (err.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(err.retryAfterSeconds));
    return sendPage(req, res, codePage(token(req), digits, sentTo(req), `${err.message}${waitText(err.retryAfterSeconds)}`), err.status);
  });

  app.get('/account', smsOtp.requireAuthenticated({
    onDenied: (req, res, _next, error) => (wantsJson(req) ? res.status(401).json({ error: error.code, message: error.message }) : res.redirect(303, '/login')),
  }), (req, res) => {
    const user = req.user as User;
    if (wantsJson(req)) return res.json({ username: user.username });
    return sendPage(req, res, accountPage(token(req), user.username));
  });

  app.post('/logout', ...limit('logout'), protect, (req: Request, res: Response, next: NextFunction) => {
    const done = () => (wantsJson(req) ? res.json({ status: 'logged_out' }) : res.redirect(303, '/login'));
    // Nothing to end: Passport's logout would save this session and store a new one, on every request.
    if (!holdsLogin(req)) return done();
    return req.logout((err) => {
      if (err) return next(err);
      return done();
    });
  });

  app.get('/dev/outbox', (req, res) => {
    const outbox = infra.outbox;
    if (outbox === undefined) {
      if (req.accepts(['json', 'html']) === 'html') return res.status(404).send(messagePage('Not found', 'There is no outbox: this app sends real texts.'));
      return res.status(404).json({ error: 'not_found' });
    }
    const messages = outbox.messages.map(({ to, text, sentAt }) => ({ to, text, sentAt }));
    if (req.accepts(['json', 'html']) === 'html') return res.send(outboxPage(messages));
    return res.json(messages);
  });

  /**
   * A browser's form post whose CSRF token did not match (a page open too long, a second click
   * after the first post replaced the session, a form from another tab's login): still a 403, but
   * with a fresh form of where the login stands and a word on why; an error page saying "reload"
   * would post the stale form again. A post with no session cookie at all means the browser keeps
   * no cookies, which no fresh form can mend; one whose session is gone gets a link to sign in.
   */
  const answerStaleForm = (req: Request, res: Response): void => {
    if (!/(?:^|;\s*)sid=/.test(req.get('cookie') ?? '')) {
      res.status(403).send(messagePage('Cookies needed', 'This site needs cookies to sign you in. Allow cookies for this site, then sign in again.'));
      return;
    }
    const expired = 'That form had expired, so nothing was done. Please try again.';
    // Its session is gone (expired, or ended by the post before it): a fresh form would need a new
    // session stored now, from an error answer, and its cookie could overwrite the one the post
    // before this one just set. A page with a link to sign in stores nothing.
    if (!hasCsrfToken(req)) {
      res.status(403).send(messagePage('Form expired', 'That form had expired, so nothing was done.'));
      return;
    }
    // From here on the session has its token: the pages below store nothing new.
    if (req.isAuthenticated()) {
      sendPage(req, res, accountPage(token(req), (req.user as User).username, expired), 403);
      return;
    }
    if (readPendingRecord(req) !== undefined) {
      sendPage(req, res, codePage(token(req), digits, sentTo(req), expired), 403);
      return;
    }
    const username = bodyField(req, 'username');
    sendPage(req, res, loginPage(token(req), expired, typeof username === 'string' ? username.slice(0, 256) : ''), 403);
  };
  return { answerStaleForm };
}

const isUnreadable = (err: unknown): boolean => isSmsOtpError(err) && err.code === 'SECRET_UNREADABLE';

/** Forgets a user whose secret an earlier run sealed under its own per-start key (never readable again), with one log line. */
async function forgetUnreadableSecret(smsOtp: SmsOtp<User>, userId: string): Promise<void> {
  await smsOtp.challenges.forgetUser(userId);
  console.warn(`warning: forgot the unreadable secret of user ${userId}: OTP_ENCRYPTION_KEY is generated per start, so a secret sealed by an earlier run can never be read; a new one is made at the next login`);
}

/**
 * The start step of `POST /login` (the user is in `req.passwordUser`). With `forgetUnreadable` (the
 * encryption key was made up at this start, never in production): a user whose stored secret does
 * not open (`SECRET_UNREADABLE`, sealed by an earlier run under its own random key, which no run
 * will have again) is forgotten and the step runs once more, with a new secret. With a configured
 * key the error stands: a lost or wrong key is the operator's to see, and forgetting would hide it.
 */
function startStep(smsOtp: SmsOtp<User>, forgetUnreadable: boolean): RequestHandler {
  const start = smsOtp.start({ userProperty: 'passwordUser' });
  if (!forgetUnreadable) return start;
  return (req, res, next) => {
    const holder = req as unknown as { passwordUser?: User };
    const user = holder.passwordUser;
    start(req, res, (err?: unknown) => {
      if (user === undefined || !isUnreadable(err)) return next(err);
      forgetUnreadableSecret(smsOtp, user.id).then(() => {
        // The start step takes the user off the request as it reads it.
        holder.passwordUser = user;
        start(req, res, next);
      }, next);
    });
  };
}

/** `GET /healthz`: 200 when the OTP store (and Redis, if used) answer within a second, else 503. */
export function mountHealthCheck(app: Express, { infra, smsOtp }: Pick<RouteDeps, 'infra' | 'smsOtp'>): void {
  app.get('/healthz', async (_req, res) => {
    try {
      await withTimeout(Promise.all([smsOtp.challenges.ping(), infra.redis === undefined ? undefined : infra.redis.ping()]), 1000);
      res.json({ status: 'ok', store: infra.storeKind, sender: infra.senderKind });
    } catch {
      res.status(503).json({ status: 'unavailable', store: infra.storeKind });
    }
  });
}
