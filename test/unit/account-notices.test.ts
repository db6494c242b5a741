import { describe, expect, it } from 'vitest';
import { accountNotices } from '../../src/server/account-notices.js';
import { renderStatusPage, type StatusPageInput } from '../../src/server/status-page.js';
import type { Snapshot, StateRecord } from '../../src/store/types.js';

const NOW = 1_764_000_000;
const WABA = '102290129340398';

function state(kind: string, key: string, attrs: Record<string, string | boolean>, at = NOW - 3600, wabaId = WABA): StateRecord {
  return { kind, wabaId, key, attributes: Object.fromEntries(Object.entries(attrs).map(([k, v]) => [k, { value: v, at }])) };
}

const states: StateRecord[] = [
  state('violation', '', { violationType: 'SCAM' }),
  state('review', '', { decision: 'APPROVED' }),
  state('account_alert', 'BUSINESS|506914307656634|OBA_APPROVED', {
    entityType: 'BUSINESS', entityId: '506914307656634', alertType: 'OBA_APPROVED', severity: 'INFORMATIONAL', status: 'ACTIVE',
  }),
  state('account_alert', 'BUSINESS|506914307656634|INCREASED_CAPABILITIES_ELIGIBILITY_DEFERRED', {
    entityType: 'BUSINESS', entityId: '506914307656634', alertType: 'INCREASED_CAPABILITIES_ELIGIBILITY_DEFERRED', severity: 'WARNING', status: 'ACTIVE',
  }),
  state('restriction', '', {
    restrictions: JSON.stringify([
      { type: 'RESTRICTED_ADD_PHONE_NUMBER_ACTION' },
      { type: 'RESTRICTED_BIZ_INITIATED_MESSAGING', expiresAt: NOW + 3 * 86400 },
      { type: 'RESTRICTED_CUSTOMER_INITIATED_MESSAGING', expiresAt: NOW - 60 },
    ]),
  }),
  state('ban', '', { state: 'SCHEDULE_FOR_DISABLE', date: 'April 17, 2026', dateAt: String(Date.UTC(2026, 3, 17) / 1000) }),
  state('flow', '691244242662581', { flowId: '691244242662581', status: 'BLOCKED' }),
];

describe('account notices', () => {
  it('put what stops sending first, in plain words, and leave out what expired, was approved or only informs', () => {
    const notices = accountNotices(states, NOW);
    expect(notices.map((n) => [n.tone, n.text])).toEqual([
      ['bad', `WABA ${WABA} will be disabled by Meta on 2026-04-17 (in ${Math.round((Date.UTC(2026, 3, 17) / 1000 - NOW) / 86400)} d) unless the violation is fixed or appealed.`],
      ['bad', `WABA ${WABA} cannot start conversations (no template or marketing messages) until ${new Date((NOW + 3 * 86400) * 1000).toISOString().replace('.000Z', 'Z')} (in 3 d).`],
      ['bad', 'Flow 691244242662581 (WABA 102290129340398) is blocked: it cannot be sent or opened.'],
      ['warn', `WABA ${WABA} cannot add phone numbers with no end date given.`],
      ['warn', 'Meta alert on business portfolio 506914307656634 (WABA 102290129340398): a messaging-limit increase was deferred.'],
      ['neutral', 'Latest policy violation Meta reported for WABA 102290129340398: SCAM.'],
    ]);
  });

  it('show on the status page before the summary cards, escaped', () => {
    const evil = state('violation', '', { violationType: '<script>x</script>' }, NOW, '999');
    const snapshot: Snapshot = { entityVersion: 1, numbers: [], templates: [], health: [], waits: [], wabas: [], states: [...states, evil] };
    const input: StatusPageInput = {
      snapshot, nowSeconds: NOW, version: 't', wabas: {}, webhookRequests: {}, deadLetters: 0, pollLeader: false, store: { kind: 'memory', up: true },
    };
    const html = renderStatusPage(input);
    expect(html.indexOf('id="account"')).toBeGreaterThan(0);
    expect(html.indexOf('id="account"')).toBeLessThan(html.indexOf('class="cards"'));
    expect(html).toContain('STOPS SENDING');
    expect(html).not.toContain('<script>x</script>');
    // No account state: no section.
    expect(renderStatusPage({ ...input, snapshot: { ...snapshot, states: [] } })).not.toContain('id="account"');
  });
});
