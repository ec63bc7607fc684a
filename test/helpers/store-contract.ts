import { expect } from 'chai';
import type { OtpStore } from '../../src/store.js';

export interface ContractSubject {
  store: OtpStore;
  close(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const LONG = 60_000;

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

    const issue = (challengeId = 'c1', over: Partial<Parameters<OtpStore['issue']>[0]> = {}) =>
      store.issue({ userId: user, challengeId, newSealedSecret: 'sealed-1', pendingTtlMs: LONG, codeTtlMs: LONG, cooldownMs: 0, ...over });
    const resend = (challengeId = 'c1', over: Partial<Parameters<OtpStore['resend']>[0]> = {}) =>
      store.resend({ userId: user, challengeId, codeTtlMs: LONG, cooldownMs: 0, maxSends: 3, maxAttempts: 5, ...over });
    const attempt = (challengeId = 'c1', maxAttempts = 5) => store.attempt({ userId: user, challengeId, maxAttempts });

    it('creates the secret once and moves the counter forward on every issue', async () => {
      const first = await issue('c1');
      const second = await issue('c2', { newSealedSecret: 'sealed-2' });
      expect(first).to.deep.equal({ counter: 1, sealedSecret: 'sealed-1' });
      expect(second).to.deep.equal({ counter: 2, sealedSecret: 'sealed-1' });
    });

    it('hands back the live code for comparison, counting the attempt first', async () => {
      const { counter } = await issue();
      expect(await attempt()).to.deep.equal({ status: 'compare', attempts: 1, counter, sealedSecret: 'sealed-1' });
      expect(await attempt()).to.deep.include({ status: 'compare', attempts: 2 });
    });

    it('refuses attempts on an unknown or replaced challenge', async () => {
      expect(await attempt('nope')).to.deep.equal({ status: 'no_challenge' });
      await issue('c1');
      await issue('c2');
      expect(await attempt('c1')).to.deep.equal({ status: 'no_challenge' });
      expect(await attempt('c2')).to.deep.include({ status: 'compare' });
    });

    it('is exhausted after maxAttempts attempts and stays so', async () => {
      await issue();
      for (let i = 1; i <= 3; i++) expect(await attempt('c1', 3)).to.deep.include({ status: 'compare', attempts: i });
      expect(await attempt('c1', 3)).to.deep.equal({ status: 'exhausted' });
      expect(await attempt('c1', 3)).to.deep.equal({ status: 'exhausted' });
    });

    it('consumes a code exactly once', async () => {
      const { counter } = await issue();
      const results = await Promise.all(Array.from({ length: 20 }, () => store.consume({ userId: user, challengeId: 'c1', counter })));
      expect(results.filter(Boolean)).to.have.length(1);
      expect(await attempt()).to.deep.equal({ status: 'no_challenge' });
    });

    it('does not consume with a stale counter or another challenge id', async () => {
      const { counter } = await issue();
      expect(await store.consume({ userId: user, challengeId: 'c1', counter: counter + 1 })).to.equal(false);
      expect(await store.consume({ userId: user, challengeId: 'other', counter })).to.equal(false);
      expect(await store.consume({ userId: user, challengeId: 'c1', counter })).to.equal(true);
    });

    it('still consumes a right code whose attempt was counted before the challenge ran out', async () => {
      const { counter } = await issue();
      await attempt('c1', 1);
      expect(await attempt('c1', 1)).to.deep.equal({ status: 'exhausted' });
      expect(await store.consume({ userId: user, challengeId: 'c1', counter })).to.equal(true);
    });

    it('expires the code after its lifetime but keeps the challenge', async () => {
      await issue('c1', { codeTtlMs: 60 });
      await sleep(120);
      expect(await attempt()).to.deep.equal({ status: 'expired', attempts: 1 });
    });

    it('expires the whole challenge after the pending lifetime', async () => {
      await issue('c1', { codeTtlMs: 60, pendingTtlMs: 60 });
      await sleep(120);
      expect(await attempt()).to.deep.equal({ status: 'no_challenge' });
    });

    it('resend: a new counter, the old code dies, attempts carry over', async () => {
      const first = await issue();
      await attempt();
      await attempt();
      const again = await resend();
      expect(again).to.deep.equal({ status: 'issued', counter: first.counter + 1, sealedSecret: 'sealed-1' });
      expect(await store.consume({ userId: user, challengeId: 'c1', counter: first.counter })).to.equal(false);
      expect(await attempt()).to.deep.include({ status: 'compare', attempts: 3, counter: first.counter + 1 });
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

    it('resend: at most maxSends texts per challenge, the first included', async () => {
      await issue();
      expect(await resend('c1', { maxSends: 2 })).to.deep.include({ status: 'issued' });
      expect(await resend('c1', { maxSends: 2 })).to.deep.equal({ status: 'send_limit' });
    });

    it('resend: refused for an unknown or exhausted challenge', async () => {
      expect(await resend('nope')).to.deep.equal({ status: 'no_challenge' });
      await issue();
      for (let i = 0; i < 2; i++) await attempt('c1', 2);
      expect(await resend('c1', { maxAttempts: 2 })).to.deep.equal({ status: 'exhausted' });
    });

    it('cancelSend withdraws the code and gives the send and cooldown back', async () => {
      const { counter } = await issue('c1', { cooldownMs: 60_000 });
      await store.cancelSend({ userId: user, challengeId: 'c1', counter });
      expect(await attempt()).to.deep.include({ status: 'expired' });
      const again = await resend('c1', { maxSends: 1 });
      expect(again).to.deep.include({ status: 'issued', counter: counter + 1 });
    });

    it('cancelSend of a stale code changes nothing', async () => {
      const { counter } = await issue();
      await store.cancelSend({ userId: user, challengeId: 'c1', counter: counter - 1 });
      expect(await attempt()).to.deep.include({ status: 'compare', counter });
    });

    it('deleteUser removes the secret and the counter together', async () => {
      await issue('c1');
      await issue('c2');
      await store.deleteUser(user);
      expect(await attempt('c2')).to.deep.equal({ status: 'no_challenge' });
      // A new secret and a counter from the start: a counter kept alone would repeat old codes with a new secret only by luck.
      expect(await issue('c3', { newSealedSecret: 'sealed-new' })).to.deep.equal({ counter: 1, sealedSecret: 'sealed-new' });
    });

    it('keeps users apart', async () => {
      const other = `${user}-other`;
      try {
        await issue('c1');
        await store.issue({ userId: other, challengeId: 'c1', newSealedSecret: 'sealed-other', pendingTtlMs: LONG, codeTtlMs: LONG, cooldownMs: 0 });
        expect(await attempt('c1')).to.deep.include({ status: 'compare', sealedSecret: 'sealed-1', attempts: 1 });
        expect(await store.attempt({ userId: other, challengeId: 'c1', maxAttempts: 5 })).to.deep.include({ sealedSecret: 'sealed-other', attempts: 1 });
      } finally {
        await store.deleteUser(other);
      }
    });

    it('answers ping', async () => {
      await store.ping();
    });
  });
}
