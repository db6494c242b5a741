/**
 * The store executes small typed operations, grouped per event, atomically per `apply` call.
 * What an event means is decided in signals/ (pure); the store only knows these primitives, each
 * implemented once in memory.ts and once in the Redis script, and tested by one contract suite.
 */

export interface Observed<T = string | boolean> {
  value: T;
  /** Time of the newest observation of this attribute. */
  at: number;
  /** Time of the first observation of the current value: when it last changed, as far as the exporter saw. Set by the store. */
  since?: number;
}

export type AttributeMap = Record<string, Observed>;

export interface NumberRef {
  wabaId: string;
  phoneNumberId?: string;
  /** Digits of display_phone_number ("+1 555-078 3881" → "15550783881"). */
  displayDigits?: string;
}

export type StoreOp =
  /** Merge attributes into a phone number, last-writer-wins per attribute; links display digits to the id when both are known. */
  | { op: 'mergeNumber'; ref: NumberRef; attributes: AttributeMap }
  /** Merge attributes into a template, last-writer-wins per attribute. */
  | { op: 'mergeTemplate'; wabaId: string; templateId: string; attributes: AttributeMap }
  /**
   * Merge attributes into a WABA, last-writer-wins per attribute: its business portfolio's messaging
   * limit (shared by every number of the portfolio) and the portfolio's id when a source names it.
   */
  | { op: 'mergeWaba'; wabaId: string; attributes: AttributeMap }
  /** Remove an entity; observations older than `at` that arrive later stay removed. */
  | { op: 'removeNumber'; wabaId: string; phoneNumberId: string; at: number }
  | { op: 'removeTemplate'; wabaId: string; templateId: string; at: number }
  /**
   * Merge attributes into an account state record (a restriction, a ban, an account alert, a Flow, ...:
   * kind from ACCOUNT_STATE_KINDS), last-writer-wins per attribute. State Meta sends once: never expired
   * by a TTL, never removed, never capped.
   */
  | { op: 'mergeState'; kind: string; wabaId: string; key: string; attributes: AttributeMap }
  /** Replace the health_status entities of a WABA. */
  | { op: 'replaceHealth'; wabaId: string; at: number; entities: Array<{ entityType: string; entityId: string; canSendMessage: string }> }
  /** Open a wait for a customer of a number unless one is open or a reply at or after `at` is known. */
  | { op: 'openWait'; scope: string; customer: string; at: number }
  /**
   * Close the customer's wait with a reply at `at`; records the reply time for the idle-gap rule.
   * With `messageKey` (a mark naming the outbound message, usually in its record: see
   * RECORD_SEPARATOR), only the first closeWait naming that message does anything, for the dedup
   * TTL: a message answers at most once, so its later statuses (delivered, read) cannot close a
   * wait the customer opened after it was sent. A repeat returns closed: false and records nothing.
   */
  | { op: 'closeWait'; scope: string; customer: string; at: number; messageKey?: string }
  /**
   * Advance a customer's run through a funnel (see FunnelAdvanceResult). With `tally`, a counted
   * step also adds 1 to the countInBucket series `tally.seriesPrefix + run variant` ('' without a
   * variant) at `tally.bucket`: only the store knows a running run's variant.
   */
  | {
    op: 'advanceFunnel'; funnel: string; customer: string; step: number; at: number; runTimeoutSeconds: number; variant?: string;
    tally?: { seriesPrefix: string; bucket: number };
  }
  /**
   * True the first time the key is seen within the TTL (status (message, status) pairs and the like).
   * With `value`, the key also keeps the first value it is given (within the TTL) and every call
   * returns the kept one: a message's pricing category, which only some of its statuses carry.
   */
  | { op: 'once'; key: string; value?: string }
  /**
   * The marks an event sets in one record (an outbound message's status: its category, the statuses
   * it implies, priced, its reply), as one op: one lookup of the record in MemoryStore, one HMGET and
   * one HSET in the Redis script. Exactly what these ops in order would do and answer: `once` of
   * recordKey(record, f) for each f of `fields` (1 to 31 distinct names, bit i of the result's
   * `first` set when fields[i] was new), the first field keeping `value` when given (the result's
   * `value` is the first field's kept value); then with `reply`, closeWait with messageKey
   * recordKey(record, REPLY_FIELD). `record` holds no RECORD_SEPARATOR.
   */
  | { op: 'recordMarks'; record: string; fields: readonly string[]; value?: string; reply?: { scope: string; customer: string; at: number } }
  /** Adds to a counter kept per time bucket (funnel reports compare time windows); kept historyTtlSeconds. */
  | { op: 'countInBucket'; series: string; bucket: number; by?: number };

export type MergeResult = {
  /** Attributes whose stored value changed. */
  changed: string[];
  /** Attributes that arrived older than what the store holds (or than the removal). */
  stale: string[];
};

export type OpenWaitResult = { opened: boolean };
export type CloseWaitResult = { closed: boolean; openedAt?: number; previousReplyAt?: number };
/** counted: the step is new for this run. variant: the run's variant, fixed when the run started. */
export type FunnelAdvanceResult = { counted: boolean; variant?: string; newRun: boolean };
export type OnceResult = { first: boolean; value?: string };
/** first: bit i set when fields[i] was new. reply: closeWait's answer, when the op had a reply. */
export type RecordMarksResult = { first: number; value?: string; reply?: CloseWaitResult };
export type PlainResult = { ok: true };

export type OpResult = MergeResult | OpenWaitResult | CloseWaitResult | FunnelAdvanceResult | OnceResult | RecordMarksResult | PlainResult;

/**
 * Keys given to the store for de-duplication and `once` (and a message's reply mark) may name a
 * record: `record#field`. Every key of one record is kept together and expires with it, the record
 * living dedupTtl after its last write. An outbound message's status marks, kept category and reply
 * mark then cost one Redis hash (one MemoryStore entry) instead of a key each. A key without `#`
 * stands alone. Both stores follow the same rule (the Redis script splits keys the same way).
 */
export const RECORD_SEPARATOR = '#';

/** The field of a record that marks the message as having answered a customer (closeWait's messageKey, recordMarks' reply). */
export const REPLY_FIELD = 'reply';

/** A key of the record `record`: `recordKey(messageKey, 's:read')`. */
export function recordKey(record: string, field: string): string {
  return record + RECORD_SEPARATOR + field;
}

export interface EventWrite {
  /** De-duplication key: when already seen (within the TTL), none of the ops run. */
  dedupeKey?: string;
  ops: StoreOp[];
}

export type EventWriteResult = { duplicate: true } | { duplicate: false; results: OpResult[] };

export interface PhoneNumberRecord {
  wabaId: string;
  phoneNumberId?: string;
  displayDigits?: string;
  attributes: AttributeMap;
}

export interface TemplateRecord {
  wabaId: string;
  templateId: string;
  attributes: AttributeMap;
}

/** A WABA's own state: `messagingLimit` (its portfolio's, a tier string), `businessId` (the portfolio). */
export interface WabaRecord {
  wabaId: string;
  attributes: AttributeMap;
}

export interface HealthRecord {
  wabaId: string;
  entityType: string;
  entityId: string;
  canSendMessage: string;
  at: number;
}

/** Account state (see the mergeState op): `key` names the record within its kind and WABA ('' for one per WABA). */
export interface StateRecord {
  kind: string;
  wabaId: string;
  key: string;
  attributes: AttributeMap;
}

export interface WaitSummary {
  /** The scope given to openWait: `${wabaId}:${phoneNumberId}`. */
  scope: string;
  count: number;
  oldestAt: number;
}

export interface Snapshot {
  /**
   * Moves whenever a number, template or health entry changes (or is observed again). Two snapshots
   * with the same version hold the same entities, so a scrape can reuse what it rendered last time.
   */
  entityVersion: number;
  numbers: PhoneNumberRecord[];
  templates: TemplateRecord[];
  health: HealthRecord[];
  /** Account state records (restrictions, bans, account alerts, reviews, Flows); moves the entity version like numbers. Both stores always set it. */
  states?: StateRecord[];
  waits: WaitSummary[];
  wabas: WabaRecord[];
}

export interface Store {
  readonly kind: 'memory' | 'redis';
  /** Applies every write atomically (all or none) and in order; results line up with writes. */
  apply(writes: readonly EventWrite[]): Promise<EventWriteResult[]>;
  /**
   * The current state. Given the previous snapshot, a store may answer with its entity arrays when
   * the entity version has not moved (waits are always fresh): Redis then skips reading every entity.
   */
  snapshot(previous?: Snapshot): Promise<Snapshot>;
  /**
   * One WABA's numbers and templates, as snapshot() lists them (same records, same order): what a
   * polling round judges removals against. Optional: without it the poller filters a snapshot, which
   * lists every WABA's entities in every round of every WABA (bench/README.md, "Provider scale").
   */
  wabaEntities?(wabaId: string): Promise<Pick<Snapshot, 'numbers' | 'templates'>>;
  /** Counts of countInBucket series for buckets from..to inclusive: series → bucket → count. */
  readCounts(series: readonly string[], fromBucket: number, toBucket: number): Promise<Record<string, Record<number, number>>>;
  /** Removes waits opened before `before`; returns how many per scope. */
  expireWaits(before: number): Promise<Array<{ scope: string; count: number }>>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export class StoreUnavailableError extends Error {
  readonly code = 'WAE_STORE_UNAVAILABLE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}
