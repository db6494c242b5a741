import { describe, expect, it } from 'vitest';
import type { ExporterEvent } from '../../src/events.js';
import { Admission, REFUSED_WABAS_LISTED, type DroppedKind } from '../../src/webhook/admission.js';

const limits = { maxWabas: 2, maxPhoneNumbersPerWaba: 2, maxTemplatesPerWaba: 3, maxEventNames: 1 };
const template = (wabaId: string, templateId: string): ExporterEvent => ({ kind: 'template', source: 'webhook', field: 'message_template_status_update', wabaId, templateId, observedAt: 1, attributes: {} });
const account = (wabaId: string, event: string): ExporterEvent => ({ kind: 'account_event', source: 'webhook', field: 'account_update', wabaId, event, observedAt: 1 });
const status = (wabaId: string, phoneNumberId: string): ExporterEvent => ({
  kind: 'message_status', source: 'webhook', field: 'messages', wabaId, phoneNumberId, messageKey: 'k', customer: 'c', status: 'sent', timestamp: 1, errorCodes: [],
});

function run(a: Admission, events: ExporterEvent[]): { kept: ExporterEvent[]; dropped: Map<DroppedKind, number> } {
  const dropped = new Map<DroppedKind, number>();
  return { kept: a.filter(events, dropped), dropped };
}

describe('Admission', () => {
  it('admits WABAs up to the cap, lists the refused ones newest first, bounded', () => {
    const a = new Admission(limits, () => 1000);
    expect(a.admitsWaba('1')).toBe(true);
    expect(a.admitsWaba('2')).toBe(true);
    expect(a.admitsWaba('3')).toBe(false);
    expect(a.admitsWaba('1')).toBe(true);
    for (let i = 0; i < REFUSED_WABAS_LISTED + 5; i++) a.admitsWaba(String(100 + i));
    a.admitsWaba('3');
    const refused = a.refusedWabas();
    expect(refused).toHaveLength(REFUSED_WABAS_LISTED);
    // '3' was pushed out by newer refusals: listed again, its count restarted.
    expect(refused[0]).toEqual({ wabaId: '3', changes: 1, lastAt: 1000 });
    expect(refused.map((r) => r.wabaId)).not.toContain('100');
  });

  it('admits only the allowlist when one is set', () => {
    const a = new Admission({ ...limits, allowlist: new Set(['7']) });
    expect(a.admitsWaba('1')).toBe(false);
    expect(a.admitsWaba('7')).toBe(true);
  });

  it('caps numbers and templates per WABA and undocumented event names, and counts what it drops', () => {
    const a = new Admission(limits);
    a.admitsWaba('1');
    const { kept, dropped } = run(a, [
      status('1', '10'), status('1', '11'), status('1', '12'), status('1', '10'),
      template('1', '20'), template('1', '21'), template('1', '22'), template('1', '23'),
      account('1', 'ODD_ONE'), account('1', 'ODD_TWO'), account('1', 'ACCOUNT_VIOLATION'), account('1', 'FLAGGED'),
    ]);
    expect(kept).toHaveLength(2 + 1 + 3 + 1 + 2);
    expect(Object.fromEntries(dropped)).toEqual({ phone_number: 1, template: 1, event_name: 1 });
  });

  it('lets every other kind of an admitted WABA through whatever the caps (state Meta sends once)', () => {
    const a = new Admission({ ...limits, maxPhoneNumbersPerWaba: 1, maxTemplatesPerWaba: 1, maxEventNames: 0 });
    a.admitsWaba('1');
    const once = { kind: 'account_restriction', source: 'webhook', field: 'account_update', wabaId: '1', observedAt: 1 } as unknown as ExporterEvent;
    const health: ExporterEvent = { kind: 'health', source: 'poll', field: 'health_status', wabaId: '1', observedAt: 1, entities: [] };
    const { kept } = run(a, [status('1', '10'), status('1', '11'), once, health]);
    expect(kept).toHaveLength(3);
  });

  it("counts Meta's account alert types, review decisions and Flow events as documented names, not against the cap", () => {
    const a = new Admission({ ...limits, maxEventNames: 0 });
    a.admitsWaba('1');
    const { kept, dropped } = run(a, [account('1', 'OBA_REJECTED'), account('1', 'REJECTED'), account('1', 'ENDPOINT_LATENCY'), account('1', 'ODD_ONE')]);
    expect(kept.map((e) => (e as { event: string }).event)).toEqual(['OBA_REJECTED', 'REJECTED', 'ENDPOINT_LATENCY']);
    expect(Object.fromEntries(dropped)).toEqual({ event_name: 1 });
  });

  it('admits a WABA known from its account state alone (a ban) at start-up', () => {
    const a = new Admission({ ...limits, maxWabas: 1 });
    a.seed({ entityVersion: 1, health: [], waits: [], wabas: [], numbers: [], templates: [], states: [{ kind: 'ban', wabaId: '9', key: '', attributes: {} }] });
    expect(a.admitsWaba('8')).toBe(false);
    expect(a.admitsWaba('9')).toBe(true);
  });

  it('bounds and cleans event names before they become a label', () => {
    const a = new Admission({ ...limits, maxEventNames: 5 });
    a.admitsWaba('1');
    const { kept } = run(a, [account('1', `A\r\nB\u0000${'x'.repeat(5000)}`)]);
    const name = (kept[0] as { event: string }).event;
    expect(name.length).toBeLessThanOrEqual(512);
    expect(name).not.toMatch(/[\r\n\u0000]/);
  });

  it('admits what the store holds at start-up before anything new', () => {
    const a = new Admission({ ...limits, maxWabas: 1 });
    a.seed({
      entityVersion: 1, health: [], waits: [], wabas: [],
      numbers: [{ wabaId: '5', phoneNumberId: '50', attributes: {} }],
      templates: [{ wabaId: '5', templateId: '60', attributes: {} }],
    });
    expect(a.admitsWaba('6')).toBe(false);
    expect(a.admitsWaba('5')).toBe(true);
  });
});
