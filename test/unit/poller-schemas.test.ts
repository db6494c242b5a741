import { describe, expect, it } from 'vitest';
import { classifyStatus } from '../../src/poller/client.js';
import { healthEvent, phoneNumberEvent, removedNumbers, removedTemplates, templateEvent } from '../../src/poller/events.js';
import { graphErrorSchema, phoneNumbersPageSchema, templatesPageSchema, wabaHealthSchema } from '../../src/poller/schemas.js';
import type { Snapshot } from '../../src/store/types.js';

describe('Graph response schemas', () => {
  it('accept unknown enum values and extra fields, and numeric ids', () => {
    const page = phoneNumbersPageSchema.parse({
      data: [{ id: 106540352242922, quality_rating: 'ULTRAVIOLET', status: 'SOMETHING_NEW', throughput: { level: 'MEGA' }, brand_new_field: { x: 1 } }],
      paging: { cursors: { before: 'a', after: 'b' } },
    });
    expect(page.data[0]).toEqual({ id: '106540352242922', quality_rating: 'ULTRAVIOLET', status: 'SOMETHING_NEW', throughput: { level: 'MEGA' } });
  });

  it('reject what cannot be a listing: no data, an item without id', () => {
    expect(templatesPageSchema.safeParse({}).success).toBe(false);
    expect(templatesPageSchema.safeParse({ data: [{ name: 'x' }] }).success).toBe(false);
    expect(templatesPageSchema.safeParse({ data: 'nope' }).success).toBe(false);
  });

  it('read quality_score as an object or a bare string', () => {
    const page = templatesPageSchema.parse({ data: [{ id: '1', quality_score: { score: 'GREEN', date: 1 } }, { id: '2', quality_score: 'RED' }] });
    expect(page.data.map((t) => t.quality_score?.score)).toEqual(['GREEN', 'RED']);
  });

  it('read health_status entities and Graph errors with string codes', () => {
    expect(wabaHealthSchema.parse({ health_status: { can_send_message: 'LIMITED' } }).health_status.entities).toEqual([]);
    expect(graphErrorSchema.parse({ error: { code: '80007', error_subcode: 2494055 } }).error.code).toBe(80007);
  });
});

describe('classifying Graph answers', () => {
  it.each([
    [400, 80007, 'throttled'], [400, 4, 'throttled'], [400, 17, 'throttled'], [400, 32, 'throttled'], [400, 613, 'throttled'],
    [400, 80008, 'throttled'], [400, 130429, 'throttled'], [429, undefined, 'throttled'],
    [401, 190, 'token_error'], [400, 190, 'token_error'],
    [500, 2, 'server_error'], [503, undefined, 'server_error'],
    [400, 100, 'client_error'], [404, undefined, 'client_error'],
  ] as const)('HTTP %i code %s → %s', (status, code, outcome) => {
    expect(classifyStatus(status, code)).toBe(outcome);
  });
});

describe('events from polled objects', () => {
  it('prefers the portfolio limit over the deprecated tier and leaves out what was not sent', () => {
    const e = phoneNumberEvent('1', { id: '9', messaging_limit_tier: 'TIER_1K', whatsapp_business_manager_messaging_limit: 'TIER_2K', health_status: { can_send_message: 'LIMITED', entities: [] } }, 100);
    expect(e).toEqual({ kind: 'phone_number', source: 'poll', field: 'phone_numbers', wabaId: '1', phoneNumberId: '9', observedAt: 100, attributes: { messagingLimit: 'TIER_2K', healthStatus: 'LIMITED' } });
    expect(phoneNumberEvent('1', { id: '9', messaging_limit_tier: 'TIER_1K' }, 1).attributes).toEqual({ messagingLimit: 'TIER_1K' });
    expect(templateEvent('1', { id: '5', status: 'PAUSED', quality_score: { score: 'RED' } }, 1).attributes).toEqual({ status: 'PAUSED', qualityScore: 'RED' });
  });

  it('lists as removed only what the store holds for this WABA and the listing lacks', () => {
    const snapshot: Snapshot = {
      entityVersion: 0,
      numbers: [
        { wabaId: '1', phoneNumberId: 'a', attributes: {} },
        { wabaId: '1', phoneNumberId: 'b', attributes: {} },
        { wabaId: '1', displayDigits: '1555', attributes: {} },
        { wabaId: '2', phoneNumberId: 'c', attributes: {} },
      ],
      templates: [{ wabaId: '1', templateId: 't1', attributes: {} }, { wabaId: '2', templateId: 't2', attributes: {} }],
      health: [],
      waits: [],
      wabas: [],
    };
    expect(removedNumbers(snapshot, '1', new Set(['a']), 50).map((e) => e.phoneNumberId)).toEqual(['b']);
    expect(removedTemplates(snapshot, '1', new Set(), 50)).toEqual([
      { kind: 'template_removed', source: 'poll', field: 'message_templates', wabaId: '1', templateId: 't1', observedAt: 50 },
    ]);
  });

  it('merges the WABA health entities with each number own entity, once each', () => {
    const waba = { can_send_message: 'LIMITED', entities: [
      { entity_type: 'WABA', id: '1', can_send_message: 'LIMITED' }, { entity_type: 'APP', id: '7', can_send_message: 'AVAILABLE' },
    ] };
    const numbers = [{ id: 'a', health_status: { can_send_message: 'BLOCKED', entities: [
      { entity_type: 'PHONE_NUMBER', id: 'a', can_send_message: 'BLOCKED' }, { entity_type: 'WABA', id: '1', can_send_message: 'LIMITED' },
    ] } }];
    expect(healthEvent('1', waba, numbers, 9).entities).toEqual([
      { entityType: 'PHONE_NUMBER', entityId: 'a', canSendMessage: 'BLOCKED' },
      { entityType: 'WABA', entityId: '1', canSendMessage: 'LIMITED' },
      { entityType: 'APP', entityId: '7', canSendMessage: 'AVAILABLE' },
    ]);
  });
});
