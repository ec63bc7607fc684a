import { expect } from 'chai';
import { SmsOtpError } from '../src/errors.js';
import { MemoryOtpStore } from '../src/stores/memory.js';
import { storeContract } from './helpers/store-contract.js';

storeContract('MemoryOtpStore', async () => {
  const store = new MemoryOtpStore();
  return { store, close: async () => store.close() };
});

describe('MemoryOtpStore: a code lives no longer than its secret', () => {
  it('a live, armed code whose secret-and-counter entry is gone is refused as no challenge', async () => {
    const store = new MemoryOtpStore();
    try {
      await store.issue({ userId: 'u', challengeId: 'c', sendId: 's', newSealedSecret: 's', pendingTtlMs: 600_000, codeTtlMs: 300_000, cooldownMs: 0, lockAfter: 10, userBudget: { max: 5, windowMs: 900_000 } });
      expect(await store.arm({ userId: 'u', challengeId: 'c', counter: 1, codeDigest: 'mac-right' })).to.equal(true);
      // No public way to lose only the secret (deleteUser drops everything); reach into the map as a crash or a bug might.
      (store as unknown as { hotp: Map<string, unknown> }).hotp.delete('u');
      const policy = { backoffAfter: 5, lockAfter: 10, lockMs: 900_000, baseDelayMs: 1000, memoryMs: 86_400_000 };
      expect(await store.attempt({ userId: 'u', challengeId: 'c', codeDigests: ['mac-right'], maxAttempts: 5, failures: policy })).to.deep.equal({ status: 'no_challenge' });
    } finally {
      store.close();
    }
  });

  it('a resend whose secret-and-counter entry is gone is refused as no challenge, ends the login, and the next login starts a new secret', async () => {
    const store = new MemoryOtpStore();
    try {
      const budget = { max: 5, windowMs: 900_000 };
      await store.issue({ userId: 'u', challengeId: 'c', sendId: 's', newSealedSecret: 's', pendingTtlMs: 600_000, codeTtlMs: 300_000, cooldownMs: 0, lockAfter: 10, userBudget: budget });
      (store as unknown as { hotp: Map<string, unknown> }).hotp.delete('u');
      const resend = { userId: 'u', challengeId: 'c', sendId: 's2', codeTtlMs: 300_000, cooldownMs: 0, maxSends: 3, maxAttempts: 5, lockAfter: 10, userBudget: budget };
      expect(await store.resend(resend)).to.deep.equal({ status: 'no_challenge' });
      expect(store.size).to.deep.include({ users: 0, challenges: 0, codes: 0 });
      expect(await store.issue({ userId: 'u', challengeId: 'c2', sendId: 's3', newSealedSecret: 'new', pendingTtlMs: 600_000, codeTtlMs: 300_000, cooldownMs: 0, lockAfter: 10, userBudget: budget }))
        .to.deep.equal({ status: 'issued', counter: 1, sealedSecret: 'new' });
    } finally {
      store.close();
    }
  });
});

describe('MemoryOtpStore: bounded memory', () => {
  it('sweeps expired challenges, codes and cooldowns; keeps secrets and counters', async () => {
    let now = 1_000_000;
    const store = new MemoryOtpStore({ now: () => now });
    try {
      for (let i = 0; i < 1000; i++) {
        await store.issue({ userId: `u${i}`, challengeId: 'c', sendId: 's', newSealedSecret: 's', pendingTtlMs: 600_000, codeTtlMs: 300_000, cooldownMs: 30_000, lockAfter: 10, userBudget: { max: 5, windowMs: 900_000 } });
        await store.attempt({ userId: `u${i}`, challengeId: 'c', codeDigests: ['mac'], maxAttempts: 5, failures: { backoffAfter: 5, lockAfter: 10, lockMs: 900_000, baseDelayMs: 1000, memoryMs: 86_400_000 } });
        await store.reservePhoneSend({ phoneKey: `p${i}`, sendId: 's', budget: { max: 5, windowMs: 900_000 } });
      }
      expect(store.size).to.deep.equal({ users: 1000, challenges: 1000, codes: 1000, cooldowns: 1000, failures: 1000, sendWindows: 2000 });
      now += 86_400_000;
      store.sweep();
      expect(store.size).to.deep.equal({ users: 1000, challenges: 0, codes: 0, cooldowns: 0, failures: 0, sendWindows: 0 });
    } finally {
      store.close();
    }
  });

  it('sweeps by itself on its timer', async () => {
    let now = 0;
    const store = new MemoryOtpStore({ now: () => now, sweepIntervalMs: 10 });
    try {
      await store.issue({ userId: 'u', challengeId: 'c', sendId: 's', newSealedSecret: 's', pendingTtlMs: 100, codeTtlMs: 100, cooldownMs: 100, lockAfter: 10, userBudget: { max: 5, windowMs: 100 } });
      now = 1_000;
      await new Promise((r) => setTimeout(r, 40));
      expect(store.size).to.deep.include({ challenges: 0, codes: 0, cooldowns: 0 });
    } finally {
      store.close();
    }
  });
});

describe('MemoryOtpStore: options', () => {
  it('refuses a sweep interval that is not a whole number of ms from 1 to a day (setInterval would turn a huge one into 1 ms), and a now that is no function, as INVALID_OPTIONS', () => {
    for (const sweepIntervalMs of [0, -1, 1.5, 86_400_001, 3e9, Number.NaN, '60000']) {
      expect(() => new MemoryOtpStore({ sweepIntervalMs } as never), String(sweepIntervalMs)).to.throw(SmsOtpError, /sweepIntervalMs must be a whole number of ms from 1 to 86400000/).with.property('code', 'INVALID_OPTIONS');
    }
    expect(() => new MemoryOtpStore({ now: 5 } as never)).to.throw(SmsOtpError, /now must be a function/);
    expect(() => new MemoryOtpStore(null as never)).to.throw(SmsOtpError, /options must be an object/);
    new MemoryOtpStore({ sweepIntervalMs: 86_400_000 }).close();
  });
});
