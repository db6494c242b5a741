import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { exporterOnStore, type StoreKind, type TestExporter } from '../support/exporter.js';
import { select } from '../support/metrics.js';

/**
 * Shapes of real deliveries (issue 17), replayed from test/fixtures/webhooks over HTTP: what an
 * operator sees on /metrics, with the memory and the Redis store alike.
 */

const WABA = '102290129340398';
const PHONE_ID = '106540352242922';
const OTHER_PHONE_ID = '110200345501442';

type Body = { object: string; entry: Array<{ id: string; time?: number | string; changes: Array<{ field: string; value: Record<string, unknown> }> }> };

function fixture(name: string): Body {
  return JSON.parse(readFileSync(new URL(`../fixtures/webhooks/${name}.json`, import.meta.url), 'utf8')) as Body;
}

/** A fixture with entry.time (and optionally the value) changed: another delivery of the same kind. */
function at(name: string, time: number, value: Record<string, unknown> = {}): Body {
  const body = fixture(name);
  body.entry[0]!.time = time;
  Object.assign(body.entry[0]!.changes[0]!.value, value);
  return body;
}

function inbound(phoneNumberId: string, display: string, customer: string, id: string, timestamp: number): Body {
  return {
    object: 'whatsapp_business_account',
    entry: [{
      id: WABA,
      changes: [{
        field: 'messages',
        value: {
          messaging_product: 'whatsapp',
          metadata: { display_phone_number: display, phone_number_id: phoneNumberId },
          contacts: [{ profile: { name: 'Kerry Fisher' }, wa_id: customer }],
          messages: [{ from: customer, id, timestamp: String(timestamp), type: 'text', text: { body: 'Hello' } }],
        },
      }],
    }],
  };
}

describe.each<StoreKind>(['memory', 'redis'])('webhook fidelity with the %s store', (kind) => {
  const store = exporterOnStore(kind, 'f');
  let t: TestExporter;

  async function start(env: Record<string, string> = {}): Promise<TestExporter> {
    t = await store.start(env);
    return t;
  }

  async function post(body: Body | string): Promise<void> {
    expect((await t.post(body)).status).toBe(200);
  }

  async function limitOf(phoneNumberId: string): Promise<number | undefined> {
    return select(await t.scrape(), 'whatsapp_phone_number_messaging_limit', { waba_id: WABA, phone_number_id: phoneNumberId })[0]?.value;
  }

  describe('the business portfolio messaging limit', () => {
    it('applies business_capability_update to every number of the WABA, known now or learned later, newest by event time', async () => {
      await start();
      await post(inbound(PHONE_ID, '15550783881', '16315551181', 'wamid.A1', 1771000000));
      // Meta's example: the integer 2000.
      await post(fixture('business-capability-update'));
      expect(await limitOf(PHONE_ID)).toBe(2000);
      // A tier string, later by event time.
      await post(fixture('business-capability-update-tier'));
      expect(await limitOf(PHONE_ID)).toBe(10_000);
      // An older change arriving late does not win.
      await post(at('business-capability-update', 1739321000, { max_daily_conversations_per_business: 250 }));
      expect(await limitOf(PHONE_ID)).toBe(10_000);
      // A number first seen after the limit arrived shows it too.
      await post(inbound(OTHER_PHONE_ID, '15550783882', '16315551182', 'wamid.A2', 1771000100));
      expect(await limitOf(OTHER_PHONE_ID)).toBe(10_000);
    });

    it('lowers the limit of every number from either source, so WhatsAppPhoneNumberMessagingLimitLowered sees it from both', async () => {
      await start();
      await post(inbound(PHONE_ID, '15550783881', '16315551181', 'wamid.B1', 1771000000));
      await post(inbound(OTHER_PHONE_ID, '15550783882', '16315551182', 'wamid.B2', 1771000000));
      await post(at('phone-number-quality-portfolio-limit', 1771430400));
      expect([await limitOf(PHONE_ID), await limitOf(OTHER_PHONE_ID)]).toEqual([100_000, 100_000]);
      // business_capability_update lowers it for both numbers, although phone_number_quality_update named only one.
      await post(at('business-capability-update-tier', 1771430500));
      expect([await limitOf(PHONE_ID), await limitOf(OTHER_PHONE_ID)]).toEqual([10_000, 10_000]);
      // And phone_number_quality_update lowers it again for both.
      await post(at('phone-number-quality-portfolio-limit', 1771430600, { event: 'DOWNGRADE', max_daily_conversations_per_business: 'TIER_2K' }));
      expect([await limitOf(PHONE_ID), await limitOf(OTHER_PHONE_ID)]).toEqual([2000, 2000]);
      const events = select(await t.scrape(), 'whatsapp_account_events_total', { waba_id: WABA });
      expect(events.filter((s) => s.labels.field === 'business_capability_update').map((s) => s.labels.event)).toEqual(['TIER_10K']);
    });

    it('never writes a throughput level into the messaging limit: THROUGHPUT_UPGRADE sets the throughput level HIGH', async () => {
      await start();
      await post(inbound(PHONE_ID, '15550783881', '16315551181', 'wamid.C1', 1748000000));
      await post(at('business-capability-update', 1748000000));
      // Meta's example: current_limit TIER_UNLIMITED with THROUGHPUT_UPGRADE is the number's throughput.
      await post(fixture('phone-number-quality-throughput-upgrade'));
      expect(await limitOf(PHONE_ID)).toBe(2000);
      const throughput = select(await t.scrape(), 'whatsapp_phone_number_throughput_level', { waba_id: WABA, phone_number_id: PHONE_ID });
      expect(throughput.map((s) => [s.labels.level, s.value])).toEqual([['HIGH', 1]]);
    });
  });

  describe("a solution partner's account_update", () => {
    it('is attributed to waba_info.waba_id, not to the partner business id in entry.id', async () => {
      await start();
      await post(fixture('account-update-partner-added'));
      const s = await t.scrape();
      const events = select(s, 'whatsapp_account_events_total', { field: 'account_update' });
      expect(events.map((e) => [e.labels.waba_id, e.labels.event, e.value])).toEqual([[WABA, 'PARTNER_ADDED', 1]]);
      expect(select(s, 'whatsapp_webhook_last_received_timestamp_seconds').map((e) => e.labels.waba_id)).toEqual([WABA]);
    });
  });

  describe('system errors (value.errors[], no entry.time)', () => {
    it('counts a redelivery of the same error list once, whatever second it arrives in, and labels it duplicate', async () => {
      await start();
      const body = fixture('messages-system-error');
      delete body.entry[0]!.time;
      await post(body);
      // Meta retries later: another arrival second.
      await new Promise((r) => setTimeout(r, 1100));
      await post(body);
      const s = await t.scrape();
      expect(select(s, 'whatsapp_system_errors_total', { waba_id: WABA, code: '130429' }).map((x) => x.value)).toEqual([1]);
      expect(select(s, 'whatsapp_webhook_changes_total', { field: 'messages', outcome: 'duplicate' }).map((x) => x.value)).toEqual([1]);
      // Another error list is another error.
      const other = fixture('messages-system-error');
      delete other.entry[0]!.time;
      (other.entry[0]!.changes[0]!.value.errors as Array<{ code: number }>)[0]!.code = 131000;
      await post(other);
      expect(await t.metric('whatsapp_system_errors_total', { code: '131000' })).toBe(1);
    });
  });

  describe('templates', () => {
    const TEMPLATE = '1230993311724416';

    it("applies Meta's quality example delivered under message_template_status_update as a quality update, not a dead letter", async () => {
      await start();
      await post(fixture('template-quality-update-status-field'));
      const s = await t.scrape();
      expect(select(s, 'whatsapp_template_quality', { template_id: TEMPLATE }).map((x) => [x.labels.score, x.value])).toEqual([['RED', 1]]);
      expect(select(s, 'whatsapp_webhook_changes_total', { field: 'message_template_status_update', outcome: 'applied' })[0]?.value).toBe(1);
      expect(select(s, 'whatsapp_webhook_changes_total', { outcome: 'invalid' }).reduce((a, x) => a + x.value, 0)).toBe(0);
      expect(select(s, 'whatsapp_webhook_dead_letters')[0]?.value).toBe(0);
    });

    it('exports a REINSTATED template as APPROVED and counts the REINSTATED event', async () => {
      await start();
      await post(fixture('template-status-paused'));
      await post(fixture('template-status-reinstated'));
      const s = await t.scrape();
      expect(select(s, 'whatsapp_template_status', { template_id: TEMPLATE }).map((x) => [x.labels.status, x.value])).toEqual([['APPROVED', 1]]);
      expect(select(s, 'whatsapp_account_events_total', { field: 'message_template_status_update' }).map((x) => [x.labels.event, x.value]))
        .toEqual(expect.arrayContaining([['PAUSED', 1], ['REINSTATED', 1]]));
      // UNARCHIVED leads back to APPROVED too (README says why).
      await post(at('template-status-reinstated', 1752700000, { event: 'ARCHIVED' }));
      expect(select(await t.scrape(), 'whatsapp_template_status', { template_id: TEMPLATE }).map((x) => x.labels.status)).toEqual(['ARCHIVED']);
      await post(at('template-status-reinstated', 1752800000, { event: 'UNARCHIVED' }));
      expect(select(await t.scrape(), 'whatsapp_template_status', { template_id: TEMPLATE }).map((x) => x.labels.status)).toEqual(['APPROVED']);
    });
  });

  describe('error codes, statuses and redeliveries', () => {
    it("keeps every code of Meta's error table as its own label, code 0 (AuthException) too", async () => {
      await start();
      const body = fixture('messages-system-error');
      (body.entry[0]!.changes[0]!.value.errors as Array<{ code: number }>)[0]!.code = 0;
      await post(body);
      const other = fixture('messages-system-error');
      other.entry[0]!.time = 1750866001;
      (other.entry[0]!.changes[0]!.value.errors as Array<{ code: number }>)[0]!.code = 987654;
      await post(other);
      const s = await t.scrape();
      expect(select(s, 'whatsapp_system_errors_total', { waba_id: WABA }).map((x) => [x.labels.code, x.value]).sort())
        .toEqual([['0', 1], ['other', 1]]);
    });

    it('counts a deleted status as a known status, never also as an unknown value', async () => {
      await start();
      await post(fixture('messages-statuses-batch'));
      const s = await t.scrape();
      expect(select(s, 'whatsapp_message_statuses_total', { status: 'deleted' }).reduce((a, x) => a + x.value, 0)).toBe(1);
      expect(select(s, 'whatsapp_webhook_unknown_values_total', { field: 'messages' }).reduce((a, x) => a + x.value, 0)).toBe(0);
    });

    it('counts a redelivered invalid or unknown change, and its unknown values, once; the dead-letter list grows once', async () => {
      await start();
      const body = {
        object: 'whatsapp_business_account',
        entry: [{
          id: WABA, time: 1764000000,
          changes: [
            { field: 'message_template_status_update', value: { event: 'APPROVED', message_template_id: 'not-digits' } },
            { field: 'some_future_field', value: { anything: true } },
            { field: 'phone_number_quality_update', value: { display_phone_number: '15550783881', event: 'BRAND_NEW_EVENT' } },
          ],
        }],
      };
      for (let i = 0; i < 3; i++) await post(JSON.stringify(body));
      const s = await t.scrape();
      const changes = (outcome: string, field?: string) => select(s, 'whatsapp_webhook_changes_total', { outcome, ...(field ? { field } : {}) }).reduce((a, x) => a + x.value, 0);
      expect(changes('invalid')).toBe(1);
      expect(changes('unknown_field')).toBe(1);
      expect(changes('applied', 'phone_number_quality_update')).toBe(1);
      expect(changes('duplicate')).toBe(6);
      expect(select(s, 'whatsapp_webhook_unknown_values_total', { field: 'phone_number_quality_update', attribute: 'event' })[0]?.value).toBe(1);
      expect(select(s, 'whatsapp_webhook_dead_letters')[0]?.value).toBe(1);
      const dead = JSON.parse((await t.get('/deadletters')).body) as { items: unknown[] };
      expect(dead.items).toHaveLength(1);
    });
  });

  describe('numbers and waiting customers', () => {
    it('gives a number seen only in messages its info, and shows 0 waiting for every known number', async () => {
      await start();
      const now = Math.floor(Date.now() / 1000);
      await post(inbound(PHONE_ID, '15550783881', '16315551181', 'wamid.D1', now - 60));
      // Another number of the WABA, seen only in a status: nobody waits there.
      await post({
        object: 'whatsapp_business_account',
        entry: [{ id: WABA, changes: [{ field: 'messages', value: {
          messaging_product: 'whatsapp', metadata: { display_phone_number: '15550783882', phone_number_id: OTHER_PHONE_ID },
          statuses: [{ id: 'wamid.D2', status: 'sent', timestamp: String(now - 30), recipient_id: '16315551182' }],
        } }] }],
      });
      const s = await t.scrape();
      expect(select(s, 'whatsapp_phone_number_info', { waba_id: WABA }).map((x) => [x.labels.phone_number_id, x.labels.display_phone_number]).sort())
        .toEqual([[PHONE_ID, '15550783881'], [OTHER_PHONE_ID, '15550783882']]);
      const waiting = (name: string, id: string) => select(s, name, { waba_id: WABA, phone_number_id: id })[0]?.value;
      expect(waiting('whatsapp_conversations_awaiting_reply', PHONE_ID)).toBe(1);
      expect(waiting('whatsapp_conversations_awaiting_reply', OTHER_PHONE_ID)).toBe(0);
      expect(waiting('whatsapp_oldest_awaiting_reply_age_seconds', OTHER_PHONE_ID)).toBe(0);
    });

    it('opens no wait for a message already older than the wait expiry (a late redelivery or a replay)', async () => {
      await start();
      const now = Math.floor(Date.now() / 1000);
      await post(inbound(PHONE_ID, '15550783881', '16315551181', 'wamid.E1', now - 3 * 86400));
      const s = await t.scrape();
      expect(select(s, 'whatsapp_messages_received_total', { phone_number_id: PHONE_ID }).reduce((a, x) => a + x.value, 0)).toBe(1);
      expect(select(s, 'whatsapp_conversations_awaiting_reply', { phone_number_id: PHONE_ID })[0]?.value).toBe(0);
      expect(select(s, 'whatsapp_oldest_awaiting_reply_age_seconds', { phone_number_id: PHONE_ID })[0]?.value).toBe(0);
    });
  });
});
