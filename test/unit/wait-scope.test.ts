import { describe, expect, it } from 'vitest';
import { splitWaitScope, waitScope } from '../../src/metrics/render.js';

/** Issue 16, item 4: a wait scope names exactly one (WABA, phone number) pair. */
describe('waitScope', () => {
  const parts = ['', '1', '12', 'A', 'A:B', 'B:C', ':', '::', '%', '%3A', '%25', 'A%3AB', '%:%', '102290129340398'];
  const pairs = parts.flatMap((waba) => parts.map((phone) => [waba, phone] as const));

  it('never gives two different pairs the same scope', () => {
    const seen = new Map<string, string>();
    for (const [waba, phone] of pairs) {
      const scope = waitScope(waba, phone);
      const other = seen.get(scope);
      expect(other, `${JSON.stringify([waba, phone])} and ${other} share ${scope}`).toBeUndefined();
      seen.set(scope, JSON.stringify([waba, phone]));
    }
    expect(waitScope('A:B', 'C')).not.toBe(waitScope('A', 'B:C'));
  });

  it('splits every scope back into its pair', () => {
    for (const [waba, phone] of pairs) expect(splitWaitScope(waitScope(waba, phone))).toEqual({ waba_id: waba, phone_number_id: phone });
  });

  it('keeps the stored form of Meta\'s digit ids (scopes already in Redis read back unchanged)', () => {
    expect(waitScope('102290129340398', '106540352242922')).toBe('102290129340398:106540352242922');
    expect(splitWaitScope('102290129340398:106540352242922')).toEqual({ waba_id: '102290129340398', phone_number_id: '106540352242922' });
  });
});
