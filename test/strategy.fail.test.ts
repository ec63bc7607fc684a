import { expect } from 'chai';
import { OtpChallenges } from '../src/challenge.js';
import { OutboxSender } from '../src/senders/outbox.js';
import { MemoryOtpStore } from '../src/stores/memory.js';
import type { OtpStore } from '../src/store.js';
import { SmsOtpStrategy } from '../src/strategy.js';
import { codeIn, TEST_KEY } from './helpers/app.js';
import { fakeRequest, runStrategy } from './helpers/run-strategy.js';
import { countingStore } from './helpers/counting-store.js';


const BAD_CODES: Array<[string, unknown]> = [
  ['missing', undefined],
  ['empty', ''],
  ['letters', 'abcdef'],
  ['5 digits', '12345'],
  ['7 digits', '1234567'],
  ['an array', ['123456']],
  ['an object', { $gt: '' }],
  ['a number', 123456],
  ['null', null],
  ['a 10 kB string', '1'.repeat(10_240)],
  ['Arabic-Indic digits', '\u0661\u0662\u0663\u0664\u0665\u0666'],
  ['full-width digits', '\uff11\uff12\uff13\uff14\uff15\uff16'],
  ['surrounding whitespace', ' 123456 '],
  ['a trailing newline', '123456\n'],
  ['a sign', '+12345'],
  ['a decimal point', '1234.5'],
];

describe('SmsOtpStrategy: fail', () => {
  let sender: OutboxSender;
  let store: OtpStore & { calls: number };
  let strategy: SmsOtpStrategy;
  let pending: Record<string, unknown>;
  let rightCode: string;

  beforeEach(async () => {
    sender = new OutboxSender();
    store = countingStore(new MemoryOtpStore());
    const challenges = new OtpChallenges({ store, sender, encryptionKey: TEST_KEY });
    strategy = new SmsOtpStrategy({ challenges, loadUser: () => ({ id: 'u1' }) });
    const { challengeId, expiresAtMs } = await challenges.start({ userId: 'u1', phoneNumber: '+4512345678' });
    pending = { smsOtp: { userId: 'u1', challengeId, startedAtMs: Date.now(), expiresAtMs } };
    rightCode = codeIn(sender.lastTo('+4512345678')?.text);
    store.calls = 0;
  });

  const failure = async (body: unknown, session = pending, method = 'POST') => {
    const outcome = await runStrategy(strategy, fakeRequest(body, session, method));
    if (outcome.kind !== 'fail') throw new Error(`expected fail(), got ${outcome.kind}`);
    return { code: (outcome.challenge as { code: string }).code, status: outcome.status, info: outcome.challenge as Record<string, unknown> };
  };

  for (const [name, code] of BAD_CODES) {
    it(`a code that is ${name}: fail() with CODE_MALFORMED, 400, and no store call`, async () => {
      expect(await failure(code === undefined ? {} : { code })).to.deep.include({ code: 'CODE_MALFORMED', status: 400 });
      expect(store.calls).to.equal(0);
    });
  }

  it('OtpChallenges#verify called directly with a user or challenge id that is not a string: NO_PENDING_LOGIN, no store call, no throw', async () => {
    const challenges = new OtpChallenges({ store, sender, encryptionKey: TEST_KEY });
    for (const ids of [{ userId: undefined, challengeId: 'c' }, { userId: 'u1', challengeId: 42 }, { userId: { toString: () => 'u1' }, challengeId: 'c' }]) {
      const result = await challenges.verify({ ...(ids as unknown as { userId: string; challengeId: string }), code: rightCode });
      expect(result.ok).to.equal(false);
      expect(result.ok ? undefined : result.error.code).to.equal('NO_PENDING_LOGIN');
    }
    expect(store.calls).to.equal(0);
  });

  it('OtpChallenges#start, #resend and #verify called without their object: a clear SmsOtpError, no store call', async () => {
    const challenges = new OtpChallenges({ store, sender, encryptionKey: TEST_KEY });
    const codeOf = (p: Promise<unknown>) => p.then(() => 'resolved', (err: unknown) => (err instanceof Error ? `${(err as { code?: string }).code ?? err.name}: ${err.message}` : String(err)));
    expect(await codeOf(challenges.start(undefined as never))).to.match(/^INVALID_OPTIONS: .*start\(\) and resend\(\) take an object/);
    expect(await codeOf(challenges.start(null as never))).to.match(/^INVALID_OPTIONS/);
    expect(await codeOf(challenges.resend(undefined as never))).to.match(/^INVALID_OPTIONS/);
    expect(await codeOf(challenges.resend({ userId: 'u1', phoneNumber: '+4512345678' } as never))).to.match(/^NO_PENDING_LOGIN/);
    expect(await codeOf(challenges.verify(undefined as never))).to.match(/^INVALID_OPTIONS: .*verify\(\) takes an object/);
    expect(store.calls).to.equal(0);
    // A resend without a challenge id is refused before the app's beforeSend (a CAPTCHA, a paid risk check) is asked.
    let asked = 0;
    const guarded = new OtpChallenges({ store, sender, encryptionKey: TEST_KEY, beforeSend: () => { asked++; return false; } });
    expect(await codeOf(guarded.resend({ userId: 'u1', phoneNumber: '+4512345678' } as never))).to.match(/^NO_PENDING_LOGIN/);
    expect(asked).to.equal(0);
  });

  for (const [name, body] of [['no body', undefined], ['a string body', 'code=123456'], ['an array body', ['123456']], ['null', null]] as const) {
    it(`${name}: fail() with CODE_MALFORMED`, async () => {
      expect(await failure(body)).to.deep.include({ code: 'CODE_MALFORMED', status: 400 });
    });
  }

  it('reads the code from the POST body only: a GET with the right code fails', async () => {
    expect(await failure({ code: rightCode }, pending, 'GET')).to.deep.include({ code: 'CODE_MALFORMED' });
  });

  it('never reads the query string: the right code in the URL fails, on a GET and on a POST without it in the body', async () => {
    for (const [method, body] of [['GET', undefined], ['POST', {}]] as const) {
      const req = { ...fakeRequest(body, pending, method), query: { code: rightCode } };
      expect(await runStrategy(strategy, req)).to.deep.include({ kind: 'fail' });
    }
  });

  it('does not read an inherited code property', async () => {
    expect(await failure(Object.create({ code: rightCode }))).to.deep.include({ code: 'CODE_MALFORMED' });
  });

  it('a wrong code: fail() with CODE_WRONG, 401, and the attempts left', async () => {
    const wrong = rightCode === '000000' ? '111111' : '000000';
    const result = await failure({ code: wrong });
    expect(result).to.deep.include({ code: 'CODE_WRONG', status: 401 });
    expect(result.info.attemptsLeft).to.equal(4);
    expect(store.calls).to.equal(1);
  });

  it('no pending login in the session: fail() with NO_PENDING_LOGIN, 401', async () => {
    expect(await failure({ code: rightCode }, {})).to.deep.include({ code: 'NO_PENDING_LOGIN', status: 401 });
  });

  it('an expired pending record: fail() with NO_PENDING_LOGIN', async () => {
    const old = { smsOtp: { ...(pending.smsOtp as object), expiresAtMs: Date.now() - 1 } };
    expect(await failure({ code: rightCode }, old)).to.deep.include({ code: 'NO_PENDING_LOGIN' });
  });

  it('a forged pending record for another challenge: fail()', async () => {
    const forged = { smsOtp: { ...(pending.smsOtp as object), challengeId: 'forged' } };
    expect(await failure({ code: rightCode }, forged)).to.deep.include({ code: 'NO_PENDING_LOGIN' });
  });

  it('a malformed pending record: fail() with NO_PENDING_LOGIN', async () => {
    expect(await failure({ code: rightCode }, { smsOtp: 'garbage' })).to.deep.include({ code: 'NO_PENDING_LOGIN' });
    expect(await failure({ code: rightCode }, { smsOtp: { userId: 5 } })).to.deep.include({ code: 'NO_PENDING_LOGIN' });
  });
});
