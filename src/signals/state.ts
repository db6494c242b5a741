import type {
  AccountEvent, HealthObserved, MessagingLimitObserved, PhoneNumberAttributes, PhoneNumberObserved, PhoneNumberRemoved, TemplateAttributes,
  TemplateObserved, TemplateRemoved,
} from '../events.js';
import { displayDigits } from '../store/keys.js';
import type { AttributeMap, EventWriteResult, MergeResult } from '../store/types.js';
import type { Observation, PlannedWrite } from './types.js';

/** Attributes stamped with the time they were observed, the unit of last-writer-wins. */
function stamp(attributes: Partial<PhoneNumberAttributes> | Partial<TemplateAttributes>, at: number): AttributeMap {
  const out: AttributeMap = {};
  // for…in, not Object.entries: no array of pairs per event.
  for (const name in attributes) {
    if (!Object.hasOwn(attributes, name)) continue;
    const value = attributes[name as keyof typeof attributes];
    if (value !== undefined) out[name] = { value, at };
  }
  return out;
}

/** No observations, shared (the pipeline only reads what interpret returns). */
const NONE = Object.freeze([]) as unknown as Observation[];

function staleObservations(source: string, field: string, result: EventWriteResult): Observation[] {
  if (source !== 'webhook' || result.duplicate) return NONE;
  const merge = result.results[0] as MergeResult | undefined;
  return merge && merge.stale.length > 0 ? [{ metric: 'webhookOutOfOrder', labels: { field } }] : NONE;
}

export function planPhoneNumber(e: PhoneNumberObserved): PlannedWrite {
  const digits = e.displayPhoneNumber !== undefined ? displayDigits(e.displayPhoneNumber) : undefined;
  return {
    write: {
      ops: [{
        op: 'mergeNumber',
        ref: { wabaId: e.wabaId, ...(e.phoneNumberId ? { phoneNumberId: e.phoneNumberId } : {}), ...(digits ? { displayDigits: digits } : {}) },
        attributes: stamp(e.attributes, e.observedAt),
      }],
    },
    interpret: (r) => staleObservations(e.source, e.field, r),
  };
}

export function planPhoneNumberRemoved(e: PhoneNumberRemoved): PlannedWrite {
  return {
    write: { ops: [{ op: 'removeNumber', wabaId: e.wabaId, phoneNumberId: e.phoneNumberId, at: e.observedAt }] },
    interpret: () => [],
  };
}

export function planTemplate(e: TemplateObserved): PlannedWrite {
  return {
    write: { ops: [{ op: 'mergeTemplate', wabaId: e.wabaId, templateId: e.templateId, attributes: stamp(e.attributes, e.observedAt) }] },
    interpret: (r) => staleObservations(e.source, e.field, r),
  };
}

export function planTemplateRemoved(e: TemplateRemoved): PlannedWrite {
  return {
    write: { ops: [{ op: 'removeTemplate', wabaId: e.wabaId, templateId: e.templateId, at: e.observedAt }] },
    interpret: () => [],
  };
}

/** The portfolio limit lives on the WABA; the renderer shows it on every number of the WABA (and of the portfolio). */
export function planMessagingLimit(e: MessagingLimitObserved): PlannedWrite {
  const attributes: AttributeMap = { messagingLimit: { value: e.limit, at: e.observedAt } };
  if (e.businessId !== undefined) attributes.businessId = { value: e.businessId, at: e.observedAt };
  return {
    write: { ops: [{ op: 'mergeWaba', wabaId: e.wabaId, attributes }] },
    interpret: (r) => staleObservations(e.source, e.field, r),
  };
}

export function planHealth(e: HealthObserved): PlannedWrite {
  return {
    write: { ops: [{ op: 'replaceHealth', wabaId: e.wabaId, at: e.observedAt, entities: e.entities }] },
    interpret: () => [],
  };
}

export function planAccountEvent(e: AccountEvent): PlannedWrite {
  return {
    write: { ops: [] },
    interpret: (r) => (r.duplicate ? [] : [{ metric: 'accountEvents', labels: { waba_id: e.wabaId, field: e.field, event: e.event } }]),
  };
}
