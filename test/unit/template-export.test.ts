import { describe, expect, it } from 'vitest';
import { countTemplates, isTemplateException, selectTemplates, templateChangedAt } from '../../src/metrics/template-export.js';
import type { AttributeMap, TemplateRecord } from '../../src/store/types.js';

const o = (value: string, at: number, since = at) => ({ value, at, since });
const t = (templateId: string, attributes: AttributeMap, wabaId = '1'): TemplateRecord => ({ wabaId, templateId, attributes });

describe('which templates are exceptions', () => {
  it('anything but APPROVED with a GREEN or pending score, including statuses Meta adds later and no status at all', () => {
    expect(isTemplateException({ status: o('APPROVED', 1), qualityScore: o('GREEN', 1) })).toBe(false);
    expect(isTemplateException({ status: o('APPROVED', 1), qualityScore: o('UNKNOWN', 1) })).toBe(false);
    expect(isTemplateException({ status: o('APPROVED', 1) })).toBe(false);
    for (const status of ['PAUSED', 'DISABLED', 'REJECTED', 'PENDING', 'IN_APPEAL', 'LIMIT_EXCEEDED', 'SOMETHING_NEW']) {
      expect(isTemplateException({ status: o(status, 1), qualityScore: o('GREEN', 1) }), status).toBe(true);
    }
    for (const score of ['YELLOW', 'RED', 'NEW_SCORE']) expect(isTemplateException({ status: o('APPROVED', 1), qualityScore: o(score, 1) }), score).toBe(true);
    expect(isTemplateException({ qualityScore: o('GREEN', 1) })).toBe(true);
  });

  it('a change is a new value of status, score or category after the template was first seen', () => {
    expect(templateChangedAt({ name: o('a', 50, 10), status: o('APPROVED', 50, 10) })).toBeUndefined();
    expect(templateChangedAt({ name: o('a', 50, 10), status: o('APPROVED', 50, 30), qualityScore: o('GREEN', 50, 20) })).toBe(30);
    expect(templateChangedAt({ name: o('a', 50, 10), category: o('UTILITY', 50, 40) })).toBe(40);
    // A new name or language is not watched (Meta does not rename templates).
    expect(templateChangedAt({ name: o('b', 50, 45), status: o('APPROVED', 50, 10) })).toBeUndefined();
  });
});

describe('selectTemplates', () => {
  const settled = t('1', { name: o('a', 100, 0), status: o('APPROVED', 100, 0), qualityScore: o('GREEN', 100, 0) });
  const recoveredEarly = t('2', { name: o('b', 100, 0), status: o('APPROVED', 100, 40) });
  const recoveredLate = t('3', { name: o('c', 100, 0), qualityScore: o('GREEN', 100, 70), status: o('APPROVED', 100, 0) });
  const paused = t('4', { name: o('d', 100, 0), status: o('PAUSED', 100, 90) });
  const all = [settled, recoveredEarly, recoveredLate, paused];

  it('keeps exceptions always and recent changes until the earliest one leaves, which bounds reuse of the render', () => {
    const s = selectTemplates(all, { mode: 'exceptions', exceptionsAbove: 0, recentChangeWindowSeconds: 100 }, 120);
    expect(s.shown.map((x) => x.templateId)).toEqual(['2', '3', '4']);
    expect(s.validUntil).toBe(140);
    expect(selectTemplates(all, { mode: 'exceptions', exceptionsAbove: 0, recentChangeWindowSeconds: 100 }, 140).shown.map((x) => x.templateId)).toEqual(['3', '4']);
    const none = selectTemplates(all, { mode: 'exceptions', exceptionsAbove: 0, recentChangeWindowSeconds: 0 }, 120);
    expect(none.shown.map((x) => x.templateId)).toEqual(['4']);
    expect(none.validUntil).toBe(Infinity);
  });

  it('all, and auto up to its threshold, keep every template', () => {
    expect(selectTemplates(all, { mode: 'all', exceptionsAbove: 0, recentChangeWindowSeconds: 0 }, 1e9).shown).toHaveLength(4);
    expect(selectTemplates(all, { mode: 'auto', exceptionsAbove: 4, recentChangeWindowSeconds: 0 }, 1e9)).toMatchObject({ mode: 'all', validUntil: Infinity });
    expect(selectTemplates(all, { mode: 'auto', exceptionsAbove: 3, recentChangeWindowSeconds: 0 }, 1e9).mode).toBe('exceptions');
    // Hysteresis: once in exceptions, auto returns to all only at or below 90 % of the threshold.
    const auto = (exceptionsAbove: number, previous?: 'all' | 'exceptions') =>
      selectTemplates(all, { mode: 'auto', exceptionsAbove, recentChangeWindowSeconds: 0 }, 1e9, previous).mode;
    expect(auto(4, 'exceptions')).toBe('exceptions'); // 4 templates > 0.9 × 4
    expect(auto(4, 'all')).toBe('all');
    expect(auto(5, 'exceptions')).toBe('all'); // 4 ≤ 0.9 × 5
    expect(auto(3, 'all')).toBe('exceptions');
  });
});

describe('countTemplates', () => {
  it('counts each template once per WABA by status, score and category, unknown values empty, in a stable order', () => {
    const counts = countTemplates([
      t('1', { status: o('APPROVED', 1), qualityScore: o('GREEN', 1), category: o('MARKETING', 1) }, '2'),
      t('2', { status: o('APPROVED', 1), qualityScore: o('GREEN', 1), category: o('MARKETING', 1) }, '1'),
      t('3', { status: o('APPROVED', 1), qualityScore: o('GREEN', 1), category: o('MARKETING', 1) }, '1'),
      t('4', { status: o('PENDING', 1) }, '1'),
    ]);
    expect(counts).toEqual([
      { wabaId: '1', status: 'APPROVED', score: 'GREEN', category: 'MARKETING', count: 2 },
      { wabaId: '1', status: 'PENDING', score: '', category: '', count: 1 },
      { wabaId: '2', status: 'APPROVED', score: 'GREEN', category: 'MARKETING', count: 1 },
    ]);
  });
});
