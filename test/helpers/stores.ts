import { MemoryOtpStore } from '../../src/stores/memory.js';
import { RedisOtpStore } from '../../src/stores/redis.js';
import type { OtpStore } from '../../src/store.js';
import { redisForSuite } from './redis.js';

/**
 * Both stores, by name, for a suite that runs the same behaviour on each: a fresh MemoryOtpStore,
 * or a RedisOtpStore on the real Redis under a key prefix of its own (dropped after the suite).
 * Call it in a `describe` body: it registers the suite's Redis connection hooks.
 */
export function bothStores(name: string): Array<[string, () => OtpStore]> {
  const redis = redisForSuite(name);
  return [
    ['MemoryOtpStore', () => new MemoryOtpStore()],
    ['RedisOtpStore', () => new RedisOtpStore(redis.client, { prefix: redis.prefix() })],
  ];
}
