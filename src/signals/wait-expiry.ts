import type { Config } from '../config/index.js';
import type { Logger } from '../log.js';
import type { ExporterMetrics } from '../metrics/registry.js';
import { splitWaitScope } from '../metrics/render.js';
import type { Store } from '../store/types.js';

export interface WaitExpiryOptions {
  store: Store;
  metrics: Pick<ExporterMetrics, 'counter'>;
  config: Pick<Config, 'conversations'>;
  logger: Pick<Logger, 'warn'>;
  /** How often waits are checked; default one minute. */
  intervalMs?: number;
}

export interface WaitExpiry {
  stop(): void;
  /** One pass: drops waits older than conversations.waitExpirySeconds before `nowSeconds`. */
  runOnce(nowSeconds?: number): Promise<void>;
}

/**
 * Customers left unanswered past the window are dropped from the waits (so state stays bounded and
 * the awaiting-reply gauges do not carry them forever) and counted in
 * whatsapp_awaiting_reply_expired_total. Every replica may run this: the store removes each wait in
 * one atomic call, so only the replica that removed it counts it and the sum over replicas is exact.
 */
export function startWaitExpiry(options: WaitExpiryOptions): WaitExpiry {
  const { store, metrics, config, logger } = options;
  let running: Promise<void> | undefined;

  async function pass(nowSeconds: number): Promise<void> {
    const expired = await store.expireWaits(nowSeconds - config.conversations.waitExpirySeconds);
    for (const { scope, count } of expired) metrics.counter('awaitingReplyExpired').inc(splitWaitScope(scope), count);
  }

  function runOnce(nowSeconds = Date.now() / 1000): Promise<void> {
    // Passes never overlap: a slow store must not get a second sweep on top of the first.
    running ??= pass(nowSeconds).finally(() => { running = undefined; });
    return running;
  }

  const timer = setInterval(() => {
    runOnce().catch((err: unknown) => {
      logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'expiring unanswered waits failed; retrying next interval');
    });
  }, options.intervalMs ?? 60_000);
  timer.unref();

  return {
    stop: () => clearInterval(timer),
    runOnce,
  };
}
