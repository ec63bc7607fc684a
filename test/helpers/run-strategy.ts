import type { Strategy } from 'passport-strategy';

export type Outcome =
  | { kind: 'success'; user: unknown }
  | { kind: 'fail'; challenge: unknown; status: number | undefined }
  | { kind: 'error'; error: unknown }
  | { kind: 'pass' }
  | { kind: 'redirect'; url: string };

/**
 * Runs a strategy the way Passport does (a fresh object whose prototype is the
 * strategy, with the five actions attached) and resolves with the one action it
 * took. Taking two actions, or none within the timeout, rejects.
 */
export function runStrategy(strategy: Strategy, req: object, timeoutMs = 2000): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (outcome: Outcome): void => {
      if (settled) return reject(new Error(`strategy took a second action: ${outcome.kind}`));
      settled = true;
      resolve(outcome);
    };
    const run = Object.create(strategy) as Strategy & Record<string, unknown>;
    run.success = (user: unknown) => settle({ kind: 'success', user });
    run.fail = (challenge: unknown, status?: number) => settle(typeof challenge === 'number' ? { kind: 'fail', challenge: undefined, status: challenge } : { kind: 'fail', challenge, status });
    run.error = (error: unknown) => settle({ kind: 'error', error });
    run.pass = () => settle({ kind: 'pass' });
    run.redirect = (url: string) => settle({ kind: 'redirect', url });
    setTimeout(() => { if (!settled) reject(new Error('strategy took no action')); }, timeoutMs).unref();
    try {
      run.authenticate(req as never, {});
    } catch (err) {
      reject(new Error(`strategy threw: ${String(err)}`));
    }
  });
}

/** A request-shaped object with an express-session-like session. */
export function fakeRequest(body: unknown, session: Record<string, unknown> = {}, method = 'POST'): { method: string; body: unknown; session: Record<string, unknown> } {
  return {
    method,
    body,
    session: { ...session, regenerate: (cb: () => void) => cb(), save: (cb: () => void) => cb() },
  };
}
