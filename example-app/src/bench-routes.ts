import type { Express, NextFunction, Request, Response } from 'express';
import type passportModule from 'passport';
import { Strategy as LocalStrategy } from 'passport-local';
import type { SmsOtp } from 'passport-sms-otp';
import type { User, UserDirectory } from './users.js';

interface BenchDeps {
  passport: InstanceType<typeof passportModule.Passport>;
  smsOtp: SmsOtp<User>;
  users: UserDirectory;
}

/**
 * Routes for `npm run bench` only (BENCH_ROUTES=1, refused in production). They sit behind the
 * same middleware as the real routes (body parsers, session, Passport), so the difference to
 * them is the work under test:
 *
 * - `POST /bench/session`: loads the session and saves it, nothing else: the floor for any
 *   session-based login step.
 * - `POST /bench/session-regenerate`: loads the session, regenerates it and saves it, as
 *   Passport's `req.logIn` does: the floor for a login step that must change the session id.
 * - `POST /bench/login-without-password` `{username}`: `POST /login` without its password
 *   check (no scrypt), so the start step (regenerate, challenge, text, save) is measured alone.
 */
export function mountBenchRoutes(app: Express, { passport, smsOtp, users }: BenchDeps): void {
  app.post('/bench/session', (req: Request, res: Response) => {
    const session = req.session as unknown as { benchHits?: number };
    session.benchHits = (session.benchHits ?? 0) + 1;
    res.json({ status: 'ok' });
  });

  app.post('/bench/session-regenerate', (req: Request, res: Response, next: NextFunction) => {
    req.session.regenerate((err: unknown) => {
      if (err) return next(err);
      (req.session as unknown as { benchHits?: number }).benchHits = 1;
      return req.session.save((saveErr: unknown) => (saveErr ? next(saveErr) : res.json({ status: 'ok' })));
    });
  });

  // passport-local insists on a password field: point it at the username, which is always there.
  passport.use('bench-without-password', new LocalStrategy({ passwordField: 'username' }, (username, _password, done) => {
    done(null, users.findByName(username) ?? false);
  }));
  app.post(
    '/bench/login-without-password',
    passport.authenticate('bench-without-password', { session: false, assignProperty: 'passwordUser', failWithError: true }),
    smsOtp.start({ userProperty: 'passwordUser' }),
    (_req: Request, res: Response) => { res.json({ status: 'otp_required' }); },
  );
}
