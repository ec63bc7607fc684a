import { expect } from 'chai';
import type { NextFunction, Request, Response } from 'express';
import { requireAuthenticated, requirePendingLogin } from '../src/guards.js';
import { SmsOtpError } from '../src/errors.js';

// Far in the future: mocha loads every file before it runs any test, so a module-level 'now' goes stale.
const live = { userId: 'u1', challengeId: 'c1', startedAtMs: 0, expiresAtMs: Date.now() + 24 * 3600_000 };

/** Runs a guard on a request-shaped object; resolves 'next' or the refusal's code. */
function run(guard: ReturnType<typeof requireAuthenticated>, req: Record<string, unknown>): string {
  let outcome = 'nothing';
  const res = {} as Response;
  guard(req as unknown as Request, res, (() => { outcome = 'next'; }) as NextFunction);
  return outcome;
}

describe('Guards: deny by default', () => {
  const refusing = () => {
    const seen: string[] = [];
    const onDenied = (_req: Request, _res: Response, _next: NextFunction, error: SmsOtpError) => { seen.push(error.code); };
    return { seen, onDenied };
  };

  it('requireAuthenticated admits a full login', () => {
    expect(run(requireAuthenticated(), { isAuthenticated: () => true, user: { id: 'u1' }, session: {} })).to.equal('next');
  });

  const DENIED: Array<[string, Record<string, unknown>]> = [
    ['no Passport at all (no req.isAuthenticated)', { user: { id: 'u1' }, session: {} }],
    ['isAuthenticated() false', { isAuthenticated: () => false, user: { id: 'u1' }, session: {} }],
    ['isAuthenticated() truthy but not true', { isAuthenticated: () => 'yes', user: { id: 'u1' }, session: {} }],
    ['no user', { isAuthenticated: () => true, session: {} }],
    ['a live pending record beside a user (half-authenticated)', { isAuthenticated: () => true, user: { id: 'u1' }, session: { smsOtp: live } }],
  ];
  for (const [name, req] of DENIED) {
    it(`requireAuthenticated refuses ${name}`, () => {
      const { seen, onDenied } = refusing();
      expect(run(requireAuthenticated({ onDenied }), req)).to.equal('nothing');
      expect(seen).to.deep.equal(['NOT_AUTHENTICATED']);
    });
  }

  it('requirePendingLogin admits only a live pending record', () => {
    const { seen, onDenied } = refusing();
    expect(run(requirePendingLogin({ onDenied }), { session: { smsOtp: live } })).to.equal('next');
    expect(run(requirePendingLogin({ onDenied }), { session: { smsOtp: { ...live, expiresAtMs: Date.now() - 1 } } })).to.equal('nothing');
    expect(run(requirePendingLogin({ onDenied }), { session: {} })).to.equal('nothing');
    expect(run(requirePendingLogin({ onDenied }), {})).to.equal('nothing');
    expect(seen).to.deep.equal(['NO_PENDING_LOGIN', 'NO_PENDING_LOGIN', 'NO_PENDING_LOGIN']);
  });
});
