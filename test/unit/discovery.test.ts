import { describe, expect, it } from 'vitest';
import { checkConfig } from '../../src/config/index.js';
import { reconcile, type BusinessListing, type KnownWaba, type ListedWaba } from '../../src/poller/discovery.js';
import { Admission } from '../../src/webhook/admission.js';

const GRACE = 60_000;
const waba = (id: string, name = `WABA ${id}`): ListedWaba => ({ id, name, ownerBusinessId: '900', ownerBusinessName: 'Client' });
const listing = (wabas: ListedWaba[], complete = true, edge: 'owned' | 'client' = 'client', businessId = '1'): BusinessListing => ({ businessId, edge, complete, wabas });

describe('reconcile (discovery of WABAs)', () => {
  it('reports new WABAs once, and a rename', () => {
    const known = new Map<string, KnownWaba>();
    expect(reconcile(known, [listing([waba('10'), waba('11')])], 0, GRACE).appeared.map((k) => k.id)).toEqual(['10', '11']);
    const r = reconcile(known, [listing([waba('10', 'Renamed'), waba('11')])], 1000, GRACE);
    expect(r.appeared).toEqual([]);
    expect(r.renamed.map((k) => [k.id, k.name])).toEqual([['10', 'Renamed']]);
  });

  it('judges a WABA missing only after a complete listing, and forgets it after the grace time', () => {
    const known = new Map<string, KnownWaba>();
    reconcile(known, [listing([waba('10'), waba('11')])], 0, GRACE);
    // A listing cut short (failure, budget) removes nothing.
    expect(reconcile(known, [listing([waba('10')], false)], 1000, GRACE).missing).toEqual([]);
    const missing = reconcile(known, [listing([waba('10')])], 2000, GRACE);
    expect(missing.missing.map((k) => k.id)).toEqual(['11']);
    expect(missing.expired).toEqual([]);
    expect(reconcile(known, [listing([waba('10')])], 2000 + GRACE - 1, GRACE).expired).toEqual([]);
    const expired = reconcile(known, [listing([waba('10')])], 2000 + GRACE, GRACE);
    expect(expired.expired.map((k) => k.id)).toEqual(['11']);
    expect([...known.keys()]).toEqual(['10']);
  });

  it('takes a WABA back that returns within the grace time, and one that moved to another listing is not missing', () => {
    const known = new Map<string, KnownWaba>();
    reconcile(known, [listing([waba('10'), waba('11')]), listing([], true, 'owned')], 0, GRACE);
    reconcile(known, [listing([waba('10')]), listing([], true, 'owned')], 1000, GRACE);
    const back = reconcile(known, [listing([waba('10'), waba('11')]), listing([], true, 'owned')], 2000, GRACE);
    expect(back.returned.map((k) => k.id)).toEqual(['11']);
    expect(known.get('11')!.missingSince).toBeUndefined();
    const moved = reconcile(known, [listing([waba('10')]), listing([waba('11')], true, 'owned')], 3000, GRACE);
    expect(moved.missing).toEqual([]);
    expect(known.get('11')!.edge).toBe('owned');
  });
});

describe('discovery configuration', () => {
  const base = { WHATSAPP_APP_SECRET: 's', WHATSAPP_VERIFY_TOKEN: 'v' };
  it('reads WHATSAPP_BUSINESS_IDS into businesses, both listings by default, and rejects ids that are not numeric', () => {
    const { config } = checkConfig({ env: { ...base, WHATSAPP_BUSINESS_IDS: '506914307656634, 506914307656635', WHATSAPP_ACCESS_TOKEN: 't' } });
    expect(config.businesses).toEqual([{ id: '506914307656634', edges: ['owned', 'client'] }, { id: '506914307656635', edges: ['owned', 'client'] }]);
    expect(config.discovery).toEqual({ intervalSeconds: 600, graceSeconds: 3600, requestsPerHour: 200, maxWabas: 1000 });
    expect(() => checkConfig({ env: { ...base, WHATSAPP_BUSINESS_IDS: '123,abc' } })).toThrow(/businesses\.1\.id \(env WHATSAPP_BUSINESS_IDS\): a business id is the numeric id/);
  });

  it('warns when a business has no token to list it with', () => {
    expect(checkConfig({ env: { ...base, WHATSAPP_BUSINESS_IDS: '123' } }).warnings).toContain(
      'business 123 has no access token, so its WABAs are not discovered: set WHATSAPP_ACCESS_TOKEN or businesses[].accessToken',
    );
  });
});

describe('admission of polled WABAs', () => {
  it('admits polled WABAs beyond the WABA cap, which keeps bounding the WABAs known only from webhooks', () => {
    const admission = new Admission({ maxWabas: 2, maxPhoneNumbersPerWaba: 10, maxTemplatesPerWaba: 10, maxEventNames: 10 });
    for (let i = 0; i < 5; i++) admission.admitPolled(String(100 + i));
    expect(admission.admitsWaba('1')).toBe(true);
    expect(admission.admitsWaba('2')).toBe(true);
    expect(admission.admitsWaba('3')).toBe(false);
    admission.forget('100');
    expect(admission.admits('100')).toBe(false);
    expect(admission.admitsWaba('3')).toBe(false);
  });
});
