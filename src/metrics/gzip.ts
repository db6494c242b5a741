import { promisify } from 'node:util';
import { constants, crc32, deflateRaw } from 'node:zlib';

const deflateRawAsync = promisify(deflateRaw);

/** Member header: magic, deflate, no flags, no mtime, no extra flags, OS unknown (RFC 1952). */
const HEADER = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
/** An empty final block (fixed Huffman, end of block): closes a stream of flushed, unfinished parts. */
const FINAL_BLOCK = Buffer.from([0x03, 0x00]);
/** Parts this large are kept compressed while the same Buffer comes again (the entity part of /metrics). */
const REUSE_FROM_BYTES = 64 * 1024;

interface Deflated {
  data: Buffer;
  /** CRC-32 of a reused part alone: usable as is when the part comes first. */
  crc?: number;
}

/**
 * gzip for /metrics without compressing 10,000 templates' worth of text on every scrape: each part
 * is compressed on its own (in libuv's thread pool, off the webhook's event loop) and ends on a
 * sync flush, so the parts' deflate data simply follow each other in one stream; a large part seen
 * before (the same Buffer: the store's entity text, cached while its version stands) is reused.
 * One gzip member, not one per part: curl and some browsers stop reading after the first member.
 */
export class PartsGzip {
  private readonly reused = new WeakMap<Buffer, Promise<Deflated>>();

  constructor(private readonly level = constants.Z_DEFAULT_COMPRESSION) {}

  async gzip(parts: readonly Buffer[]): Promise<Buffer[]> {
    const deflated = await Promise.all(parts.map((part) => this.deflate(part)));
    let crc = 0;
    let size = 0;
    for (let i = 0; i < parts.length; i++) {
      // zlib.crc32 of no bytes answers 0 whatever the starting value (Node 20).
      if (parts[i]!.length === 0) continue;
      const known = deflated[i]!.crc;
      crc = i === 0 && known !== undefined ? known : crc32(parts[i]!, crc);
      size += parts[i]!.length;
    }
    const trailer = Buffer.alloc(8);
    trailer.writeUInt32LE(crc >>> 0, 0);
    trailer.writeUInt32LE(size % 2 ** 32, 4);
    return [HEADER, ...deflated.map((d) => d.data), FINAL_BLOCK, trailer];
  }

  private deflate(part: Buffer): Promise<Deflated> {
    if (part.length < REUSE_FROM_BYTES) return this.compress(part).then((data) => ({ data }));
    let pending = this.reused.get(part);
    if (pending === undefined) {
      pending = this.compress(part).then((data) => ({ data, crc: crc32(part) }));
      this.reused.set(part, pending);
      // A failure is not kept: the next scrape tries again.
      pending.catch(() => this.reused.delete(part));
    }
    return pending;
  }

  private compress(part: Buffer): Promise<Buffer> {
    return deflateRawAsync(part, { level: this.level, finishFlush: constants.Z_SYNC_FLUSH });
  }
}

/** True when an Accept-Encoding header allows gzip (RFC 9110: `gzip`, `x-gzip` or `*`, not at q=0). */
export function acceptsGzip(header: string | undefined): boolean {
  if (header === undefined) return false;
  let wildcard = false;
  for (const item of header.split(',')) {
    const [name = '', ...params] = item.trim().toLowerCase().split(';');
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const allowed = q === undefined || Number(q.slice(2)) > 0;
    const coding = name.trim();
    if (coding === 'gzip' || coding === 'x-gzip') return allowed;
    if (coding === '*') wildcard = allowed;
  }
  return wildcard;
}
