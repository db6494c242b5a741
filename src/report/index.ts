import express, { type Request, type Router } from 'express';
import type { Config } from '../config/index.js';
import { DEFAULT_HISTORY_TTL_SECONDS } from '../store/memory.js';
import { StoreUnavailableError, type Store } from '../store/types.js';
import { refreshSeconds } from '../server/site.js';
import { renderReportHtml } from './html.js';
import { bucketRange, buildReport, seriesOf, type Report, type ReportWindows, type TimeWindow } from './model.js';

export { buildReport, type Report } from './model.js';
export { twoProportionZTest, wilsonInterval, normalCdf, erf, erfc } from './stats.js';

const DAY = 86400;
/** Longest window accepted: more than the store keeps is only empty buckets. */
const MAX_WINDOW_SECONDS = 400 * DAY;

export interface ReportRouterOptions {
  store: Pick<Store, 'readCounts'>;
  config: Pick<Config, 'funnels'>;
  /** Clock in Unix seconds (tests). */
  now?: () => number;
}

export class ReportQueryError extends Error {
  readonly code = 'WAE_REPORT_QUERY';
  constructor(message: string) {
    super(message);
    this.name = 'ReportQueryError';
  }
}

function parseInstant(raw: string, param: string): number {
  const ms = Date.parse(raw);
  if (!/^\d{4}-\d{2}-\d{2}/.test(raw) || Number.isNaN(ms)) {
    throw new ReportQueryError(`${param}: "${raw}" is not an ISO 8601 time such as 2026-11-01T00:00Z`);
  }
  return ms / 1000;
}

/** "FROM/TO" (ISO 8601 times; a date alone is midnight UTC) → [from, to). */
export function parseWindow(raw: unknown, param: string, fallback: TimeWindow): TimeWindow {
  if (raw === undefined || raw === '') return fallback;
  if (typeof raw !== 'string') throw new ReportQueryError(`${param}: give it once, as FROM/TO`);
  const parts = raw.split('/');
  if (parts.length !== 2) throw new ReportQueryError(`${param}: use FROM/TO, e.g. 2026-11-01T00:00Z/2026-11-08T00:00Z`);
  const from = parseInstant(parts[0]!.trim(), param);
  const to = parseInstant(parts[1]!.trim(), param);
  if (!(from < to)) throw new ReportQueryError(`${param}: FROM must be before TO`);
  if (to - from > MAX_WINDOW_SECONDS) throw new ReportQueryError(`${param}: a window may span at most 400 days`);
  return { from, to };
}

/** Defaults: the previous 7 days against the last 7 days; tables over what the store keeps. */
export function reportWindows(query: Record<string, unknown>, nowSeconds: number): ReportWindows {
  return {
    range: parseWindow(query.range, 'range', { from: nowSeconds - DEFAULT_HISTORY_TTL_SECONDS, to: nowSeconds }),
    before: parseWindow(query.before, 'before', { from: nowSeconds - 14 * DAY, to: nowSeconds - 7 * DAY }),
    after: parseWindow(query.after, 'after', { from: nowSeconds - 7 * DAY, to: nowSeconds }),
  };
}

export async function loadReport(options: ReportRouterOptions, windows: ReportWindows, nowSeconds: number): Promise<Report> {
  const { funnels } = options.config;
  const ranges = [windows.range, windows.before, windows.after].map(bucketRange);
  const from = Math.min(...ranges.map((r) => r[0]));
  const to = Math.max(...ranges.map((r) => r[1]));
  const series = seriesOf(funnels);
  const counts = series.length > 0 ? await options.store.readCounts(series, from, to) : {};
  return buildReport(funnels, counts, windows, nowSeconds);
}

function wantsJson(req: Request): boolean {
  const format = req.query.format;
  if (format === 'json') return true;
  if (format === 'html') return false;
  return req.accepts(['html', 'json']) === 'json';
}

/** /funnels: the funnel and A/B report, as HTML for people and JSON for tools. Mounted at /report. */
export function createReportRouter(options: ReportRouterOptions): Router {
  const router = express.Router();
  router.get('/funnels', async (req, res) => {
    const json = wantsJson(req);
    const now = options.now?.() ?? Date.now() / 1000;
    res.set('Cache-Control', 'no-store');
    let report: Report;
    try {
      report = await loadReport(options, reportWindows(req.query as Record<string, unknown>, now), now);
    } catch (err) {
      const status = err instanceof ReportQueryError ? 400 : err instanceof StoreUnavailableError ? 503 : undefined;
      if (status === undefined) throw err;
      const message = err instanceof ReportQueryError ? err.message : 'the store is unavailable; try again shortly';
      if (json) res.status(status).json({ error: message });
      else res.status(status).type('text/plain').send(message);
      return;
    }
    if (json) {
      res.json(report);
      return;
    }
    // The page loads nothing from anywhere: inline style only.
    res.set('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'");
    res.type('html').send(renderReportHtml(report, { refresh: refreshSeconds(req.query as Record<string, unknown>), query: req.query as Record<string, unknown> }));
  });
  return router;
}
