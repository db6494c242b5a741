import { describe, expect, it } from 'vitest';
import { LogThrottle } from '../../src/log.js';

describe('LogThrottle', () => {
  it('lets one line per key through per interval and says how many were held back', () => {
    let now = 0;
    const t = new LogThrottle(10_000, () => now);
    expect(t.take('a')).toBe(0);
    expect(t.take('b')).toBe(0);
    for (let i = 0; i < 5; i++) expect(t.take('a')).toBeUndefined();
    now = 9_999;
    expect(t.take('a')).toBeUndefined();
    now = 10_000;
    expect(t.take('a')).toBe(6);
    expect(t.take('b')).toBe(0);
    now = 30_000;
    expect(t.take('a')).toBe(0);
  });
});
