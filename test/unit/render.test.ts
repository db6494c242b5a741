import { describe, expect, it } from 'vitest';
import { isFlagged, messagingLimitOf, renderEntities, renderEntitiesYielding, renderSnapshot } from '../../src/metrics/render.js';
import type { Snapshot } from '../../src/store/types.js';

const empty: Snapshot = { entityVersion: 0, numbers: [], templates: [], health: [], waits: [], wabas: [] };

function only(text: string, name: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(name + '{') || l.startsWith(name + ' '));
}

describe('renderSnapshot', () => {
  it('renders a number and a template as exact exposition text', () => {
    const snapshot: Snapshot = {
      entityVersion: 1,
      numbers: [{
        wabaId: '102290129340398', phoneNumberId: '106540352242922', displayDigits: '15550783881',
        attributes: {
          displayPhoneNumber: { value: '+1 555-078-3881', at: 100 },
          verifiedName: { value: 'Lucky "Shrub"\\Co', at: 100 },
          qualityRating: { value: 'YELLOW', at: 200 },
          status: { value: 'CONNECTED', at: 150 },
          messagingLimit: { value: 'TIER_2K', at: 300 },
        },
      }],
      templates: [{
        wabaId: '102290129340398', templateId: '594425479261596',
        attributes: {
          name: { value: 'order_update', at: 10 }, language: { value: 'en_US', at: 10 }, category: { value: 'UTILITY', at: 10 },
          status: { value: 'PAUSED', at: 20 }, qualityScore: { value: 'RED', at: 15 },
        },
      }],
      health: [],
      waits: [{ scope: '102290129340398:106540352242922', count: 2, oldestAt: 940 }],
      wabas: [],
    };
    const text = renderSnapshot(snapshot, 1000);
    const N = 'waba_id="102290129340398",phone_number_id="106540352242922"';
    expect(only(text, 'whatsapp_phone_number_info')).toEqual([
      `whatsapp_phone_number_info{${N},display_phone_number="+1 555-078-3881",verified_name="Lucky \\"Shrub\\"\\\\Co"} 1`,
    ]);
    expect(only(text, 'whatsapp_phone_number_quality_rating')).toEqual([
      `whatsapp_phone_number_quality_rating{${N},rating="GREEN"} 0`,
      `whatsapp_phone_number_quality_rating{${N},rating="YELLOW"} 1`,
      `whatsapp_phone_number_quality_rating{${N},rating="RED"} 0`,
      `whatsapp_phone_number_quality_rating{${N},rating="UNKNOWN"} 0`,
    ]);
    expect(only(text, 'whatsapp_phone_number_status').filter((l) => l.endsWith(' 1'))).toEqual([`whatsapp_phone_number_status{${N},status="CONNECTED"} 1`]);
    expect(only(text, 'whatsapp_phone_number_flagged')).toEqual([`whatsapp_phone_number_flagged{${N}} 0`]);
    expect(only(text, 'whatsapp_phone_number_messaging_limit')).toEqual([`whatsapp_phone_number_messaging_limit{${N}} 2000`]);
    expect(only(text, 'whatsapp_phone_number_last_update_timestamp_seconds')).toEqual([`whatsapp_phone_number_last_update_timestamp_seconds{${N}} 300`]);
    const T = 'waba_id="102290129340398",template_id="594425479261596",template_name="order_update",language="en_US"';
    expect(only(text, 'whatsapp_template_info')).toEqual([`whatsapp_template_info{${T},category="UTILITY"} 1`]);
    expect(only(text, 'whatsapp_template_status')).toEqual([`whatsapp_template_status{${T},status="PAUSED"} 1`]);
    expect(only(text, 'whatsapp_template_quality')).toEqual([`whatsapp_template_quality{${T},score="RED"} 1`]);
    expect(only(text, 'whatsapp_conversations_awaiting_reply')).toEqual([`whatsapp_conversations_awaiting_reply{${N}} 2`]);
    expect(only(text, 'whatsapp_oldest_awaiting_reply_age_seconds')).toEqual([`whatsapp_oldest_awaiting_reply_age_seconds{${N}} 60`]);
    expect(text).toContain('# TYPE whatsapp_template_status gauge\n');
    expect(text).toContain('# HELP whatsapp_phone_number_info ');
  });

  it('adds a state-set member for a value Meta sends that is not known yet', () => {
    const text = renderSnapshot({ ...empty, numbers: [{ wabaId: '1', phoneNumberId: '2', attributes: { status: { value: 'SUSPENDED_FOR_REVIEW', at: 1 } } }] }, 0);
    const ones = only(text, 'whatsapp_phone_number_status').filter((l) => l.endsWith(' 1'));
    expect(ones).toEqual(['whatsapp_phone_number_status{waba_id="1",phone_number_id="2",status="SUSPENDED_FOR_REVIEW"} 1']);
    expect(only(text, 'whatsapp_phone_number_status')).toHaveLength(12);
  });

  it('names a number by its display digits until its id is known', () => {
    const text = renderSnapshot({ ...empty, numbers: [{ wabaId: '1', displayDigits: '15550783881', attributes: { messagingLimit: { value: 'TIER_UNLIMITED', at: 5 } } }] }, 0);
    expect(only(text, 'whatsapp_phone_number_messaging_limit')).toEqual(['whatsapp_phone_number_messaging_limit{waba_id="1",phone_number_id="display:15550783881"} +Inf']);
    expect(only(text, 'whatsapp_phone_number_info')).toEqual(['whatsapp_phone_number_info{waba_id="1",phone_number_id="display:15550783881",display_phone_number="15550783881",verified_name=""} 1']);
  });

  it('is deterministic and empty families still carry HELP/TYPE', () => {
    const text = renderSnapshot(empty, 0);
    expect(text).toBe(renderSnapshot(empty, 0));
    expect(text).toContain('# TYPE whatsapp_health_status gauge\n');
    // Only the export mode, which a dashboard shows even before anything is known.
    expect(text.split('\n').filter((l) => l && !l.startsWith('#'))).toEqual(['whatsapp_template_export_mode{mode="all"} 1', 'whatsapp_template_export_mode{mode="exceptions"} 0']);
  });

  it('renders health status as a state set per entity', () => {
    const text = renderSnapshot({ ...empty, health: [{ wabaId: '1', entityType: 'PHONE_NUMBER', entityId: '2', canSendMessage: 'LIMITED', at: 1 }] }, 0);
    expect(only(text, 'whatsapp_health_status')).toEqual([
      'whatsapp_health_status{waba_id="1",entity_type="PHONE_NUMBER",entity_id="2",can_send_message="AVAILABLE"} 0',
      'whatsapp_health_status{waba_id="1",entity_type="PHONE_NUMBER",entity_id="2",can_send_message="LIMITED"} 1',
      'whatsapp_health_status{waba_id="1",entity_type="PHONE_NUMBER",entity_id="2",can_send_message="BLOCKED"} 0',
    ]);
  });
});

describe('renderEntitiesYielding', () => {
  it('renders exactly what renderEntities does while giving the event loop turns', async () => {
    const templates = Array.from({ length: 2500 }, (_, i) => ({
      wabaId: String(1 + (i % 3)), templateId: String(100000 + i),
      attributes: { name: { value: `t${i}`, at: i }, language: { value: 'en_US', at: i }, status: { value: i % 7 ? 'APPROVED' : 'PAUSED', at: i } },
    }));
    const snapshot: Snapshot = { ...empty, templates };
    let finished = false;
    let otherWorkRanMeanwhile = false;
    setImmediate(() => { otherWorkRanMeanwhile = !finished; });
    const text = (await renderEntitiesYielding(snapshot)).toString('utf8');
    finished = true;
    expect(otherWorkRanMeanwhile).toBe(true);
    expect(text).toBe(renderEntities(snapshot));
    expect(text.split('\n').filter((l) => l.startsWith('whatsapp_template_status{'))).toHaveLength(2500);
  });
});

describe('messagingLimitOf', () => {
  it('maps old and new tiers to numbers', () => {
    expect(['TIER_50', 'TIER_250', 'TIER_1K', 'TIER_2K', 'TIER_10K', 'TIER_100K', 'TIER_UNLIMITED'].map(messagingLimitOf))
      .toEqual([50, 250, 1000, 2000, 10_000, 100_000, Infinity]);
    expect(messagingLimitOf('TIER_5K')).toBe(5000);
    expect(messagingLimitOf('TIER_NOT_SET')).toBeUndefined();
  });
});

describe('isFlagged', () => {
  it('lets the newer of the FLAGGED event and the status decide', () => {
    expect(isFlagged({ flagged: { value: true, at: 10 } })).toBe(true);
    expect(isFlagged({ flagged: { value: true, at: 10 }, status: { value: 'CONNECTED', at: 20 } })).toBe(false);
    expect(isFlagged({ flagged: { value: false, at: 30 }, status: { value: 'FLAGGED', at: 20 } })).toBe(false);
    expect(isFlagged({ status: { value: 'FLAGGED', at: 20 } })).toBe(true);
    expect(isFlagged({ flagged: { value: true, at: 10 }, status: { value: 'CONNECTED', at: 5 } })).toBe(true);
  });
});
