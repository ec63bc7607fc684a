import { connectRedis, REDIS_URL, RUN } from './helpers/redis.js';

// A root hook (outside any describe): once the whole run is over, the keys it wrote under test
// prefixes (`test-<this run>-…`, see uniquePrefix; the run is the pid and random bytes, so another
// run on the same Redis keeps its keys) are deleted from the Redis at REDIS_URL, whichever tests
// forgot to clean up or failed before they could.
after(async function () {
  this.timeout(30_000);
  const client = await connectRedis(REDIS_URL);
  try {
    for await (const keys of client.scanIterator({ MATCH: `test-${RUN}-*`, COUNT: 1000 })) {
      if (keys.length > 0) await client.del(keys);
    }
  } finally {
    await client.quit();
  }
});
