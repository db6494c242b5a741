import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisReady } from '../../src/store/redis-ready.js';
import { StoreUnavailableError } from '../../src/store/types.js';
import { startRedis, type TestRedis } from '../support/redis.js';

/** The wait every store module's own connection does before a call (src/store/redis-ready.ts). */
let redis: TestRedis;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis.stop();
});

describe('redisReady', () => {
  it('waits for a connection that comes up after the call', async () => {
    const client = new Redis(redis.url, { lazyConnect: true });
    try {
      const waiting = redisReady(client, 5000, 'test');
      void client.connect();
      await expect(waiting).resolves.toBeUndefined();
      expect(client.status).toBe('ready');
    } finally {
      client.disconnect();
    }
  });

  it('fails with StoreUnavailableError naming the status and what cannot be done when none comes in time', async () => {
    const client = new Redis(redis.url, { lazyConnect: true });
    await expect(redisReady(client, 100, 'sketches cannot be read')).rejects.toThrow(
      new StoreUnavailableError('Redis is not connected (wait): sketches cannot be read'),
    );
  });

  it('fails at once for a closed client, which never becomes ready again', async () => {
    const client = new Redis(redis.url);
    await redisReady(client, 5000, 'test');
    const ended = new Promise((resolve) => client.once('end', resolve));
    await client.quit();
    await ended;
    const started = performance.now();
    await expect(redisReady(client, 5000, 'analytics buckets cannot be read')).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(performance.now() - started).toBeLessThan(1000);
  });
});
