import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes } from 'node:crypto';
import { SmsOtpError } from './errors.js';
import { unknownOptions } from './options.js';

/** One AES-256 key and the id stored beside everything it seals. */
export interface EncryptionKey {
  /**
   * Short id stored with each sealed secret: letters, digits, `_` or `-`, at most 32. The key's
   * fingerprint is stored beside it, so an instance that has the same key under another id (or
   * alone, as `encryptionKey`) opens it too.
   */
  id: string;
  /** 32 bytes, as a Uint8Array, 64 hex characters, or base64 / base64url. */
  key: Uint8Array | string;
}

/** The bytes of one HOTP secret (RFC 4226 R6: 160 bits). */
export const SECRET_BYTES = 20;

const VERSION = 'v1';
const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;

/**
 * Reads a 32-byte key from bytes, 64 hex characters, or base64. Anything else is
 * an `INVALID_OPTIONS` error that says what was expected (never the key itself).
 */
export function parseEncryptionKey(input: unknown, name = 'encryptionKey'): Buffer {
  let bytes: Buffer | undefined;
  if (input instanceof Uint8Array) bytes = Buffer.from(input);
  else if (typeof input === 'string') {
    const text = input.trim();
    if (/^[0-9a-fA-F]{64}$/.test(text)) bytes = Buffer.from(text, 'hex');
    else if (/^[A-Za-z0-9+/_-]{43}=?$/.test(text)) bytes = Buffer.from(text, 'base64');
  }
  if (bytes === undefined || bytes.length !== 32) {
    throw new SmsOtpError('INVALID_OPTIONS', `passport-sms-otp: ${name} must be 32 bytes, given as a Uint8Array, 64 hex characters or base64`);
  }
  return bytes;
}

/** The id of a key given without one: a short fingerprint, stable across restarts. */
function fingerprint(key: Buffer): string {
  return `k${createHash('sha256').update('passport-sms-otp key id').update(key).digest('hex').slice(0, 8)}`;
}

/**
 * Seals per-user HOTP secrets with AES-256-GCM. The first key seals; every key
 * opens, so keys can rotate: add the new key first, keep the old ones until the
 * secrets sealed with them are gone. The user id is authenticated data, so a
 * sealed secret copied to another user does not open.
 */
export class SecretSealer {
  private readonly keys: ReadonlyMap<string, Buffer>;
  /** What a sealed secret names its key by: the key's fingerprint, after the app's id if it gave one. */
  private readonly currentId: string;
  private readonly currentKey: Buffer;
  private readonly currentFingerprint: string;
  /** Every configured key once, tried for a secret sealed under an id alone (before fingerprints) whose id no longer names its key. */
  private readonly distinctKeys: readonly Buffer[];
  /** One MAC key per key, current first, derived so that no key serves two purposes. */
  private readonly codeKeys: ReadonlyArray<readonly [id: string, key: Buffer]>;
  private readonly phoneHashKey: Buffer;

  constructor(keys: ReadonlyArray<EncryptionKey> | Uint8Array | string) {
    const list: Array<[string, Buffer]> = [];
    if (Array.isArray(keys)) {
      keys.forEach((entry: unknown, i) => {
        if (entry === null || typeof entry !== 'object' || Array.isArray(entry) || entry instanceof Uint8Array) {
          throw new SmsOtpError('INVALID_OPTIONS', `passport-sms-otp: encryptionKeys[${i}] must be an object { id, key }`);
        }
        // A misspelled field ({ id, kye }) is named, not reported as a missing key; nothing else is read.
        const unknown = unknownOptions(`passport-sms-otp: encryptionKeys[${i}]`, entry, ['id', 'key']);
        if (unknown !== undefined) throw new SmsOtpError('INVALID_OPTIONS', unknown);
        const { id, key } = entry as Partial<EncryptionKey>;
        if (typeof id !== 'string' || !KEY_ID.test(id)) {
          throw new SmsOtpError('INVALID_OPTIONS', `passport-sms-otp: encryptionKeys[${i}].id must be 1-32 letters, digits, "_" or "-"`);
        }
        list.push([id, parseEncryptionKey(key, `encryptionKeys[${i}].key`)]);
      });
    } else {
      const key = parseEncryptionKey(keys);
      list.push([fingerprint(key), key]);
    }
    const first = list[0];
    if (first === undefined) throw new SmsOtpError('INVALID_OPTIONS', 'passport-sms-otp: encryptionKeys must hold at least one key');
    if (new Set(list.map(([id]) => id)).size !== list.length) {
      throw new SmsOtpError('INVALID_OPTIONS', 'passport-sms-otp: encryptionKeys ids must be unique');
    }
    // Every key also opens under its fingerprint, the id it had when it was given alone as
    // `encryptionKey`: moving that key into `encryptionKeys` under a name of its own keeps
    // what it sealed readable.
    const byId = new Map(list);
    for (const [, key] of list) if (!byId.has(fingerprint(key))) byId.set(fingerprint(key), key);
    this.keys = byId;
    const firstFingerprint = fingerprint(first[1]);
    this.currentId = first[0] === firstFingerprint ? firstFingerprint : `${first[0]}:${firstFingerprint}`;
    this.currentKey = first[1];
    this.currentFingerprint = firstFingerprint;
    this.distinctKeys = [...new Set(list.map(([, key]) => key.toString('hex')))].map((hex) => Buffer.from(hex, 'hex'));
    // Code MACs name their key by fingerprint, whatever id the app gives it, for the same reason.
    this.codeKeys = list.map(([, key]) => [fingerprint(key), derive('passport-sms-otp code key', key)] as const);
    this.phoneHashKey = derive('passport-sms-otp phone key', first[1]);
  }

  /**
   * A keyed hash of a phone number, for the store's per-number budget: the
   * number itself is never a key. Derived from the current key.
   */
  phoneKey(e164: string): string {
    return createHmac('sha256', this.phoneHashKey).update(e164).digest('base64url').slice(0, 32);
  }

  /**
   * What the store keeps of a code instead of the code: HMAC-SHA256 of the user id,
   * the challenge id and the code, under a key derived from the current key. Without
   * the key, the store's contents do not tell a 6-digit code (10^6 guesses would
   * otherwise undo a plain hash), and a MAC copied to another user or challenge
   * matches nothing. Written `<key fingerprint>.<mac>`, so a store can tell a code
   * armed under a key the verifying instance lacks from a wrong code.
   */
  codeDigest(userId: string, challengeId: string, code: string): string {
    const [id, key] = this.codeKeys[0] as readonly [string, Buffer];
    return `${id}.${mac(key, userId, challengeId, code)}`;
  }

  /**
   * The submitted code's MAC under every configured key, current first: a code
   * armed just before the keys rotated still matches under its own key. The
   * store compares MACs, never codes: since nobody without the key can choose a
   * MAC's bytes, how long a comparison takes tells nothing about the code.
   */
  codeDigests(userId: string, challengeId: string, code: string): string[] {
    return this.codeKeys.map(([id, key]) => `${id}.${mac(key, userId, challengeId, code)}`);
  }

  /** A fresh random secret for a user, sealed: `v1.<key id>:<key fingerprint>.<iv>.<ciphertext>.<tag>` (the fingerprint alone for a key given without an id). */
  sealNew(userId: string): string {
    return this.seal(userId, randomBytes(SECRET_BYTES));
  }

  seal(userId: string, secret: Uint8Array): string {
    const key = this.currentKey;
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(aad(userId));
    const ciphertext = Buffer.concat([cipher.update(secret), cipher.final()]);
    return [VERSION, this.currentId, iv.toString('base64url'), ciphertext.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
  }

  /**
   * True when a sealed secret was sealed with a key other than the current one (it should be
   * re-sealed). The key is compared, not its name: the current key under another id (an instance
   * that names it differently, or has it alone as `encryptionKey`) is not stale, so instances that
   * name one key differently do not re-seal each other's secrets back and forth.
   */
  isStale(sealed: string): boolean {
    if (typeof sealed !== 'string') return false;
    const field = sealed.split('.')[1];
    if (field === undefined) return false;
    // A secret sealed under an id alone (before fingerprints were stored) is re-sealed once, so
    // it no longer depends on what the key is called.
    return field.slice(field.lastIndexOf(':') + 1) !== this.currentFingerprint;
  }

  /** The configured key a sealed secret's key field names: by fingerprint first, else by the id alone (secrets sealed before fingerprints were stored). */
  private keyOf(field: string | undefined): Buffer | undefined {
    if (field === undefined) return undefined;
    const colon = field.lastIndexOf(':');
    if (colon === -1) return this.keys.get(field);
    return this.keys.get(field.slice(colon + 1)) ?? this.keys.get(field.slice(0, colon));
  }

  /** Opens a sealed secret, or throws `SECRET_UNREADABLE` (unknown key id, tampering, another user's secret). */
  open(userId: string, sealed: string): Buffer {
    const parts = typeof sealed === 'string' ? sealed.split('.') : [];
    const [version, keyId, iv, ciphertext, tag] = parts;
    const key = this.keyOf(keyId);
    // A secret sealed under an id alone, before fingerprints were stored beside ids, whose key has
    // been renamed since: each configured key is tried (AES-GCM refuses every key but its own).
    const legacy = key === undefined && keyId !== undefined && !keyId.includes(':');
    if (parts.length !== 5 || version !== VERSION || (key === undefined && !legacy) || iv === undefined || ciphertext === undefined || tag === undefined) {
      throw new SmsOtpError('SECRET_UNREADABLE', `The stored one-time-code secret cannot be decrypted: ${key === undefined ? 'its key id is not among the configured keys' : 'it is malformed'}`);
    }
    // Under an id alone, the key that id names now may not be the one that sealed it (a rotation
    // that gave the old id to the new key): the others are tried after it.
    const candidates = key === undefined ? this.distinctKeys
      : keyId !== undefined && !keyId.includes(':') ? [key, ...this.distinctKeys.filter((other) => !other.equals(key))]
      : [key];
    let cause: unknown;
    for (const candidate of candidates) {
      try {
        // A full 16-byte tag only: a shorter one would make trying several keys weaker.
        const decipher = createDecipheriv('aes-256-gcm', candidate, Buffer.from(iv, 'base64url'), { authTagLength: 16 });
        decipher.setAAD(aad(userId));
        decipher.setAuthTag(Buffer.from(tag, 'base64url'));
        return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]);
      } catch (err) {
        cause = err;
      }
    }
    if (key === undefined) throw new SmsOtpError('SECRET_UNREADABLE', 'The stored one-time-code secret cannot be decrypted: its key id is not among the configured keys, and no configured key opens it', { cause });
    throw new SmsOtpError('SECRET_UNREADABLE', undefined, { cause });
  }
}

function derive(purpose: string, key: Buffer): Buffer {
  return createHash('sha256').update(purpose).update(key).digest();
}

/** The user id is length-prefixed; challenge ids (base64url) and codes (digits) hold no '|'. */
function mac(key: Buffer, userId: string, challengeId: string, code: string): string {
  return createHmac('sha256', key).update(`${userId.length}:${userId}|${challengeId}|${code}`).digest('base64url');
}

function aad(userId: string): Buffer {
  return Buffer.from(`passport-sms-otp:${VERSION}:${userId}`, 'utf8');
}
