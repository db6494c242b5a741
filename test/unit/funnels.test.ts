import { afterEach, describe, expect, it } from 'vitest';
import { funnelSchema, humanHandoffSchema, type FunnelConfig } from '../../src/config/funnels.js';
import type { MessageReceived, MessageStatusObserved } from '../../src/events.js';
import { ExporterMetrics } from '../../src/metrics/registry.js';
import { Ingest } from '../../src/pipeline.js';
import { funnelSeries, funnelVariants, hourBucket } from '../../src/signals/funnels.js';
import { MemoryStore } from '../../src/store/memory.js';

const WABA = '102290129340398';
const P1 = '106540352242922';
const T0 = 1_790_000_000;
const DAY = 86400;

let nextId = 0;
const stores: MemoryStore[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

const onboarding = funnelSchema.parse({
  name: 'onboarding',
  steps: [
    { name: 'welcome', match: { templateSent: ['welcome_v1', 'welcome_v2'] } },
    { name: 'interested', match: { buttonPayload: 'YES' } },
    { name: 'completed', match: { flowCompleted: true } },
  ],
  runTimeoutSeconds: 2 * DAY,
  variants: { byTemplate: { welcome_v1: 'A', welcome_v2: 'B' } },
});

const support = funnelSchema.parse({
  name: 'support',
  steps: [
    { name: 'asked', match: { textPattern: '^\\s*help\\b' } },
    { name: 'human', match: { handoff: true } },
  ],
});

function setup(funnels: FunnelConfig[], handoff = humanHandoffSchema.parse({ templates: ['agent_takeover'], textPattern: 'talk to a (human|person)' })) {
  const store = new MemoryStore({ dedupTtlSeconds: 8 * DAY, replyTtlSeconds: DAY });
  stores.push(store);
  const metrics = new ExporterMetrics({ version: 'test', revision: 'test' }, { defaultMetrics: false });
  const ingest = new Ingest(store, metrics, { conversations: { idleGapSeconds: DAY, waitExpirySeconds: DAY }, funnels, humanHandoff: handoff });
  const send = (...events: Array<MessageReceived | MessageStatusObserved>) => ingest.apply([{ field: 'messages', source: 'webhook', events }]);
  const steps = async (labels: Record<string, string>) => {
    const { values } = await metrics.registry.getSingleMetric('whatsapp_funnel_step_total')!.get();
    return values.filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x)).reduce((a, v) => a + v.value, 0);
  };
  return { store, metrics, send, steps };
}

function sent(customer: string, template: string, timestamp: number, s = 'sent'): MessageStatusObserved {
  return {
    kind: 'message_status', source: 'webhook', field: 'messages', wabaId: WABA, phoneNumberId: P1,
    messageKey: `out-${customer}-${template}-${timestamp}`, customer, status: s, timestamp, errorCodes: [], callbackData: template,
  };
}

function reply(customer: string, timestamp: number, r: MessageReceived['reply'], type = 'interactive'): MessageReceived {
  return {
    kind: 'message_received', source: 'webhook', field: 'messages', wabaId: WABA, phoneNumberId: P1,
    messageKey: `in${++nextId}`, customer, timestamp, type, reply: r,
  };
}

describe('funnel steps', () => {
  it('counts each step once per customer per run, by the variant fixed when the run started', async () => {
    const { send, steps } = setup([onboarding]);
    await send(sent('c1', 'welcome_v1', T0), sent('c2', 'welcome_v2', T0), sent('c3', 'welcome_v1', T0));
    await send(reply('c1', T0 + 60, { buttonPayload: 'YES' }, 'button'));
    await send(reply('c1', T0 + 61, { buttonPayload: 'YES' }, 'button')); // a second click: same step
    await send(reply('c1', T0 + 300, { flowCompleted: { token: 'signup-1' } }));
    await send(reply('c2', T0 + 90, { buttonReplyId: 'YES' }));
    await send(reply('c4', T0 + 90, { buttonPayload: 'YES' }, 'button')); // never entered: not counted

    expect(await steps({ funnel: 'onboarding', step: 'welcome', variant: 'A' })).toBe(2);
    expect(await steps({ funnel: 'onboarding', step: 'welcome', variant: 'B' })).toBe(1);
    expect(await steps({ funnel: 'onboarding', step: 'interested', variant: 'A' })).toBe(1);
    expect(await steps({ funnel: 'onboarding', step: 'interested', variant: 'B' })).toBe(1);
    expect(await steps({ funnel: 'onboarding', step: 'completed', variant: 'A' })).toBe(1);
    expect(await steps({ funnel: 'onboarding', step: 'completed', variant: 'B' })).toBe(0);
    expect(await steps({})).toBe(6);
  });

  it('counts the steps in between when a later step is reached first', async () => {
    const { send, steps } = setup([onboarding]);
    await send(sent('c5', 'welcome_v2', T0));
    await send(reply('c5', T0 + 100, { flowCompleted: {} }));
    await send(reply('c5', T0 + 50, { buttonPayload: 'YES' }, 'button')); // arrives late
    expect(await steps({ step: 'interested', variant: 'B' })).toBe(1);
    expect(await steps({ step: 'completed', variant: 'B' })).toBe(1);
  });

  it('only a sent status enters: delivered and read of the same template change nothing', async () => {
    const { send, steps } = setup([onboarding]);
    await send(sent('c1', 'welcome_v1', T0));
    await send(reply('c1', T0 + 10, { buttonPayload: 'YES' }, 'button'));
    await send(sent('c1', 'welcome_v1', T0 + 1, 'delivered'), sent('c1', 'welcome_v1', T0 + 2, 'read'));
    await send(reply('c1', T0 + 20, { flowCompleted: {} }));
    expect(await steps({ step: 'welcome' })).toBe(1);
    expect(await steps({ step: 'completed', variant: 'A' })).toBe(1);
  });

  it('starts a new run, with a new variant, when the first step happens again after progress', async () => {
    const { send, steps } = setup([onboarding]);
    await send(sent('c1', 'welcome_v1', T0), reply('c1', T0 + 10, { buttonPayload: 'YES' }, 'button'));
    await send(sent('c1', 'welcome_v2', T0 + 1000), reply('c1', T0 + 1010, { buttonPayload: 'YES' }, 'button'));
    expect(await steps({ step: 'welcome', variant: 'A' })).toBe(1);
    expect(await steps({ step: 'welcome', variant: 'B' })).toBe(1);
    expect(await steps({ step: 'interested', variant: 'A' })).toBe(1);
    expect(await steps({ step: 'interested', variant: 'B' })).toBe(1);
  });

  it('ends a run after its timeout without progress', async () => {
    const { send, steps } = setup([onboarding]);
    await send(sent('c1', 'welcome_v1', T0));
    await send(reply('c1', T0 + 2 * DAY + 1, { buttonPayload: 'YES' }, 'button'));
    expect(await steps({ step: 'interested' })).toBe(0);
  });

  it('recognises a text pattern and a handoff by template or by text, with variant none', async () => {
    const { send, steps } = setup([support]);
    await send(reply('c1', T0, { text: 'Help! my order' }, 'text'));
    await send(sent('c1', 'agent_takeover', T0 + 30));
    await send(reply('c2', T0, { text: 'help please' }, 'text'), reply('c2', T0 + 5, { text: 'I want to TALK TO A PERSON' }, 'text'));
    await send(reply('c3', T0, { text: 'no help needed' }, 'text')); // pattern is anchored: not a match
    expect(await steps({ funnel: 'support', step: 'asked', variant: 'none' })).toBe(2);
    expect(await steps({ funnel: 'support', step: 'human', variant: 'none' })).toBe(2);
  });

  it('ignores a redelivered event and unconfigured templates', async () => {
    const { send, steps } = setup([onboarding]);
    const s = sent('c1', 'welcome_v1', T0);
    await send(s, s, sent('c2', 'welcome_v9', T0), sent('c3', 'WELCOME_V1', T0));
    expect(await steps({})).toBe(1);
  });

  it('keeps hourly counts per funnel, step and variant for the report', async () => {
    const { store, send } = setup([onboarding]);
    const hour = hourBucket(T0);
    await send(sent('c1', 'welcome_v1', T0), sent('c2', 'welcome_v1', T0 + 1), sent('c3', 'welcome_v2', T0 + 3600));
    await send(reply('c1', T0 + 7200, { buttonPayload: 'YES' }, 'button'), reply('c3', T0 + 7300, { flowCompleted: {} }));
    const series = [
      funnelSeries('onboarding', 'welcome', 'A'), funnelSeries('onboarding', 'welcome', 'B'),
      funnelSeries('onboarding', 'interested', 'A'), funnelSeries('onboarding', 'interested', 'B'), funnelSeries('onboarding', 'completed', 'B'),
    ];
    const counts = await store.readCounts(series, hour, hour + 2);
    expect(counts).toEqual({
      'funnel|onboarding|welcome|A': { [hour]: 2 },
      'funnel|onboarding|welcome|B': { [hour + 1]: 1 },
      'funnel|onboarding|interested|A': { [hour + 2]: 1 },
      'funnel|onboarding|interested|B': { [hour + 2]: 1 },
      'funnel|onboarding|completed|B': { [hour + 2]: 1 },
    });
  });
});

describe('Flow steps (flowCompleted)', () => {
  // Meta names every Flow completion "flow": two funnels ending in two different Flows are told apart
  // only by the flow_token the business sent each Flow with.
  const signup = funnelSchema.parse({
    name: 'signup',
    steps: [
      { name: 'offered', match: { templateSent: 'signup_offer' } },
      { name: 'signed_up', match: { flowCompleted: { tokenPrefix: 'signup-' } } },
    ],
  });
  const survey = funnelSchema.parse({
    name: 'survey',
    steps: [
      { name: 'invited', match: { templateSent: 'survey_invite' } },
      // The bare string form is a token prefix too.
      { name: 'answered', match: { flowCompleted: 'survey-' } },
    ],
  });

  it('advances only the funnel whose token prefix the completion carries', async () => {
    const { send, steps } = setup([signup, survey]);
    await send(sent('c1', 'signup_offer', T0), sent('c1', 'survey_invite', T0 + 1));
    await send(reply('c1', T0 + 60, { flowCompleted: { token: 'signup-8f3a' } }));
    expect(await steps({ funnel: 'signup', step: 'signed_up' })).toBe(1);
    expect(await steps({ funnel: 'survey', step: 'answered' })).toBe(0);
    await send(reply('c1', T0 + 120, { flowCompleted: { token: 'survey-77' } }));
    expect(await steps({ funnel: 'survey', step: 'answered' })).toBe(1);
    expect(await steps({ funnel: 'signup', step: 'signed_up' })).toBe(1);
  });

  it('matches no prefix for a completion without a token, an unknown token or a token merely containing the prefix', async () => {
    const { send, steps } = setup([signup, survey]);
    await send(sent('c1', 'signup_offer', T0), sent('c1', 'survey_invite', T0 + 1));
    await send(
      reply('c1', T0 + 60, { flowCompleted: {} }),
      reply('c1', T0 + 61, { flowCompleted: { token: 'unused' } }),
      reply('c1', T0 + 62, { flowCompleted: { token: 'x-signup-1' } }),
    );
    expect(await steps({ step: 'signed_up' })).toBe(0);
    expect(await steps({ step: 'answered' })).toBe(0);
  });

  it('accepts a list of prefixes, and true still matches any Flow', async () => {
    const either = funnelSchema.parse({
      name: 'either',
      steps: [{ name: 'offered', match: { templateSent: 'signup_offer' } }, { name: 'done', match: { flowCompleted: { tokenPrefix: ['signup-', 'survey-'] } } }],
    });
    const { send, steps } = setup([either, onboarding]);
    await send(sent('c1', 'signup_offer', T0), sent('c2', 'signup_offer', T0), sent('c3', 'welcome_v1', T0));
    await send(reply('c1', T0 + 60, { flowCompleted: { token: 'survey-1' } }), reply('c2', T0 + 60, { flowCompleted: { token: 'other-1' } }));
    await send(reply('c3', T0 + 60, { flowCompleted: { token: 'anything' } }));
    expect(await steps({ funnel: 'either', step: 'done' })).toBe(1);
    expect(await steps({ funnel: 'onboarding', step: 'completed' })).toBe(1);
  });

  it('rejects the name Meta gives every Flow, and a flowCompleted that is neither true, a prefix nor { tokenPrefix }', () => {
    const step = (flowCompleted: unknown) => funnelSchema.safeParse({
      name: 'f', steps: [{ name: 'a', match: { templateSent: 't' } }, { name: 'b', match: { flowCompleted } }],
    });
    expect(step('flow').error?.issues[0]?.message).toMatch(/"flow" is the name Meta gives every Flow completion.*tokenPrefix/);
    expect(step({ name: 'signup' }).error?.issues[0]?.message).toMatch(/flowCompleted is true \(any Flow\), or \{ tokenPrefix/);
    expect(step(false).success).toBe(false);
    expect(step('').success).toBe(false);
    expect(step({ tokenPrefix: [] }).success).toBe(false);
    expect(step({ tokenPrefix: 'x'.repeat(257) }).success).toBe(false);
  });
});

describe('funnel configuration', () => {
  it('lists variants from the mapping, the template names, or none', () => {
    expect(funnelVariants(onboarding)).toEqual(['A', 'B']);
    expect(funnelVariants(support)).toEqual(['none']);
    const byName = funnelSchema.parse({ name: 'f', steps: [{ name: 'a', match: { templateSent: ['t1', 't2'] } }, { name: 'b', match: { buttonPayload: 'x' } }] });
    expect(funnelVariants(byName)).toEqual(['t1', 't2']);
    const single = funnelSchema.parse({ name: 'f', steps: [{ name: 'a', match: { templateSent: 't1' } }, { name: 'b', match: { buttonPayload: 'x' } }] });
    expect(funnelVariants(single)).toEqual(['none']);
  });

  it('rejects mappings of templates the first step does not send, bad patterns and repeated step names', () => {
    const mapped = funnelSchema.safeParse({
      name: 'f', steps: [{ name: 'a', match: { templateSent: 't1' } }, { name: 'b', match: { buttonPayload: 'x' } }],
      variants: { byTemplate: { t2: 'B' } },
    });
    expect(mapped.success).toBe(false);
    expect(mapped.error?.issues[0]?.message).toMatch(/template "t2" is not one of the first step's templateSent names/);
    const noTemplate = funnelSchema.safeParse({
      name: 'f', steps: [{ name: 'a', match: { textPattern: 'hi' } }, { name: 'b', match: { buttonPayload: 'x' } }],
      variants: { byTemplate: { t1: 'A' } },
    });
    expect(noTemplate.error?.issues[0]?.message).toMatch(/make the first step a templateSent step/);
    const badPattern = funnelSchema.safeParse({ name: 'f', steps: [{ name: 'a', match: { textPattern: '(' } }, { name: 'b', match: { buttonPayload: 'x' } }] });
    expect(badPattern.error?.issues[0]?.message).toMatch(/not a valid regular expression/);
    const repeated = funnelSchema.safeParse({ name: 'f', steps: [{ name: 'a', match: { textPattern: 'x' } }, { name: 'a', match: { buttonPayload: 'x' } }] });
    expect(repeated.error?.issues[0]?.message).toMatch(/step name "a" is used twice/);
    expect(humanHandoffSchema.safeParse({ textPattern: '[' }).success).toBe(false);
  });
});
