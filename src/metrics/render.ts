import type { AttributeMap, Observed, PhoneNumberRecord, Snapshot, TemplateRecord, WaitSummary } from '../store/types.js';
import { catalogue, type MetricDefinition } from './catalogue.js';
import { effectiveLimit, HEALTH_STATUSES, messagingLimitOf, QUALITY_SCORES } from '../domain/index.js';
import { boundedLabelValue } from './labels.js';
import { countTemplates, type TemplateSelection } from './template-export.js';

/** State-set members always exported for a number, so a change shows as 1→0 rather than a vanishing series. */
export const NUMBER_STATUSES = [
  'CONNECTED', 'FLAGGED', 'RESTRICTED', 'RATE_LIMITED', 'BANNED', 'DISCONNECTED', 'DELETED', 'MIGRATED', 'PENDING', 'UNVERIFIED', 'UNKNOWN',
] as const;

export { messagingLimitOf } from '../domain/index.js';

/**
 * The numbers with the messaging limit each one shows: its business portfolio's (set on its WABA, or
 * on another WABA of the same portfolio when a poll named the portfolio), or its own observation when
 * that is newer (effectiveLimit). A number learned after the limit arrived shows it too. The metrics
 * and the status page both read numbers through this, so they agree.
 */
export function numbersWithPortfolioLimits(snapshot: Snapshot): PhoneNumberRecord[] {
  if (snapshot.wabas.length === 0) return snapshot.numbers;
  const byWaba = new Map<string, Observed>();
  const businessOf = new Map<string, string>();
  const byBusiness = new Map<string, Observed>();
  for (const w of snapshot.wabas) {
    const limit = w.attributes.messagingLimit;
    const business = w.attributes.businessId?.value;
    if (typeof business === 'string') businessOf.set(w.wabaId, business);
    if (limit === undefined) continue;
    byWaba.set(w.wabaId, limit);
    if (typeof business === 'string') {
      const held = byBusiness.get(business);
      if (held === undefined || limit.at > held.at) byBusiness.set(business, limit);
    }
  }
  return snapshot.numbers.map((n) => {
    const business = businessOf.get(n.wabaId);
    // The WABA's own word and the portfolio's (another WABA's) are the same limit: the newest counts.
    const portfolio = effectiveLimit(business === undefined ? undefined : byBusiness.get(business), byWaba.get(n.wabaId));
    const own = n.attributes.messagingLimit;
    const shown = effectiveLimit(own, portfolio);
    if (shown === undefined || shown === own) return n;
    return { ...n, attributes: { ...n.attributes, messagingLimit: shown } };
  });
}

export function escapeLabelValue(v: string): string {
  return boundedLabelValue(v).replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function formatValue(v: number): string {
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  if (Number.isNaN(v)) return 'NaN';
  return String(v);
}

/**
 * Exposition text built in Buffer chunks: joining and encoding megabytes of text in one go at the end
 * would hold the event loop as long as several slices of a background render.
 */
export class Exposition {
  private readonly chunks: Buffer[] = [];
  private pending: string[] = [];
  private current: MetricDefinition | undefined;

  begin(d: MetricDefinition): void {
    this.current = d;
    const help = d.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
    this.pending.push(`# HELP ${d.name} ${help}\n# TYPE ${d.name} ${d.type}\n`);
  }

  sample(labels: readonly string[], values: readonly string[], value: number): void {
    const d = this.current!;
    let s = d.name + '{';
    for (let i = 0; i < labels.length; i++) {
      if (i > 0) s += ',';
      s += `${labels[i]}="${escapeLabelValue(values[i]!)}"`;
    }
    this.pending.push(`${s}} ${formatValue(value)}\n`);
    if (this.pending.length >= 512) this.cut();
  }

  private cut(): void {
    if (this.pending.length === 0) return;
    this.chunks.push(Buffer.from(this.pending.join(''), 'utf8'));
    this.pending = [];
  }

  buffer(): Buffer {
    this.cut();
    return this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
  }

  text(): string {
    return this.buffer().toString('utf8');
  }
}

function str(a: AttributeMap, name: string): string | undefined {
  const v = a[name]?.value;
  return typeof v === 'string' ? v : undefined;
}

/** The id label of a number; before the id is known the number is named by its display digits. */
export function numberLabel(n: PhoneNumberRecord): string {
  return n.phoneNumberId ?? `display:${n.displayDigits ?? ''}`;
}

/** FLAGGED quality events and a FLAGGED status both mean flagged; whichever was observed last decides. */
export function isFlagged(a: AttributeMap): boolean {
  const { flagged, status } = a;
  if (status && (!flagged || status.at > flagged.at)) return status.value === 'FLAGGED';
  if (!flagged) return false;
  return flagged.value === true || (status?.at === flagged.at && status.value === 'FLAGGED');
}

function latest(a: AttributeMap, ignore?: string): number {
  let t = 0;
  for (const k in a) if (k !== ignore && a[k]!.at > t) t = a[k]!.at;
  return t;
}

export function stateSet(out: Exposition, labels: readonly string[], values: readonly string[], known: readonly string[], current: string | undefined): void {
  for (const member of known) out.sample(labels, [...values, member], member === current ? 1 : 0);
  if (current !== undefined && !known.includes(current)) out.sample(labels, [...values, current], 1);
}

/** Code-unit order: stable across runs and far cheaper than localeCompare on 10,000 templates. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function sortNumbers(ns: readonly PhoneNumberRecord[]): PhoneNumberRecord[] {
  return [...ns].sort((x, y) => compare(x.wabaId, y.wabaId) || compare(numberLabel(x), numberLabel(y)));
}

function sortTemplates(ts: readonly TemplateRecord[]): TemplateRecord[] {
  return [...ts].sort((x, y) => compare(x.wabaId, y.wabaId) || compare(x.templateId, y.templateId));
}

/**
 * Exposition text of every metric built from the store at collect time: a deleted template or a
 * removed number is simply absent, never a stale series. Pure: the same snapshot gives the same text.
 */
export function renderSnapshot(snapshot: Snapshot, nowSeconds: number, templates?: TemplateSelection): string {
  return renderEntities(snapshot, templates) + renderWaits(snapshot, nowSeconds);
}

/**
 * Numbers, templates and health: depends on the snapshot and the template selection only, so a scrape
 * can reuse it while the entity version stands and the selection is valid (TemplateSelection.validUntil).
 * Without a selection, every template (as below the auto threshold).
 */
export function renderEntities(snapshot: Snapshot, templates?: TemplateSelection): string {
  const out = new Exposition();
  for (const _ of entitySteps(snapshot, out, templates ?? everyTemplate(snapshot)));
  return out.text();
}

function everyTemplate(snapshot: Snapshot): TemplateSelection {
  return { mode: 'all', shown: snapshot.templates, validUntil: Infinity };
}

/** Longest stretch a background render holds the event loop before it lets webhooks in. */
const SLICE_MS = 2;
/** Samples rendered between two looks at the clock. */
const SAMPLES_PER_CHECK = 64;

/**
 * renderEntities, giving the event loop a turn every couple of milliseconds: the first scrape after
 * a change to 10,000 templates would otherwise hold webhooks back for the whole render (~70 ms).
 */
export async function renderEntitiesYielding(snapshot: Snapshot, templates?: TemplateSelection): Promise<Buffer> {
  const out = new Exposition();
  let sliceStart = performance.now();
  for (const _ of entitySteps(snapshot, out, templates ?? everyTemplate(snapshot))) {
    if (performance.now() - sliceStart < SLICE_MS) continue;
    await new Promise<void>((resolve) => setImmediate(resolve));
    sliceStart = performance.now();
  }
  return out.buffer();
}

function* entitySteps(snapshot: Snapshot, out: Exposition, selection: TemplateSelection): Generator<void> {
  let rendered = 0;
  const numbers = sortNumbers(numbersWithPortfolioLimits(snapshot));
  const templates = sortTemplates(selection.shown);
  const N = ['waba_id', 'phone_number_id'];

  out.begin(catalogue.phoneNumberInfo);
  for (const n of numbers) {
    out.sample(catalogue.phoneNumberInfo.labelNames, [n.wabaId, numberLabel(n), str(n.attributes, 'displayPhoneNumber') ?? str(n.attributes, 'webhookDisplayPhoneNumber') ?? n.displayDigits ?? '', str(n.attributes, 'verifiedName') ?? ''], 1);
  }
  out.begin(catalogue.phoneNumberQualityRating);
  for (const n of numbers) {
    const rating = str(n.attributes, 'qualityRating');
    if (rating !== undefined) stateSet(out, catalogue.phoneNumberQualityRating.labelNames, [n.wabaId, numberLabel(n)], QUALITY_SCORES, rating);
  }
  out.begin(catalogue.phoneNumberStatus);
  for (const n of numbers) {
    const status = str(n.attributes, 'status');
    if (status !== undefined) stateSet(out, catalogue.phoneNumberStatus.labelNames, [n.wabaId, numberLabel(n)], NUMBER_STATUSES, status);
  }
  out.begin(catalogue.phoneNumberFlagged);
  for (const n of numbers) {
    if (n.attributes.flagged || n.attributes.status) out.sample(N, [n.wabaId, numberLabel(n)], isFlagged(n.attributes) ? 1 : 0);
  }
  out.begin(catalogue.phoneNumberMessagingLimit);
  for (const n of numbers) {
    const tier = str(n.attributes, 'messagingLimit');
    const limit = tier !== undefined ? messagingLimitOf(tier) : undefined;
    if (limit !== undefined) out.sample(N, [n.wabaId, numberLabel(n)], limit);
  }
  out.begin(catalogue.phoneNumberLastUpdate);
  // The display number a messages change links is rewritten only when this process has not linked it lately
  // (pipeline.ts), so its time says nothing about the number's state; it counts only when nothing else is known.
  for (const n of numbers) out.sample(N, [n.wabaId, numberLabel(n)], latest(n.attributes, 'webhookDisplayPhoneNumber') || latest(n.attributes));
  out.begin(catalogue.phoneNumberNameStatus);
  for (const n of numbers) {
    const s = str(n.attributes, 'nameStatus');
    if (s !== undefined) out.sample(catalogue.phoneNumberNameStatus.labelNames, [n.wabaId, numberLabel(n), s], 1);
  }
  out.begin(catalogue.phoneNumberThroughput);
  for (const n of numbers) {
    const s = str(n.attributes, 'throughputLevel');
    if (s !== undefined) out.sample(catalogue.phoneNumberThroughput.labelNames, [n.wabaId, numberLabel(n), s], 1);
  }
  out.begin(catalogue.phoneNumberPlatformType);
  for (const n of numbers) {
    const s = str(n.attributes, 'platformType');
    if (s !== undefined) out.sample(catalogue.phoneNumberPlatformType.labelNames, [n.wabaId, numberLabel(n), s], 1);
  }
  out.begin(catalogue.phoneNumberOnBusinessApp);
  for (const n of numbers) {
    const v = n.attributes.onBizApp?.value;
    if (typeof v === 'boolean') out.sample(N, [n.wabaId, numberLabel(n)], v ? 1 : 0);
  }
  out.begin(catalogue.phoneNumberOfficialBusinessAccount);
  for (const n of numbers) {
    const v = n.attributes.officialBusinessAccount?.value;
    if (typeof v === 'boolean') out.sample(N, [n.wabaId, numberLabel(n)], v ? 1 : 0);
  }
  out.begin(catalogue.phoneNumberCodeVerificationStatus);
  for (const n of numbers) {
    const s = str(n.attributes, 'codeVerificationStatus');
    if (s !== undefined) out.sample(catalogue.phoneNumberCodeVerificationStatus.labelNames, [n.wabaId, numberLabel(n), s], 1);
  }
  out.begin(catalogue.phoneNumberWebhookTarget);
  for (const n of numbers) {
    const s = str(n.attributes, 'webhookTarget');
    if (s !== undefined) out.sample(catalogue.phoneNumberWebhookTarget.labelNames, [n.wabaId, numberLabel(n), s], 1);
  }

  const T = ['waba_id', 'template_id', 'template_name', 'language'];
  out.begin(catalogue.templateInfo);
  for (const t of templates) {
    if (++rendered % SAMPLES_PER_CHECK === 0) yield;
    out.sample(catalogue.templateInfo.labelNames, [t.wabaId, t.templateId, str(t.attributes, 'name') ?? '', str(t.attributes, 'language') ?? '', str(t.attributes, 'category') ?? ''], 1);
  }
  out.begin(catalogue.templateStatus);
  for (const t of templates) {
    if (++rendered % SAMPLES_PER_CHECK === 0) yield;
    const s = str(t.attributes, 'status');
    if (s !== undefined) out.sample([...T, 'status'], [t.wabaId, t.templateId, str(t.attributes, 'name') ?? '', str(t.attributes, 'language') ?? '', s], 1);
  }
  out.begin(catalogue.templateQuality);
  for (const t of templates) {
    if (++rendered % SAMPLES_PER_CHECK === 0) yield;
    const s = str(t.attributes, 'qualityScore');
    if (s !== undefined) out.sample([...T, 'score'], [t.wabaId, t.templateId, str(t.attributes, 'name') ?? '', str(t.attributes, 'language') ?? '', s], 1);
  }
  out.begin(catalogue.templateLastUpdate);
  for (const t of templates) {
    if (++rendered % SAMPLES_PER_CHECK === 0) yield;
    out.sample(['waba_id', 'template_id'], [t.wabaId, t.templateId], latest(t.attributes));
  }
  out.begin(catalogue.templates);
  for (const c of countTemplates(snapshot.templates)) {
    if (++rendered % SAMPLES_PER_CHECK === 0) yield;
    out.sample(catalogue.templates.labelNames, [c.wabaId, c.status, c.score, c.category], c.count);
  }
  out.begin(catalogue.templateExportMode);
  stateSet(out, catalogue.templateExportMode.labelNames, [], ['all', 'exceptions'], selection.mode);

  out.begin(catalogue.healthStatus);
  const health = [...snapshot.health].sort((x, y) => `${x.wabaId}|${x.entityType}|${x.entityId}`.localeCompare(`${y.wabaId}|${y.entityType}|${y.entityId}`));
  for (const h of health) stateSet(out, catalogue.healthStatus.labelNames, [h.wabaId, h.entityType, h.entityId], HEALTH_STATUSES, h.canSendMessage);

  const wabas = [...snapshot.wabas].sort((x, y) => compare(x.wabaId, y.wabaId));
  const limits = wabaPortfolioLimits(snapshot);
  out.begin(catalogue.wabaPortfolioMessagingLimit);
  for (const w of wabas) {
    const tier = limits.get(w.wabaId)?.value;
    const limit = typeof tier === 'string' ? messagingLimitOf(tier) : undefined;
    if (limit !== undefined) out.sample(['waba_id'], [w.wabaId], limit);
  }
  out.begin(catalogue.wabaPortfolioInfo);
  for (const w of wabas) {
    const business = str(w.attributes, 'businessId');
    if (business !== undefined) out.sample(catalogue.wabaPortfolioInfo.labelNames, [w.wabaId, business], 1);
  }
}

/** Each WABA's portfolio limit: the newest of its own and of the other WABAs of its portfolio (as numbers show it). */
export function wabaPortfolioLimits(snapshot: Snapshot): Map<string, Observed> {
  const byBusiness = new Map<string, Observed>();
  for (const w of snapshot.wabas) {
    const limit = w.attributes.messagingLimit;
    const business = w.attributes.businessId?.value;
    if (limit === undefined || typeof business !== 'string') continue;
    byBusiness.set(business, effectiveLimit(byBusiness.get(business), limit)!);
  }
  const out = new Map<string, Observed>();
  for (const w of snapshot.wabas) {
    const business = w.attributes.businessId?.value;
    const shown = effectiveLimit(typeof business === 'string' ? byBusiness.get(business) : undefined, w.attributes.messagingLimit);
    if (shown !== undefined) out.set(w.wabaId, shown);
  }
  return out;
}

/** Waiting customers: their ages move with the clock, so they are rendered on every scrape. */
export function renderWaits(snapshot: Snapshot, nowSeconds: number): string {
  const out = new Exposition();
  const N = ['waba_id', 'phone_number_id'];
  // Every number the exporter knows by id shows 0 when nobody waits: an absent series would need
  // absent()/or in rules and dashboards.
  const byScope = new Map<string, WaitSummary>();
  for (const n of snapshot.numbers) {
    if (n.phoneNumberId !== undefined) {
      const scope = waitScope(n.wabaId, n.phoneNumberId);
      byScope.set(scope, { scope, count: 0, oldestAt: nowSeconds });
    }
  }
  for (const w of snapshot.waits) byScope.set(w.scope, w);
  const waits = [...byScope.values()].sort((x, y) => x.scope.localeCompare(y.scope));
  out.begin(catalogue.conversationsAwaitingReply);
  for (const w of waits) out.sample(N, splitScope(w.scope), w.count);
  out.begin(catalogue.oldestAwaitingReplyAge);
  for (const w of waits) out.sample(N, splitScope(w.scope), w.count > 0 ? Math.max(0, nowSeconds - w.oldestAt) : 0);
  return out.text();
}

/**
 * A wait scope names one business number: `${wabaId}:${phoneNumberId}` with `%` and `:` of each part
 * percent-encoded, so the first `:` is always the separator and two different pairs never share a scope.
 * Meta's ids are digit strings (domain/ids.ts), which encode as themselves: scopes already in Redis
 * (`wa:w:<scope>`, `wa:ws`) read back unchanged.
 */
export function waitScope(wabaId: string, phoneNumberId: string): string {
  return `${escapeScopePart(wabaId)}:${escapeScopePart(phoneNumberId)}`;
}

/** The (waba, phone number) pair of a scope made by waitScope. */
export function splitWaitScope(scope: string): { waba_id: string; phone_number_id: string } {
  const i = scope.indexOf(':');
  return { waba_id: unescapeScopePart(scope.slice(0, i)), phone_number_id: unescapeScopePart(scope.slice(i + 1)) };
}

const escapeScopePart = (part: string): string => part.replace(/[%:]/g, (c) => (c === '%' ? '%25' : '%3A'));
const unescapeScopePart = (part: string): string => part.replace(/%(25|3A)/g, (_, code: string) => (code === '25' ? '%' : ':'));

function splitScope(scope: string): [string, string] {
  const { waba_id, phone_number_id } = splitWaitScope(scope);
  return [waba_id, phone_number_id];
}

/** Catalogue entries rendered from the snapshot; the registry leaves them out. */
export const SNAPSHOT_METRICS: ReadonlySet<string> = new Set([
  catalogue.phoneNumberInfo, catalogue.phoneNumberQualityRating, catalogue.phoneNumberStatus, catalogue.phoneNumberFlagged,
  catalogue.phoneNumberMessagingLimit, catalogue.phoneNumberLastUpdate, catalogue.phoneNumberNameStatus, catalogue.phoneNumberThroughput,
  catalogue.phoneNumberPlatformType, catalogue.phoneNumberOnBusinessApp, catalogue.phoneNumberOfficialBusinessAccount,
  catalogue.phoneNumberCodeVerificationStatus, catalogue.phoneNumberWebhookTarget,
  catalogue.templateInfo, catalogue.templateStatus, catalogue.templateQuality, catalogue.templateLastUpdate,
  catalogue.templates, catalogue.templateExportMode,
  catalogue.healthStatus, catalogue.conversationsAwaitingReply, catalogue.oldestAwaitingReplyAge,
  // Account state (render-account.ts), by name: that module imports this one.
  catalogue.wabaRestriction, catalogue.wabaRestrictionExpiration, catalogue.wabaBanState, catalogue.wabaBanDate,
  catalogue.wabaViolationInfo, catalogue.accountAlertActive, catalogue.wabaReviewDecision, catalogue.flowStatus,
  catalogue.flowAlertActive, catalogue.flowAlertValueRatio, catalogue.flowAlertValueSeconds, catalogue.flowAlertThresholdRatio,
  catalogue.flowAlertThresholdSeconds,
  catalogue.wabaPortfolioMessagingLimit, catalogue.wabaPortfolioInfo,
].map((d) => d.name));
