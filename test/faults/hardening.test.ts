import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startExporterProcess, type ExporterProcess } from '../support/cluster.js';
import { startTestExporter, type TestExporter } from '../support/exporter.js';
import { total } from '../support/metrics.js';

/**
 * Issue 16: what a hostile or broken sender holding the app secret could do to the exporter, each
 * reproduced over HTTP against a started exporter.
 */

const NUMBER_ID = '106540352242922';
const WABA_ID = '102290129340398';

function body(entries: Array<{ id: string; changes: Array<{ field: string; value: unknown }> }>): string {
  return JSON.stringify({ object: 'whatsapp_business_account', entry: entries.map((e) => ({ ...e, time: 1_760_000_000 })) });
}

const templateChange = (templateId: unknown, name = 'order_update') => ({
  field: 'message_template_status_update',
  value: { event: 'APPROVED', message_template_id: templateId, message_template_name: name, message_template_language: 'en_US', reason: 'NONE' },
});

const statusChange = (phoneNumberId: string) => ({
  field: 'messages',
  value: {
    messaging_product: 'whatsapp',
    metadata: { display_phone_number: '15550783881', phone_number_id: phoneNumberId },
    statuses: [{ id: 'wamid.HBgLMTU1NTA3ODM4ODEVAgARGBI', status: 'sent', timestamp: '1760000000', recipient_id: '15551234567' }],
  },
});

describe('an id of `__proto__` (the crash of issue 16, item 1)', () => {
  let exporter: ExporterProcess;
  beforeAll(async () => {
    exporter = await startExporterProcess();
  }, 30_000);
  afterAll(() => exporter?.stop());

  it('is refused as invalid; the status page, /metrics and the next POST keep working and the process lives', async () => {
    for (const id of ['__proto__', 'constructor', 'prototype', 'hasOwnProperty']) {
      expect((await exporter.post(body([{ id, changes: [templateChange('1234')] }]))).status).toBe(200);
    }
    expect((await exporter.get('/')).status).toBe(200);
    expect((await exporter.get('/metrics')).status).toBe(200);
    expect((await exporter.post(body([{ id: WABA_ID, changes: [templateChange('1234')] }]))).status).toBe(200);
    expect((await exporter.get('/')).status).toBe(200);
    const samples = await exporter.scrape();
    expect(exporter.running).toBe(true);
    expect(total(samples, 'whatsapp_webhook_changes_total', { outcome: 'invalid' })).toBe(4);
    expect(total(samples, 'whatsapp_webhook_changes_total', { outcome: 'applied' })).toBe(1);
    expect(samples.some((s) => Object.values(s.labels).some((v) => ['__proto__', 'constructor', 'prototype'].includes(v)))).toBe(false);
  });
});

describe('ids that are not digit strings (issue 16, item 1)', () => {
  let t: TestExporter;
  beforeAll(async () => {
    t = await startTestExporter();
  });
  afterAll(() => t?.stop());

  it('dead-letters the change, stores and exports nothing of it', async () => {
    const bad = ['abc', '12:34', '1|2', '-5', '1e5', ' 123', '9'.repeat(33), '__proto__'];
    for (const id of bad) {
      expect((await t.post(body([{ id, changes: [templateChange('55')] }]))).status).toBe(200);
      expect((await t.post(body([{ id: WABA_ID, changes: [templateChange(id)] }]))).status).toBe(200);
      expect((await t.post(body([{ id: WABA_ID, changes: [statusChange(id)] }]))).status).toBe(200);
    }
    const samples = await t.scrape();
    expect(total(samples, 'whatsapp_webhook_changes_total', { outcome: 'invalid' })).toBe(bad.length * 3);
    expect(total(samples, 'whatsapp_webhook_changes_total', { outcome: 'applied' })).toBe(0);
    const labelValues = new Set(samples.flatMap((s) => Object.values(s.labels)));
    for (const id of bad) expect(labelValues.has(id)).toBe(false);
    const letters = JSON.parse((await t.get('/deadletters')).body) as { items?: unknown[] } | unknown[];
    const items = Array.isArray(letters) ? letters : letters.items ?? [];
    expect(items.length).toBeGreaterThanOrEqual(bad.length * 3);
    expect(JSON.stringify(items)).toContain('Invalid id: expected 1 to 32 decimal digits');
    expect(JSON.stringify(items)).not.toContain('9'.repeat(33));
  });

  it('still applies digit ids, as a string or (templates) an integer', async () => {
    expect((await t.post(body([{ id: WABA_ID, changes: [templateChange(987654321), statusChange(NUMBER_ID)] }]))).status).toBe(200);
    expect(await t.metric('whatsapp_webhook_changes_total', { outcome: 'applied' })).toBe(2);
  });
});
