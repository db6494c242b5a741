import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startExporterProcess, type ExporterProcess } from '../support/cluster.js';
import { select } from '../support/metrics.js';
import { strictExpositionProblems } from '../support/strict-exposition.js';
import { DEFAULT_LABEL_VALUE_MAX_LENGTH } from '../../src/metrics/labels.js';
import { SENDER_STRING_MAX_LENGTH } from '../../src/webhook/sender-strings.js';

/**
 * Issue 16, item 6: strings a sender chooses are cut at ingest and shown without raw control
 * characters, over HTTP against a started exporter (its log lines included).
 */

const WABA_ID = '102290129340398';
const HUGE = 'x'.repeat(4_000_000);
const RAW = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029]/;
const HOSTILE = ['cr\rname', 'nul\u0000name', 'ls\u2028name', 'ps\u2029del\u007fc1\u0085'];

function body(changes: Array<{ field: string; value: unknown }>): string {
  return JSON.stringify({ object: 'whatsapp_business_account', entry: [{ id: WABA_ID, time: 1_760_000_000, changes }] });
}

const template = (id: string, name: string, language = 'en_US', event = 'REJECTED') => ({
  field: 'message_template_status_update',
  value: { event, message_template_id: id, message_template_name: name, message_template_language: language, reason: 'NONE' },
});

describe('sender-chosen strings: a 4 MB template name and names with CR, NUL, U+2028 (issue 16, item 6)', () => {
  let exporter: ExporterProcess;
  beforeAll(async () => {
    exporter = await startExporterProcess();
  }, 30_000);
  afterAll(() => exporter?.stop());

  it('are cut and printable in /metrics (strict parse), on the status page, in /deadletters and in the logs', async () => {
    expect((await exporter.post(body([template('900001', HUGE)]))).status).toBe(200);
    expect((await exporter.post(body(HOSTILE.map((name, i) => template(String(900010 + i), name, `l\r${i}\u2028`))))).status).toBe(200);
    expect((await exporter.post(body([
      { field: 'account_update', value: { event: 'EV\r\u0000\u2028NT' } },
      { field: 'account_alerts', value: { entity_type: 'WABA', entity_id: WABA_ID, alert_info: { alert_type: 'A\u2028B', alert_status: 'ACTIVE', alert_severity: 'WARNING', alert_description: `d\u2028${HUGE.slice(0, 5000)}` } } },
      { field: 'phone_number_name_update', value: { display_phone_number: '15550783881', decision: 'APPROVED', requested_verified_name: `V\r\u0000\u2028${HUGE.slice(0, 100_000)}` } },
      // Invalid (no id): dead-lettered with its hostile values.
      { field: 'message_template_status_update', value: { event: 'APPROVED', message_template_name: HUGE.slice(0, 100_000) + '\r\u2028' } },
    ]))).status).toBe(200);

    const metrics = await exporter.get('/metrics');
    expect(metrics.status).toBe(200);
    expect(strictExpositionProblems(metrics.body, DEFAULT_LABEL_VALUE_MAX_LENGTH)).toEqual([]);
    expect(metrics.body).not.toContain('x'.repeat(SENDER_STRING_MAX_LENGTH + 1));
    // The values are there, cut and with their control characters replaced.
    const samples = await exporter.scrape();
    const names = select(samples, 'whatsapp_template_info', { waba_id: WABA_ID }).map((s) => s.labels.template_name!);
    expect(names.some((n) => n.startsWith('xxxx') && n.length <= SENDER_STRING_MAX_LENGTH)).toBe(true);
    expect(names).toContain('cr\uFFFDname');
    expect(names).toContain('nul\uFFFDname');
    expect(names).toContain('ls\uFFFDname');

    for (const path of ['/', '/deadletters']) {
      const page = await exporter.get(path);
      expect(page.status, path).toBe(200);
      expect(RAW.test(page.body), `${path} has a raw control character`).toBe(false);
      expect(page.body, path).not.toContain('x'.repeat(SENDER_STRING_MAX_LENGTH + 1));
    }
    const letters = await exporter.get('/deadletters');
    expect(letters.body).toContain('message_template_id');

    // Lines of the process as written (pino escapes C0 in JSON; DEL, C1 and U+2028 it leaves raw).
    const logs = exporter.logs.join('\n');
    expect(exporter.logs.length).toBeGreaterThan(0);
    expect(RAW.test(logs)).toBe(false);
    expect(logs).not.toContain('x'.repeat(SENDER_STRING_MAX_LENGTH + 1));
  }, 60_000);
});

describe('the strict exposition check itself', () => {
  it('rejects raw CR, NUL and U+2028 in a label value and a value over the cap, and passes a clean exposition', () => {
    expect(strictExpositionProblems('a{l="ok\\n\\"\\\\"} 1\n', 8)).toEqual([]);
    for (const raw of ['\r', '\u0000', '\u2028']) expect(strictExpositionProblems(`a{l="x${raw}y"} 1\n`, 8)).toHaveLength(1);
    expect(strictExpositionProblems('a{l="123456789"} 1\n', 8)).toHaveLength(1);
  });
});
