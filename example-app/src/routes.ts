import type { Express, NextFunction, Request, Response } from 'express';
import type passportModule from 'passport';
import type { CsrfSync } from 'csrf-sync';
import { isSmsOtpError, type SmsOtp, type SmsOtpFailure } from 'passport-sms-otp';
import type { AppConfig } from './config.js';
import { perIpLimit, type Infrastructure } from './infra.js';
import { accountPage, codePage, loginPage, outboxPage } from './pages.js';
import type { User } from './users.js';
import { wantsJson } from './app.js';

interface RouteDeps {
  config: AppConfig;
  infra: Infrastructure;
  passport: InstanceType<typeof passportModule.Passport>;
  smsOtp: SmsOtp<User>;
  csrf: CsrfSync;
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

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([promise, new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error('timeout')), ms); })]).finally(() => clearTimeout(timer));
}

export function mountRoutes(app: Express, { config, infra, passport, smsOtp, csrf }: RouteDeps): void {
  const digits = smsOtp.challenges.numbers.digits;
  const limit = (name: string) => perIpLimit(infra.redis, config.rateLimitPerIpPerMin, name);
  const token = (req: Request): string => csrf.generateToken(req);
  const protect = csrf.csrfSynchronisedProtection;

  app.get('/', (req, res) => res.redirect(req.isAuthenticated() ? '/account' : '/login'));
  app.get('/favicon.ico', (_req, res) => res.status(204).end());

  app.get('/login', (req, res) => {
    if (wantsJson(req)) return res.json({ status: req.isAuthenticated() ? 'authenticated' : 'anonymous' });
    return res.send(loginPage(token(req), takeFlash(req)));
  });

  app.post('/login', ...limit('login'), protect, (req: Request, res: Response, next: NextFunction) => {
    passport.authenticate('local', { session: false }, (err: unknown, user: User | false, _info: unknown, status?: number) => {
      if (err) return next(err);
      if (user) {
        (req as unknown as { passwordUser: User }).passwordUser = user;
        return next();
      }
      // Unknown user and wrong password end here alike: same status, same body, same scrypt work.
      const missing = status === 400;
      const message = missing ? 'Enter a username and a password.' : 'Wrong username or password.';
      if (wantsJson(req)) return res.status(missing ? 400 : 401).json({ error: missing ? 'invalid_request' : 'invalid_credentials', message });
      const username = typeof req.body?.username === 'string' ? req.body.username.slice(0, 256) : '';
      return res.status(missing ? 400 : 401).send(loginPage(token(req), message, username));
    })(req, res, next);
  }, smsOtp.start({ userProperty: 'passwordUser' }), (req, res) => {
    if (wantsJson(req)) return res.json({ status: 'otp_required' });
    return res.redirect(303, '/login/otp');
  });

  const pendingOnly = smsOtp.requirePendingLogin({
    onDenied: (req, res, _next, error) => (wantsJson(req) ? res.status(401).json({ error: error.code, message: error.message }) : res.redirect(303, '/login')),
  });

  app.get('/login/otp', pendingOnly, (req, res) => {
    if (wantsJson(req)) return res.json({ status: 'otp_required', digits });
    return res.send(codePage(token(req), digits, undefined, req.query.sent === '1' ? 'A new code is on its way.' : undefined));
  });

  app.post('/login/otp', ...limit('otp'), protect, (req: Request, res: Response, next: NextFunction) => {
    passport.authenticate('sms-otp', (err: unknown, user: User | false, info: SmsOtpFailure | undefined, status?: number) => {
      if (err) return next(err);
      if (!user) {
        const code = info?.code ?? 'CODE_WRONG';
        const message = info?.message ?? 'The code is not correct.';
        const httpStatus = status ?? 401;
        // Retry-After is already set: the strategy sets it with retryAfterSeconds.
        if (wantsJson(req)) {
          const body: Record<string, unknown> = { error: code, message };
          if (info?.attemptsLeft !== undefined) body.attemptsLeft = info.attemptsLeft;
          if (info?.retryAfterSeconds !== undefined) body.retryAfterSeconds = info.retryAfterSeconds;
          return res.status(httpStatus).json(body);
        }
        if (RESTART.has(code)) {
          setFlash(req, message);
          return res.redirect(303, '/login');
        }
        return res.status(httpStatus).send(codePage(token(req), digits, message));
      }
      return req.logIn(user, (loginErr) => {
        if (loginErr) return next(loginErr);
        return wantsJson(req) ? res.json({ status: 'authenticated' }) : res.redirect(303, '/account');
      });
    })(req, res, next);
  });

  app.post('/login/otp/resend', ...limit('resend'), protect, smsOtp.resend(), (req: Request, res: Response) => {
    if (wantsJson(req)) return res.json({ status: 'otp_sent' });
    return res.redirect(303, '/login/otp?sent=1');
  }, (err: unknown, req: Request, res: Response, next: NextFunction) => {
    // Browsers stay on the code page with the reason; API clients get the generic error answer.
    if (wantsJson(req) || !isSmsOtpError(err) || RESTART.has(err.code)) return next(err);
    if (err.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(err.retryAfterSeconds));
    const wait = err.retryAfterSeconds !== undefined ? ` Try again in ${err.retryAfterSeconds} s.` : '';
    return res.status(err.status).send(codePage(token(req), digits, `${err.message}${wait}`));
  });

  app.get('/account', smsOtp.requireAuthenticated({
    onDenied: (req, res, _next, error) => (wantsJson(req) ? res.status(401).json({ error: error.code, message: error.message }) : res.redirect(303, '/login')),
  }), (req, res) => {
    const user = req.user as User;
    if (wantsJson(req)) return res.json({ username: user.username });
    return res.send(accountPage(token(req), user.username));
  });

  app.post('/logout', protect, (req: Request, res: Response, next: NextFunction) => {
    req.logout((err) => {
      if (err) return next(err);
      return wantsJson(req) ? res.json({ status: 'logged_out' }) : res.redirect(303, '/login');
    });
  });

  app.get('/dev/outbox', (req, res) => {
    const outbox = infra.outbox;
    if (outbox === undefined) return res.status(404).json({ error: 'not_found' });
    const messages = outbox.messages.map(({ to, text, sentAt }) => ({ to, text, sentAt }));
    if (req.accepts(['json', 'html']) === 'html') return res.send(outboxPage(messages));
    return res.json(messages);
  });
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
