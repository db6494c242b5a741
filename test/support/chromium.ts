import { existsSync } from 'node:fs';
import { copyFile, mkdir } from 'node:fs/promises';
import { inflateSync } from 'node:zlib';
import { chromium, type Browser } from 'playwright-core';

/**
 * Headless Chromium for the pages' end-to-end tests (Debian's package, no browser download), and
 * what they need to check a screenshot: a PNG decoder and a colour comparison.
 */
export const CHROMIUM = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';
/** Where README's screenshots live; tests write there only with UPDATE_SCREENSHOTS=1. */
export const DOCS_IMAGES = new URL('../../docs/images/', import.meta.url);

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium not found at ${CHROMIUM}: install it (Debian: apt-get install -y chromium, or run scripts/setup-tools.sh)`);
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** Copies a screenshot to docs/images/ when UPDATE_SCREENSHOTS=1, so README shows the pages as they are. */
export async function publishScreenshot(path: string, name: string): Promise<void> {
  if (process.env.UPDATE_SCREENSHOTS !== '1') return;
  await mkdir(DOCS_IMAGES, { recursive: true });
  await copyFile(path, new URL(name, DOCS_IMAGES));
}

export type Rgb = [number, number, number];

export interface DecodedPng {
  width: number;
  height: number;
  channels: number;
  pixels: Buffer;
  at(x: number, y: number): Rgb;
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** An 8-bit, non-interlaced RGB(A) PNG (what Chromium writes) as raw pixels. */
export function decodePng(png: Buffer): DecodedPng {
  if (!png.subarray(0, 8).equals(PNG_SIGNATURE)) throw new Error('not a PNG');
  let offset = 8;
  let width = 0, height = 0, channels = 0;
  const idat: Buffer[] = [];
  while (offset < png.length) {
    const length = png.readUInt32BE(offset);
    const type = png.toString('ascii', offset + 4, offset + 8);
    const data = png.subarray(offset + 8, offset + 8 + length);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      if (data[8] !== 8 || data[12] !== 0) throw new Error('only 8-bit, non-interlaced PNGs are decoded');
      channels = data[9] === 6 ? 4 : data[9] === 2 ? 3 : 0;
      if (channels === 0) throw new Error(`PNG colour type ${data[9]} is not RGB(A)`);
    } else if (type === 'IDAT') idat.push(data);
    offset += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const pixels = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? pixels[y * stride + x - channels]! : 0;
      const b = y > 0 ? pixels[(y - 1) * stride + x]! : 0;
      const c = x >= channels && y > 0 ? pixels[(y - 1) * stride + x - channels]! : 0;
      let predictor = 0;
      if (filter === 1) predictor = a;
      else if (filter === 2) predictor = b;
      else if (filter === 3) predictor = (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
        predictor = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      pixels[y * stride + x] = (line[x]! + predictor) & 0xff;
    }
  }
  const at = (x: number, y: number): Rgb => {
    const i = y * stride + x * channels;
    return [pixels[i]!, pixels[i + 1]!, pixels[i + 2]!];
  };
  return { width, height, channels, pixels, at };
}

/** Within a few steps of a colour given as 0xRRGGBB (antialiasing and colour management move it slightly). */
export function nearColour(c: Rgb, hex: number, tolerance = 8): boolean {
  return Math.abs(c[0] - (hex >> 16)) < tolerance && Math.abs(c[1] - ((hex >> 8) & 0xff)) < tolerance && Math.abs(c[2] - (hex & 0xff)) < tolerance;
}

/** How many pixels of a box (CSS pixels of a 1:1 screenshot) are near a colour. */
export function countColour(png: DecodedPng, box: { x: number; y: number; width: number; height: number }, hex: number, tolerance = 8): number {
  let n = 0;
  const x1 = Math.min(png.width, Math.ceil(box.x + box.width));
  const y1 = Math.min(png.height, Math.ceil(box.y + box.height));
  for (let y = Math.max(0, Math.floor(box.y)); y < y1; y++) for (let x = Math.max(0, Math.floor(box.x)); x < x1; x++) if (nearColour(png.at(x, y), hex, tolerance)) n++;
  return n;
}
