export { MemorySketchStore } from './memory.js';
export { RedisSketchStore, type RedisSketchStoreOptions } from './redis.js';
export { HLL_PRECISION, HLL_REGISTERS } from './hll.js';
export * from './types.js';
