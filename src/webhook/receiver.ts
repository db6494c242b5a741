import type { Config } from '../config/index.js';
import type { HmacSha256 } from '../hmac.js';
import { LogThrottle, type Logger } from '../log.js';
import type { ExporterMetrics } from '../metrics/registry.js';
import type { IncomingChange, Ingest } from '../pipeline.js';
import type { Observation } from '../signals/types.js';
import type { KeyHasher } from '../store/keys.js';
import { StoreUnavailableError } from '../store/types.js';
import { inSpan } from '../tracing.js';
import { Admission, DROPPED_KINDS, type DroppedKind } from './admission.js';
import { DeadLetters } from './dead-letters.js';
import { parseWebhookBodyYielding, PARSE_CHUNK, yieldToLoop } from './parse.js';
import { IGNORED_WEBHOOK_FIELDS, sanitizedToken } from '../domain/index.js';
import { KNOWN_FIELDS, isKnownField } from './schemas.js';
import { secretKeys, tokensEqual, verifySignature } from './signature.js';
import { MalformedEnvelopeError } from './types.js';

export interface WebhookResponse {
  status: number;
  body: string;
}

export const REQUEST_OUTCOMES = ['accepted', 'bad_signature', 'missing_signature', 'malformed', 'too_large', 'store_unavailable', 'error'] as const;
export type RequestOutcome = (typeof REQUEST_OUTCOMES)[number];

/** Applied changes worth a log line (an account alert, a ban, ...) written per request; the rest are counted in one more line. */
export const MAX_CHANGE_LINES_PER_REQUEST = 10;
/** Repeated refusals and errors: at most one line of each kind per this interval, with the count held back. */
export const LOG_THROTTLE_MS = 10_000;

/**
 * An unknown field's name for a log line. Meta's field names are lowercase words joined by `_`: anything
 * else (digits of a phone number, say) becomes `?`, and at most 32 characters are kept.
 */
function fieldToken(field: string): string {
  const head = field.slice(0, 32).replace(/[^a-z_]/g, '?');
  return field.length > 32 ? `${head}…` : head;
}

/**
 * What Meta's two calls to /webhook mean, free of any HTTP framework: the listener hands over the
 * raw bytes and headers and writes back the answer.
 */
export class WebhookReceiver {
  readonly deadLetters: DeadLetters;
  readonly admission: Admission;
  private readonly secrets: readonly HmacSha256[];
  private readonly throttle: LogThrottle;

  constructor(
    private readonly config: Config['webhook'],
    private readonly ingest: Ingest,
    private readonly metrics: ExporterMetrics,
    private readonly logger: Logger,
    private readonly hashKey: KeyHasher,
    private readonly now: () => number = Date.now,
    admission?: Admission,
  ) {
    this.deadLetters = new DeadLetters(config.deadLetterLimit);
    this.admission = admission ?? new Admission(config, now);
    this.secrets = secretKeys(config.appSecrets);
    this.throttle = new LogThrottle(LOG_THROTTLE_MS, now);
    // Series exist from the start at 0, so increase() sees the very first bad signature or invalid change.
    for (const outcome of REQUEST_OUTCOMES) metrics.counter('webhookRequests').inc({ outcome }, 0);
    for (const field of KNOWN_FIELDS) {
      for (const outcome of ['applied', 'duplicate', 'stale', 'invalid', 'refused']) metrics.counter('webhookChanges').inc({ field, outcome }, 0);
    }
    for (const field of IGNORED_WEBHOOK_FIELDS) metrics.counter('webhookChanges').inc({ field, outcome: 'ignored' }, 0);
    // So that increase() sees the first field Meta adds (WhatsAppWebhookUnknownField).
    metrics.counter('webhookChanges').inc({ field: 'other', outcome: 'unknown_field' }, 0);
    metrics.gauge('webhookDeadLetters').set(0);
    for (const kind of DROPPED_KINDS) metrics.counter('entitiesDropped').inc({ kind }, 0);
  }

  /** Meta's verification handshake; never signature-checked. */
  handshake(query: URLSearchParams): WebhookResponse {
    const mode = query.get('hub.mode');
    const token = query.get('hub.verify_token');
    const challenge = query.get('hub.challenge');
    if (mode === 'subscribe' && token !== null && challenge !== null && challenge.length <= 512 && tokensEqual(token, this.config.verifyToken)) {
      return { status: 200, body: challenge };
    }
    // hub.mode is the sender's: only which of three cases it was (it can carry anything, a phone number too).
    this.warnThrottled('handshake', { mode: mode === null ? 'missing' : mode === 'subscribe' ? 'subscribe' : 'other' }, 'webhook verification refused');
    return { status: 403, body: 'Forbidden' };
  }

  tooLarge(): WebhookResponse {
    this.count('too_large');
    return { status: 413, body: 'Payload Too Large' };
  }

  async receive(rawBody: Buffer, signature: string | string[] | undefined): Promise<WebhookResponse> {
    const check = verifySignature(rawBody, signature, this.secrets);
    if (check !== 'ok') {
      this.count(check);
      this.warnThrottled(`signature:${check}`, { reason: check }, 'webhook refused: signature');
      return { status: 401, body: 'Unauthorized' };
    }
    let json: unknown;
    try {
      json = JSON.parse(rawBody.toString('utf8'));
    } catch {
      this.count('malformed');
      this.warnThrottled('not_json', { bytes: rawBody.length }, 'webhook refused: signed body is not JSON');
      return { status: 400, body: 'Bad Request: body is not JSON' };
    }
    const receivedAt = Math.floor(this.now() / 1000);
    let parsed;
    try {
      // In chunks with the event loop's turns between them: a body of 100,000 changes must not starve the probes.
      parsed = await parseWebhookBodyYielding(json, this.hashKey, receivedAt);
    } catch (err) {
      if (!(err instanceof MalformedEnvelopeError)) throw err;
      this.count('malformed');
      this.warnThrottled('envelope', { problem: err.message.slice(0, 300) }, 'webhook refused: not a WhatsApp Business Account envelope');
      return { status: 400, body: `Bad Request: ${err.message}` };
    }
    const accepted: IncomingChange[] = [];
    const acceptedFields: string[] = [];
    /** Per parsed change, its place in `accepted` (ok changes, and invalid or unknown ones only to learn whether they are redeliveries). */
    const acceptedIndex: Array<number | undefined> = [];
    const dropped = new Map<DroppedKind, number>();
    const logged: Array<{ index: number; change: (typeof parsed.changes)[number] }> = [];
    for (const change of parsed.changes) {
      acceptedIndex.push(undefined);
      if (change.outcome === 'ok' && !this.admission.admitsWaba(change.wabaId)) {
        // Beyond the WABA cap or outside the allowlist: nothing of it is kept, not even its unknown values.
        change.outcome = 'refused';
        change.events = [];
        dropped.set('waba', (dropped.get('waba') ?? 0) + 1);
        continue;
      }
      if (change.outcome === 'ok') {
        const events = this.admission.filter(change.events, dropped);
        accepted.push({ field: change.field, source: 'webhook', events, ...(change.dedupeKey !== undefined ? { dedupeKey: change.dedupeKey } : {}) });
        acceptedFields.push(change.field);
        acceptedIndex[acceptedIndex.length - 1] = accepted.length - 1;
        if (change.log !== undefined) logged.push({ index: accepted.length - 1, change });
      } else if ((change.outcome === 'invalid' || change.outcome === 'unknown_field') && change.dedupeKey !== undefined) {
        // No events: the store only says whether these bytes came before, so a redelivery counts once.
        const field = change.outcome === 'invalid' && isKnownField(change.field) ? change.field : 'other';
        accepted.push({ field, source: 'webhook', events: [], dedupeKey: change.dedupeKey });
        acceptedFields.push(field);
        acceptedIndex[acceptedIndex.length - 1] = accepted.length - 1;
      }
    }
    let outcomes;
    try {
      outcomes = await inSpan('whatsapp.webhook.apply', { changes: accepted.length }, () => this.ingest.apply(accepted));
    } catch (err) {
      if (!(err instanceof StoreUnavailableError)) throw err;
      this.count('store_unavailable');
      this.warnThrottled('store_unavailable', { err: err.message }, 'store unavailable: answering 503 so Meta redelivers', 'error');
      return { status: 503, body: 'Service Unavailable: store unavailable' };
    }
    // Counted only once the store took the batch: a 503'd request leaves no trace to double-count.
    const changes = this.metrics.counter('webhookChanges');
    const redelivered = (i: number): boolean => acceptedIndex[i] !== undefined && outcomes[acceptedIndex[i]!] === 'duplicate';
    // Added up per series by record(): a body of 100 changes is one increment per field and outcome.
    const counted: Observation[] = [];
    parsed.changes.forEach((change, i) => {
      const index = acceptedIndex[i];
      if (index !== undefined && (change.outcome === 'ok' || redelivered(i))) counted.push({ metric: 'webhookChanges', labels: { field: acceptedFields[index]!, outcome: outcomes[index]! } });
      // Unknown values are counted once per change, like the change: not again for Meta's redelivery.
      if (change.outcome === 'refused' || redelivered(i)) return;
      for (const attribute of change.unknownValues) this.metrics.counter('webhookUnknownValues').inc({ field: change.field, attribute });
    });
    this.metrics.record(counted);
    for (const [kind, n] of dropped) this.metrics.counter('entitiesDropped').inc({ kind }, n);
    // Once per change: a redelivery (duplicate) is not logged again. A body of thousands of them writes the
    // first few and one line counting the rest.
    const unlogged = new Map<string, number>();
    let changeLines = 0;
    for (const { index, change } of logged) {
      if (outcomes[index] !== 'applied') continue;
      if (changeLines++ < MAX_CHANGE_LINES_PER_REQUEST) this.logger.info({ field: change.field, waba_id: change.wabaId, ...change.log!.fields }, change.log!.message);
      else unlogged.set(change.field, (unlogged.get(change.field) ?? 0) + 1);
    }
    if (unlogged.size > 0) this.logger.info({ by_field: Object.fromEntries(unlogged) }, `${changeLines - MAX_CHANGE_LINES_PER_REQUEST} more applied changes of this request not logged one by one`);
    // Invalid and unknown-field changes: one line per request at most (and per LOG_THROTTLE_MS), counts by
    // field only; the dead letters and the counters have each one.
    const invalidByField = new Map<string, number>();
    let unknownFields = 0;
    let unknownSample: string | undefined;
    let problemsSample: string[] | undefined;
    for (const [i, change] of parsed.changes.entries()) {
      if (i % PARSE_CHUNK === PARSE_CHUNK - 1) await yieldToLoop();
      if (redelivered(i)) continue;
      if (change.outcome === 'refused') {
        changes.inc({ field: change.field, outcome: 'refused' });
      } else if (change.outcome === 'ignored') {
        // A field Meta documents and the exporter does not monitor: its name is from a fixed list.
        changes.inc({ field: change.field, outcome: 'ignored' });
      } else if (change.outcome === 'unknown_field') {
        changes.inc({ field: 'other', outcome: 'unknown_field' });
        unknownFields++;
        unknownSample ??= fieldToken(change.field);
      } else if (change.outcome === 'invalid') {
        // The field of an invalid change may be one nobody knows (a bad entry id is checked first): never a label.
        const field = isKnownField(change.field) ? change.field : 'other';
        changes.inc({ field, outcome: 'invalid' });
        this.deadLetters.add({
          // An unknown name is shown as the log line shows it: without digits (a phone number in a field name).
          receivedAt: new Date(this.now()).toISOString(), field: isKnownField(change.field) ? change.field : fieldToken(change.field), wabaId: sanitizedToken(change.wabaId),
          problems: change.problems ?? [],
        });
        invalidByField.set(field, (invalidByField.get(field) ?? 0) + 1);
        problemsSample ??= (change.problems ?? []).slice(0, 3).map((p) => p.slice(0, 120));
      }
    }
    if (invalidByField.size > 0) this.metrics.gauge('webhookDeadLetters').set(this.deadLetters.size);
    if (invalidByField.size > 0 || unknownFields > 0) {
      const invalid = [...invalidByField.values()].reduce((a, b) => a + b, 0);
      this.warnThrottled('changes', {
        ...(invalid > 0 && { invalid, invalid_by_field: Object.fromEntries(invalidByField), problems_of_first: problemsSample }),
        ...(unknownFields > 0 && { unknown_field: unknownFields, first_unknown_field: unknownSample }),
      }, invalid > 0 ? 'webhook changes do not fit their schema; dead-lettered (see /deadletters)' : 'webhook fields not understood; ignored', invalid > 0 ? 'warn' : 'info');
    }
    const lastReceived = this.metrics.gauge('webhookLastReceived');
    let previousWaba: string | undefined;
    for (const change of parsed.changes) {
      // Only Meta's ids become a waba_id label (see domain/ids.ts).
      if (change.wabaId !== previousWaba && change.outcome !== 'refused' && this.admission.admits(change.wabaId)) lastReceived.set({ waba_id: (previousWaba = change.wabaId) }, receivedAt);
    }
    this.count('accepted');
    return { status: 200, body: 'OK' };
  }

  /** A line that may repeat on every request: written at most once per LOG_THROTTLE_MS per key, saying how many were held back. */
  private warnThrottled(key: string, fields: Record<string, unknown>, message: string, level: 'info' | 'warn' | 'error' = 'warn'): void {
    const suppressed = this.throttle.take(key);
    if (suppressed === undefined) return;
    this.logger[level](suppressed > 0 ? { ...fields, suppressed_since_last: suppressed } : fields, message);
  }

  count(outcome: RequestOutcome): void {
    this.metrics.counter('webhookRequests').inc({ outcome });
  }
}
