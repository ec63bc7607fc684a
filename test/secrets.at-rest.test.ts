import { expect } from 'chai';
import { OtpChallenges } from '../src/challenge.js';
import { SecretSealer } from '../src/secrets.js';
import { OutboxSender } from '../src/senders/outbox.js';
import { RedisOtpStore } from '../src/stores/redis.js';
import { hotpCode } from '../src/hotp.js';
import { codeIn, TEST_KEY } from './helpers/app.js';
import { connectRedis, uniquePrefix } from './helpers/redis.js';

describe('At rest in Redis: no code and no raw secret', () => {
  it('after a real start(), no value under the user\'s keys holds the code, the raw secret, or the phone number', async () => {
    const client = await connectRedis();
    try {
      const store = new RedisOtpStore(client, { prefix: uniquePrefix('atrest') });
      const sender = new OutboxSender();
      const challenges = new OtpChallenges({ store, sender, encryptionKey: TEST_KEY });
      await challenges.start({ userId: 'alice', phoneNumber: '+4512345678' });
      const code = codeIn(sender.lastTo('+4512345678')?.text);
      const keys = Object.values(store.keysOf('alice'));
      const values: string[] = [];
      for (const key of keys) {
        const type = await client.type(key);
        if (type === 'hash') values.push(...Object.values(await client.hGetAll(key)));
        else if (type === 'string') values.push((await client.get(key)) ?? '');
      }
      const all = values.join('\n');
      expect(all).to.not.include(code);
      expect(all).to.not.include('4512345678');
      const sealed = (await client.hGet(store.keysOf('alice').hotp, 'sealed')) as string;
      const secret = new SecretSealer(TEST_KEY).open('alice', sealed);
      for (const encoding of ['hex', 'base64', 'base64url', 'latin1'] as const) expect(all).to.not.include(secret.toString(encoding));
      // The sealed secret really is the one the code came from.
      const counter = Number(await client.hGet(store.keysOf('alice').hotp, 'counter'));
      expect(hotpCode(secret, counter, 6)).to.equal(code);
      await store.deleteUser('alice');
    } finally {
      await client.quit();
    }
  });
});
