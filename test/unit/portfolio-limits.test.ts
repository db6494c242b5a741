import { describe, expect, it } from 'vitest';
import { messagingLimitTier, isMessagingLimit } from '../../src/domain/index.js';
import { numbersWithPortfolioLimits, renderEntities } from '../../src/metrics/render.js';
import type { Snapshot } from '../../src/store/types.js';

const A = '102290129340398';
const B = '524126980791429';
const C = '610000000000001';

const snapshot = (wabas: Snapshot['wabas']): Snapshot => ({
  entityVersion: 1,
  numbers: [
    { wabaId: A, phoneNumberId: '106540352242922', attributes: { messagingLimit: { value: 'TIER_100K', at: 100 } } },
    { wabaId: A, phoneNumberId: '106540352242923', attributes: { verifiedName: { value: 'Lucky Shrub', at: 100 } } },
    { wabaId: B, phoneNumberId: '110200345501442', attributes: { verifiedName: { value: 'Lucky Shrub EU', at: 100 } } },
    { wabaId: C, phoneNumberId: '120000000000001', attributes: { verifiedName: { value: 'Other', at: 100 } } },
  ],
  templates: [], health: [], waits: [], wabas,
});

const limits = (s: Snapshot) => numbersWithPortfolioLimits(s).map((n) => n.attributes.messagingLimit?.value);

describe('the business portfolio messaging limit', () => {
  it('shows the WABA limit on every number of the WABA unless the number holds a newer observation', () => {
    expect(limits(snapshot([{ wabaId: A, attributes: { messagingLimit: { value: 'TIER_2K', at: 200 } } }])))
      .toEqual(['TIER_2K', 'TIER_2K', undefined, undefined]);
    expect(limits(snapshot([{ wabaId: A, attributes: { messagingLimit: { value: 'TIER_2K', at: 50 } } }])))
      .toEqual(['TIER_100K', 'TIER_2K', undefined, undefined]);
  });

  it('shares the newest limit across the WABAs of one portfolio once a source named the portfolio', () => {
    const s = snapshot([
      { wabaId: A, attributes: { messagingLimit: { value: 'TIER_10K', at: 300 }, businessId: { value: '506914307656634', at: 10 } } },
      { wabaId: B, attributes: { messagingLimit: { value: 'TIER_2K', at: 100 }, businessId: { value: '506914307656634', at: 10 } } },
    ]);
    expect(limits(s)).toEqual(['TIER_10K', 'TIER_10K', 'TIER_10K', undefined]);
    const text = renderEntities(s);
    expect(text).toContain(`whatsapp_phone_number_messaging_limit{waba_id="${B}",phone_number_id="110200345501442"} 10000`);
  });

  it('reads every spelling Meta uses as one tier, and tells limits from throughput levels', () => {
    expect([2000, '2000', -1, 'UNLIMITED', 'TIER_2K', 250].map(messagingLimitTier))
      .toEqual(['TIER_2K', 'TIER_2K', 'TIER_UNLIMITED', 'TIER_UNLIMITED', 'TIER_2K', 'TIER_250']);
    expect(['TIER_2K', '10000', 'HIGH', 'STANDARD'].map(isMessagingLimit)).toEqual([true, true, false, false]);
  });
});
