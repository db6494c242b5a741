/** One Graph call's signal: aborted by its caller's signal or by its deadline, whichever comes first. */
export interface CallSignal {
  readonly signal: AbortSignal;
  /** Whether the deadline, not the caller, aborted it. */
  timedOut(): boolean;
  /** Unhooks it from the caller's signal and stops the deadline: call when the call ends. */
  dispose(): void;
}

/**
 * Not `AbortSignal.any([caller, AbortSignal.timeout(ms)])`: on Node 20 every signal `any` derives from
 * a long-lived one (the poller hands one signal to all its calls) stays reachable from it, ≈ 50 bytes
 * per call for the life of the process (≈ 4 MB an hour at 500 WABAs), and each timeout signal lives
 * until its deadline even when the call ended long before.
 */
export function callSignal(caller: AbortSignal | undefined, timeoutMs: number): CallSignal {
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError'));
  }, timeoutMs);
  timer.unref();
  const forward = (): void => controller.abort(caller!.reason);
  if (caller?.aborted) forward();
  else caller?.addEventListener('abort', forward, { once: true });
  return {
    signal: controller.signal,
    timedOut: () => timedOut,
    dispose: () => {
      clearTimeout(timer);
      caller?.removeEventListener('abort', forward);
    },
  };
}
