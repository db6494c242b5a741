import { afterEach, describe, expect, it } from 'vitest';
import { startTestExporter, type TestExporter } from '../support/exporter.js';

const WABA = '102290129340398';
const PHONE_ID = '106540352242922';

/** One POST of `n` customer messages, each with its own id: each leaves de-duplication marks behind. */
function inbound(batch: number, n: number) {
  const messages = Array.from({ length: n }, (_, i) => ({
    from: `1631555${String(i).padStart(4, '0')}`, id: `wamid.cap-${batch}-${i}`, timestamp: String(1764000000 + batch), type: 'text', text: { body: 'hi' },
  }));
  return {
    object: 'whatsapp_business_account',
    entry: [{ id: WABA, time: 1764000000 + batch, changes: [{ field: 'messages', value: { messaging_product: 'whatsapp', metadata: { display_phone_number: '15550783881', phone_number_id: PHONE_ID }, messages } }] }],
  };
}

describe('MEMORY_STORE_MAX_DEDUP_MARKS', () => {
  let t: TestExporter | undefined;
  afterEach(async () => {
    await t?.stop();
    t = undefined;
  });

  async function send(batches: number): Promise<void> {
    for (let b = 0; b < batches; b++) expect((await t!.post(inbound(b, 100))).status).toBe(200);
  }

  it('caps the memory store\'s de-duplication marks where it is set, and sheds the oldest, counted', async () => {
    t = await startTestExporter({ MEMORY_STORE_MAX_DEDUP_MARKS: '10000' });
    await send(120);
    expect(await t.metric('whatsapp_entities_dropped_total', { kind: 'dedup_mark' })).toBeGreaterThan(1000);
    // The newest are kept: the last batch again is all duplicates.
    expect((await t.post(inbound(119, 100))).status).toBe(200);
    expect(await t.metric('whatsapp_webhook_duplicates_total')).toBeGreaterThanOrEqual(100);
  });

  it('keeps them all under the default cap', async () => {
    t = await startTestExporter();
    await send(120);
    expect(await t.metric('whatsapp_entities_dropped_total', { kind: 'dedup_mark' })).toBe(0);
  });
});
