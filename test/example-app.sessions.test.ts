import { expect } from 'chai';
import express, { type NextFunction, type Request, type Response } from 'express';
import session from 'express-session';
import request from 'supertest';
import type { ExampleApp } from '../example-app/src/app.js';
import { fewerLoginWrites, SessionStoreTimeout, sessionId, type FewerLoginWritesOptions } from '../example-app/src/sessions.js';
import { clearExampleAppKeys, newestCode, startExampleApp } from './helpers/example-app.js';
import { connectRedis, ThrowawayRedis, type TestRedisClient } from './helpers/redis.js';

type Call = { op: 'set' | 'destroy' | 'touch'; sid: string; data?: string };

/** express-session's MemoryStore, recording what reaches it; `failNext` makes the next such call fail. */
class RecordingStore extends session.MemoryStore {
  calls: Call[] = [];
  failNext: Partial<Record<Call['op'], Error>> = {};
  /** How long the next call of each kind takes to answer (a `get` is not recorded). */
  delayNext: Partial<Record<Call['op'] | 'get', number>> = {};
  private later(op: Call['op'] | 'get', run: () => void): void {
    const ms = this.delayNext[op] ?? 0;
    delete this.delayNext[op];
    if (ms > 0) setTimeout(run, ms);
    else run();
  }
  private gate: { reached: () => void; opened: Promise<void> } | undefined;
  /** The next get reads the session at once but answers only once `open()` is called; `reached` resolves when it has read. */
  holdNextGet(): { reached: Promise<void>; open: () => void } {
    let open = (): void => undefined;
    let reached = (): void => undefined;
    const opened = new Promise<void>((resolve) => { open = resolve; });
    const wasReached = new Promise<void>((resolve) => { reached = resolve; });
    this.gate = { reached, opened };
    return { reached: wasReached, open };
  }
  /** A delayed get reads the session at once and answers later (a slow network, not a late read). */
  override get(sid: string, callback: (err: unknown, session?: session.SessionData | null) => void): void {
    const gate = this.gate;
    this.gate = undefined;
    super.get(sid, (err, data) => {
      if (gate === undefined) return this.later('get', () => callback(err, data));
      gate.reached();
      return void gate.opened.then(() => callback(err, data));
    });
  }
  override set(sid: string, data: session.SessionData, callback?: (err?: unknown) => void): void {
    this.calls.push({ op: 'set', sid, data: JSON.stringify(data) });
    const err = this.failNext.set;
    delete this.failNext.set;
    const copy = JSON.parse(JSON.stringify(data)) as session.SessionData;
    this.later('set', () => (err ? setImmediate(() => callback?.(err)) : super.set(sid, copy, callback)));
  }
  override touch(sid: string, data: session.SessionData, callback?: (err?: unknown) => void): void {
    this.calls.push({ op: 'touch', sid });
    const err = this.failNext.touch;
    delete this.failNext.touch;
    this.later('touch', () => (err ? setImmediate(() => callback?.(err)) : super.touch(sid, data, callback as () => void)));
  }
  override destroy(sid: string, callback?: (err?: unknown) => void): void {
    this.calls.push({ op: 'destroy', sid });
    const err = this.failNext.destroy;
    delete this.failNext.destroy;
    this.later('destroy', () => (err ? setImmediate(() => callback?.(err)) : super.destroy(sid, callback)));
  }
  /** Every stored session that holds a user. */
  async loggedIn(): Promise<number> {
    const all = await new Promise<Record<string, session.SessionData>>((resolve) => { this.all((_err, sessions) => resolve((sessions ?? {}) as Record<string, session.SessionData>)); });
    return Object.values(all).filter((sess) => (sess as Bag).user !== undefined).length;
  }
  has(sid: string): Promise<boolean> {
    return new Promise((resolve) => { this.get(sid, (_err, data) => resolve(data !== null && data !== undefined)); });
  }
}

type Bag = { n?: number; user?: string };

/** A small app with the wrapped store: `/login` does what Passport's req.logIn does (regenerate, write, save). */
function appWith(store: RecordingStore, errors: string[] = [], options: FewerLoginWritesOptions = {}, cookie: session.CookieOptions = {}) {
  const app = express();
  // express-session hands an end-of-request write's error to next() after the answer; Express's
  // final handler would print its stack outside 'test'.
  app.set('env', 'test');
  app.use(session({ secret: 's'.repeat(32), store: fewerLoginWrites(store, options), genid: sessionId, resave: false, saveUninitialized: false, cookie }));
  app.post('/look', (req, res) => { res.json({ id: req.sessionID, n: (req.session as Bag).n }); });
  app.post('/visit', (req, res) => {
    (req.session as Bag).n = ((req.session as Bag).n ?? 0) + 1;
    res.json({ id: req.sessionID });
  });
  app.post('/login', (req: Request, res: Response, next: NextFunction) => {
    const before = req.sessionID;
    req.session.regenerate((err) => {
      if (err) return next(err);
      (req.session as Bag).user = 'alice';
      return req.session.save((saveErr) => {
        if (saveErr) return next(saveErr);
        if (req.query.change === '1') (req.session as Bag).n = 99;
        return res.json({ before, after: req.sessionID });
      });
    });
  });
  app.post('/logout', (req: Request, res: Response, next: NextFunction) => {
    const id = req.sessionID;
    req.session.destroy((err) => (err ? next(err) : res.json({ id })));
  });
  app.post('/regenerate-twice', (req: Request, res: Response, next: NextFunction) => {
    req.session.regenerate((err) => {
      if (err) return next(err);
      return req.session.regenerate((again) => {
        if (again) return next(again);
        (req.session as Bag).user = 'alice';
        return req.session.save((saveErr) => (saveErr ? next(saveErr) : res.json({ ok: true })));
      });
    });
  });
  app.post('/regenerate-only', (req: Request, res: Response, next: NextFunction) => {
    req.session.regenerate((err) => (err ? next(err) : res.json({ ok: true })));
  });
  app.post('/regenerate-and-drop', (req: Request, res: Response, next: NextFunction) => {
    req.session.regenerate((err) => {
      if (err) return next(err);
      (req as { session: unknown }).session = null;
      return res.json({ ok: true });
    });
  });
  // As the start step when the code store fails: a regenerated session, then an error answer.
  app.post('/regenerate-then-fail', (req: Request, _res: Response, next: NextFunction) => {
    req.session.regenerate((err) => {
      if (err) return next(err);
      return setTimeout(() => next(new Error('code store down')), 20);
    });
  });
  app.post('/fail', (req: Request, _res: Response, next: NextFunction) => {
    if (req.query.change === '1') (req.session as Bag).n = 7;
    next(new Error('route failed'));
  });
  app.use((err: Error, _req: Request, res: Response, _next: NextFunction) => {
    errors.push(err.message);
    if (!res.headersSent) res.status(503).json({ error: err.message });
  });
  return app;
}

/**
 * `appWith`'s app mounted in another, whose error handler takes what the inner app passes on
 * after its own error handler ran: where Express's final handler would print the error's stack
 * and destroy the connection.
 */
function withFinalHandler(inner: express.Express, passedOn: string[]) {
  const outer = express();
  outer.use(inner);
  outer.use((err: Error, _req: Request, _res: Response, _next: NextFunction) => { passedOn.push(err.message); });
  return outer;
}

/** What `run` prints with console.error. */
async function consoleErrors(run: () => Promise<void>): Promise<string[]> {
  const logged: string[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => { logged.push(args.join(' ')); };
  try {
    await run();
  } finally {
    console.error = original;
  }
  return logged;
}

describe('Example app sessions: ids and login writes (example-app/src/sessions.ts)', () => {
  it('session ids are 24 random bytes in base64url, as express-session makes them, and never repeat across pool refills', () => {
    const ids = Array.from({ length: 1000 }, () => sessionId());
    expect(new Set(ids).size).to.equal(1000);
    for (const id of ids) {
      expect(id).to.match(/^[A-Za-z0-9_-]{32}$/);
      expect(Buffer.from(id, 'base64url')).to.have.length(24);
    }
    // No byte is handed out twice: no 8-byte run of one id shows up in another (overlapping slices of the pool would).
    const seen = new Map<string, number>();
    ids.forEach((id, i) => {
      const bytes = Buffer.from(id, 'base64url');
      for (let at = 0; at + 8 <= bytes.length; at++) {
        const run = bytes.toString('hex', at, at + 8);
        const owner = seen.get(run);
        expect(owner === undefined || owner === i, `ids ${owner} and ${i} share bytes`).to.equal(true);
        seen.set(run, i);
      }
    });
  });

  describe('fewerLoginWrites over a recording store', () => {
    let store: RecordingStore;
    let agent: ReturnType<typeof request.agent>;
    beforeEach(async () => {
      store = new RecordingStore();
      agent = request.agent(appWith(store));
      expect((await agent.post('/visit')).status).to.equal(200);
      store.calls = [];
    });

    it('a login deletes the old session and writes the new one once, not twice', async () => {
      const res = await agent.post('/login');
      expect(res.status).to.equal(200);
      const { before, after } = res.body as { before: string; after: string };
      expect(after).to.not.equal(before);
      expect(store.calls.map((c) => [c.op, c.sid])).to.deep.equal([['destroy', before], ['set', after]]);
      expect(await store.has(before)).to.equal(false);
      expect(JSON.parse(store.calls[1]?.data ?? '{}').user).to.equal('alice');
    });

    it('a request that loaded the session before a logout does not write it back after (the logout stands)', async () => {
      await agent.post('/login');
      store.calls = [];
      // A slow request that changes the session: it has read the session, and gets it only after the logout ended it.
      const gate = store.holdNextGet();
      const slow = agent.post('/visit').then((res) => res);
      await gate.reached;
      const out = await agent.post('/logout');
      gate.open();
      expect(out.status).to.equal(200);
      const { id } = out.body as { id: string };
      expect((await slow).status).to.equal(200);
      expect(store.calls.filter((c) => c.sid === id).map((c) => c.op)).to.deep.equal(['destroy']);
      expect(await store.has(id)).to.equal(false);
      expect(await store.loggedIn()).to.equal(0);
    });

    it('a full memory of ended sessions forgets the older window, never the newest maxRemembered logouts', async () => {
      const inner = new RecordingStore();
      const wrapped = fewerLoginWrites(inner, { maxRemembered: 2 });
      const data = { cookie: { originalMaxAge: null }, user: 'alice' } as unknown as session.SessionData;
      const call = (run: (done: (err?: unknown) => void) => void) => new Promise<void>((resolve) => { run(() => resolve()); });
      for (const sid of ['a', 'b', 'c', 'd', 'victim']) await call((done) => wrapped.destroy(sid, done));
      // Requests that loaded these sessions before their logouts, writing them back after: the
      // newest two (maxRemembered) are dropped, and so is c, in the same window as d.
      for (const sid of ['victim', 'd', 'c']) {
        await call((done) => wrapped.set(sid, data, done));
        expect(await inner.has(sid), sid).to.equal(false);
      }
      // The window before was forgotten (at most twice maxRemembered are kept): their late writes go through as before.
      for (const sid of ['a', 'b']) {
        await call((done) => wrapped.set(sid, data, done));
        expect(await inner.has(sid), sid).to.equal(true);
      }
    });

    it('a session ended minutes ago stays ended when the memory turned over since: only entries a whole window (10 min) old go by time', async () => {
      const realNow = performance.now;
      let now = 1_000_000;
      performance.now = () => now;
      try {
        const inner = new RecordingStore();
        const wrapped = fewerLoginWrites(inner, { maxRemembered: 2 });
        const data = { cookie: { originalMaxAge: null }, user: 'alice' } as unknown as session.SessionData;
        const call = (run: (done: (err?: unknown) => void) => void) => new Promise<void>((resolve) => { run(() => resolve()); });
        const minute = 60_000;
        const endAt = async (sid: string, at: number) => { now = 1_000_000 + at; await call((done) => wrapped.destroy(sid, done)); };
        await endAt('a', 1 * minute);
        await endAt('b', 8 * minute);
        await endAt('c', 9 * minute);
        now = 1_000_000 + 10.5 * minute;
        // b ended 2.5 minutes ago and is one of the two newest (maxRemembered): a late write of it is dropped.
        for (const sid of ['b', 'c']) {
          await call((done) => wrapped.set(sid, data, done));
          expect(await inner.has(sid), sid).to.equal(false);
        }
        // a too, 9.5 minutes ago: still inside the window, in the older generation.
        await call((done) => wrapped.set('a', data, done));
        expect(await inner.has('a')).to.equal(false);
        // Past its ten minutes, it goes by age: its write goes through.
        now = 1_000_000 + 11.5 * minute;
        await call((done) => wrapped.set('a', data, done));
        expect(await inner.has('a')).to.equal(true);
      } finally {
        performance.now = realNow;
      }
    });

    it('a full memory of ended sessions stays as cheap as an empty one (forgetting one at a time made each logout walk the holes it left)', () => {
      // Counted, not timed: the wrapper's Maps are V8's, so count how far the oldest-first walk goes.
      const inner = new RecordingStore();
      const wrapped = fewerLoginWrites(inner, { maxRemembered: 1000 });
      const steps: number[] = [];
      const original = Map.prototype.keys;
      let walked = 0;
      Map.prototype.keys = function keys(this: Map<unknown, unknown>) { walked += 1; return original.call(this); };
      try {
        for (let i = 0; i < 5000; i++) {
          walked = 0;
          wrapped.destroy(`s${i}`, () => undefined);
          steps.push(walked);
        }
      } finally {
        Map.prototype.keys = original;
      }
      expect(steps.every((n) => n === 0)).to.equal(true);
      expect(inner.calls.filter((c) => c.op === 'destroy')).to.have.length(5000);
    });

    it('a session changed after its save is written again at the end of the request', async () => {
      const res = await agent.post('/login?change=1');
      expect(res.status).to.equal(200);
      const sets = store.calls.filter((c) => c.op === 'set');
      expect(sets).to.have.length(2);
      expect(JSON.parse(sets[1]?.data ?? '{}').n).to.equal(99);
    });

    it('later requests write their changes as always (the login started a fresh session)', async () => {
      await agent.post('/login');
      store.calls = [];
      await agent.post('/visit');
      await agent.post('/visit');
      expect(store.calls.filter((c) => c.op === 'set').map((c) => JSON.parse(c.data ?? '{}').n)).to.deep.equal([1, 2]);
    });

    it('a login whose write failed stays failed: the end of the request does not store it after all, and the new session is deleted', async () => {
      store.failNext.set = new Error('store down');
      const res = await agent.post('/login');
      expect(res.status).to.equal(503);
      const sets = store.calls.filter((c) => c.op === 'set');
      expect(sets).to.have.length(1);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(store.calls.filter((c) => c.op === 'destroy').map((c) => c.sid)).to.include(sets[0]?.sid);
      expect(await store.loggedIn()).to.equal(0);
    });

    it('when the old session cannot be deleted the login fails and the new session is not left behind', async () => {
      store.failNext.destroy = new Error('DEL failed');
      const res = await agent.post('/login');
      expect(res.status).to.equal(503);
      expect(res.body.error).to.equal('DEL failed');
      const newIds = [...new Set(store.calls.filter((c) => c.op === 'set').map((c) => c.sid))];
      expect(newIds).to.have.length(1);
      // Let the clean-up DEL land, then: no logged-in session anywhere, and no later write revived it.
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(await store.has(newIds[0] as string)).to.equal(false);
      expect(store.calls.filter((c) => c.op === 'set')).to.have.length(1);
    });

    it('a failed write before the failed delete is known does not let the end of the request store the login', async () => {
      const errors: string[] = [];
      const passedOn: string[] = [];
      agent = request.agent(withFinalHandler(appWith(store, errors), passedOn));
      await agent.post('/visit');
      store.delayNext.destroy = 30;
      store.failNext.destroy = new Error('DEL failed');
      store.failNext.set = new Error('SET failed');
      const logged = await consoleErrors(async () => {
        expect((await agent.post('/login')).status).to.equal(503);
        await new Promise((resolve) => setTimeout(resolve, 80));
      });
      expect(await store.loggedIn()).to.equal(0);
      // The SET's failure is the answer; the DEL's, known after it, is one line of log.
      expect([errors, passedOn]).to.deep.equal([['SET failed'], []]);
      expect(logged).to.deep.equal(['session store: the replaced session was not deleted (DEL failed)']);
    });

    it('a session regenerated twice in a request waits for both deletes (and reports a failure once)', async () => {
      store.failNext.destroy = new Error('first DEL failed');
      const logged = await consoleErrors(async () => {
        const res = await agent.post('/regenerate-twice');
        expect([res.status, res.body.error]).to.deep.equal([503, 'first DEL failed']);
        await new Promise((resolve) => setTimeout(resolve, 20));
      });
      expect(await store.loggedIn()).to.equal(0);
      expect(logged).to.deep.equal([]);
    });

    it('a repeat of an earlier content is written when a different write went out in between', async () => {
      const wrapped = fewerLoginWrites(new RecordingStore());
      const inner = wrapped as unknown as RecordingStore;
      const data = { cookie: { originalMaxAge: null }, n: 0 } as unknown as session.SessionData & Bag;
      const write = () => new Promise<void>((resolve, reject) => { wrapped.set('sid', data, (err) => (err ? reject(err) : resolve())); });
      await write();
      data.n = 1;
      inner.delayNext.set = 30;
      const slow = write();
      data.n = 0;
      await write();
      await slow;
      expect(inner.calls.filter((c) => c.op === 'set').map((c) => JSON.parse(c.data ?? '{}').n)).to.deep.equal([0, 1, 0]);
    });

    it('a failed delete is reported by the new session\'s write at the end of the request when nothing saved it before', async () => {
      const errors: string[] = [];
      agent = request.agent(appWith(store, errors));
      await agent.post('/visit');
      store.failNext.destroy = new Error('DEL failed');
      expect((await agent.post('/regenerate-only')).status).to.equal(200);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(errors).to.deep.equal(['DEL failed']);
    });

    it('a failed delete that no write reports is logged, not lost', async () => {
      const logged: string[] = [];
      const original = console.error;
      console.error = (...args: unknown[]) => { logged.push(args.join(' ')); };
      try {
        store.failNext.destroy = new Error('DEL failed');
        expect((await agent.post('/regenerate-and-drop')).status).to.equal(200);
        await new Promise((resolve) => setTimeout(resolve, 20));
      } finally {
        console.error = original;
      }
      expect(logged).to.deep.equal(['session store: the replaced session was not deleted (DEL failed)']);
      expect(store.calls.filter((c) => c.op === 'set')).to.deep.equal([]);
    });
  });

  describe('fewerLoginWrites after an error answer: one report per failure, never a second next(err)', () => {
    // express-session hands a failure of its write (or touch) as the response ends to next(),
    // after the answer. After the app's error handler has answered, that reaches Express's final
    // handler: the error's stack on stderr and the client's connection destroyed.
    let store: RecordingStore;
    let errors: string[];
    let passedOn: string[];
    let agent: ReturnType<typeof request.agent>;
    const settled = () => new Promise((resolve) => setTimeout(resolve, 40));
    beforeEach(async () => {
      store = new RecordingStore();
      errors = [];
      passedOn = [];
      agent = request.agent(withFinalHandler(appWith(store, errors, { touchAfterSeconds: 0 }), passedOn));
      expect((await agent.post('/visit')).status).to.equal(200);
      store.calls = [];
    });

    it('a failed delete that the login\'s write reported is not reported again by the write at the end of the request', async () => {
      store.failNext.destroy = new Error('DEL failed');
      const logged = await consoleErrors(async () => {
        expect((await agent.post('/login')).status).to.equal(503);
        await settled();
      });
      expect([errors, passedOn, logged]).to.deep.equal([['DEL failed'], [], []]);
      expect(await store.loggedIn()).to.equal(0);
    });

    it('a failed delete that was logged is not reported again after the error answer of a later failure (a login during an outage)', async () => {
      store.failNext.destroy = new Error('DEL failed');
      const logged = await consoleErrors(async () => {
        expect((await agent.post('/regenerate-then-fail')).status).to.equal(503);
        await settled();
      });
      expect([errors, passedOn, logged]).to.deep.equal([['code store down'], [], ['session store: the replaced session was not deleted (DEL failed)']]);
      expect(store.calls.filter((c) => c.op === 'set')).to.deep.equal([]);
    });

    it('a write that fails after an error answer is one line of log, not passed on', async () => {
      store.failNext.set = new Error('SET failed');
      const logged = await consoleErrors(async () => {
        expect((await agent.post('/fail?change=1')).status).to.equal(503);
        await settled();
      });
      expect([errors, passedOn, logged]).to.deep.equal([['route failed'], [], ['session store: POST /fail -> the session was not saved after its answer (503) was sent (SET failed)']]);
    });

    it('a touch that fails after an error answer is one line of log, not passed on', async () => {
      store.failNext.touch = new Error('EXPIRE failed');
      const logged = await consoleErrors(async () => {
        expect((await agent.post('/fail')).status).to.equal(503);
        await settled();
      });
      expect(store.calls.map((c) => c.op)).to.deep.equal(['touch']);
      expect([errors, passedOn, logged]).to.deep.equal([['route failed'], [], ['session store: POST /fail -> the session\'s expiry was not pushed back after its answer (503) was sent (EXPIRE failed)']]);
    });

    it('after an answer that is not an error, a failed write still goes to the app\'s error handler (which logs it)', async () => {
      store.failNext.set = new Error('SET failed');
      const logged = await consoleErrors(async () => {
        expect((await agent.post('/visit')).status).to.equal(200);
        await settled();
      });
      expect([errors, passedOn, logged]).to.deep.equal([['SET failed'], [], []]);
    });
  });

  describe('fewerLoginWrites gives up on a store that does not answer', () => {
    const isTimeout = (err: unknown) => err instanceof SessionStoreTimeout && err.status === 503;
    const data = () => ({ cookie: { originalMaxAge: null } }) as unknown as session.SessionData;

    it('get, set, destroy and touch fail with a SessionStoreTimeout (503) after timeoutMs, once: the late answer is dropped', async () => {
      const inner = new RecordingStore();
      const wrapped = fewerLoginWrites(inner, { timeoutMs: 30, touchAfterSeconds: 0 });
      const answers: Record<string, unknown[]> = { get: [], set: [], destroy: [], touch: [] };
      for (const op of ['get', 'set', 'destroy', 'touch'] as const) inner.delayNext[op] = 120;
      wrapped.get('a', (err) => { answers.get?.push(err); });
      wrapped.set('b', data(), (err) => { answers.set?.push(err); });
      wrapped.destroy('c', (err) => { answers.destroy?.push(err); });
      (wrapped.touch as (sid: string, d: session.SessionData, cb: (err?: unknown) => void) => void)('d', data(), (err) => { answers.touch?.push(err); });
      await new Promise((resolve) => setTimeout(resolve, 60));
      for (const [op, got] of Object.entries(answers)) {
        expect(got, op).to.have.length(1);
        expect(isTimeout(got[0]), `${op}: ${String(got[0])}`).to.equal(true);
        expect((got[0] as Error).message).to.equal(`The session store did not answer a ${op} within 30 ms`);
      }
      await new Promise((resolve) => setTimeout(resolve, 120));
      expect(Object.values(answers).map((got) => got.length)).to.deep.equal([1, 1, 1, 1]);
    });

    it('a store that answers in time answers as before', async () => {
      const inner = new RecordingStore();
      const wrapped = fewerLoginWrites(inner, { timeoutMs: 200 });
      inner.delayNext.get = 20;
      await new Promise<void>((resolve, reject) => { wrapped.set('s', data(), (err) => (err ? reject(err) : resolve())); });
      const got = await new Promise<unknown>((resolve, reject) => { wrapped.get('s', (err, sess) => (err ? reject(err) : resolve(sess))); });
      expect(got).to.deep.equal({ cookie: { originalMaxAge: null } });
    });

    it('a login whose old session\'s delete hangs fails after timeoutMs, and its new session is deleted again', async () => {
      const store = new RecordingStore();
      const errors: string[] = [];
      const agent = request.agent(appWith(store, errors, { timeoutMs: 50 }));
      await agent.post('/visit');
      store.delayNext.destroy = 300;
      const res = await agent.post('/login');
      expect([res.status, res.body.error]).to.deep.equal([503, 'The session store did not answer a destroy within 50 ms']);
      await new Promise((resolve) => setTimeout(resolve, 350));
      expect(await store.loggedIn()).to.equal(0);
      expect(errors).to.deep.equal(['The session store did not answer a destroy within 50 ms']);
    });
  });

  describe('fewerLoginWrites skips touches right after a write', () => {
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    const touches = (store: RecordingStore) => store.calls.filter((c) => c.op === 'touch').length;
    /** A client whose session was just written once (`/visit`), with the store's record cleared. */
    async function visited(options: FewerLoginWritesOptions = {}, cookie: session.CookieOptions = {}, errors: string[] = [], store = new RecordingStore()) {
      const agent = request.agent(appWith(store, errors, options, cookie));
      const { id } = (await agent.post('/visit')).body as { id: string };
      store.calls = [];
      return { store, agent, id };
    }

    it('a request that changes nothing just after the session was written costs the store nothing, and gets its whole answer', async () => {
      const { store, agent, id } = await visited();
      const res = await agent.post('/look');
      expect([res.status, res.body]).to.deep.equal([200, { id, n: 1 }]);
      expect(store.calls).to.deep.equal([]);
    });

    it('once touchAfterSeconds has passed the touch goes out, and the next one within the window is skipped', async () => {
      const { store, agent, id } = await visited({ touchAfterSeconds: 0.05 });
      await sleep(80);
      expect((await agent.post('/look')).status).to.equal(200);
      expect(store.calls).to.deep.equal([{ op: 'touch', sid: id }]);
      expect((await agent.post('/look')).status).to.equal(200);
      expect(touches(store)).to.equal(1);
    });

    it('touchAfterSeconds: 0 touches on every request that changes nothing', async () => {
      const { store, agent } = await visited({ touchAfterSeconds: 0 });
      await agent.post('/look');
      await agent.post('/look');
      expect(touches(store)).to.equal(2);
    });

    it('a session written by another process (another wrapper over the same sessions) is touched', async () => {
      const written = new RecordingStore();
      const store = new RecordingStore();
      // Two stores over the same sessions, as two app instances on one Redis.
      (store as unknown as { sessions: unknown }).sessions = (written as unknown as { sessions: unknown }).sessions;
      const one = appWith(written);
      const other = appWith(store);
      const cookie = (await request(one).post('/visit')).headers['set-cookie'] as unknown as string[];
      store.calls = [];
      const res = await request(other).post('/look').set('Cookie', cookie);
      expect(res.body.n).to.equal(1);
      expect(touches(store)).to.equal(1);
    });

    it('a failed write or touch is not remembered: the next request touches', async () => {
      const errors: string[] = [];
      const { store, agent } = await visited({ touchAfterSeconds: 0.05 }, {}, errors);
      await sleep(80);
      store.failNext.touch = new Error('touch failed');
      await agent.post('/look');
      store.calls = [];
      await agent.post('/look');
      expect(touches(store)).to.equal(1);
      expect(errors).to.deep.equal(['touch failed']);

      // A write that failed right after one that succeeded: the session is touched at once.
      await agent.post('/visit');
      store.failNext.set = new Error('set failed');
      await agent.post('/visit');
      store.calls = [];
      await agent.post('/look');
      expect(touches(store)).to.equal(1);
    });

    it('a cookie maxAge caps the skip at a tenth of the session\'s lifetime', async () => {
      // Cookie expiry dates are whole seconds: a lifetime of a few seconds keeps the cookie alive.
      const { store, agent } = await visited({ touchAfterSeconds: 60 }, { maxAge: 3000 });
      expect((await agent.post('/look')).body.n).to.equal(1);
      expect(touches(store)).to.equal(0);
      await sleep(350);
      expect((await agent.post('/look')).body.n).to.equal(1);
      expect(touches(store)).to.equal(1);
    });

    it('setting the system clock back does not stop touches (the skip runs on a monotonic clock)', async () => {
      const { store, agent } = await visited({ touchAfterSeconds: 0.05 });
      const realNow = Date.now;
      Date.now = () => realNow() - 3_600_000;
      try {
        await sleep(80);
        await agent.post('/look');
      } finally {
        Date.now = realNow;
      }
      expect(touches(store)).to.equal(1);
    });

    // connect-redis's ttl: seconds, or a function of the session (as the example app sets it).
    const asked: unknown[] = [];
    for (const [kind, ttl] of [['in seconds', 1], ['as a function of the session', (data: unknown) => { asked.push(data); return 1; }]] as const) {
      it(`a store ttl ${kind} (connect-redis) caps the skip at a tenth of it`, async () => {
        const withTtl = Object.assign(new RecordingStore(), { ttl });
        const { store, agent } = await visited({ touchAfterSeconds: 60 }, {}, [], withTtl);
        await agent.post('/look');
        expect(touches(store)).to.equal(0);
        await sleep(150);
        await agent.post('/look');
        expect(touches(store)).to.equal(1);
        if (typeof ttl === 'function') expect(asked[0], 'asked with the session').to.have.property('cookie');
      });
    }


    it('remembers at most maxRemembered sessions; the others are touched as usual', async () => {
      const store = new RecordingStore();
      const app = appWith(store, [], { maxRemembered: 1 });
      const first = request.agent(app);
      const second = request.agent(app);
      await first.post('/visit');
      await second.post('/visit');
      store.calls = [];
      await first.post('/look');
      expect(touches(store)).to.equal(0);
      await second.post('/look');
      expect(touches(store)).to.equal(1);
    });

    it('refuses options that are not numbers of seconds or whole counts', () => {
      for (const bad of [{ touchAfterSeconds: -1 }, { touchAfterSeconds: Number.NaN }, { touchAfterSeconds: '60' as unknown as number }, { touchAfterSeconds: Infinity }]) {
        expect(() => fewerLoginWrites(new RecordingStore(), bad)).to.throw(TypeError, /touchAfterSeconds must be a number of seconds/);
      }
      for (const bad of [{ maxRemembered: 1.5 }, { maxRemembered: -1 }]) {
        expect(() => fewerLoginWrites(new RecordingStore(), bad)).to.throw(TypeError, /maxRemembered must be a whole number/);
      }
      for (const bad of [{ timeoutMs: 0 }, { timeoutMs: -1 }, { timeoutMs: 1.5 }, { timeoutMs: 60_001 }, { timeoutMs: Number.NaN }, { timeoutMs: Infinity }, { timeoutMs: '2000' as unknown as number }]) {
        expect(() => fewerLoginWrites(new RecordingStore(), bad)).to.throw(TypeError, /timeoutMs must be a whole number of ms from 1 to 60000/);
      }
      for (const good of [{ timeoutMs: 1 }, { timeoutMs: 60_000 }]) expect(() => fewerLoginWrites(new RecordingStore(), good)).to.not.throw();
    });
  });

  describe('a login on Redis, as MONITOR sees it', function () {
    this.timeout(30_000);
    let handle: ExampleApp;
    let monitor: TestRedisClient;
    // A Redis of its own: the app writes under its own prefixes, which npm test must not touch at REDIS_URL.
    let redis: ThrowawayRedis;
    let url: string;
    before(async () => {
      redis = await ThrowawayRedis.start();
      url = redis.url;
    });
    after(async () => { await redis?.stop(); });
    beforeEach(async () => { await clearExampleAppKeys(url); });
    afterEach(async () => {
      await handle?.close();
      monitor?.destroy();
    });

    it('the right code costs the old session one GET and one DEL, and the new one one SET', async () => {
      handle = await startExampleApp({ REDIS_URL: url, SESSION_SECRET: 'x'.repeat(40), OTP_ENCRYPTION_KEY: 'cd'.repeat(32), OTP_SENDS_PER_WINDOW: '100' });
      const agent = request.agent(handle.app);
      expect((await agent.post('/login').set('Accept', 'application/json').send({ username: 'alice', password: 'alice-password' })).status).to.equal(200);
      const code = newestCode(handle.infra.outbox?.messages ?? []);
      monitor = await connectRedis(url);
      const seen: string[] = [];
      await monitor.monitor((line: string) => {
        const match = /"(\w+)" "example-app:sess:([^"]+)"/.exec(line);
        if (match) seen.push(`${(match[1] as string).toUpperCase()} ${match[2]}`);
      });
      const res = await agent.post('/login/otp').set('Accept', 'application/json').send({ code });
      expect([res.status, res.body]).to.deep.equal([200, { status: 'authenticated' }]);
      await new Promise((resolve) => setTimeout(resolve, 100));
      const [get, del, set, ...rest] = seen;
      const oldId = get?.split(' ')[1];
      expect(get).to.equal(`GET ${oldId}`);
      expect(del).to.equal(`DEL ${oldId}`);
      expect(set).to.match(/^SET /);
      expect(set).to.not.include(oldId);
      expect(rest).to.deep.equal([]);
      expect((await agent.get('/account').set('Accept', 'application/json')).body).to.deep.equal({ username: 'alice' });
    });

    it('a wrong code typed soon after the password step costs the session one GET, and its lifetime stays', async () => {
      handle = await startExampleApp({ REDIS_URL: url, SESSION_SECRET: 'x'.repeat(40), OTP_ENCRYPTION_KEY: 'cd'.repeat(32), OTP_SENDS_PER_WINDOW: '100' });
      const agent = request.agent(handle.app);
      expect((await agent.post('/login').set('Accept', 'application/json').send({ username: 'alice', password: 'alice-password' })).status).to.equal(200);
      const code = newestCode(handle.infra.outbox?.messages ?? []) as string;
      const wrong = code.slice(0, -1) + String((Number(code.at(-1)) + 1) % 10);
      monitor = await connectRedis(url);
      const seen: string[] = [];
      await monitor.monitor((line: string) => {
        const match = /"(\w+)" "example-app:sess:([^"]+)"/.exec(line);
        if (match) seen.push((match[1] as string).toUpperCase());
      });
      const res = await agent.post('/login/otp').set('Accept', 'application/json').send({ code: wrong });
      expect([res.status, res.body.error]).to.deep.equal([401, 'CODE_WRONG']);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(seen).to.deep.equal(['GET']);
      const client = await connectRedis(url);
      try {
        const keys = await client.keys('example-app:sess:*');
        expect(keys).to.have.length(1);
        expect(await client.ttl(keys[0] as string)).to.be.within(86_000, 86_400);
      } finally {
        client.destroy();
      }
      // The pending login is still there: the right code logs in.
      expect((await agent.post('/login/otp').set('Accept', 'application/json').send({ code })).body).to.deep.equal({ status: 'authenticated' });
    });
  });
});
