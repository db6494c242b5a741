import { isFlagged, messagingLimitOf, numberLabel } from '../metrics/render.js';
import { printable } from '../metrics/labels.js';
import type { AttributeMap, Observed, PhoneNumberRecord, Snapshot, TemplateRecord, WaitSummary } from '../store/types.js';
import type { FunnelReport } from '../report/model.js';
import { refreshSeconds, siteBottom, siteTop, DEFAULT_REFRESH_SECONDS } from './site.js';
import { accountNotices } from './account-notices.js';
import { gatherStatusPageInput, type StatusPageInput, type StatusPageSources, type WabaHealth } from './status-page-data.js';
import { RISK_LEVEL_NAMES } from '../domain/early-warning.js';

export type { ConversationSummary, StatusPageInput, WabaHealth } from './status-page-data.js';

/** Beyond this many problem templates the page lists a count: 10,000 paused templates must not make a 10 MB page. */
export const TEMPLATE_LIST_LIMIT = 200;
/** Waits are highlighted from these ages: a chat customer expects an answer within minutes, not hours. */
const WAIT_WARN_SECONDS = 15 * 60;
const WAIT_BAD_SECONDS = 60 * 60;

// ---------------------------------------------------------------------------------------------
// HTML built only through the `html` tag: interpolated strings are always escaped, so a template
// name from Meta can never become markup. Only fragments the tag itself produced pass through.

class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

type HtmlValue = SafeHtml | string | number | undefined | null | false | readonly HtmlValue[];

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

function fragment(v: HtmlValue): string {
  if (v === undefined || v === null || v === false) return '';
  if (v instanceof SafeHtml) return v.value;
  if (Array.isArray(v)) return v.map(fragment).join('');
  // Values a sender chose are shown printable: no raw CR, NUL or U+2028 reaches the page (their length
  // is cut at ingest, webhook/sender-strings.ts).
  return escapeHtml(printable(String(v)));
}

function html(strings: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += fragment(values[i]!) + strings[i + 1]!;
  return new SafeHtml(out);
}

// ---------------------------------------------------------------------------------------------
// Classification: what an operator must look at first.

type Tone = 'good' | 'warn' | 'bad' | 'neutral';
const TONE_RANK: Record<Tone, number> = { bad: 0, warn: 1, neutral: 2, good: 3 };

const QUALITY_TONE: Record<string, Tone> = { GREEN: 'good', YELLOW: 'warn', RED: 'bad' };
const NUMBER_STATUS_BAD = new Set(['FLAGGED', 'RESTRICTED', 'RATE_LIMITED', 'BANNED', 'DISCONNECTED', 'DELETED']);
const TEMPLATE_STATUS_BAD = new Set(['REJECTED', 'DISABLED', 'PAUSED', 'FLAGGED', 'LIMIT_EXCEEDED', 'LOCKED']);
const HEALTH_TONE: Record<string, Tone> = { AVAILABLE: 'good', LIMITED: 'warn', BLOCKED: 'bad' };

/** UNKNOWN (Meta's "not enough data yet") and values we do not know are neutral, never alarming. */
function qualityTone(v: string | undefined): Tone {
  return (v !== undefined && QUALITY_TONE[v]) || 'neutral';
}

function numberStatusTone(v: string | undefined): Tone {
  if (v === undefined || v === 'UNKNOWN') return 'neutral';
  if (v === 'CONNECTED') return 'good';
  return NUMBER_STATUS_BAD.has(v) ? 'bad' : 'warn';
}

function templateStatusTone(v: string | undefined): Tone {
  if (v === undefined) return 'neutral';
  if (v === 'APPROVED') return 'good';
  return TEMPLATE_STATUS_BAD.has(v) ? 'bad' : 'warn';
}

function healthTone(v: string | undefined): Tone {
  return (v !== undefined && HEALTH_TONE[v]) || 'neutral';
}

function waitTone(ageSeconds: number): Tone {
  return ageSeconds >= WAIT_BAD_SECONDS ? 'bad' : ageSeconds >= WAIT_WARN_SECONDS ? 'warn' : 'good';
}

function worst(...tones: Tone[]): Tone {
  return tones.reduce((a, b) => (TONE_RANK[b] < TONE_RANK[a] ? b : a), 'good');
}

function str(a: AttributeMap, name: string): string | undefined {
  const v = a[name]?.value;
  return typeof v === 'string' ? v : undefined;
}

/** Worst first: flagged or RED or a blocking status, then YELLOW or a pending status, then unrated, then healthy. */
export function numberTone(n: PhoneNumberRecord): Tone {
  const a = n.attributes;
  if (isFlagged(a)) return 'bad';
  // A number not rated yet is not healthy; a status or health not reported yet says nothing either way.
  const tones = [qualityTone(str(a, 'qualityRating'))];
  const status = str(a, 'status');
  const health = str(a, 'healthStatus');
  if (status !== undefined) tones.push(numberStatusTone(status));
  if (health !== undefined) tones.push(healthTone(health));
  return worst(...tones);
}

export function sortNumbers(numbers: readonly PhoneNumberRecord[]): PhoneNumberRecord[] {
  return numbers
    .map((n) => ({ n, rank: TONE_RANK[numberTone(n)], key: `${n.wabaId}|${numberLabel(n)}` }))
    .sort((x, y) => x.rank - y.rank || x.key.localeCompare(y.key))
    .map((x) => x.n);
}

/** Needs attention: a known status other than APPROVED, or a YELLOW/RED quality score (UNKNOWN is only "no data yet"). */
export function isProblemTemplate(t: TemplateRecord): boolean {
  const status = str(t.attributes, 'status');
  const quality = qualityTone(str(t.attributes, 'qualityScore'));
  return (status !== undefined && status !== 'APPROVED') || quality === 'warn' || quality === 'bad';
}

function templateTone(t: TemplateRecord): Tone {
  return worst(templateStatusTone(str(t.attributes, 'status')), qualityTone(str(t.attributes, 'qualityScore')));
}

export function problemTemplates(templates: readonly TemplateRecord[]): TemplateRecord[] {
  return templates
    .filter(isProblemTemplate)
    .map((t) => ({
      t,
      rank: TONE_RANK[templateTone(t)],
      key: `${str(t.attributes, 'name') ?? ''}|${str(t.attributes, 'language') ?? ''}|${t.wabaId}|${t.templateId}`,
    }))
    .sort((x, y) => x.rank - y.rank || x.key.localeCompare(y.key))
    .map((x) => x.t);
}

// ---------------------------------------------------------------------------------------------
// Formatting.

/** ISO 8601 in UTC to the second; a dash for times no Date can hold. */
export function isoTime(seconds: number): string {
  const ms = seconds * 1000;
  if (!Number.isFinite(ms) || Math.abs(ms) > 8.64e15) return '—';
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/** "3 min ago"; "in 2 min" for times ahead of our clock (Meta's clock or ours may be off). */
export function relativeAge(seconds: number, nowSeconds: number): string {
  const delta = nowSeconds - seconds;
  if (!Number.isFinite(delta)) return '';
  const d = Math.abs(delta);
  if (d < 5) return 'just now';
  const span = d < 60 ? `${Math.floor(d)} s` : d < 3600 ? `${Math.floor(d / 60)} min` : d < 86400 ? `${Math.floor(d / 3600)} h` : `${Math.floor(d / 86400)} d`;
  return delta >= 0 ? `${span} ago` : `in ${span}`;
}

function durationText(seconds: number): string {
  const d = Math.max(0, seconds);
  if (d < 60) return `${Math.floor(d)} s`;
  if (d < 3600) return `${Math.floor(d / 60)} min`;
  if (d < 86400) return `${Math.floor(d / 3600)} h ${Math.floor((d % 3600) / 60)} min`;
  return `${Math.floor(d / 86400)} d ${Math.floor((d % 86400) / 3600)} h`;
}

function when(seconds: number | undefined, now: number): SafeHtml {
  if (seconds === undefined || isoTime(seconds) === '—') return html`<span class="muted">never</span>`;
  const iso = isoTime(seconds);
  return html`<time datetime="${iso}">${iso}</time> <span class="age">(${relativeAge(seconds, now)})</span>`;
}

/** When the current value was first seen (its last change, as far as the exporter saw), and when it was last confirmed. */
function observed(o: Observed | undefined, now: number): SafeHtml {
  if (!o) return html``;
  const since = o.since ?? o.at;
  const iso = isoTime(since);
  if (iso === '—') return html``;
  const confirmed = o.at > since ? html`<br>last seen ${relativeAge(o.at, now)}` : html``;
  return html`<div class="at">since ${relativeAge(since, now)}<br><time datetime="${iso}">${iso}</time>${confirmed}</div>`;
}

function badge(text: string | undefined, tone: Tone): SafeHtml {
  if (text === undefined) return html`<span class="muted">—</span>`;
  return html`<span class="badge ${tone}">${text}</span>`;
}

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

function limitText(tier: string): string {
  const limit = messagingLimitOf(tier);
  if (limit === undefined) return tier;
  return limit === Infinity ? 'unlimited' : `${integer.format(limit)} / 24 h`;
}

// ---------------------------------------------------------------------------------------------
// Sections.


/** Verified name first, then the display number: what an operator recognises. */
function numberCell(n: PhoneNumberRecord | undefined, wabaId: string, phoneNumberId: string): SafeHtml {
  const display = n ? str(n.attributes, 'displayPhoneNumber') ?? (n.displayDigits ? `+${n.displayDigits}` : undefined) : undefined;
  const verified = n ? str(n.attributes, 'verifiedName') : undefined;
  const title = verified ?? display ?? (n ? numberLabel(n) : 'number not known yet');
  return html`<div class="name">${title}</div>${verified && display ? html`<div class="sub">${display}</div>` : ''}<div class="ids">id ${phoneNumberId} · WABA ${wabaId}</div>`;
}

function numbersSection(numbers: readonly PhoneNumberRecord[], now: number): SafeHtml {
  if (numbers.length === 0) {
    return html`<div class="empty">No phone numbers known yet. They appear after the first poll of the Graph API or the first phone-number webhook.</div>`;
  }
  const rows = sortNumbers(numbers).map((n) => {
    const a = n.attributes;
    const quality = str(a, 'qualityRating');
    const status = str(a, 'status');
    const flagged = isFlagged(a);
    const tier = str(a, 'messagingLimit');
    const health = str(a, 'healthStatus');
    const throughput = str(a, 'throughputLevel');
    const tone = numberTone(n);
    return html`<tr class="row-${tone}">
<td class="who">${numberCell(n, n.wabaId, numberLabel(n))}</td>
<td class="quality">${badge(quality, qualityTone(quality))}${observed(a.qualityRating, now)}</td>
<td>${badge(status, numberStatusTone(status))}${flagged && status !== 'FLAGGED' ? html` ${badge('FLAGGED', 'bad')}` : ''}${observed(a.status, now)}${a.flagged && !a.status ? observed(a.flagged, now) : ''}</td>
<td>${tier !== undefined ? html`<div>${limitText(tier)}</div><div class="sub">${tier}</div>${observed(a.messagingLimit, now)}` : html`<span class="muted">—</span>`}</td>
<td>${health !== undefined ? html`${badge(health, healthTone(health))}${observed(a.healthStatus, now)}` : html`<span class="muted">—</span>`}</td>
<td>${str(a, 'nameStatus') ?? html`<span class="muted">—</span>`}${throughput !== undefined ? html`<div class="sub">throughput ${throughput}</div>` : ''}</td>
</tr>`;
  });
  return html`<table id="numbers"><thead><tr><th>Number</th><th>Quality</th><th>Status</th><th>Messaging limit</th><th>Can send</th><th>Display name review</th></tr></thead>
<tbody>${rows}</tbody></table>`;
}

function templatesSection(templates: readonly TemplateRecord[], now: number): SafeHtml {
  if (templates.length === 0) return html`<div class="empty">No templates known yet.</div>`;
  const problems = problemTemplates(templates);
  if (problems.length === 0) {
    return html`<div class="empty">All ${integer.format(templates.length)} templates are APPROVED, none with a YELLOW or RED quality score.</div>`;
  }
  const shown = problems.slice(0, TEMPLATE_LIST_LIMIT);
  const rows = shown.map((t) => {
    const a = t.attributes;
    const status = str(a, 'status');
    const quality = str(a, 'qualityScore');
    const reason = str(a, 'reason');
    return html`<tr class="row-${templateTone(t)}">
<td class="who"><div class="name">${str(a, 'name') ?? html`<span class="muted">unnamed</span>`}</div><div class="ids">id ${t.templateId} · WABA ${t.wabaId}</div></td>
<td>${str(a, 'language') ?? '—'}</td>
<td>${str(a, 'category') ?? '—'}</td>
<td>${badge(status, templateStatusTone(status))}${observed(a.status, now)}</td>
<td class="quality">${badge(quality, qualityTone(quality))}${observed(a.qualityScore, now)}</td>
<td>${reason !== undefined && reason !== 'NONE' ? reason : html`<span class="muted">—</span>`}</td>
</tr>`;
  });
  const rest = problems.length - shown.length;
  return html`<table id="templates"><thead><tr><th>Template</th><th>Language</th><th>Category</th><th>Status</th><th>Quality</th><th>Reason</th></tr></thead>
<tbody>${rows}</tbody></table>
${rest > 0 ? html`<p class="note">${integer.format(rest)} more templates need attention and are not listed here; every template is in <a href="/metrics">/metrics</a> (<code>whatsapp_template_status</code>).</p>` : ''}`;
}

const RISK_TONE: Record<number, Tone> = { 0: 'good', 1: 'warn', 2: 'bad' };

/**
 * Numbers whose early-warning level is watch or at risk, with the components that put them there: the
 * same components and thresholds as the recording rules (WhatsAppQualityAtRisk), from this replica's
 * counts. Healthy numbers are not listed.
 */
function riskSection(input: StatusPageInput, numbers: readonly PhoneNumberRecord[]): SafeHtml {
  const risks = input.risks ?? [];
  const shown = risks.filter((r) => r.assessment.level >= 1);
  const byScope = new Map(numbers.filter((n) => n.phoneNumberId).map((n) => [`${n.wabaId}:${n.phoneNumberId}`, n]));
  const body = shown.length === 0
    ? html`<div class="empty">${risks.length === 0 ? 'No business-initiated traffic counted by this replica yet.' : `No number at risk: all ${risks.length} with traffic are ok.`}</div>`
    : html`<table id="risk"><thead><tr><th>Number</th><th>Level</th><th>Why</th></tr></thead><tbody>${shown.map((r) => {
      const tone = RISK_TONE[r.assessment.level]!;
      const why = r.assessment.components.filter((c) => c.level >= 1);
      return html`<tr class="row-${tone}" data-level="${r.assessment.level}"><td class="who">${numberCell(byScope.get(`${r.wabaId}:${r.phoneNumberId}`), r.wabaId, r.phoneNumberId)}</td>
<td>${badge(RISK_LEVEL_NAMES[r.assessment.level]!.toUpperCase(), tone)}</td>
<td><ul class="why">${why.map((c) => html`<li data-component="${c.component}"><b>${c.component}</b> ${RISK_LEVEL_NAMES[c.level]}: ${c.detail}</li>`)}</ul></td></tr>`;
    })}</tbody></table>`;
  return html`<section id="risk-section"><h2>Numbers at risk <span class="count">(early warning: the alert rules' components and thresholds, from this replica's counts)</span></h2>${body}
<p class="note">Watch or at risk before Meta acts: marketing stops, failed sends to a bad list, a read rate sliding below the number's own week, a volume shock to first-time customers. What to do: <a href="/runbook#whatsappqualityatrisk">runbook</a>.</p></section>`;
}

function waitsSection(waits: readonly WaitSummary[], numbers: readonly PhoneNumberRecord[], now: number): SafeHtml {
  const open = waits.filter((w) => w.count > 0).sort((x, y) => x.oldestAt - y.oldestAt || x.scope.localeCompare(y.scope));
  if (open.length === 0) return html`<div class="empty">No customer is waiting for a reply.</div>`;
  const byScope = new Map(numbers.filter((n) => n.phoneNumberId).map((n) => [`${n.wabaId}:${n.phoneNumberId}`, n]));
  const rows = open.map((w) => {
    const split = w.scope.indexOf(':');
    const age = now - w.oldestAt;
    return html`<tr class="row-${waitTone(age)}">
<td class="who">${numberCell(byScope.get(w.scope), w.scope.slice(0, split), w.scope.slice(split + 1))}</td>
<td>${integer.format(w.count)}</td>
<td>${Number.isFinite(age) ? durationText(age) : '—'}<div class="at">since ${when(w.oldestAt, now)}</div></td>
</tr>`;
  });
  return html`<table id="waits"><thead><tr><th>Number</th><th>Customers waiting</th><th>Longest wait</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function healthEntitiesSection(snapshot: Snapshot, now: number): SafeHtml {
  if (snapshot.health.length === 0) return html``;
  const limited = snapshot.health
    .filter((h) => h.canSendMessage !== 'AVAILABLE')
    .sort((x, y) => TONE_RANK[healthTone(x.canSendMessage)] - TONE_RANK[healthTone(y.canSendMessage)] || `${x.wabaId}|${x.entityType}|${x.entityId}`.localeCompare(`${y.wabaId}|${y.entityType}|${y.entityId}`));
  const body = limited.length === 0
    ? html`<div class="empty">All ${snapshot.health.length} entities can send messages.</div>`
    : html`<table id="health"><thead><tr><th>Entity</th><th>Can send</th><th>Reported</th></tr></thead><tbody>${limited.map((h) => html`<tr class="row-${healthTone(h.canSendMessage)}">
<td class="who"><div class="name">${h.entityType} ${h.entityId}</div><div class="ids">WABA ${h.wabaId}</div></td><td>${badge(h.canSendMessage, healthTone(h.canSendMessage))}</td><td>${when(h.at, now)}</td></tr>`)}</tbody></table>`;
  return html`<section><h2>Messaging health <span class="count">(Graph API health_status)</span></h2>${body}</section>`;
}

function wabaIds(input: StatusPageInput): string[] {
  const ids = new Set(Object.keys(input.wabas));
  for (const n of input.snapshot?.numbers ?? []) ids.add(n.wabaId);
  for (const t of input.snapshot?.templates ?? []) ids.add(t.wabaId);
  return [...ids].sort();
}

function pollCell(h: WabaHealth, input: StatusPageInput): SafeHtml {
  if (h.pollSucceeded === undefined) {
    return html`<span class="muted">${input.pollLeader ? 'no round finished yet' : 'not polled by this replica'}</span>`;
  }
  return badge(h.pollSucceeded ? 'OK' : 'FAILED', h.pollSucceeded ? 'good' : 'bad');
}

function ingestionSection(input: StatusPageInput): SafeHtml {
  const now = input.nowSeconds;
  const ids = wabaIds(input);
  const rows = ids.map((id) => {
    const h = input.wabas[id] ?? {};
    return html`<tr><td class="name">${id}</td>
<td>${when(h.webhookLastReceived, now)}</td>
<td>${pollCell(h, input)}</td>
<td>${when(h.pollLastSuccess, now)}</td>
<td>${h.tokenValid === undefined ? html`<span class="muted">—</span>` : badge(h.tokenValid ? 'valid' : 'REJECTED', h.tokenValid ? 'good' : 'bad')}</td></tr>`;
  });
  const outcomes = Object.entries(input.webhookRequests).filter(([, n]) => n > 0).sort(([a], [b]) => a.localeCompare(b));
  return html`<section><h2>Webhooks and polling <span class="count">(as seen by this replica since it started)</span></h2>
${ids.length === 0
    ? html`<div class="empty">No WABA seen yet: no webhook accepted and no polling round finished.</div>`
    : html`<table id="ingestion"><thead><tr><th>WABA</th><th>Last webhook accepted</th><th>Last poll</th><th>Last successful poll</th><th>Access token</th></tr></thead><tbody>${rows}</tbody></table>`}
<p class="note">Webhook requests: ${outcomes.length === 0 ? 'none yet' : outcomes.map(([o, n], i) => html`${i > 0 ? ' · ' : ''}${o} <b>${integer.format(n)}</b>`)}.
Dead letters kept: <b>${integer.format(input.deadLetters)}</b> (<a href="/deadletters">/deadletters</a>).
Store: <b>${input.store.kind}</b>, ${input.store.up ? 'reachable' : html`<b>unreachable</b>`}.</p>
${refusedSection(input)}
</section>`;
}

/** WABAs refused by the cap or the allowlist: a provider's new client shows up here (ids are digits, validated). */
function refusedSection(input: StatusPageInput): SafeHtml {
  const refused = input.refusedWabas ?? [];
  if (refused.length === 0) return html``;
  const rows = refused.map((r) => html`<tr><td class="name">${r.wabaId}</td><td>${integer.format(r.changes)}</td><td>${when(r.lastAt / 1000, input.nowSeconds)}</td></tr>`);
  return html`<p class="note">Webhooks of these WABAs were <b>refused</b> (WEBHOOK_MAX_WABAS or WEBHOOK_WABA_ALLOWLIST; counted in <code>whatsapp_entities_dropped_total{kind="waba"}</code>; the ${integer.format(refused.length)} most recent):</p>
<table id="refused-wabas"><thead><tr><th>WABA</th><th>Changes refused</th><th>Last refused</th></tr></thead><tbody>${rows}</tbody></table>`;
}

/**
 * Counts numbers, not ratings: "1 needs action" beside a YELLOW number must not read as if the
 * number itself were RED, so each part names what puts a number in it, and zero parts are left out.
 */
export function numbersNeedingAttention(bad: number, warn: number): string {
  const parts: string[] = [];
  if (bad > 0) parts.push(`${bad} need${bad === 1 ? 's' : ''} action (RED, flagged or blocked)`);
  if (warn > 0) parts.push(`${warn} to watch (YELLOW, pending or limited)`);
  return parts.length > 0 ? parts.join(' · ') : 'none needs attention';
}

function cards(input: StatusPageInput): SafeHtml {
  const now = input.nowSeconds;
  const snapshot = input.snapshot;
  const out: SafeHtml[] = [];
  const card = (tone: Tone, title: string, big: HtmlValue, small: HtmlValue) =>
    html`<div class="card ${tone}"><h2>${title}</h2><div class="big">${big}</div><div class="small">${small}</div></div>`;
  if (snapshot) {
    const tones = snapshot.numbers.map(numberTone);
    const bad = tones.filter((t) => t === 'bad').length;
    const warn = tones.filter((t) => t === 'warn').length;
    out.push(card(bad ? 'bad' : warn ? 'warn' : snapshot.numbers.length ? 'good' : 'neutral', 'Phone numbers', integer.format(snapshot.numbers.length),
      numbersNeedingAttention(bad, warn)));
    const problems = snapshot.templates.filter(isProblemTemplate);
    const badTemplates = problems.filter((t) => templateTone(t) === 'bad').length;
    out.push(card(badTemplates ? 'bad' : problems.length ? 'warn' : snapshot.templates.length ? 'good' : 'neutral', 'Templates needing attention',
      integer.format(problems.length), `of ${integer.format(snapshot.templates.length)} templates`));
    const open = snapshot.waits.filter((w) => w.count > 0);
    const waiting = open.reduce((s, w) => s + w.count, 0);
    const oldest = open.reduce((m, w) => Math.min(m, w.oldestAt), Infinity);
    const age = now - oldest;
    out.push(card(waiting === 0 ? 'good' : waitTone(age), 'Customers waiting', integer.format(waiting),
      waiting > 0 && Number.isFinite(age) ? `longest for ${durationText(age)}` : 'nobody waits for a reply'));
  }
  const wabas = Object.values(input.wabas);
  const lastWebhook = wabas.reduce((m, h) => Math.max(m, h.webhookLastReceived ?? -Infinity), -Infinity);
  out.push(card(Number.isFinite(lastWebhook) ? 'good' : 'neutral', 'Last webhook', Number.isFinite(lastWebhook) ? relativeAge(lastWebhook, now) : 'none yet',
    Number.isFinite(lastWebhook) ? isoTime(lastWebhook) : 'since this replica started'));
  const polled = wabas.filter((h) => h.pollSucceeded !== undefined);
  const failing = polled.filter((h) => !h.pollSucceeded || h.tokenValid === false).length;
  out.push(card(polled.length === 0 ? 'neutral' : failing ? 'bad' : 'good', 'Polling', polled.length === 0 ? '—' : failing ? `${failing} failing` : 'OK',
    polled.length === 0 ? (input.pollLeader ? 'no round finished yet' : 'not polling in this replica') : `${polled.length} WABA${polled.length === 1 ? '' : 's'} polled`));
  out.push(card(input.store.up ? 'good' : 'bad', 'Store', input.store.up ? 'up' : 'DOWN', input.store.kind));
  return html`<div class="cards">${out}</div>`;
}

/** Restrictions, bans and Meta's alerts first, in plain words (see account-notices.ts); nothing when Meta sent none. */
function accountSection(snapshot: Snapshot, now: number): SafeHtml {
  const notices = accountNotices(snapshot.states ?? [], now);
  if (notices.length === 0) return html``;
  return html`<section id="account"><h2>Account enforcement <span class="count">(from Meta, worst first)</span></h2><ul class="notices">${notices.map((n) => html`<li class="row-${n.tone}"><span class="badge ${n.tone}">${n.tone === 'bad' ? 'STOPS SENDING' : n.tone === 'warn' ? 'ATTENTION' : 'INFO'}</span> ${n.text}<div class="at">${n.detail}</div></li>`)}</ul></section>`;
}

export interface RenderOptions {
  /** Seconds between meta refreshes; 0 turns them off. */
  refresh?: number;
  query?: Record<string, unknown>;
}

/** The operator's first page, without Grafana. Pure: the same input gives the same HTML. */
export function renderStatusPage(input: StatusPageInput, options: RenderOptions = {}): string {
  const now = input.nowSeconds;
  const snapshot = input.snapshot;
  const top = siteTop({
    title: 'whatsapp-exporter status', page: 'status', refresh: options.refresh ?? DEFAULT_REFRESH_SECONDS, query: options.query,
    meta: `version ${input.version} · generated ${isoTime(now)}`,
  });
  const page = html`${new SafeHtml(top)}
${snapshot ? '' : html`<div class="banner" role="alert">The ${input.store.kind} store is unreachable: numbers, templates and waits cannot be shown. See <code>whatsapp_store_errors_total</code> and the logs.</div>`}
${snapshot ? accountSection(snapshot, now) : ''}
${cards(input)}
${snapshot ? html`<section><h2>Phone numbers <span class="count">(worst first)</span></h2>${numbersSection(snapshot.numbers, now)}</section>
${riskSection(input, snapshot.numbers)}
<section><h2>Templates needing attention <span class="count">(not APPROVED, or quality YELLOW or RED)</span></h2>${templatesSection(snapshot.templates, now)}</section>
<section><h2>Customers waiting for a reply</h2>${waitsSection(snapshot.waits, snapshot.numbers, now)}</section>
${healthEntitiesSection(snapshot, now)}` : ''}
${conversationsSection(input)}
${funnelsSection(input)}
${ingestionSection(input)}
<footer>Times are UTC. "Since" is when the exporter first saw the current value (webhook or poll): its last change, as far as this exporter saw; "last seen" is the newest observation that confirmed it.
Probes: <a href="/healthz">/healthz</a> · <a href="/readyz">/readyz</a>.</footer>
${new SafeHtml(siteBottom())}`;
  return page.value;
}

function conversationsSection(input: StatusPageInput): SafeHtml {
  const rows = [...(input.conversations ?? [])].sort((x, y) => y.received - x.received || x.scope.localeCompare(y.scope));
  const byScope = new Map((input.snapshot?.numbers ?? []).filter((n) => n.phoneNumberId).map((n) => [`${n.wabaId}:${n.phoneNumberId}`, n]));
  const waiting = new Map((input.snapshot?.waits ?? []).map((w) => [w.scope, w.count]));
  const seconds = (v: number | undefined) => (v === undefined ? html`<span class="muted">—</span>` : durationText(v));
  const body = rows.length === 0
    ? html`<div class="empty">No customer message received by this replica yet.</div>`
    : html`<table id="conversations"><thead><tr><th>Number</th><th class="num">Messages received</th><th class="num">Replies</th><th class="num">Median reply time</th><th class="num">Median first response</th><th class="num">Waiting now</th></tr></thead><tbody>${rows.map((c) => {
      const split = c.scope.indexOf(':');
      return html`<tr><td class="who">${numberCell(byScope.get(c.scope), c.scope.slice(0, split), c.scope.slice(split + 1))}</td>
<td class="num">${integer.format(c.received)}</td><td class="num">${integer.format(c.replies)}</td>
<td class="num">${seconds(c.medianReplySeconds)}</td><td class="num">${seconds(c.medianFirstResponseSeconds)}</td>
<td class="num">${integer.format(waiting.get(c.scope) ?? 0)}</td></tr>`;
    })}</tbody></table>`;
  return html`<section id="conversations-section"><h2>Conversations <span class="count">(as seen by this replica since it started; medians from the histogram buckets)</span></h2>${body}</section>`;
}

const percentText = (v: number | null) => (v === null ? '—' : `${(v * 100).toFixed(1)} %`);

function funnelsSection(input: StatusPageInput): SafeHtml {
  if (input.funnels === undefined) {
    return html`<section id="funnels-section"><h2>Funnels</h2><div class="empty">Funnel counts cannot be read while the store is unreachable.</div></section>`;
  }
  const funnels: readonly FunnelReport[] = input.funnels;
  const body = funnels.length === 0
    ? html`<div class="empty">No funnels are configured (YAML <code>funnels:</code>, see README).</div>`
    : html`<table id="funnels"><thead><tr><th>Funnel</th><th>Variant</th><th class="num">Entries</th><th>Steps reached</th><th class="num">Converted</th><th class="num">Conversion</th></tr></thead><tbody>${funnels.flatMap((f) =>
      f.variants.map((v) => html`<tr><td class="name">${f.name}</td><td>${v.variant}</td><td class="num">${integer.format(v.entries)}</td>
<td>${v.steps.map((s, i) => html`${i > 0 ? ' → ' : ''}${s.step} <b>${integer.format(s.count)}</b>`)}</td>
<td class="num">${integer.format(v.converted)}</td><td class="num"><span class="bar" style="width:${Math.round((v.conversion ?? 0) * 60)}px"></span>${percentText(v.conversion)}</td></tr>`))}</tbody></table>
<p class="note">Over what the store keeps, by variant. Step by step, A/B tests and before/after: <a href="/report/funnels">Funnels</a>.</p>`;
  return html`<section id="funnels-section"><h2>Funnels</h2>${body}</section>`;
}

/** The handler for `/`: gathers one snapshot and the process metrics, then renders. */
export function createStatusPage(sources: StatusPageSources): (req?: { query?: unknown }) => Promise<string> {
  return async (req) => {
    const query = (req?.query ?? {}) as Record<string, unknown>;
    return renderStatusPage(await gatherStatusPageInput(sources), { refresh: refreshSeconds(query), query });
  };
}
