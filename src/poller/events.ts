import { isMessagingLimit, messagingLimitTier } from '../domain/index.js';
import type {
  HealthObserved, MessagingLimitObserved, PhoneNumberAttributes, PhoneNumberObserved, PhoneNumberRemoved, TemplateAttributes, TemplateObserved, TemplateRemoved,
} from '../events.js';
import type { Snapshot, Store } from '../store/types.js';
import { webhookTargetLevel } from './account.js';
import type { GraphHealthStatus, GraphPhoneNumber, GraphTemplate, GraphWabaNode } from './schemas.js';

/** Pure mapping of Graph API objects to the events webhooks produce too: one merge for both sources. */

export const POLL_FIELDS = {
  numbers: 'phone_numbers', templates: 'message_templates', health: 'health_status', portfolioLimit: 'whatsapp_business_manager_messaging_limit',
} as const;

function defined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}

export function phoneNumberEvent(wabaId: string, n: GraphPhoneNumber, observedAt: number): PhoneNumberObserved {
  const attributes: Partial<PhoneNumberAttributes> = defined({
    displayPhoneNumber: n.display_phone_number,
    verifiedName: n.verified_name,
    qualityRating: n.quality_rating,
    status: n.status,
    // The portfolio-level limit replaced the per-number tier in v24.0; older versions only have the tier.
    messagingLimit: n.whatsapp_business_manager_messaging_limit ?? n.messaging_limit_tier,
    nameStatus: n.name_status,
    throughputLevel: n.throughput?.level,
    healthStatus: n.health_status?.can_send_message,
    platformType: n.platform_type,
    onBizApp: n.is_on_biz_app,
    officialBusinessAccount: n.is_official_business_account,
    codeVerificationStatus: n.code_verification_status,
    webhookTarget: webhookTargetLevel(n.webhook_configuration),
  });
  return {
    kind: 'phone_number',
    source: 'poll',
    field: POLL_FIELDS.numbers,
    wabaId,
    phoneNumberId: n.id,
    ...(n.display_phone_number !== undefined ? { displayPhoneNumber: n.display_phone_number } : {}),
    observedAt,
    attributes,
  };
}

export function templateEvent(wabaId: string, t: GraphTemplate, observedAt: number): TemplateObserved {
  const attributes: Partial<TemplateAttributes> = defined({
    name: t.name,
    language: t.language,
    category: t.category,
    status: t.status,
    qualityScore: t.quality_score?.score,
  });
  return { kind: 'template', source: 'poll', field: POLL_FIELDS.templates, wabaId, templateId: t.id, observedAt, attributes };
}

/** Numbers the store knows for the WABA that a complete listing no longer contains. */
/**
 * One WABA's stored numbers and templates, as of now: the store's own read when it has one (the
 * memory store: no array of every WABA's entities per round, which at 500 WABAs × 300 templates left
 * ≈ 0.5 MiB of old-generation garbage per round), else a whole snapshot (records of other WABAs are
 * skipped by the callers' wabaId test).
 */
export function storedEntitiesOf(store: Pick<Store, 'snapshot' | 'wabaEntities'>, wabaId: string): Promise<Pick<Snapshot, 'numbers' | 'templates'>> {
  return store.wabaEntities ? store.wabaEntities(wabaId) : store.snapshot();
}

export function removedNumbers(snapshot: Pick<Snapshot, 'numbers'>, wabaId: string, listed: ReadonlySet<string>, at: number): PhoneNumberRemoved[] {
  const out: PhoneNumberRemoved[] = [];
  for (const n of snapshot.numbers) {
    if (n.wabaId !== wabaId || n.phoneNumberId === undefined || listed.has(n.phoneNumberId)) continue;
    out.push({ kind: 'phone_number_removed', source: 'poll', field: POLL_FIELDS.numbers, wabaId, phoneNumberId: n.phoneNumberId, observedAt: at });
  }
  return out;
}

export function removedTemplates(snapshot: Pick<Snapshot, 'templates'>, wabaId: string, listed: ReadonlySet<string>, at: number): TemplateRemoved[] {
  const out: TemplateRemoved[] = [];
  for (const t of snapshot.templates) {
    if (t.wabaId !== wabaId || listed.has(t.templateId)) continue;
    out.push({ kind: 'template_removed', source: 'poll', field: POLL_FIELDS.templates, wabaId, templateId: t.templateId, observedAt: at });
  }
  return out;
}

/**
 * The WABA's health_status entities (WABA, BUSINESS, APP, ...) plus each listed number's own
 * PHONE_NUMBER entity, one per entity type and id.
 */
export function healthEvent(wabaId: string, waba: GraphHealthStatus, numbers: readonly GraphPhoneNumber[], observedAt: number): HealthObserved {
  const entities = new Map<string, { entityType: string; entityId: string; canSendMessage: string }>();
  const add = (e: { entity_type: string; id: string; can_send_message: string }) => {
    entities.set(`${e.entity_type}|${e.id}`, { entityType: e.entity_type, entityId: e.id, canSendMessage: e.can_send_message });
  };
  for (const n of numbers) for (const e of n.health_status?.entities ?? []) if (e.entity_type === 'PHONE_NUMBER') add(e);
  for (const e of waba.entities) add(e);
  return { kind: 'health', source: 'poll', field: 'health_status', wabaId, observedAt, entities: [...entities.values()] };
}

/**
 * The portfolio's messaging limit read on the WABA (v24.0+), with the portfolio it belongs to, into
 * the one portfolio model webhooks feed too: known even when no business_capability_update ever came.
 * Absent (older API versions) or a value that names no limit (UNTIERED): no event, and the numbers'
 * own fields (messaging_limit_tier when the new one is absent) stand.
 */
export function portfolioLimitEvent(wabaId: string, node: GraphWabaNode, observedAt: number): MessagingLimitObserved | undefined {
  const raw = node.whatsapp_business_manager_messaging_limit;
  if (raw === undefined || !isMessagingLimit(raw)) return undefined;
  const businessId = node.owner_business_info?.id;
  return {
    kind: 'messaging_limit', source: 'poll', field: POLL_FIELDS.portfolioLimit, wabaId,
    ...(businessId !== undefined ? { businessId } : {}),
    limit: messagingLimitTier(raw), observedAt,
  };
}
