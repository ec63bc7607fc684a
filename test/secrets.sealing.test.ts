import { expect } from 'chai';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { SmsOtpError } from '../src/errors.js';
import { OtpChallenges } from '../src/challenge.js';
import { parseEncryptionKey, SecretSealer } from '../src/secrets.js';
import { OutboxSender } from '../src/senders/outbox.js';
import { MemoryOtpStore } from '../src/stores/memory.js';

describe('Secrets: AES-256-GCM sealing with key ids', () => {
  const secret = randomBytes(20);

  it('seals with a fresh IV each time and opens again', () => {
    const sealer = new SecretSealer(randomBytes(32));
    const a = sealer.seal('alice', secret);
    const b = sealer.seal('alice', secret);
    expect(a).to.not.equal(b);
    expect(a).to.match(/^v1\.k[0-9a-f]{8}\.[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(sealer.open('alice', a).equals(secret)).to.equal(true);
  });

  it('makes 20-byte random secrets (RFC 4226 R6)', () => {
    const sealer = new SecretSealer(randomBytes(32));
    expect(sealer.open('u', sealer.sealNew('u'))).to.have.length(20);
  });

  it('does not open a secret copied to another user (the user id is authenticated)', () => {
    const sealer = new SecretSealer(randomBytes(32));
    expect(() => sealer.open('mallory', sealer.seal('alice', secret))).to.throw(SmsOtpError).with.property('code', 'SECRET_UNREADABLE');
  });

  it('does not open a secret whose tag was cut short (a 4-byte GCM tag is forged in about 2^32 tries)', () => {
    const sealer = new SecretSealer(randomBytes(32));
    const parts = sealer.seal('alice', secret).split('.');
    parts[4] = Buffer.from(parts[4] as string, 'base64url').subarray(0, 4).toString('base64url');
    expect(() => sealer.open('alice', parts.join('.'))).to.throw(SmsOtpError).with.property('code', 'SECRET_UNREADABLE');
  });

  it('does not open a tampered secret', () => {
    const sealer = new SecretSealer(randomBytes(32));
    const parts = sealer.seal('alice', secret).split('.');
    const ct = Buffer.from(parts[3] as string, 'base64url');
    ct[0] = (ct[0] as number) ^ 1;
    parts[3] = ct.toString('base64url');
    expect(() => sealer.open('alice', parts.join('.'))).to.throw(SmsOtpError).with.property('code', 'SECRET_UNREADABLE');
    expect(() => sealer.open('alice', 'garbage')).to.throw(SmsOtpError).with.property('code', 'SECRET_UNREADABLE');
  });

  it('rotates: the new key seals, the old key still opens what it sealed', () => {
    const oldKey = randomBytes(32);
    const newKey = randomBytes(32);
    const before = new SecretSealer([{ id: 'old', key: oldKey }]);
    const sealedOld = before.seal('alice', secret);
    const after = new SecretSealer([{ id: 'new', key: newKey }, { id: 'old', key: oldKey }]);
    expect(after.open('alice', sealedOld).equals(secret)).to.equal(true);
    expect(after.seal('alice', secret).split('.')[1]).to.match(/^new:k[0-9a-f]{8}$/);
    const dropped = new SecretSealer([{ id: 'new', key: newKey }]);
    expect(() => dropped.open('alice', sealedOld)).to.throw(SmsOtpError, /key id/);
  });

  it('a key first given alone (encryptionKey) keeps opening what it sealed once it moves into encryptionKeys under an id', () => {
    const oldKey = randomBytes(32);
    const sealedAlone = new SecretSealer(oldKey).seal('alice', secret);
    const rotated = new SecretSealer([{ id: 'new', key: randomBytes(32) }, { id: 'legacy', key: oldKey }]);
    expect(rotated.open('alice', sealedAlone).equals(secret)).to.equal(true);
    expect(rotated.isStale(sealedAlone)).to.equal(true);
    // And a code armed before the move is MACed under the same name after it.
    expect(rotated.codeDigests('alice', 'c', '123456')).to.include(new SecretSealer(oldKey).codeDigest('alice', 'c', '123456'));
  });

  it('a key is found by its bytes\' fingerprint before its id: an id that now names another key does not hide the right one', () => {
    const k1 = randomBytes(32);
    const sealed = new SecretSealer([{ id: 'a', key: k1 }]).seal('alice', secret);
    const renamed = new SecretSealer([{ id: 'a', key: randomBytes(32) }, { id: 'b', key: k1 }]);
    expect(renamed.open('alice', sealed).equals(secret)).to.equal(true);
  });

  it('instances that name one key differently read each other\'s secrets and do not re-seal them back and forth', () => {
    const k1 = randomBytes(32);
    const k2 = randomBytes(32);
    // A: the key alone; B: the first step of a rotation, the same key first under an id; C: under another id.
    const fleet = [new SecretSealer(k1), new SecretSealer([{ id: 'k1', key: k1 }, { id: 'k2', key: k2 }]), new SecretSealer([{ id: 'main', key: k1 }])];
    for (const sealer of fleet) {
      const sealed = sealer.seal('alice', secret);
      for (const other of fleet) {
        expect(other.open('alice', sealed).equals(secret)).to.equal(true);
        expect(other.isStale(sealed)).to.equal(false);
      }
    }
    // Once k2 is first somewhere, what k1 sealed is stale there, and what k2 seals opens on B (which has k2) only.
    const moved = new SecretSealer([{ id: 'k2', key: k2 }, { id: 'k1', key: k1 }]);
    expect(moved.isStale(fleet[0]!.seal('alice', secret))).to.equal(true);
    const sealedNew = moved.seal('alice', secret);
    expect(fleet[1]!.open('alice', sealedNew).equals(secret)).to.equal(true);
    expect(() => fleet[0]!.open('alice', sealedNew)).to.throw(SmsOtpError, /key id/);
  });

  it('a rolling deploy of the first rotation step: old and new instances keep logging the same user in', async () => {
    const k1 = randomBytes(32);
    const store = new MemoryOtpStore();
    const outbox = new OutboxSender();
    const common = { store, sender: outbox, resendCooldownSeconds: 0 };
    const before = new OtpChallenges({ ...common, encryptionKey: k1 });
    const after = new OtpChallenges({ ...common, encryptionKeys: [{ id: 'k1', key: k1 }, { id: 'k2', key: randomBytes(32) }] });
    for (const instance of [before, after, before, after]) {
      const { challengeId } = await instance.start({ userId: 'alice', phoneNumber: '+4512345678' });
      const code = /\d{6}/.exec(outbox.messages.at(-1)?.text ?? '')?.[0];
      expect((await instance.verify({ userId: 'alice', challengeId, code })).ok).to.equal(true);
    }
  });

  it('opens secrets sealed under an id alone (before fingerprints were stored beside it), under that id or renamed, and re-seals them once', () => {
    const key = randomBytes(32);
    const sealer = new SecretSealer([{ id: 'old', key }]);
    const parts = sealer.seal('alice', secret).split('.');
    parts[1] = 'old';
    const legacy = parts.join('.');
    expect(sealer.open('alice', legacy).equals(secret)).to.equal(true);
    // Renamed since: every configured key is tried, and only the right one opens it.
    const renamed = new SecretSealer([{ id: 'other', key: randomBytes(32) }, { id: 'primary', key }]);
    expect(renamed.open('alice', legacy).equals(secret)).to.equal(true);
    // The old id now names the new key (a "current"/"previous" rotation): the other keys are tried too.
    const reused = new SecretSealer([{ id: 'old', key: randomBytes(32) }, { id: 'previous', key }]);
    expect(reused.open('alice', legacy).equals(secret)).to.equal(true);
    expect(() => new SecretSealer([{ id: 'primary', key: randomBytes(32) }]).open('alice', legacy)).to.throw(SmsOtpError, /no configured key opens it/);
    expect(() => renamed.open('bob', legacy), 'another user\'s secret').to.throw(SmsOtpError).with.property('code', 'SECRET_UNREADABLE');
    // Stale until re-sealed with the fingerprint; then no longer.
    expect(sealer.isStale(legacy)).to.equal(true);
    expect(sealer.isStale(sealer.seal('alice', secret))).to.equal(false);
  });

  it('reads keys as bytes, 64 hex characters or base64, and nothing else', () => {
    const key = randomBytes(32);
    expect(parseEncryptionKey(key.toString('hex')).equals(key)).to.equal(true);
    expect(parseEncryptionKey(key.toString('base64')).equals(key)).to.equal(true);
    expect(parseEncryptionKey(key.toString('base64url')).equals(key)).to.equal(true);
    for (const bad of ['', 'short', 'z'.repeat(64), randomBytes(16).toString('hex'), 42, undefined]) {
      expect(() => parseEncryptionKey(bad)).to.throw(SmsOtpError, /32 bytes/);
    }
  });

  it('refuses duplicate or malformed key ids', () => {
    const key = randomBytes(32);
    expect(() => new SecretSealer([{ id: 'a', key }, { id: 'a', key }])).to.throw(SmsOtpError, /unique/);
    expect(() => new SecretSealer([{ id: 'a.b', key }])).to.throw(SmsOtpError, /id/);
    expect(() => new SecretSealer([])).to.throw(SmsOtpError, /at least one/);
  });

  it('encryptionKeys is a list of { id, key } and nothing else: a bare key, a lone entry, a stray field are refused by name', () => {
    const key = randomBytes(32);
    const build = (encryptionKeys: unknown) => () => new OtpChallenges({ store: new MemoryOtpStore(), sender: new OutboxSender(), encryptionKeys: encryptionKeys as never });
    // A key given as the list (it would have sealed as encryptionKey, under another option's name).
    expect(build(key.toString('hex'))).to.throw(SmsOtpError, /encryptionKeys must be a list of \{ id, key \}.*give a single key as encryptionKey$/);
    // One entry without its list: the message names encryptionKeys, not encryptionKey.
    expect(build({ id: 'a', key })).to.throw(SmsOtpError, /encryptionKeys must be a list/);
    expect(build([key])).to.throw(SmsOtpError, /encryptionKeys\[0\] must be an object \{ id, key \}/);
    expect(build([{ id: 'a', key }, 'b'])).to.throw(SmsOtpError, /encryptionKeys\[1\] must be an object/);
    expect(build([{ id: 'a', key, primary: true }])).to.throw(SmsOtpError, /encryptionKeys\[0\]: unknown option "primary"/);
    expect(build([{ id: 'a', kye: key }])).to.throw(SmsOtpError, /encryptionKeys\[0\]: unknown option "kye" \(did you mean key\?\)/);
    for (const bad of [key.toString('hex'), { id: 'a', key }, [key], [{ id: 'a', key, primary: true }]]) {
      expect(build(bad)).to.throw(SmsOtpError).with.property('code', 'INVALID_OPTIONS');
    }
    expect(build([{ id: 'a', key }])).not.to.throw();
  });
});

describe('Secrets: the phone number\'s budget key', () => {
  it('is a hash keyed by the encryption key: another key gives another, and knowing the number alone does not give it', () => {
    const key = randomBytes(32);
    const a = new SecretSealer(key);
    const phone = '+4512345678';
    expect(a.phoneKey(phone)).to.equal(new SecretSealer(Buffer.from(key)).phoneKey(phone));
    expect(a.phoneKey(phone)).to.not.equal(a.phoneKey('+4587654321'));
    expect(a.phoneKey(phone)).to.not.equal(new SecretSealer(randomBytes(32)).phoneKey(phone));
    expect(a.phoneKey(phone)).to.match(/^[\w-]{32}$/);
    expect(a.phoneKey(phone)).to.not.contain('12345678');
    // Not a plain or fixed-key hash of the number, which anyone could compute for every number.
    for (const unkeyed of [createHash('sha256').update(phone), createHmac('sha256', 'passport-sms-otp phone key').update(phone)]) {
      expect(a.phoneKey(phone)).to.not.equal(unkeyed.digest('base64url').slice(0, 32));
    }
  });
});

describe('Secrets: key rotation re-seals on the next code', () => {
  it('a secret sealed under an old key is re-sealed under the new one, and the old key can then go', async () => {
    const store = new MemoryOtpStore();
    const sender = new OutboxSender();
    const oldKey = randomBytes(32);
    const newKey = randomBytes(32);
    const before = new OtpChallenges({ store, sender, encryptionKeys: [{ id: 'old', key: oldKey }] });
    await before.start({ userId: 'u', phoneNumber: '+4512345678' });
    const during = new OtpChallenges({ store, sender, encryptionKeys: [{ id: 'new', key: newKey }, { id: 'old', key: oldKey }], resendCooldownSeconds: 0 });
    await during.start({ userId: 'u', phoneNumber: '+4512345678' });
    const after = new OtpChallenges({ store, sender, encryptionKeys: [{ id: 'new', key: newKey }] });
    const { challengeId } = await after.start({ userId: 'u', phoneNumber: '+4512345678' });
    const code = /\d{6}/.exec(sender.lastTo('+4512345678')?.text ?? '')?.[0];
    expect((await after.verify({ userId: 'u', challengeId, code })).ok).to.equal(true);
    store.close();
  });
});
