import { expect } from 'chai';
import crypto from 'node:crypto';
import { syncBuiltinESMExports } from 'node:module';
import { OtpChallenges } from '../src/challenge.js';
import { SmsOtpError } from '../src/errors.js';
import { SecretSealer } from '../src/secrets.js';
import { OutboxSender } from '../src/senders/outbox.js';
import type { AttemptInput, OtpStore } from '../src/store.js';
import { MemoryOtpStore } from '../src/stores/memory.js';
import { codeIn, TEST_KEY } from './helpers/app.js';

/** A MemoryOtpStore that keeps what each attempt() was given. */
function recording(): { store: OtpStore; attempts: AttemptInput[] } {
  const inner = new MemoryOtpStore();
  const attempts: AttemptInput[] = [];
  const store = Object.create(inner) as OtpStore;
  store.attempt = (input) => { attempts.push(input); return inner.attempt(input); };
  return { store, attempts };
}

async function started(store: OtpStore) {
  const sender = new OutboxSender();
  const challenges = new OtpChallenges({ store, sender, encryptionKey: TEST_KEY });
  const { challengeId } = await challenges.start({ userId: 'u', phoneNumber: '+4512345678' });
  const code = codeIn(sender.lastTo('+4512345678')?.text);
  return { challenges, challengeId, code, wrong: code === '000000' ? '111111' : '000000' };
}

describe('Codes: compared as keyed MACs, in constant time', () => {
  it('the store is handed the MAC of the submitted code, never the code', async () => {
    const { store, attempts } = recording();
    const { challenges, challengeId, code, wrong } = await started(store);
    await challenges.verify({ userId: 'u', challengeId, code: wrong });
    expect((await challenges.verify({ userId: 'u', challengeId, code })).ok).to.equal(true);
    const sealer = new SecretSealer(TEST_KEY);
    expect(attempts.map((a) => a.codeDigests)).to.deep.equal([sealer.codeDigests('u', challengeId, wrong), sealer.codeDigests('u', challengeId, code)]);
    for (const { codeDigests } of attempts) {
      for (const digest of codeDigests) {
        // `<key id>.<HMAC-SHA256, base64url>`: the key id is the key's fingerprint when no id was given.
        expect(digest).to.match(/^k[0-9a-f]{8}\.[A-Za-z0-9_-]{43}$/);
        const mac = digest.split('.')[1];
        expect(mac).to.not.include(code);
        expect(mac).to.not.include(wrong);
      }
    }
  });

  it('a MAC is bound to its key, user, challenge and code', () => {
    const sealer = new SecretSealer(TEST_KEY);
    const mac = sealer.codeDigest('u', 'c1', '123456');
    expect(sealer.codeDigest('u', 'c1', '123456')).to.equal(mac);
    expect(new SecretSealer('b'.repeat(64)).codeDigest('u', 'c1', '123456')).to.not.equal(mac);
    expect(sealer.codeDigest('v', 'c1', '123456')).to.not.equal(mac);
    expect(sealer.codeDigest('u', 'c2', '123456')).to.not.equal(mac);
    expect(sealer.codeDigest('u', 'c1', '123457')).to.not.equal(mac);
    // The user id is length-prefixed: no two (user, challenge) pairs run together.
    expect(sealer.codeDigest('u|c', '1', '123456')).to.not.equal(sealer.codeDigest('u', 'c|1', '123456'));
  });

  it('the MAC itself depends on the key (not only the key id before it): unkeyed, a 6-digit code falls to 10^6 hashes', () => {
    const macOf = (digest: string): string => digest.split('.')[1] as string;
    const one = macOf(new SecretSealer(TEST_KEY).codeDigest('u', 'c1', '123456'));
    expect(macOf(new SecretSealer('b'.repeat(64)).codeDigest('u', 'c1', '123456'))).to.not.equal(one);
    // Recomputed independently: HMAC-SHA256 under a key derived from the configured one.
    const codeKey = crypto.createHash('sha256').update('passport-sms-otp code key').update(Buffer.from(TEST_KEY, 'hex')).digest();
    expect(one).to.equal(crypto.createHmac('sha256', codeKey).update('1:u|c1|123456').digest('base64url'));
    expect(one).to.not.equal(crypto.createHash('sha256').update('1:u|c1|123456').digest('base64url'));
  });

  it('with several keys, the submitted code is MACed under each, current key first', () => {
    const sealer = new SecretSealer([{ id: 'new', key: 'b'.repeat(64) }, { id: 'old', key: TEST_KEY }]);
    const macOf = (digest: string): string => digest.split('.')[1] as string;
    const digests = sealer.codeDigests('u', 'c', '123456');
    // Named by the keys' fingerprints, not the ids the app gave them.
    expect(digests.map((d) => d.split('.')[0])).to.deep.equal([new SecretSealer('b'.repeat(64)), new SecretSealer(TEST_KEY)].map((one) => one.codeDigest('u', 'c', '123456').split('.')[0]));
    expect(digests.map(macOf)).to.deep.equal([
      macOf(new SecretSealer('b'.repeat(64)).codeDigest('u', 'c', '123456')),
      macOf(new SecretSealer(TEST_KEY).codeDigest('u', 'c', '123456')),
    ]);
    expect(sealer.codeDigest('u', 'c', '123456')).to.equal(digests[0]);
  });

  it('key rotation across instances: codes armed under either key check where the key is known; where it is not, a server error, not a user failure', async () => {
    const store = new MemoryOtpStore();
    const sender = new OutboxSender();
    const newKey = 'c'.repeat(64);
    const old = new OtpChallenges({ store, sender, encryptionKey: TEST_KEY });
    const rotated = new OtpChallenges({ store, sender, encryptionKeys: [{ id: 'next', key: newKey }, { id: 'current', key: TEST_KEY }] });
    const codeFrom = async (by: OtpChallenges, userId: string) => {
      const { challengeId } = await by.start({ userId, phoneNumber: '+4512345678' });
      return { challengeId, code: codeIn(sender.lastTo('+4512345678')?.text) };
    };
    // Armed by an instance that does not know the new key yet: the rotated instance checks it.
    const a = await codeFrom(old, 'ua');
    expect((await rotated.verify({ userId: 'ua', challengeId: a.challengeId, code: a.code })).ok).to.equal(true);
    // Armed under the new key: an instance without it refuses loudly and counts no failure against the user.
    const b = await codeFrom(rotated, 'ub');
    const refused = await old.verify({ userId: 'ub', challengeId: b.challengeId, code: b.code }).then(() => undefined, (err: unknown) => err);
    expect(refused).to.be.instanceOf(SmsOtpError).with.property('code', 'SECRET_UNREADABLE');
    expect((await rotated.verify({ userId: 'ub', challengeId: b.challengeId, code: b.code })).ok).to.equal(true);
  });

  describe('MemoryOtpStore compares MACs with crypto.timingSafeEqual', () => {
    const original = crypto.timingSafeEqual;
    let calls = 0;
    before(() => {
      // Replace the builtin for the named imports too, so the test sees what the store calls.
      crypto.timingSafeEqual = (a, b) => { calls++; return original(a, b); };
      syncBuiltinESMExports();
    });
    after(() => {
      crypto.timingSafeEqual = original;
      syncBuiltinESMExports();
    });

    it('for a wrong and for a right code', async () => {
      const { challenges, challengeId, code, wrong } = await started(new MemoryOtpStore());
      calls = 0;
      expect((await challenges.verify({ userId: 'u', challengeId, code: wrong })).ok).to.equal(false);
      expect(calls).to.equal(1);
      expect((await challenges.verify({ userId: 'u', challengeId, code })).ok).to.equal(true);
      expect(calls).to.equal(2);
    });
  });
});
