import { expect } from 'chai';
import type { CodeIssued, FailurePolicy, IssueResult, OtpStore, ResendResult } from '../../src/store.js';

export interface ContractSubject {
  store: OtpStore;
  close(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const LONG = 60_000;
const NO_BUDGET = { max: 1000, windowMs: LONG };
const POLICY: FailurePolicy = { backoffAfter: 100, lockAfter: 100, lockMs: LONG, baseDelayMs: 1000, memoryMs: LONG };
let sends = 0;
const sendId = (): string => `send-${sends++}`;

/** The code of an 'issued' result; anything else fails the test. */
function codeOf(result: IssueResult | ResendResult): CodeIssued {
  if (result.status !== 'issued') throw new Error(`expected a code to be issued, got ${JSON.stringify(result)}`);
  return { counter: result.counter, sealedSecret: result.sealedSecret };
}

/** The behaviour every OtpStore must show; run against MemoryOtpStore and RedisOtpStore alike. */
export function storeContract(name: string, make: () => Promise<ContractSubject>): void {
  describe(`OtpStore contract: ${name}`, () => {
    let subject: ContractSubject;
    let store: OtpStore;
    let n = 0;
    let user: string;
    beforeEach(async () => {
      subject = await make();
      store = subject.store;
      user = `user-${Date.now()}-${n++}-{odd}}id`;
    });
    afterEach(async () => {
      await store.deleteUser(user);
      await subject.close();
    });

    const issueRaw = (challengeId = 'c1', over: Partial<Parameters<OtpStore['issue']>[0]> = {}) =>
      store.issue({ userId: user, challengeId, sendId: sendId(), newSealedSecret: 'sealed-1', pendingTtlMs: LONG, codeTtlMs: LONG, cooldownMs: 0, lockAfter: 100, userBudget: NO_BUDGET, ...over });
    const issue = async (challengeId = 'c1', over: Partial<Parameters<OtpStore['issue']>[0]> = {}) => codeOf(await issueRaw(challengeId, over));
    const resend = (challengeId = 'c1', over: Partial<Parameters<OtpStore['resend']>[0]> = {}) =>
      store.resend({ userId: user, challengeId, sendId: sendId(), codeTtlMs: LONG, cooldownMs: 0, maxSends: 3, maxAttempts: 5, lockAfter: 100, userBudget: NO_BUDGET, ...over });
    // Codes are armed with a MAC; any other string stands for a wrong code's MAC.
    const arm = (counter: number, challengeId = 'c1', codeDigest = 'mac-right', over: Partial<Parameters<OtpStore['arm']>[0]> = {}) =>
      store.arm({ userId: user, challengeId, counter, codeDigest, ...over });
    const issueArmed = async (challengeId = 'c1', codeDigest = 'mac-right', over: Partial<Parameters<OtpStore['issue']>[0]> = {}) => {
      const issued = await issue(challengeId, over);
      expect(await arm(issued.counter, challengeId, codeDigest)).to.equal(true);
      return issued;
    };
    const attempt = (challengeId = 'c1', maxAttempts = 5, failures: FailurePolicy = POLICY, codeDigests: string[] = ['mac-wrong']) =>
      store.attempt({ userId: user, challengeId, codeDigests, maxAttempts, failures });
    const right = (challengeId = 'c1', maxAttempts = 5, digests = ['mac-right']) => attempt(challengeId, maxAttempts, POLICY, digests);

    it('creates the secret once and moves the counter forward on every issue', async () => {
      const first = await issue('c1');
      const second = await issue('c2', { newSealedSecret: 'sealed-2' });
      expect(first).to.deep.equal({ counter: 1, sealedSecret: 'sealed-1' });
      expect(second).to.deep.equal({ counter: 2, sealedSecret: 'sealed-1' });
    });

    it('counts a wrong attempt, on the challenge and as a user failure', async () => {
      await issueArmed();
      expect(await attempt()).to.deep.equal({ status: 'wrong', attempts: 1, failures: 1 });
      expect(await attempt()).to.deep.equal({ status: 'wrong', attempts: 2, failures: 2 });
    });

    it('accepts the armed MAC once, counting the attempt, and ends the challenge', async () => {
      await issueArmed();
      await attempt();
      expect(await right()).to.deep.equal({ status: 'accepted', attempts: 2 });
      expect(await right()).to.deep.equal({ status: 'no_challenge' });
    });

    it('accepts any one of several submitted MACs (one per key, during a key rotation)', async () => {
      await issueArmed('c1', 'mac-old-key');
      expect(await right('c1', 5, ['mac-new-key', 'mac-old-key'])).to.deep.include({ status: 'accepted' });
    });

    it('a code armed under a key none of the submitted MACs used: unknown_key, counted neither on the challenge nor as a user failure', async () => {
      await issueArmed('c1', 'old.mac-right');
      for (let i = 0; i < 6; i++) expect(await right('c1', 5, ['new.mac-x'])).to.deep.equal({ status: 'unknown_key', attempts: 0 });
      expect(await right('c1', 5, ['new.mac-x', 'old.mac-wrong'])).to.deep.equal({ status: 'wrong', attempts: 1, failures: 1 });
      expect(await right('c1', 5, ['new.mac-x', 'old.mac-right'])).to.deep.equal({ status: 'accepted', attempts: 2 });
    });

    it('cancelSend of a code that has expired gives back only its budget slot: the cooldown still runs', async () => {
      const budget = { max: 1, windowMs: LONG };
      const { counter } = await issue('c1', { codeTtlMs: 40, cooldownMs: LONG, userBudget: budget });
      const id = `send-${sends - 1}`;
      await sleep(80);
      expect(await issueRaw('c2', { userBudget: budget })).to.deep.include({ status: 'over_budget' });
      await store.cancelSend({ userId: user, challengeId: 'c1', counter, sendId: id });
      expect(await resend('c1', { cooldownMs: LONG })).to.deep.include({ status: 'cooldown' });
      expect(await issueRaw('c2', { userBudget: budget })).to.deep.include({ status: 'issued' });
    });

    it('cancelSend of a send whose code a newer send replaced gives back its budget slot and nothing else', async () => {
      const budget = { max: 2, windowMs: LONG };
      const first = await issue('c1', { userBudget: budget });
      const firstSend = `send-${sends - 1}`;
      await issueArmed('c2', 'mac-new', { userBudget: budget, cooldownMs: LONG });
      // Two logins overlapping (a double submit): the first one's text did not go out.
      await store.cancelSend({ userId: user, challengeId: 'c1', counter: first.counter, sendId: firstSend });
      expect(await resend('c2', { cooldownMs: LONG, userBudget: budget })).to.deep.include({ status: 'cooldown' });
      expect(await issueRaw('c3', { userBudget: { max: 2, windowMs: LONG } })).to.deep.include({ status: 'issued' });
      expect(await issueRaw('c4', { userBudget: { max: 2, windowMs: LONG } })).to.deep.include({ status: 'over_budget' });
    });

    it('cancelSend of a resend puts the code it replaced back, until that code\'s own expiry', async () => {
      // Long enough for the steps below on a loaded machine; the code's own expiry is another test's.
      await issueArmed('c1', 'mac-old', { codeTtlMs: 3_000 });
      const { counter } = codeOf(await resend('c1'));
      await store.cancelSend({ userId: user, challengeId: 'c1', counter, sendId: `send-${sends - 1}` });
      expect(await right('c1', 5, ['mac-old'])).to.deep.equal({ status: 'accepted', attempts: 1 });
    });

    it('cancelSend of a resend does not bring back a code whose own lifetime ran out meanwhile', async () => {
      await issueArmed('c1', 'mac-old', { codeTtlMs: 150 });
      const { counter } = codeOf(await resend('c1'));
      await sleep(300);
      await store.cancelSend({ userId: user, challengeId: 'c1', counter, sendId: `send-${sends - 1}` });
      expect(await right('c1', 5, ['mac-old'])).to.deep.include({ status: 'expired' });
    });

    it('cancelSend of a new login does not bring back a login whose own lifetime ran out meanwhile', async () => {
      await issueArmed('c1', 'mac-old', { codeTtlMs: 150, pendingTtlMs: 150 });
      const { counter } = await issue('c2');
      await sleep(300);
      await store.cancelSend({ userId: user, challengeId: 'c2', counter, sendId: `send-${sends - 1}` });
      expect(await right('c1', 5, ['mac-old'])).to.deep.equal({ status: 'no_challenge' });
      expect(await attempt('c2')).to.deep.equal({ status: 'no_challenge' });
    });

    it('cancelSend of a new login puts the login it replaced back: challenge, attempts, code and cooldown', async () => {
      await issueArmed('c1', 'mac-old', { cooldownMs: LONG });
      expect(await attempt('c1')).to.deep.include({ status: 'wrong', attempts: 1 });
      const { counter } = await issue('c2');
      await store.cancelSend({ userId: user, challengeId: 'c2', counter, sendId: `send-${sends - 1}` });
      expect(await attempt('c2')).to.deep.equal({ status: 'no_challenge' });
      expect(await resend('c1', { cooldownMs: LONG })).to.deep.include({ status: 'cooldown' });
      expect(await right('c1', 5, ['mac-old'])).to.deep.equal({ status: 'accepted', attempts: 2 });
    });

    it('cancelSend without a counter (a new login whose issue never answered) puts the login it replaced back, found by its send id', async () => {
      await issueArmed('c1', 'mac-old', { cooldownMs: LONG });
      expect(await attempt('c1')).to.deep.include({ status: 'wrong', attempts: 1 });
      await issue('c2');
      await store.cancelSend({ userId: user, challengeId: 'c2', sendId: `send-${sends - 1}` });
      expect(await attempt('c2')).to.deep.equal({ status: 'no_challenge' });
      expect(await resend('c1', { cooldownMs: LONG })).to.deep.include({ status: 'cooldown' });
      expect(await right('c1', 5, ['mac-old'])).to.deep.equal({ status: 'accepted', attempts: 2 });
    });

    it('cancelSend without a counter of a login that never ran changes nothing but its budget slot', async () => {
      const budget = { max: 2, windowMs: LONG };
      await issueArmed('c1', 'mac-old', { userBudget: budget });
      // A send id the budget holds (taken by a resend), cancelled under a challenge id that never ran.
      expect(await resend('c1', { userBudget: budget })).to.deep.include({ status: 'issued' });
      expect(await issueRaw('c9', { userBudget: budget })).to.deep.include({ status: 'over_budget' });
      await store.cancelSend({ userId: user, challengeId: 'never-ran', sendId: `send-${sends - 2}` });
      // The resend's code is still the live one: the code it replaced does not come back.
      expect(await right('c1', 5, ['mac-old'])).to.deep.equal({ status: 'wrong', attempts: 1, failures: 1 });
      expect(await issueRaw('c9', { userBudget: budget })).to.deep.include({ status: 'issued' });
    });

    it('cancelSend without a counter of a resend (it never answered) puts the code it replaced back, found by its send id', async () => {
      await issueArmed('c1', 'mac-old');
      const { counter } = codeOf(await resend('c1'));
      expect(await arm(counter, 'c1', 'mac-new')).to.equal(true);
      // The resend after it, the one that never answered.
      expect(await resend('c1')).to.deep.include({ status: 'issued' });
      await store.cancelSend({ userId: user, challengeId: 'c1', sendId: `send-${sends - 1}` });
      expect(await right('c1', 5, ['mac-new'])).to.deep.equal({ status: 'accepted', attempts: 1 });
    });

    it('cancelSend without a counter whose send is not the live code\'s (it never ran) leaves the live code alone', async () => {
      await issueArmed('c1', 'mac-old');
      const { counter } = codeOf(await resend('c1'));
      expect(await arm(counter, 'c1', 'mac-new')).to.equal(true);
      // Same challenge, a send that issued nothing (a resend refused late, as send_limit or cooldown).
      await store.cancelSend({ userId: user, challengeId: 'c1', sendId: 'send-never-issued' });
      expect(await right('c1', 5, ['mac-old'])).to.deep.equal({ status: 'wrong', attempts: 1, failures: 1 });
      expect(await right('c1', 5, ['mac-new'])).to.deep.equal({ status: 'accepted', attempts: 2 });
    });

    it('two resends overlapping (a double click), both cancelled: the code in hand before them comes back', async () => {
      await issueArmed('c1', 'mac-old');
      const r2 = codeOf(await resend('c1'));
      const r2Send = `send-${sends - 1}`;
      const r3 = codeOf(await resend('c1'));
      await store.cancelSend({ userId: user, challengeId: 'c1', counter: r3.counter, sendId: `send-${sends - 1}` });
      await store.cancelSend({ userId: user, challengeId: 'c1', counter: r2.counter, sendId: r2Send });
      // The first resend's code, still on its way, can never be armed now.
      expect(await arm(r2.counter, 'c1', 'mac-r2')).to.equal(false);
      expect(await right('c1', 5, ['mac-old'])).to.deep.equal({ status: 'accepted', attempts: 1 });
    });

    it('a resend over a new login\'s first code still on its way does not take over the login that one replaced', async () => {
      await issueArmed('c1', 'mac-old');
      const b = await issue('c2');
      // A resend of c2 before its first code was armed (no client can know c2 that early; a store must still not mix logins).
      const r = codeOf(await resend('c2'));
      await store.cancelSend({ userId: user, challengeId: 'c2', counter: r.counter, sendId: `send-${sends - 1}` });
      expect(await arm(b.counter, 'c2', 'mac-b')).to.equal(false);
      // The login c1's code is not c2's: c2 has no live code left.
      expect(await right('c2', 5, ['mac-old'])).to.deep.equal({ status: 'expired', attempts: 1, failures: 1 });
    });

    it('two new logins overlapping, both cancelled (a double submit refused twice): the login before them comes back with its code', async () => {
      await issueArmed('c1', 'mac-old', { cooldownMs: LONG });
      expect(await attempt('c1')).to.deep.include({ status: 'wrong', attempts: 1 });
      const b = await issue('c2');
      const bSend = `send-${sends - 1}`;
      // c3 replaces c2 before c2's code was armed: c2's text was still on its way.
      const c = await issue('c3');
      const cSend = `send-${sends - 1}`;
      await store.cancelSend({ userId: user, challengeId: 'c2', counter: b.counter, sendId: bSend });
      await store.cancelSend({ userId: user, challengeId: 'c3', counter: c.counter, sendId: cSend });
      expect(await attempt('c2')).to.deep.equal({ status: 'no_challenge' });
      expect(await resend('c1', { cooldownMs: LONG })).to.deep.include({ status: 'cooldown' });
      expect(await right('c1', 5, ['mac-old'])).to.deep.equal({ status: 'accepted', attempts: 2 });
    });

    it('a new login while a resend is on its way, then cancelled: the login comes back with the code it had before the resend', async () => {
      await issueArmed('c1', 'mac-old', { codeTtlMs: 5_000 });
      expect(codeOf(await resend('c1')).counter).to.be.a('number');
      const { counter } = await issue('c2');
      await store.cancelSend({ userId: user, challengeId: 'c2', counter, sendId: `send-${sends - 1}` });
      expect(await right('c1', 5, ['mac-old'])).to.deep.equal({ status: 'accepted', attempts: 1 });
    });

    it('a new login while the first text of a login with none before it is on its way, then cancelled: no login comes back', async () => {
      await issue('c1');
      const { counter } = await issue('c2');
      await store.cancelSend({ userId: user, challengeId: 'c2', counter, sendId: `send-${sends - 1}` });
      // c1 never had a code that could be accepted: it does not come back as a login without one.
      expect(await attempt('c1')).to.deep.equal({ status: 'no_challenge' });
    });

    it('cancelSend never brings back a code that was used: single use holds across a cancelled new login', async () => {
      await issueArmed('c1', 'mac-old');
      expect(await right('c1', 5, ['mac-old'])).to.deep.include({ status: 'accepted' });
      const { counter } = await issue('c2');
      await store.cancelSend({ userId: user, challengeId: 'c2', counter, sendId: `send-${sends - 1}` });
      expect(await right('c1', 5, ['mac-old'])).to.deep.equal({ status: 'no_challenge' });
    });

    it('never accepts a code that was not armed', async () => {
      await issue();
      expect(await right()).to.deep.equal({ status: 'wrong', attempts: 1, failures: 1 });
      expect(await attempt('c1', 5, POLICY, [])).to.deep.include({ status: 'wrong', attempts: 2 });
    });

    it('arms only the live code: not a stale counter, not another challenge', async () => {
      const { counter } = await issue();
      expect(await arm(counter + 1)).to.equal(false);
      expect(await arm(counter, 'other')).to.equal(false);
      expect(await arm(counter - 1)).to.equal(false);
      expect(await right()).to.deep.include({ status: 'wrong' });
      expect(await arm(counter)).to.equal(true);
      expect(await right()).to.deep.include({ status: 'accepted' });
    });

    it('refuses attempts on an unknown or replaced challenge', async () => {
      expect(await attempt('nope')).to.deep.equal({ status: 'no_challenge' });
      await issueArmed('c1');
      await issueArmed('c2');
      expect(await right('c1')).to.deep.equal({ status: 'no_challenge' });
      expect(await right('c2')).to.deep.include({ status: 'accepted' });
    });

    it('is exhausted after maxAttempts attempts and stays so, even for the right code', async () => {
      await issueArmed();
      for (let i = 1; i <= 3; i++) expect(await attempt('c1', 3)).to.deep.include({ status: 'wrong', attempts: i });
      expect(await right('c1', 3)).to.deep.equal({ status: 'exhausted' });
      expect(await attempt('c1', 3)).to.deep.equal({ status: 'exhausted' });
    });

    it('accepts the right code on the last allowed attempt', async () => {
      await issueArmed();
      for (let i = 1; i <= 2; i++) await attempt('c1', 3);
      expect(await right('c1', 3)).to.deep.equal({ status: 'accepted', attempts: 3 });
    });

    it('accepts exactly one of many concurrent right submissions', async () => {
      await issueArmed();
      const results = await Promise.all(Array.from({ length: 20 }, () => right('c1', 50)));
      expect(results.filter((r) => r.status === 'accepted')).to.have.length(1);
      expect(results.filter((r) => r.status !== 'accepted').map((r) => r.status)).to.satisfy((rest: string[]) => rest.every((s) => s === 'no_challenge'));
    });

    it('expires the code after its lifetime but keeps the challenge', async () => {
      await issueArmed('c1', 'mac-right', { codeTtlMs: 60 });
      await sleep(120);
      expect(await right()).to.deep.equal({ status: 'expired', attempts: 1, failures: 1 });
      expect(await arm(1)).to.equal(false);
    });

    it('expires the whole challenge after the pending lifetime', async () => {
      await issueArmed('c1', 'mac-right', { codeTtlMs: 60, pendingTtlMs: 60 });
      await sleep(120);
      expect(await right()).to.deep.equal({ status: 'no_challenge' });
    });

    it('resend: a new counter, the old code dies, attempts carry over', async () => {
      const first = await issueArmed('c1', 'mac-first');
      await attempt();
      await attempt();
      const again = await resend();
      expect(again).to.deep.equal({ status: 'issued', counter: first.counter + 1, sealedSecret: 'sealed-1' });
      // The old code dies with the resend, before the new one is armed.
      expect(await right('c1', 5, ['mac-first'])).to.deep.equal({ status: 'wrong', attempts: 3, failures: 3 });
      expect(await arm(first.counter, 'c1', 'mac-first')).to.equal(false);
      expect(await arm(first.counter + 1, 'c1', 'mac-second')).to.equal(true);
      expect(await right('c1', 5, ['mac-first'])).to.deep.equal({ status: 'wrong', attempts: 4, failures: 4 });
      expect(await right('c1', 5, ['mac-second'])).to.deep.equal({ status: 'accepted', attempts: 5 });
    });

    it('resend: refused during the cooldown with the time left', async () => {
      await issue('c1', { cooldownMs: 5_000 });
      const result = await resend();
      expect(result.status).to.equal('cooldown');
      const retryAfterMs = result.status === 'cooldown' ? result.retryAfterMs : -1;
      expect(retryAfterMs).to.be.within(1, 5_000);
    });

    it('resend: allowed again once the cooldown passed', async () => {
      await issue('c1', { cooldownMs: 50 });
      await sleep(100);
      expect(await resend('c1', { cooldownMs: 50 })).to.deep.include({ status: 'issued' });
    });

    it('resend: starts a cooldown of its own, so a second resend right after it is refused', async () => {
      await issue('c1', { cooldownMs: 50 });
      await sleep(100);
      expect(await resend('c1', { cooldownMs: 5_000, maxSends: 5 })).to.deep.include({ status: 'issued' });
      const result = await resend('c1', { cooldownMs: 5_000, maxSends: 5 });
      expect(result.status).to.equal('cooldown');
      expect(result.status === 'cooldown' ? result.retryAfterMs : -1).to.be.within(4_000, 5_000);
    });

    it('resend: the new code lives codeTtlMs from the resend, not as long as the login', async () => {
      await issueArmed('c1', 'mac-first');
      const again = await resend('c1', { codeTtlMs: 400 });
      expect(again).to.deep.include({ status: 'issued' });
      expect(await arm(again.status === 'issued' ? again.counter : -1, 'c1', 'mac-second')).to.equal(true);
      // Past its 400 ms, short of twice that: a code kept for a multiple of its lifetime fails.
      await sleep(600);
      expect(await right('c1', 5, ['mac-second'])).to.deep.equal({ status: 'expired', attempts: 1, failures: 1 });
    });

    it('a used code is gone: it cannot be armed again, and its challenge takes no attempt', async () => {
      const issued = await issueArmed();
      expect(await right()).to.deep.include({ status: 'accepted' });
      expect(await arm(issued.counter)).to.equal(false);
      expect(await right()).to.deep.equal({ status: 'no_challenge' });
    });

    it('resend: at most maxSends texts per challenge, the first included', async () => {
      await issue();
      expect(await resend('c1', { maxSends: 2 })).to.deep.include({ status: 'issued' });
      expect(await resend('c1', { maxSends: 2 })).to.deep.equal({ status: 'send_limit' });
    });

    it('resend: once the last text is spent, send_limit even during the cooldown (waiting would not help)', async () => {
      await issue('c1', { cooldownMs: 5_000 });
      expect(await resend('c1', { maxSends: 1, cooldownMs: 5_000 })).to.deep.equal({ status: 'send_limit' });
      expect(await resend('c1', { maxSends: 2, cooldownMs: 5_000 })).to.deep.include({ status: 'cooldown' });
    });

    it('resend: refused for an unknown or exhausted challenge', async () => {
      expect(await resend('nope')).to.deep.equal({ status: 'no_challenge' });
      await issue();
      for (let i = 0; i < 2; i++) await attempt('c1', 2);
      expect(await resend('c1', { maxAttempts: 2 })).to.deep.equal({ status: 'exhausted' });
    });

    it('cancelSend withdraws the code and gives the send, the budget and the cooldown back', async () => {
      const id = 'the-send';
      const { counter } = await issue('c1', { cooldownMs: 60_000, sendId: id, userBudget: { max: 1, windowMs: LONG } });
      await store.cancelSend({ userId: user, challengeId: 'c1', counter, sendId: id });
      expect(await arm(counter)).to.equal(false);
      expect(await right()).to.deep.include({ status: 'expired' });
      const again = await resend('c1', { maxSends: 1, userBudget: { max: 1, windowMs: LONG } });
      expect(again).to.deep.include({ status: 'issued', counter: counter + 1 });
    });

    it('cancelSend of a stale code changes nothing', async () => {
      const { counter } = await issueArmed();
      await store.cancelSend({ userId: user, challengeId: 'c1', counter: counter - 1, sendId: 'x' });
      expect(await right()).to.deep.include({ status: 'accepted' });
    });

    it('deleteUser removes the secret and the counter together', async () => {
      await issueArmed('c1');
      await issueArmed('c2');
      await store.deleteUser(user);
      expect(await right('c2')).to.deep.equal({ status: 'no_challenge' });
      // A new secret and a counter from the start: a counter kept alone would repeat old codes with a new secret only by luck.
      expect(await issue('c3', { newSealedSecret: 'sealed-new' })).to.deep.equal({ counter: 1, sealedSecret: 'sealed-new' });
    });

    it('keeps users apart', async () => {
      const other = `${user}-other`;
      try {
        await issueArmed('c1', 'mac-mine');
        const theirs = await store.issue({ userId: other, challengeId: 'c1', sendId: sendId(), newSealedSecret: 'sealed-other', pendingTtlMs: LONG, codeTtlMs: LONG, cooldownMs: 0, lockAfter: 100, userBudget: NO_BUDGET });
        expect(theirs).to.deep.include({ counter: 1, sealedSecret: 'sealed-other' });
        expect(await store.arm({ userId: other, challengeId: 'c1', counter: 1, codeDigest: 'mac-theirs' })).to.equal(true);
        expect(await right('c1', 5, ['mac-theirs'])).to.deep.equal({ status: 'wrong', attempts: 1, failures: 1 });
        expect(await store.attempt({ userId: other, challengeId: 'c1', codeDigests: ['mac-mine'], maxAttempts: 5, failures: POLICY })).to.deep.equal({ status: 'wrong', attempts: 1, failures: 1 });
        expect(await right('c1', 5, ['mac-mine'])).to.deep.include({ status: 'accepted' });
      } finally {
        await store.deleteUser(other);
      }
    });

    it('counts consecutive failures per user across challenges; a right code clears them', async () => {
      await issueArmed('c1');
      await attempt('c1');
      await attempt('c1');
      await issueArmed('c2');
      expect(await attempt('c2')).to.deep.include({ status: 'wrong', attempts: 1, failures: 3 });
      await issueArmed('c3');
      expect(await attempt('c3')).to.deep.include({ failures: 4 });
      expect(await right('c3')).to.deep.include({ status: 'accepted' });
      await issueArmed('c4');
      expect(await attempt('c4')).to.deep.include({ failures: 1 });
    });

    it('makes the next attempt wait after backoffAfter failures, and locks after lockAfter', async () => {
      const policy: FailurePolicy = { backoffAfter: 2, lockAfter: 3, lockMs: 5_000, baseDelayMs: 1_000, memoryMs: LONG };
      await issueArmed('c1');
      expect(await attempt('c1', 10, policy)).to.deep.include({ status: 'wrong', failures: 1 });
      expect(await attempt('c1', 10, policy)).to.deep.include({ status: 'wrong', failures: 2 });
      const waiting = await attempt('c1', 10, policy);
      expect(waiting.status).to.equal('locked');
      expect(waiting.status === 'locked' ? waiting.retryAfterMs : 0).to.be.within(1, 1_000);
      await sleep(1_050);
      expect(await attempt('c1', 10, policy)).to.deep.include({ status: 'wrong', failures: 3 });
      const locked = await attempt('c1', 10, policy);
      expect(locked.status === 'locked' ? locked.retryAfterMs : 0).to.be.within(3_000, 5_000);
      // While locked, no code is issued either, for this login or a new one.
      expect(await resend('c1', { lockAfter: 3 })).to.deep.include({ status: 'locked' });
      expect(await issueRaw('c2', { lockAfter: 3 })).to.deep.include({ status: 'locked' });
      // A throttled attempt is not counted on the challenge.
      expect(await attempt('c1', 10, { ...policy, lockMs: 1 })).to.deep.include({ status: 'locked' });
    });

    it('a lock outlasts a failure memory shorter than it: failures are remembered for the wait plus failureMemory', async () => {
      const policy: FailurePolicy = { backoffAfter: 1, lockAfter: 1, lockMs: 1_500, baseDelayMs: 1_000, memoryMs: 100 };
      await issueArmed('c1');
      expect(await attempt('c1', 10, policy)).to.deep.include({ status: 'wrong', failures: 1 });
      await sleep(400);
      const locked = await attempt('c1', 10, policy);
      expect(locked.status).to.equal('locked');
      expect(locked.status === 'locked' ? locked.retryAfterMs : 0).to.be.within(1, 1_100);
    });

    it('backoff never waits longer than the lock: the doubling delay is capped at lockMs', async () => {
      const policy: FailurePolicy = { backoffAfter: 1, lockAfter: 100, lockMs: 150, baseDelayMs: 100, memoryMs: LONG };
      await issueArmed('c1');
      expect(await attempt('c1', 10, policy)).to.deep.include({ status: 'wrong', failures: 1 });
      await sleep(150);
      // The second failure would wait 200 ms doubled; the cap makes it 150.
      expect(await attempt('c1', 10, policy)).to.deep.include({ status: 'wrong', failures: 2 });
      const waiting = await attempt('c1', 10, policy);
      expect(waiting.status).to.equal('locked');
      expect(waiting.status === 'locked' ? waiting.retryAfterMs : 0).to.be.within(1, 150);
    });

    it('the user send budget: at most max issues and resends in the window, across challenges', async () => {
      // A window a loaded machine cannot pass by accident between two steps, short enough to wait out.
      const budget = { max: 2, windowMs: 1_000 };
      await issue('c1', { userBudget: budget });
      expect(await resend('c1', { userBudget: budget })).to.deep.include({ status: 'issued' });
      const refused = await issueRaw('c2', { userBudget: budget });
      expect(refused.status).to.equal('over_budget');
      expect(refused.status === 'over_budget' ? refused.retryAfterMs : 0).to.be.within(1, 1_000);
      expect(await resend('c1', { userBudget: budget })).to.deep.include({ status: 'over_budget' });
      // Still spent well into the window, not only right after the sends.
      await sleep(500);
      expect(await issueRaw('c2', { userBudget: budget })).to.deep.include({ status: 'over_budget' });
      await sleep(600);
      expect(await issueRaw('c2', { userBudget: budget })).to.deep.include({ status: 'issued' });
    });

    it('the phone budget: reserve up to max in the window, release gives one back', async () => {
      const phoneKey = `phone${n}x${Date.now()}`;
      // A window a loaded machine cannot pass by accident between two steps, short enough to wait out.
      const budget = { max: 2, windowMs: 1_000 };
      expect(await store.reservePhoneSend({ phoneKey, sendId: 'a', budget })).to.deep.equal({ ok: true });
      expect(await store.reservePhoneSend({ phoneKey, sendId: 'b', budget })).to.deep.equal({ ok: true });
      const refused = await store.reservePhoneSend({ phoneKey, sendId: 'c', budget });
      expect(refused.ok).to.equal(false);
      await store.releasePhoneSend({ phoneKey, sendId: 'b' });
      expect(await store.reservePhoneSend({ phoneKey, sendId: 'c', budget })).to.deep.equal({ ok: true });
      // Still spent well into the window, not only right after the reservations.
      await sleep(500);
      expect(await store.reservePhoneSend({ phoneKey, sendId: 'x', budget })).to.deep.include({ ok: false });
      await sleep(600);
      expect(await store.reservePhoneSend({ phoneKey, sendId: 'd', budget })).to.deep.equal({ ok: true });
    });

    it('arm re-seals the secret only if it is still the expected one', async () => {
      const first = await issue('c1');
      expect(await arm(first.counter, 'c1', 'mac-right', { reseal: { expected: 'stale', replacement: 'x' } })).to.equal(true);
      expect((await issue('c2')).sealedSecret).to.equal('sealed-1');
      const second = await issue('c3');
      expect(await arm(second.counter, 'c3', 'mac-right', { reseal: { expected: 'sealed-1', replacement: 'sealed-2' } })).to.equal(true);
      expect(await issue('c4')).to.deep.include({ sealedSecret: 'sealed-2' });
      // A code that is no longer live re-seals nothing either.
      expect(await arm(first.counter, 'c1', 'mac-right', { reseal: { expected: 'sealed-2', replacement: 'sealed-3' } })).to.equal(false);
      expect(await issue('c5')).to.deep.include({ sealedSecret: 'sealed-2' });
    });

    it('answers ping', async () => {
      await store.ping();
    });
  });
}
