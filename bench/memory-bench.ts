import type { Benchmark } from './lib/benchmark.js';
import { log } from './lib/options.js';
import { runJsonChild } from './lib/proc.js';
import { fmt, type BenchmarkResult } from './lib/report.js';
import type { MemoryResult } from './memory.js';

const BYTES_PER_WAIT_TARGET = 300;

export const memoryBenchmark: Benchmark = {
  name: 'memory',
  title: '4. Memory per open wait and per tracked message status',
  async run(ctx): Promise<BenchmarkResult> {
    const n = ctx.options.quick ? 20_000 : 100_000;
    log(`memory · memory store, N=${n}`);
    const memory = await runJsonChild<MemoryResult>('memory', 'memory.js', ['memory', String(n)], ['--expose-gc']);
    const redis = await ctx.freshRedis();
    log(`memory · Redis store, N=${n}`);
    const onRedis = await runJsonChild<MemoryResult>('memory', 'memory.js', ['redis', String(n), redis.url], ['--expose-gc']);
    return {
      name: 'memory',
      title: this.title,
      tables: [{
        title: `Bytes per item (N = ${fmt(n, 0)} each)`,
        columns: ['store', 'measured as', 'open wait (openWait op)', 'inbound message (wait + de-dup key)', 'status (sent/delivered/read)', 'keys per inbound / per status'],
        rows: [
          ['memory', 'V8 heapUsed + arrayBuffers delta after full GC', fmt(memory.perOpenWait, 0), fmt(memory.perInboundMessage, 0), fmt(memory.perStatus, 0), '–'],
          ['redis', 'INFO memory used_memory delta', fmt(onRedis.perOpenWait, 0), fmt(onRedis.perInboundMessage, 0), fmt(onRedis.perStatus, 0),
            `${fmt(onRedis.keysPerInboundMessage ?? NaN)} / ${fmt(onRedis.keysPerStatus ?? NaN)}`],
        ],
        notes: [
          'In process (node --expose-gc dist/bench/memory.js): the real parse → Ingest → store path, N inbound messages from N distinct customers, then N openWait ops alone, then N statuses (sent, delivered, read of N/3 messages to customers without a wait).',
          'An inbound message keeps its wait and its de-duplication key (8 days); a status keeps its de-duplication and `once` keys (8 days) and, for the first reply, the reply time.',
          `Target (issue 4): ≤ ${BYTES_PER_WAIT_TARGET} bytes per open wait in memory mode.`,
        ],
      }],
      checks: [
        { name: 'bytes per open wait (memory, openWait op)', value: memory.perOpenWait, target: `≤ ${BYTES_PER_WAIT_TARGET}`, pass: memory.perOpenWait <= BYTES_PER_WAIT_TARGET },
      ],
      data: { memory, redis: onRedis },
    };
  },
};
