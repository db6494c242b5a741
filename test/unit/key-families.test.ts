import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PERSISTENT_KEY_FAMILIES, keyFamily } from '../../src/store/key-families.js';

describe('Redis key families that do not expire', () => {
  it('README lists exactly the families of src/store/key-families.ts', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const section = readme.split('#### Redis keys that do not expire')[1]?.split(/\n#{2,4} /)[0] ?? '';
    const listed = [...section.matchAll(/^\| `wa:([a-z]+)` \|/gm)].map((m) => m[1]);
    expect(listed.sort()).toEqual(Object.keys(PERSISTENT_KEY_FAMILIES).sort());
  });

  it('a family is the part after the prefix up to the first colon', () => {
    expect(keyFamily('wa:t:1:2', 'wa:')).toBe('t');
    expect(keyFamily('wa:ti', 'wa:')).toBe('ti');
    expect(keyFamily('{wa}:s:ban:1:', '{wa}:')).toBe('s');
  });
});
