/*
 * Exceptions-only templates (config `templates`): at provider scale (500 WABAs × 300 templates) every
 * template as its own series is ~600,000 series, nearly all of them "APPROVED, GREEN". In exceptions
 * mode the per-template series are rendered only for templates someone has to look at — not settled
 * (domain: APPROVED with a GREEN or pending score), or changed within the recent window — while
 * whatsapp_templates counts every template per WABA by status, score and category. The choice is
 * made at render time from the stored state: nothing is lost, and switching back shows everything.
 */
import { TEMPLATE_SETTLED_QUALITY_SCORES, TEMPLATE_SETTLED_STATUS } from '../domain/index.js';
import type { AttributeMap, TemplateRecord } from '../store/types.js';

export type TemplateExportMode = 'all' | 'exceptions';

export interface TemplateExportPolicy {
  /** auto: `all` while the store knows at most `exceptionsAbove` templates, `exceptions` above. */
  mode: TemplateExportMode | 'auto';
  exceptionsAbove: number;
  /** A settled template whose status, score or category changed this recently keeps its series. */
  recentChangeWindowSeconds: number;
}

/** The config's defaults (config/schema.ts `templates`); README "Template export mode" says why. */
export const DEFAULT_TEMPLATE_EXPORT: TemplateExportPolicy = { mode: 'auto', exceptionsAbove: 2000, recentChangeWindowSeconds: 86400 };

/** Attributes whose change keeps a settled template's series for the recent window. */
const WATCHED = ['status', 'qualityScore', 'category'] as const;

/**
 * auto goes back to `all` only below 90 % of the threshold: a fleet hovering at it would otherwise
 * add and drop thousands of series with every template created or deleted.
 */
export const AUTO_RETURN_SHARE = 0.9;

export function effectiveTemplateMode(policy: TemplateExportPolicy, knownTemplates: number, previous?: TemplateExportMode): TemplateExportMode {
  if (policy.mode !== 'auto') return policy.mode;
  if (knownTemplates > policy.exceptionsAbove) return 'exceptions';
  return previous === 'exceptions' && knownTemplates > policy.exceptionsAbove * AUTO_RETURN_SHARE ? 'exceptions' : 'all';
}

function text(a: AttributeMap, name: string): string | undefined {
  const v = a[name]?.value;
  return typeof v === 'string' ? v : undefined;
}

/** True unless the template is APPROVED with a GREEN or pending (UNKNOWN, or not yet reported) quality score. */
export function isTemplateException(a: AttributeMap): boolean {
  if (text(a, 'status') !== TEMPLATE_SETTLED_STATUS) return true;
  const score = text(a, 'qualityScore');
  return score !== undefined && !TEMPLATE_SETTLED_QUALITY_SCORES.includes(score);
}

/**
 * When the template's status, score or category last changed, if it did since the exporter first saw
 * the template. The first sight is not a change: a restart on the memory store (or a newly watched
 * WABA) sees hundreds of settled templates at once, and they must not all come back for a day.
 */
export function templateChangedAt(a: AttributeMap): number | undefined {
  let firstSeen = Infinity;
  for (const name in a) firstSeen = Math.min(firstSeen, a[name]!.since ?? a[name]!.at);
  let changed: number | undefined;
  for (const name of WATCHED) {
    const o = a[name];
    if (o === undefined) continue;
    const since = o.since ?? o.at;
    if (since > firstSeen && (changed === undefined || since > changed)) changed = since;
  }
  return changed;
}

export interface TemplateSelection {
  mode: TemplateExportMode;
  /** Templates whose per-template series are rendered, in the order given. */
  shown: TemplateRecord[];
  /** When the first template shown only for a recent change leaves its window: a render stays right until then. */
  validUntil: number;
}

export function selectTemplates(templates: readonly TemplateRecord[], policy: TemplateExportPolicy, nowSeconds: number, previous?: TemplateExportMode): TemplateSelection {
  const mode = effectiveTemplateMode(policy, templates.length, previous);
  if (mode === 'all') return { mode, shown: [...templates], validUntil: Infinity };
  const shown: TemplateRecord[] = [];
  let validUntil = Infinity;
  for (const t of templates) {
    if (isTemplateException(t.attributes)) {
      shown.push(t);
      continue;
    }
    const changed = templateChangedAt(t.attributes);
    if (changed === undefined) continue;
    const until = changed + policy.recentChangeWindowSeconds;
    if (until > nowSeconds) {
      shown.push(t);
      validUntil = Math.min(validUntil, until);
    }
  }
  return { mode, shown, validUntil };
}

export interface TemplateCount {
  wabaId: string;
  status: string;
  score: string;
  category: string;
  count: number;
}

/** Every template counted once per WABA by status, quality score and category ('' while not known). */
export function countTemplates(templates: readonly TemplateRecord[]): TemplateCount[] {
  const counts = new Map<string, TemplateCount>();
  for (const t of templates) {
    const status = text(t.attributes, 'status') ?? '';
    const score = text(t.attributes, 'qualityScore') ?? '';
    const category = text(t.attributes, 'category') ?? '';
    const key = `${t.wabaId}\u0000${status}\u0000${score}\u0000${category}`;
    const held = counts.get(key);
    if (held) held.count++;
    else counts.set(key, { wabaId: t.wabaId, status, score, category, count: 1 });
  }
  const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return [...counts.values()].sort((x, y) => cmp(x.wabaId, y.wabaId) || cmp(x.status, y.status) || cmp(x.score, y.score) || cmp(x.category, y.category));
}
