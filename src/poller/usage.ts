import { appUsageSchema, businessUseCaseUsageSchema } from './schemas.js';

export const USAGE_KINDS = ['call_count', 'total_cputime', 'total_time'] as const;
export type UsageKind = (typeof USAGE_KINDS)[number];

/** Rate-limit usage read from one response: ratios (1 = the limit), and when access comes back. */
export interface Usage {
  ratios: Record<UsageKind, number>;
  /** Seconds until Meta accepts calls again (estimated_time_to_regain_access is in minutes). */
  regainAccessSeconds: number;
}

type Headers = Record<string, string | string[] | undefined>;

function header(headers: Headers, name: string): string | undefined {
  const v = headers[name] ?? headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

function parseJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * Reads X-Business-Use-Case-Usage and X-App-Usage; undefined when neither is present or readable
 * (Meta adds them only "once enough calls have been made", so absence means low usage).
 * Both limits apply, so each kind takes the higher of the two.
 */
export function parseUsageHeaders(headers: Headers): Usage | undefined {
  const ratios: Record<UsageKind, number> = { call_count: 0, total_cputime: 0, total_time: 0 };
  let regainMinutes = 0;
  let found = false;

  const app = appUsageSchema.safeParse(parseJson(header(headers, 'x-app-usage')));
  if (app.success) {
    found = true;
    for (const kind of USAGE_KINDS) ratios[kind] = Math.max(ratios[kind], (app.data[kind] ?? 0) / 100);
  }
  const buc = businessUseCaseUsageSchema.safeParse(parseJson(header(headers, 'x-business-use-case-usage')));
  if (buc.success) {
    for (const entries of Object.values(buc.data)) {
      for (const e of entries) {
        found = true;
        for (const kind of USAGE_KINDS) ratios[kind] = Math.max(ratios[kind], (e[kind] ?? 0) / 100);
        regainMinutes = Math.max(regainMinutes, e.estimated_time_to_regain_access ?? 0);
      }
    }
  }
  return found ? { ratios, regainAccessSeconds: regainMinutes * 60 } : undefined;
}

/** The higher reading of each kind; either side may be undefined. */
export function maxUsage(a: Usage | undefined, b: Usage | undefined): Usage | undefined {
  if (!a) return b;
  if (!b) return a;
  const ratios = { ...a.ratios };
  for (const kind of USAGE_KINDS) ratios[kind] = Math.max(a.ratios[kind], b.ratios[kind]);
  return { ratios, regainAccessSeconds: Math.max(a.regainAccessSeconds, b.regainAccessSeconds) };
}

export function peakRatio(u: Usage | undefined): number {
  return u ? Math.max(...USAGE_KINDS.map((k) => u.ratios[k])) : 0;
}
