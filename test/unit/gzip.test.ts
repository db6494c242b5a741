import { crc32, gunzipSync, inflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { PartsGzip, acceptsGzip } from '../../src/metrics/gzip.js';

/**
 * Decodes a gzip body as a reader that stops after the first member does (curl): the deflate data
 * between the one header and the one trailer must hold everything, and the trailer must match it.
 */
function gunzipOneMember(body: Buffer): string {
  expect([...body.subarray(0, 3)]).toEqual([0x1f, 0x8b, 8]);
  const text = inflateRawSync(body.subarray(10, body.length - 8));
  const crc = body.readUInt32LE(body.length - 8);
  const size = body.readUInt32LE(body.length - 4);
  expect(size).toBe(text.length);
  expect(crc).toBe(crc32(text));
  // What Prometheus (Go's gzip reader) and Node do: reads on past a member, checks the CRC itself.
  expect(gunzipSync(body).equals(text)).toBe(true);
  return text.toString('utf8');
}

const lines = (prefix: string, n: number) => Buffer.from(Array.from({ length: n }, (_, i) => `${prefix}{id="${i}"} ${i % 7}\n`).join(''));

describe('PartsGzip', () => {
  it('compresses the parts as one gzip member that decodes to their concatenation', async () => {
    const parts = [lines('whatsapp_template_status', 5000), Buffer.from('# small part\n'), lines('process_x', 20), Buffer.alloc(0)];
    const body = Buffer.concat(await new PartsGzip().gzip(parts));
    expect(gunzipOneMember(body)).toBe(Buffer.concat(parts).toString('utf8'));
    expect(body.length).toBeLessThan(Buffer.concat(parts).length / 4);
  });

  it('reuses a large part given again as the same Buffer, wherever it comes, and keeps the checksum right', async () => {
    const gzip = new PartsGzip();
    const entities = lines('whatsapp_template_info', 4000);
    expect(entities.length).toBeGreaterThan(64 * 1024);
    const first = await gzip.gzip([entities, Buffer.from('a 1\n')]);
    const second = await gzip.gzip([entities, Buffer.from('a 2\n')]);
    expect(second[1]).toBe(first[1]);
    expect(gunzipOneMember(Buffer.concat(second))).toBe(entities.toString() + 'a 2\n');
    // Not first: its own checksum cannot stand for the stream's, which must still come out right.
    const third = await gzip.gzip([Buffer.from('b 3\n'), entities]);
    expect(third[2]).toBe(first[1]);
    expect(gunzipOneMember(Buffer.concat(third))).toBe('b 3\n' + entities.toString());
    // Same text in another Buffer (a new entity version): compressed again.
    const copy = Buffer.from(entities);
    expect((await gzip.gzip([copy]))[1]).not.toBe(first[1]);
  });

  it('makes a valid empty stream of no parts', async () => {
    expect(gunzipOneMember(Buffer.concat(await new PartsGzip().gzip([])))).toBe('');
  });
});

describe('acceptsGzip', () => {
  it.each([
    ['gzip', true],
    ['gzip, deflate, br', true],
    ['br, GZIP;q=0.5', true],
    ['x-gzip', true],
    ['*', true],
    ['deflate, *;q=0.1', true],
    ['gzip;q=0', false],
    ['gzip; q=0.000, *', false],
    ['*;q=0', false],
    ['identity', false],
    ['', false],
    [undefined, false],
  ] as const)('%j → %s', (header, expected) => {
    expect(acceptsGzip(header)).toBe(expected);
  });
});
