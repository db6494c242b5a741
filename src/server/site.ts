/**
 * The private listener's small site: the status page (/) and the funnel report (/report/funnels)
 * share this head, header, navigation and style. Script-free: the refresh is a meta refresh that
 * a link turns off (?refresh=0), and the choice travels with the navigation links.
 */

export const DEFAULT_REFRESH_SECONDS = 30;
const MIN_REFRESH_SECONDS = 5;
const MAX_REFRESH_SECONDS = 3600;

export type SitePage = 'status' | 'funnels' | 'runbook';

const PAGES: ReadonlyArray<{ page: SitePage | undefined; href: string; text: string }> = [
  { page: 'status', href: '/', text: 'Status' },
  { page: 'funnels', href: '/report/funnels', text: 'Funnels' },
  { page: 'runbook', href: '/runbook', text: 'Runbook' },
  { page: undefined, href: '/deadletters', text: 'Dead letters' },
  { page: undefined, href: '/metrics', text: '/metrics' },
];

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);

/** ?refresh=N seconds (5–3600), 0 or off to stop; anything else is the default. */
export function refreshSeconds(query: Record<string, unknown> | undefined): number {
  const raw = query?.refresh;
  if (typeof raw !== 'string') return DEFAULT_REFRESH_SECONDS;
  if (raw === '0' || raw.toLowerCase() === 'off') return 0;
  const n = Number(raw);
  if (!Number.isInteger(n)) return DEFAULT_REFRESH_SECONDS;
  return Math.min(MAX_REFRESH_SECONDS, Math.max(MIN_REFRESH_SECONDS, n));
}

export interface SiteFrame {
  title: string;
  page: SitePage;
  /** 0: no refresh. */
  refresh: number;
  /** The current query (report windows, ...), kept by the refresh links. */
  query?: Record<string, unknown>;
  /** Small text beside the title: version, generated at. */
  meta: string;
  /** Extra CSS of the page. */
  css?: string;
  /** A page that never changes (the runbook): no refresh and no switch for it. */
  fixed?: boolean;
}

function withQuery(path: string, query: Record<string, unknown>, refresh: number | undefined): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (k !== 'refresh' && typeof v === 'string') params.set(k, v);
  if (refresh !== undefined) params.set('refresh', String(refresh));
  const s = params.toString();
  return s ? `${path}?${s}` : path;
}

/** Everything before the page's own content: head, header with navigation and the refresh switch. */
export function siteTop(frame: SiteFrame): string {
  const here = PAGES.find((p) => p.page === frame.page)!.href;
  const query = frame.query ?? {};
  // Off is remembered in the links; on is the default and needs no parameter.
  const carry = frame.fixed || frame.refresh === DEFAULT_REFRESH_SECONDS ? undefined : frame.refresh;
  const nav = PAGES.map((p) => {
    const live = p.page !== undefined && p.page !== 'runbook';
    const href = live ? withQuery(p.href, {}, carry) : p.href;
    return `<a href="${esc(href)}"${p.page === frame.page ? ' aria-current="page"' : ''}>${esc(p.text)}</a>`;
  }).join('');
  const switcher = frame.fixed
    ? ''
    : frame.refresh > 0
    ? `<span class="refresh">Refreshes every ${frame.refresh} s · <a id="refresh-off" href="${esc(withQuery(here, query, 0))}">stop</a></span>`
    : `<span class="refresh">Auto-refresh off · <a id="refresh-on" href="${esc(withQuery(here, query, undefined))}">refresh every ${DEFAULT_REFRESH_SECONDS} s</a></span>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
${frame.refresh > 0 ? `<meta http-equiv="refresh" content="${frame.refresh}">\n` : ''}<link rel="icon" href="data:,">
<title>${esc(frame.title)}</title>
<style>${SITE_CSS}${frame.css ?? ''}</style></head>
<body>
<header><h1>whatsapp-exporter</h1><span class="meta">${esc(frame.meta)}</span>
<nav>${nav}</nav>${switcher}</header>
<main>
`;
}

export function siteBottom(): string {
  return '</main></body></html>\n';
}

export const SITE_CSS = `
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:#1f2328;background:#f6f8fa}
header{background:#0b3d2e;color:#fff;padding:14px 24px;display:flex;flex-wrap:wrap;align-items:baseline;gap:8px 24px}
header h1{font-size:18px;margin:0;font-weight:600}
header .meta,header .refresh{color:#b7d4c8;font-size:13px}
header nav{margin-left:auto;display:flex;gap:16px}
header a{color:#fff}
header nav a[aria-current=page]{font-weight:700;text-decoration:none;border-bottom:2px solid #7ee2b8}
main{max-width:1280px;margin:0 auto;padding:16px 24px 40px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(180px,1fr));gap:12px;margin:4px 0 8px}
.card{background:#fff;border:1px solid #d0d7de;border-left-width:6px;border-radius:6px;padding:10px 12px}
.card h2{font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:#59636e;margin:0 0 4px;font-weight:600}
.card .big{font-size:20px;font-weight:600}
.card .small{font-size:12px;color:#59636e}
.card.good{border-left-color:#1f883d}.card.warn{border-left-color:#d4a72c}.card.bad{border-left-color:#cf222e}.card.neutral{border-left-color:#8c959f}
section{margin-top:24px}
section>h2{font-size:16px;margin:0 0 8px}
section>h2 .count{font-weight:400;color:#59636e;font-size:14px}
h3{font-size:14px;margin:16px 0 6px}
table{width:100%;border-collapse:collapse;background:#fff;border:1px solid #d0d7de;border-radius:6px;margin-bottom:8px}
th,td{text-align:left;vertical-align:top;padding:7px 10px;border-bottom:1px solid #e6e9ed}
th{font-size:12px;color:#59636e;font-weight:600;background:#f0f2f4;white-space:nowrap}
tr:last-child td{border-bottom:none}
tr.row-bad td:first-child{box-shadow:inset 4px 0 #cf222e}
tr.row-warn td:first-child{box-shadow:inset 4px 0 #d4a72c}
.num{text-align:right;font-variant-numeric:tabular-nums}
.sig{font-weight:700;color:#1a7f37}
.name{font-weight:600;overflow-wrap:anywhere}
.sub,.at,.ids,.muted{color:#59636e}
.sub,.at,.ids{font-size:12px}
.at{margin-top:3px;line-height:1.35}
td.who{min-width:220px}
.at time,.ids{font-variant-numeric:tabular-nums}
.age{color:#59636e}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;letter-spacing:.02em;white-space:nowrap}
.badge.good{background:#1f883d;color:#fff}
.badge.warn{background:#f2cc60;color:#3b2300}
.badge.bad{background:#cf222e;color:#fff}
.badge.neutral{background:#d8dee4;color:#1f2328}
.bar{display:inline-block;height:8px;background:#1f883d;border-radius:4px;vertical-align:middle;margin-right:6px}
.empty{background:#fff;border:1px dashed #d0d7de;border-radius:6px;padding:14px;color:#59636e}
.note{color:#59636e;font-size:13px;margin:6px 0 0}
.banner{background:#ffebe9;border:1px solid #cf222e;color:#82071e;border-radius:6px;padding:10px 14px;margin:12px 0;font-weight:600}
code{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#eff1f3;padding:1px 4px;border-radius:4px}
ul.plain{margin:4px 0;padding-left:18px}
ul.notices{list-style:none;margin:4px 0;padding:0}ul.notices li{padding:6px 8px;border-bottom:1px solid #d0d7de}li.row-bad{box-shadow:inset 4px 0 #cf222e}li.row-warn{box-shadow:inset 4px 0 #d4a72c}
ul.why{margin:0;padding-left:1.1em}ul.why li{margin:2px 0}
footer{color:#59636e;font-size:12px;margin-top:32px}
`;
