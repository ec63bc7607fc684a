import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
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
    expect(after.seal('alice', secret).split('.')[1]).to.equal('new');
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
