import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PERSISTENT_KEY_FAMILIES, keyFamily } from '../../src/store/key-families.js';
import { startExporterProcess, type ExporterProcess } from '../support/cluster.js';
import { recordScenario, webhookFixtures } from '../support/payloads.js';
import { startRedis, type TestRedis } from '../support/redis.js';

/**
 * Issue 16, item 9: every key the Redis store writes has a TTL, or its family is in the documented
 * exemption list (src/store/key-families.ts, which README is checked against).
 */

const PREFIX = 'ttl:';

describe('Redis keys after a representative mix of webhooks', () => {
  let redis: TestRedis;
  let exporter: ExporterProcess;
  let inspector: Redis;
  beforeAll(async () => {
    redis = await startRedis();
    inspector = new Redis(redis.url);
    exporter = await startExporterProcess({ env: { REDIS_URL: redis.url, REDIS_KEY_PREFIX: PREFIX } });
  }, 60_000);
  afterAll(async () => {
    await exporter?.stop();
    inspector?.disconnect();
    await redis?.stop();
  });

  it('each has a TTL or belongs to a documented persistent family', async () => {
    for (const f of webhookFixtures()) expect((await exporter.post(JSON.stringify(f.body))).status, f.name).toBe(200);
    const bodies = await recordScenario({ durationMs: 3000, speed: 600 });
    expect(bodies.length).toBeGreaterThan(50);
    for (const b of bodies) expect((await exporter.post(b)).status).toBe(200);
    expect((await exporter.get('/')).status).toBe(200);
    expect((await exporter.get('/metrics')).status).toBe(200);

    const keys = await inspector.keys('*');
    expect(keys.length).toBeGreaterThan(50);
    const families = new Map<string, { withTtl: number; without: string[] }>();
    for (const key of keys) {
      expect(key.startsWith(PREFIX), key).toBe(true);
      const family = keyFamily(key, PREFIX);
      const f = families.get(family) ?? { withTtl: 0, without: [] };
      families.set(family, f);
      if ((await inspector.pttl(key)) >= 0) f.withTtl++;
      else f.without.push(key);
    }
    const undocumented = [...families].filter(([family, f]) => f.without.length > 0 && !(family in PERSISTENT_KEY_FAMILIES)).map(([family, f]) => `${family} (${f.without[0]})`);
    expect(undocumented).toEqual([]);
  }, 120_000);
});
