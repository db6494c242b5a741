import { afterAll, afterEach, beforeAll } from 'vitest';
import { startRedis, type TestRedis } from './redis.js';

/**
 * What a test run against both implementations of a store module needs, set up once per file: one
 * real redis-server for the file, a fresh key prefix per store (tests stay apart on the one server),
 * and every store opened by a test closed after it. Call at the top level of the test file.
 */
export interface StoreHarness<T extends { close(): Promise<void> }> {
  /** The file's redis-server (started in beforeAll). */
  readonly redis: TestRedis;
  /** A key prefix no other store of this file has: `<tag><n>:`. */
  prefix(): string;
  /** Closes the store after the current test. */
  track<S extends T>(store: S): S;
  /** The store tracked last in the current test. */
  latest(): T;
}

export function storeHarness<T extends { close(): Promise<void> }>(tag: string): StoreHarness<T> {
  let redis: TestRedis | undefined;
  let counter = 0;
  const opened: T[] = [];
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close()));
  });
  afterAll(async () => {
    await redis?.stop();
  });
  return {
    get redis(): TestRedis {
      if (!redis) throw new Error('redis-server is not started yet: use the harness inside tests and hooks');
      return redis;
    },
    prefix: () => `${tag}${++counter}:`,
    track: <S extends T>(store: S): S => {
      opened.push(store);
      return store;
    },
    latest: () => {
      const store = opened.at(-1);
      if (!store) throw new Error('no store tracked in this test');
      return store;
    },
  };
}
