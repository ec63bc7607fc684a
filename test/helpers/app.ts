import expressSession from 'express-session';
import express5 from 'express';
import passport07 from 'passport';
import { Strategy as LocalStrategy } from 'passport-local';
import type { Express, NextFunction, Request, Response } from 'express';
import { SmsOtp, smsOtpErrorHandler, type SmsOtpFailure } from '../../src/index.js';
import type { ChallengeNumbers } from '../../src/options.js';
import type { SmsSender } from '../../src/sender.js';
import type { OtpStore } from '../../src/store.js';

export interface DemoUser { id: string; username: string; password: string; phone: string }

export const USERS: readonly DemoUser[] = [
  { id: '1', username: 'alice', password: 'alice-password', phone: '+4512345678' },
  { id: '2', username: 'bob', password: 'bob-password', phone: '+4587654321' },
];

export const TEST_KEY = 'a'.repeat(64);

/** Express and Passport flavours the flow runs on. */
type ExpressFactory = (() => Express) & { json: typeof express5.json };
interface PassportModule { Passport: new () => typeof passport07 }

export interface TestAppOptions {
  store: OtpStore;
  sender: SmsSender;
  numbers?: Partial<ChallengeNumbers>;
  express?: ExpressFactory;
  passport?: PassportModule;
  /** Passes keepSessionInfo to passport.authenticate('sms-otp') and req.logIn. */
  keepSessionInfo?: boolean;
}

/**
 * The smallest real app a user would write: passport-local for the password,
 * SmsOtp for the code, express-session for sessions, JSON answers.
 */
export function buildApp(options: TestAppOptions): { app: Express; smsOtp: SmsOtp<DemoUser> } {
  const express = options.express ?? (express5 as ExpressFactory);
  const passport = new (options.passport ?? (passport07 as unknown as PassportModule)).Passport();
  const byId = (id: string): DemoUser | undefined => USERS.find((u) => u.id === id);

  const smsOtp = new SmsOtp<DemoUser>({
    store: options.store,
    sender: options.sender,
    encryptionKey: TEST_KEY,
    loadUser: byId,
    userId: (user) => user.id,
    phoneNumber: (user) => user.phone,
    ...options.numbers,
  });

  passport.use(new LocalStrategy((username, password, done) => {
    const user = USERS.find((u) => u.username === username);
    return done(null, user !== undefined && user.password === password ? user : false);
  }));
  passport.use(smsOtp.strategy);
  passport.serializeUser((user, done) => done(null, (user as DemoUser).id));
  passport.deserializeUser((id: string, done) => done(null, byId(id) ?? false));

  const app = express();
  app.use(express.json({ limit: '64kb' }));
  app.use(expressSession({ secret: 'test-secret', resave: false, saveUninitialized: false, name: 'sid' }));
  app.use(passport.initialize());
  app.use(passport.session());

  app.get('/visit', (req, res) => {
    (req.session as unknown as Record<string, unknown>).visited = true;
    res.json({ ok: true });
  });
  app.post('/login', passport.authenticate('local', { session: false }), smsOtp.start(), (req, res) => {
    res.json({ status: 'otp_required', userSet: (req as { user?: unknown }).user !== undefined, isAuthenticated: req.isAuthenticated() });
  });
  app.post('/login/otp', (req: Request, res: Response, next: NextFunction) => {
    passport.authenticate('sms-otp', { keepSessionInfo: options.keepSessionInfo === true }, (err: unknown, user: DemoUser | false, info: SmsOtpFailure | undefined, status: number | undefined) => {
      if (err) return next(err);
      if (!user) return res.status(status ?? 401).json({ error: info?.code ?? 'UNKNOWN' });
      return req.logIn(user, { session: true, keepSessionInfo: options.keepSessionInfo === true }, (loginErr) => (loginErr ? next(loginErr) : res.json({ status: 'authenticated' })));
    })(req, res, next);
  });
  app.post('/login/otp/resend', smsOtp.resend(), (_req, res) => {
    res.json({ status: 'otp_sent' });
  });
  app.get('/login/otp', smsOtp.requirePendingLogin(), (req, res) => {
    res.json({ pending: true, isAuthenticated: req.isAuthenticated(), user: (req as { user?: unknown }).user ?? null });
  });
  app.get('/account', smsOtp.requireAuthenticated(), (req, res) => {
    res.json({ username: (req.user as DemoUser).username });
  });
  app.get('/session', (req, res) => {
    res.json({ isAuthenticated: req.isAuthenticated(), keys: Object.keys(req.session ?? {}) });
  });
  app.use(smsOtpErrorHandler());
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    res.status(500).json({ error: 'internal', message: err instanceof Error ? err.message : String(err) });
  });
  return { app, smsOtp };
}

/** The code in the newest text, read the way a user would. */
export function codeIn(text: string | undefined, digits = 6): string {
  const match = text === undefined ? null : new RegExp(`\\b(\\d{${digits}})\\b`).exec(text);
  if (match?.[1] === undefined) throw new Error('no code in the message');
  return match[1];
}

/** The session cookie a response set, as `name=value`. */
export function sessionCookie(res: { headers: Record<string, unknown> }): string | undefined {
  const header = res.headers['set-cookie'];
  const cookies = Array.isArray(header) ? (header as string[]) : [];
  return cookies.map((c) => c.split(';')[0] ?? '').find((c) => c.startsWith('sid='));
}
