/**
 * Webhook bodies for the benchmarks, shaped like test/fixtures/webhooks/*.json. Every body is a pure
 * function of its index, so a run can pre-generate a file for wrk or build bodies on the fly for the
 * fixed-rate generator, and two indices never give the same body: nothing a benchmark sends is a
 * redelivery, so de-duplication never makes the exporter's work artificially cheap.
 */

export const WABA_ID = '102290129340398';
export const FLEET_NUMBERS = 100;
const TEMPLATE_ID_BASE = 1_689_556_900_000_000;
const PHONE_NUMBER_ID_BASE = 106_540_352_240_000;
/** Meta timestamps a little in the past, so wait expiry (24 h) leaves the benchmark's waits alone. */
const T0 = Math.floor(Date.now() / 1000) - 3600;

export interface Workload {
  name: string;
  description: string;
  /** Notifications from Meta in one body: changes, statuses or messages. */
  eventsPerRequest: number;
  body(index: number): string;
}

export function phoneNumberId(n: number): string {
  return String(PHONE_NUMBER_ID_BASE + (n % FLEET_NUMBERS));
}

export function displayNumber(n: number): string {
  return `1555${String(n % FLEET_NUMBERS).padStart(7, '0')}`;
}

function templateId(t: number): number {
  return TEMPLATE_ID_BASE + t;
}

/** A customer's number; the pool is large so open waits and reply times stay distinct per customer. */
function customer(c: number): string {
  return `1631${String(c % 9_000_000).padStart(7, '0')}`;
}

function wamid(prefix: string, k: number): string {
  return `wamid.${Buffer.from(`${prefix}${k.toString(36).padStart(12, '0')}`).toString('base64')}`;
}

function envelope(changes: unknown[], time?: number): string {
  return JSON.stringify({
    object: 'whatsapp_business_account',
    entry: [{ id: WABA_ID, ...(time !== undefined ? { time } : {}), changes }],
  });
}

const TEMPLATE_EVENTS = ['APPROVED', 'PAUSED', 'FLAGGED', 'APPROVED'] as const;
const QUALITY_SCORES = ['GREEN', 'YELLOW', 'RED'] as const;
const CATEGORIES = ['UTILITY', 'MARKETING'] as const;

/**
 * The t-th template of a fleet of `fleet`, in its `pass`-th state: each pass over the fleet moves
 * every template to a new status, so a change is applied (not stale, not a duplicate).
 */
function templateStatusChange(t: number, pass: number): unknown {
  return {
    field: 'message_template_status_update',
    value: {
      event: TEMPLATE_EVENTS[pass % TEMPLATE_EVENTS.length],
      message_template_id: templateId(t),
      message_template_name: `bench_template_${t}`,
      message_template_language: 'en_US',
      reason: 'NONE',
      message_template_category: CATEGORIES[t % CATEGORIES.length],
    },
  };
}

function templateQualityChange(t: number, pass: number): unknown {
  return {
    field: 'message_template_quality_update',
    value: {
      previous_quality_score: QUALITY_SCORES[(pass + 2) % QUALITY_SCORES.length],
      new_quality_score: QUALITY_SCORES[pass % QUALITY_SCORES.length],
      message_template_id: templateId(t),
      message_template_name: `bench_template_${t}`,
      message_template_language: 'en_US',
    },
  };
}

function templateCategoryChange(t: number, pass: number): unknown {
  return {
    field: 'template_category_update',
    value: {
      message_template_id: templateId(t),
      message_template_name: `bench_template_${t}`,
      message_template_language: 'en_US',
      previous_category: CATEGORIES[(pass + 1) % CATEGORIES.length],
      new_category: CATEGORIES[pass % CATEGORIES.length],
    },
  };
}

const TIERS = ['TIER_2K', 'TIER_10K', 'TIER_100K'] as const;

function numberQualityChange(n: number, pass: number): unknown {
  return {
    field: 'phone_number_quality_update',
    value: {
      display_phone_number: displayNumber(n),
      event: pass % 2 === 0 ? 'UPGRADE' : 'DOWNGRADE',
      old_limit: TIERS[(pass + 1) % TIERS.length],
      current_limit: TIERS[pass % TIERS.length],
      max_daily_conversations_per_business: TIERS[pass % TIERS.length],
    },
  };
}

function numberNameChange(n: number): unknown {
  return {
    field: 'phone_number_name_update',
    value: { display_phone_number: displayNumber(n), decision: 'APPROVED', requested_verified_name: `Bench Shop ${n}`, rejection_reason: null },
  };
}

const STATUS_CYCLE = ['sent', 'delivered', 'read'] as const;

/** The s-th outbound status: message ⌊s/3⌋ goes sent, delivered, read, as Meta reports them. */
function status(s: number): unknown {
  const message = Math.floor(s / 3);
  const st = STATUS_CYCLE[s % 3]!;
  return {
    id: wamid('out', message),
    status: st,
    timestamp: String(T0 + message + (s % 3)),
    recipient_id: customer(message),
    ...(st !== 'read' && { pricing: { billable: true, pricing_model: 'PMP', type: 'regular', category: 'utility' } }),
  };
}

function inbound(m: number, from: number): unknown {
  return {
    from: customer(from),
    id: wamid('in', m),
    timestamp: String(T0 + m),
    type: 'text',
    text: { body: 'Hi, is my order on its way?' },
  };
}

function messagesChange(n: number, value: { statuses?: unknown[]; messages?: unknown[]; contacts?: unknown[] }): unknown {
  return {
    field: 'messages',
    value: { messaging_product: 'whatsapp', metadata: { display_phone_number: displayNumber(n), phone_number_id: phoneNumberId(n) }, ...value },
  };
}

/** Templates in the fleet the single-change workload cycles through. */
const INGEST_TEMPLATE_FLEET = 10_000;

export const workloads: Record<string, Workload> = {
  'template-status': {
    name: 'template-status',
    description: '1 message_template_status_update per body (fleet of 10k templates, each update newer than the last)',
    eventsPerRequest: 1,
    body: (i) => envelope([templateStatusChange(i % INGEST_TEMPLATE_FLEET, Math.floor(i / INGEST_TEMPLATE_FLEET))], T0 + i),
  },
  'message-status': {
    name: 'message-status',
    description: '1 messages status per body (sent, delivered, read of distinct messages)',
    eventsPerRequest: 1,
    body: (i) => envelope([messagesChange(i, { statuses: [status(i)] })]),
  },
  'statuses-100': {
    name: 'statuses-100',
    description: '100 statuses in one messages change (issue 4 batch)',
    eventsPerRequest: 100,
    body: (i) => envelope([messagesChange(i, { statuses: Array.from({ length: 100 }, (_, j) => status(i * 100 + j)) })]),
  },
  'changes-100': {
    name: 'changes-100',
    description: '100 management changes in one entry (template status/quality/category, number quality)',
    eventsPerRequest: 100,
    body: (i) => envelope(Array.from({ length: 100 }, (_, j) => {
      const c = i * 100 + j;
      const t = c % INGEST_TEMPLATE_FLEET;
      const pass = Math.floor(c / INGEST_TEMPLATE_FLEET);
      switch (j % 4) {
        case 0: return templateStatusChange(t, pass);
        case 1: return templateQualityChange(t, pass);
        case 2: return templateCategoryChange(t, pass);
        default: return numberQualityChange(j, i);
      }
    }), T0 + i),
  },
  'inbound-100': {
    name: 'inbound-100',
    description: '100 inbound customer messages in one messages change, distinct customers (each opens a wait)',
    eventsPerRequest: 100,
    body: (i) => envelope([messagesChange(i, {
      contacts: [],
      messages: Array.from({ length: 100 }, (_, j) => inbound(i * 100 + j, i * 100 + j)),
    })]),
  },
};

/**
 * Soak traffic: conversations of 5 steps — a customer writes (a wait opens), the business replies
 * (sent closes it), delivered, read — and one management change. Customers recur every 50k
 * conversations, so waits reopen as in real traffic while nothing is ever sent twice.
 */
export function mixedBody(s: number): string {
  const conversation = Math.floor(s / 5);
  const n = conversation % FLEET_NUMBERS;
  const from = conversation % 50_000;
  switch (s % 5) {
    case 0: return envelope([messagesChange(n, { messages: [inbound(conversation, from)] })]);
    case 1:
    case 2:
    case 3: {
      const st = STATUS_CYCLE[(s % 5) - 1]!;
      return envelope([messagesChange(n, {
        statuses: [{
          id: wamid('reply', conversation), status: st, timestamp: String(T0 + conversation + (s % 5)), recipient_id: customer(from),
          ...(st !== 'read' && { pricing: { billable: true, pricing_model: 'PMP', type: 'regular', category: 'service' } }),
        }],
      })]);
    }
    default: {
      const t = conversation % 2000;
      const pass = Math.floor(conversation / 2000);
      return envelope([conversation % 2 === 0 ? templateStatusChange(t, pass) : templateQualityChange(t, pass)], T0 + conversation);
    }
  }
}

/**
 * Bodies that fill a store with a fleet: `numbers` phone numbers (id, display number, limit, name)
 * and `templates` templates (status and quality), 100 changes per body.
 */
export function fleetBodies(numbers: number, templates: number): string[] {
  const bodies: string[] = [];
  for (let n = 0; n < numbers; n++) {
    // The messages change links the id to the display number; the management ones add attributes.
    bodies.push(envelope([messagesChange(n, { statuses: [status(3 * (1_000_000 + n))] })]));
  }
  const management: unknown[] = [];
  for (let n = 0; n < numbers; n++) management.push(numberQualityChange(n, 0), numberNameChange(n));
  for (let t = 0; t < templates; t++) management.push(templateStatusChange(t, 0), templateQualityChange(t, 0));
  for (let i = 0; i < management.length; i += 100) bodies.push(envelope(management.slice(i, i + 100), T0 + i));
  return bodies;
}
