import type { ServerResponse } from 'node:http';

/** Bytes per socket write: one 64 KiB copy into the kernel takes well under a millisecond. */
export const WRITE_SLICE_BYTES = 64 * 1024;
/** Writing goes on for at most this long before other requests get the event loop. */
const WRITE_SLICE_MS = 1;

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Resolves once the response can take more, or is gone (a client that hangs up emits no 'drain'). */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/**
 * Writes the parts and ends the response, giving the event loop back between slices. One write of
 * /metrics' 4 MiB of text (30k series) is one copy through the loopback's TCP stack inside a single
 * syscall: ~7 ms during which no webhook is read or answered. In slices, webhooks arriving meanwhile
 * are served between them, and a slow reader holds no more than one slice in this process's buffers.
 * Stops quietly when the client goes away.
 */
export async function writeInSlices(
  res: ServerResponse,
  parts: readonly Buffer[],
  { sliceBytes = WRITE_SLICE_BYTES, sliceMs = WRITE_SLICE_MS }: { sliceBytes?: number; sliceMs?: number } = {},
): Promise<void> {
  let sliceStart = performance.now();
  for (const part of parts) {
    for (let offset = 0; offset < part.length; offset += sliceBytes) {
      if (res.destroyed) return;
      // The response corks the socket until the next tick and 'drain' follows a synchronous write
      // within the same task: neither gives other requests a turn, so the time is checked here.
      if (!res.write(part.subarray(offset, offset + sliceBytes))) await drained(res);
      if (performance.now() - sliceStart < sliceMs) continue;
      await nextTurn();
      sliceStart = performance.now();
    }
  }
  if (!res.destroyed) res.end();
}
