import type { ExporterEvent } from '../events.js';

/** One entry[].changes[] item after parsing. */
export interface ParsedChange {
  field: string;
  /** entry[].id: the WABA. */
  wabaId: string;
  /**
   * ok: schema fits, `events` hold what it says. invalid: a known field whose value does not fit its
   * schema (dead-lettered). ignored: a field Meta documents that the exporter does not monitor (counted by
   * name). unknown_field: a field the exporter does not know at all (counted as "other": Meta sent something new).
   * refused: set by the receiver for a WABA beyond the cap or outside the allowlist (counted, nothing kept).
   */
  outcome: 'ok' | 'invalid' | 'ignored' | 'unknown_field' | 'refused';
  events: ExporterEvent[];
  /**
   * Content key of a management change, so a redelivery is ignored whole (messages changes de-duplicate
   * per message and status instead), and of an invalid or unknown-field change, so its redelivery is
   * counted and dead-lettered once.
   */
  dedupeKey?: string;
  /** Enum values or attributes not known yet: tolerated and exported as sent, counted per attribute. */
  unknownValues: string[];
  /** A line for the log once the change is applied (an account alert's description, length-capped). */
  log?: { message: string; fields: Record<string, string> };
  /** For invalid changes: what did not fit, as paths and messages only (never the values: they may hold personal data). */
  problems?: string[];
}

export interface ParsedBody {
  changes: ParsedChange[];
}

/** Thrown for a body that is JSON but not a WhatsApp Business Account webhook envelope at all. */
export class MalformedEnvelopeError extends Error {
  readonly code = 'WAE_MALFORMED_ENVELOPE';
  constructor(message: string) {
    super(message);
    this.name = 'MalformedEnvelopeError';
  }
}
