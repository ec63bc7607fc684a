import { expect } from 'chai';
import fc from 'fast-check';
import type { Server } from 'node:http';
import request from 'supertest';
import { OtpChallenges } from '../src/challenge.js';
import type { SmsMessage, SmsSender } from '../src/sender.js';
import { MemoryOtpStore } from '../src/stores/memory.js';
import { SmsOtpStrategy } from '../src/strategy.js';
import { buildApp, sessionCookie, TEST_KEY } from './helpers/app.js';
import { fakeRequest, runStrategy } from './helpers/run-strategy.js';

const STRATEGY_RUNS = 10_000;
const HTTP_RUNS = 1000;
const PHONE = '+4512345678';

/** Keeps the newest code per number, read straight off the message (the way a phone would). */
class CodeSender implements SmsSender {
  readonly last = new Map<string, string>();
  async send(message: SmsMessage): Promise<void> { this.last.set(message.to, message.code); }
  code(to = PHONE): string { return this.last.get(to) ?? expect.fail(`no code sent to ${to}`); }
}

// ---- Request bodies: a tree serialised to JSON text and parsed, as express.json() would parse it. ----

/** Where the attacker's idea of "the code" goes: the known code itself, mangled, or anything at all. */
const shift = (code: string, base: number): string => [...code].map((c) => String.fromCodePoint(base + Number(c))).join('');
/** Near misses of the known code: other types, other scripts' digits, white space, a digit more or less. */
const MANGLES = {
  number: (c: string) => Number(c), array: (c: string) => [c], object: (c: string) => ({ toString: c, valueOf: c, $eq: c }),
  spaced: (c: string) => ` ${c}`, newline: (c: string) => `${c}\n`, nul: (c: string) => `${c}\u0000`, sign: (c: string) => `+${c.slice(1)}`,
  long: (c: string) => `${c}0`, short: (c: string) => c.slice(1),
  fullwidth: (c: string) => shift(c, 0xff10), arabic: (c: string) => shift(c, 0x0660), bold: (c: string) => shift(c, 0x1d7ce),
} satisfies Record<string, (code: string) => unknown>;
type Mangle = keyof typeof MANGLES;
type CodeSpec = { k: 'known' } | { k: 'wrong'; d: number } | { k: 'mangled'; how: Mangle } | { k: 'literal'; v: unknown };
type Tree = { json: unknown } | { code: CodeSpec } | { obj: Array<[string, Tree]> } | { arr: Tree[] };

const UNICODE_DIGITS = ['\u0660', '\u0661', '\u06f5', '\u0967', '\u09e8', '\uff13', '\u00b2', '\u2074', '\ud835\udfce', '\u1d7f'];
const unicodeDigits = fc.string({ unit: fc.constantFrom(...UNICODE_DIGITS, '1', '2', '7'), minLength: 5, maxLength: 7 });

const codeSpec: fc.Arbitrary<CodeSpec> = fc.oneof(
  { weight: 10, arbitrary: fc.constant({ k: 'known' as const }) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 999_999 }).map((d) => ({ k: 'wrong' as const, d })) },
  { weight: 4, arbitrary: fc.constantFrom(...(Object.keys(MANGLES) as Mangle[])).map((how) => ({ k: 'mangled' as const, how })) },
  { weight: 2, arbitrary: fc.stringMatching(/^[0-9]{6}$/).map((v) => ({ k: 'literal' as const, v })) },
  { weight: 2, arbitrary: fc.oneof(fc.jsonValue({ maxDepth: 2 }), unicodeDigits, fc.string({ unit: 'binary', maxLength: 12 }), fc.constant('9'.repeat(20_000))).map((v) => ({ k: 'literal' as const, v })) },
);

const key = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('__proto__', 'constructor', 'prototype', 'code', 'Code', 'code ', 'toString', 'valueOf', 'hasOwnProperty', 'smsOtp', 'session', '0', '') },
  { weight: 1, arbitrary: fc.string({ maxLength: 8 }) },
);

const { tree } = fc.letrec<{ tree: Tree }>((tie) => ({
  tree: fc.oneof(
    { depthSize: 'small' },
    fc.jsonValue({ maxDepth: 2 }).map((json) => ({ json })),
    codeSpec.map((code) => ({ code })),
    fc.array(fc.tuple(key, tie('tree')), { maxLength: 4 }).map((obj) => ({ obj })),
    fc.array(tie('tree'), { maxLength: 3 }).map((arr) => ({ arr })),
  ),
}));

/** An object that holds a `code` field (often the known code) among other, hostile keys; or any tree at all. */
const body: fc.Arbitrary<Tree> = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fc.array(fc.tuple(key, tree), { maxLength: 4 }), codeSpec, fc.nat()).map(([entries, code, at]) => {
    const obj = [...entries];
    obj.splice(at % (obj.length + 1), 0, ['code', { code }]);
    return { obj };
  }) },
  { weight: 3, arbitrary: tree },
);

function valueOf(spec: CodeSpec, known: string): unknown {
  switch (spec.k) {
    case 'known': return known;
    case 'wrong': return String((Number(known) + spec.d) % 1_000_000).padStart(6, '0');
    case 'mangled': return MANGLES[spec.how](known);
    case 'literal': return spec.v;
  }
}

/** JSON text, written by hand so `__proto__` keys and duplicate keys survive into the parser. */
function serialise(t: Tree, known: string): string {
  if ('json' in t) return JSON.stringify(t.json) ?? 'null';
  if ('code' in t) return JSON.stringify(valueOf(t.code, known)) ?? 'null';
  if ('arr' in t) return `[${t.arr.map((x) => serialise(x, known)).join(',')}]`;
  return `{${t.obj.map(([k, v]) => `${JSON.stringify(k)}:${serialise(v, known)}`).join(',')}}`;
}

/** The rule under test: the code field, read from the parsed body, is exactly the live code. */
function holdsCode(parsed: unknown, live: string | undefined): boolean {
  return live !== undefined && parsed !== null && typeof parsed === 'object' && Object.hasOwn(parsed, 'code') && (parsed as { code: unknown }).code === live;
}

function expectNoPollution(): void {
  const probe = {} as Record<string, unknown>;
  expect(probe.code, 'Object.prototype polluted').to.equal(undefined);
  expect(Object.keys(Object.prototype)).to.deep.equal([]);
}

// ---- Challenge states: which code the attacker knows, and which code (if any) is live. ----

const STATES = ['live', 'live', 'live', 'resent-new', 'resent-old', 'superseded', 'consumed', 'expired-code', 'expired-pending', 'exhausted', 'backoff', 'no-pending', 'other-user', 'tampered'] as const;
type State = (typeof STATES)[number];

describe('Attack (property): any body, any code — success only with the live code, never a throw, never a 500', function () {
  this.timeout(120_000);

  it(`SmsOtpStrategy: ${STRATEGY_RUNS} runs on MemoryOtpStore, success iff the body's own "code" is the live code`, async () => {
    let clock = Date.now();
    const memory = new MemoryOtpStore({ now: () => clock });
    let storeCalls = 0;
    const store = new Proxy(memory, {
      get(target, name, receiver) {
        const value: unknown = Reflect.get(target, name, receiver);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => { storeCalls++; return (value as (...a: unknown[]) => unknown).apply(target, args); };
      },
    });
    const sender = new CodeSender();
    const challenges = new OtpChallenges({ store, sender, encryptionKey: TEST_KEY, maxSendsPerUser: 100, maxSendsPerPhoneNumber: 100 });
    const strategy = new SmsOtpStrategy({ challenges, loadUser: (id) => ({ id }) });
    let n = 0;
    const seen = { success: 0, fail: 0, liveButWrong: 0 };
    const wrongOf = (code: string): string => String((Number(code) + 1) % 1_000_000).padStart(6, '0');

    /** Sets up one state for a fresh user; returns the session's challenge, the code the attacker holds, and the live code. */
    async function setUp(state: State): Promise<{ session: Record<string, unknown>; known: string; live: string | undefined }> {
      clock += 1_000_000; // older budgets, codes and failures are all gone
      const userId = `user-${n++}`;
      const begin = async (id = userId) => ({ ...(await challenges.start({ userId: id, phoneNumber: PHONE })), code: sender.code() });
      const pendingOf = (id: string, c: { challengeId: string; expiresAtMs: number }) => ({ smsOtp: { userId: id, challengeId: c.challengeId, startedAtMs: Date.now(), expiresAtMs: c.expiresAtMs } });
      const a = await begin();
      const session = pendingOf(userId, a);
      const wrong = async (count: number) => {
        for (let i = 0; i < count; i++) await challenges.verify({ userId, challengeId: a.challengeId, code: wrongOf(a.code) });
      };
      switch (state) {
        case 'live': return { session, known: a.code, live: a.code };
        case 'resent-new':
        case 'resent-old': {
          clock += 31_000;
          await challenges.resend({ userId, challengeId: a.challengeId, phoneNumber: PHONE });
          const fresh = sender.code();
          return { session, known: state === 'resent-new' ? fresh : a.code, live: fresh };
        }
        case 'superseded': await begin(); return { session, known: a.code, live: undefined };
        case 'consumed': expect((await challenges.verify({ userId, challengeId: a.challengeId, code: a.code })).ok).to.equal(true); return { session, known: a.code, live: undefined };
        case 'expired-code': clock += 301_000; return { session, known: a.code, live: undefined };
        case 'expired-pending': clock += 601_000; return { session, known: a.code, live: undefined };
        case 'exhausted': await wrong(5); return { session, known: a.code, live: undefined };
        case 'backoff': {
          await wrong(5); // five consecutive failures: the next attempt must wait, right code or not
          const b = await begin();
          return { session: pendingOf(userId, b), known: b.code, live: undefined };
        }
        case 'no-pending': return { session: {}, known: a.code, live: undefined };
        case 'other-user': {
          const other = await begin(`${userId}-other`);
          return { session, known: other.code, live: a.code };
        }
        case 'tampered': return { session: { smsOtp: { ...session.smsOtp, challengeId: `${a.challengeId}x` } }, known: a.code, live: undefined };
      }
    }

    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...STATES), body, fc.constantFrom('POST', 'POST', 'POST', 'POST', 'POST', 'GET', 'PUT'), fc.nat(9), async (state, shape, method, wrap) => {
        const { session, known, live } = await setUp(state);
        const text = serialise(shape, known);
        const json: unknown = JSON.parse(text);
        // Mostly the parsed JSON; sometimes no body at all, or one that only inherits its fields.
        const parsed: unknown = wrap === 0 ? undefined : wrap === 1 && json !== null && typeof json === 'object' ? Object.create(json) : json;
        const expected = method === 'POST' && holdsCode(parsed, live);
        const posted = method === 'POST' && parsed !== null && typeof parsed === 'object' && Object.hasOwn(parsed, 'code') ? (parsed as { code: unknown }).code : undefined;
        const callsBefore = storeCalls;
        const req = fakeRequest(parsed, session, method);
        const outcome = await runStrategy(strategy, req);
        expectNoPollution();
        if (typeof posted !== 'string' || !/^[0-9]{6}$/.test(posted)) {
          // Input first: anything but six ASCII digits is CODE_MALFORMED, and the store is never asked.
          expect([outcome.kind, (outcome as { challenge?: { code?: string } }).challenge?.code], `${method} ${text.slice(0, 120)}`).to.deep.equal(['fail', 'CODE_MALFORMED']);
          expect(storeCalls, 'no store call for malformed input').to.equal(callsBefore);
        }
        if (outcome.kind === 'fail') {
          expect(outcome.status, `status for ${state} ${text.slice(0, 80)}`).to.be.within(400, 499);
          if (live !== undefined && parsed !== null && typeof parsed === 'object') seen.liveButWrong++;
        }
        expect(outcome.kind, `${method} ${state} ${text.slice(0, 120)}`).to.equal(expected ? 'success' : 'fail');
        if (outcome.kind !== 'success') { seen.fail++; return; }
        seen.success++;
        expect(outcome.user).to.deep.equal({ id: (session.smsOtp as { userId: string }).userId });
        expect(req.session.smsOtp, 'the pending record is gone after success').to.equal(undefined);
        // Single use: the same body with the same pending record (a replayed session) fails.
        const again = await runStrategy(strategy, fakeRequest(parsed, session, method));
        expect(again.kind).to.equal('fail');
      }),
      { numRuns: STRATEGY_RUNS },
    );
    // The property can fail both ways: both outcomes really happened, often.
    expect(seen.success, 'successes').to.be.greaterThan(STRATEGY_RUNS / 50);
    expect(seen.fail, 'failures').to.be.greaterThan(STRATEGY_RUNS / 2);
    expect(seen.liveButWrong, 'live challenges with a wrong body').to.be.greaterThan(STRATEGY_RUNS / 20);
    memory.close();
  });

  it('OtpChallenges#verify: 2000 runs of any JS value as the code (boxed strings, null prototypes, Maps, BigInts): ok iff it is the live code string', async () => {
    const store = new MemoryOtpStore();
    const sender = new CodeSender();
    const challenges = new OtpChallenges({ store, sender, encryptionKey: TEST_KEY, maxSendsPerUser: 100, maxSendsPerPhoneNumber: 100, backoffAfterFailures: 100, lockAfterFailures: 100 });
    let n = 0;
    let ok = 0;
    const anything = fc.anything({ withBoxedValues: true, withNullPrototype: true, withBigInt: true, withMap: true, withSet: true, withTypedArray: true, withSparseArray: true, withDate: true, maxDepth: 2 });
    const submitted = fc.oneof(
      { weight: 2, arbitrary: fc.constant<(code: string) => unknown>((code) => code) },
      { weight: 2, arbitrary: anything.map((v) => (): unknown => v) },
      { weight: 1, arbitrary: fc.constantFrom<(code: string) => unknown>((code) => new String(code), (code) => ({ [Symbol.toPrimitive]: () => code }), (code) => Buffer.from(code), (code) => [...code]) },
    );
    await fc.assert(fc.asyncProperty(submitted, async (make) => {
      const userId = `any-${n++}`;
      const phoneNumber = `+452${String(n).padStart(7, '0')}`;
      const { challengeId } = await challenges.start({ userId, phoneNumber });
      const live = sender.code(phoneNumber);
      const code = make(live);
      const result = await challenges.verify({ userId, challengeId, code });
      expect(result.ok).to.equal(code === live);
      if (result.ok) ok++;
      else expect(result.error.status).to.be.within(400, 499);
    }), { numRuns: 2000 });
    expect(ok).to.be.greaterThan(200);
    store.close();
  });

  describe(`HTTP (buildApp + supertest): ${HTTP_RUNS} runs`, () => {
    let server: Server;
    let clock = Date.now();
    const sender = new CodeSender();
    const store = new MemoryOtpStore({ now: () => clock });
    before((done) => {
      const { app } = buildApp({ store, sender, numbers: { failureMemorySeconds: 60 } });
      server = app.listen(0, '127.0.0.1', done);
    });
    after((done) => { store.close(); server.close(done); });

    const HTTP_STATES = ['live', 'live', 'resent-new', 'resent-old', 'consumed', 'expired-code', 'no-cookie'] as const;
    const TYPES = ['application/json', 'application/json', 'application/json', 'text/plain', 'application/x-www-form-urlencoded'] as const;
    /** express.json() is strict: only objects and arrays reach the app; a top-level primitive is wrapped. */
    const httpBody = body.map((t): Tree => ('obj' in t || 'arr' in t ? t : { arr: [t] }));

    it('answers 200 iff the posted JSON "code" is the live code; otherwise 4xx, never 5xx', async () => {
      const seen = { ok: 0, refused: 0 };
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...HTTP_STATES), httpBody, fc.constantFrom(...TYPES), fc.constantFrom({ username: 'alice', phone: '+4512345678' }, { username: 'bob', phone: '+4587654321' }), async (state, shape, type, { username, phone }) => {
          clock += 1_000_000;
          const login = await request(server).post('/login').send({ username, password: `${username}-password` });
          expect(login.status).to.equal(200);
          let cookie = sessionCookie(login) as string;
          let known = sender.code(phone);
          let live: string | undefined = known;
          if (state === 'resent-new' || state === 'resent-old') {
            clock += 31_000;
            expect((await request(server).post('/login/otp/resend').set('Cookie', cookie).send({})).status).to.equal(200);
            live = sender.code(phone);
            if (state === 'resent-new') known = live;
          } else if (state === 'consumed') {
            const first = await request(server).post('/login/otp').set('Cookie', cookie).send({ code: known });
            expect(first.status).to.equal(200);
            live = undefined;
          } else if (state === 'expired-code') {
            clock += 301_000;
            live = undefined;
          } else if (state === 'no-cookie') {
            cookie = '';
            live = undefined;
          }
          const text = serialise(shape, known);
          const res = await request(server).post('/login/otp').set('Cookie', cookie).set('Content-Type', type).send(text);
          expectNoPollution();
          const expected = type === 'application/json' && holdsCode(JSON.parse(text), live);
          const what = `${state} ${type} ${text.slice(0, 120)} -> ${res.status} ${JSON.stringify(res.body)}`;
          if (expected) {
            seen.ok++;
            expect([res.status, res.body], what).to.deep.equal([200, { status: 'authenticated' }]);
          } else {
            seen.refused++;
            expect(res.status, what).to.be.within(400, 499);
            expect(res.body.error, what).to.be.a('string');
          }
        }),
        { numRuns: HTTP_RUNS },
      );
      expect(seen.ok, 'HTTP successes').to.be.greaterThan(HTTP_RUNS / 20);
      expect(seen.refused, 'HTTP refusals').to.be.greaterThan(HTTP_RUNS / 3);
    });
  });
});
