import type { ExporterEvent } from '../../events.js';
import type { CustomerLinkStore, LinkRequest } from './types.js';

/**
 * Replaces each event's customer by its root before the events are planned (see types.ts): one call
 * to the link store for the whole batch, in the order the events came, so an id change followed by a
 * message in the same body resolves the message to the customer it joined. Events without a customer
 * cost nothing: a batch of management changes makes no call.
 */
export async function resolveCustomers(batches: ReadonlyArray<{ events: readonly ExporterEvent[] }>, links: CustomerLinkStore): Promise<void> {
  const requests: LinkRequest[] = [];
  const targets: ExporterEvent[] = [];
  for (const { events } of batches) {
    for (const e of events) {
      const request = requestOf(e);
      if (request === undefined) continue;
      requests.push(request);
      targets.push(e);
    }
  }
  if (requests.length === 0) return;
  const roots = await links.resolve(requests);
  for (let i = 0; i < targets.length; i++) {
    const e = targets[i]!;
    // An id change has no customer of its own: its request only links the new forms.
    if (e.kind === 'message_received' || e.kind === 'message_status' || e.kind === 'marketing_preference') e.customer = roots[i]!;
  }
}

function requestOf(e: ExporterEvent): LinkRequest | undefined {
  switch (e.kind) {
    case 'message_received':
    case 'message_status':
    case 'marketing_preference':
      if (e.customer === '') return undefined;
      return e.aliases === undefined || e.aliases.length === 0 ? [e.customer] : [e.customer, ...e.aliases];
    case 'customer_changed': {
      // The previous forms first: the customer's state is kept under their root.
      const keys = [...new Set([...e.previous, ...e.current])];
      return keys.length > 0 ? keys : undefined;
    }
    default:
      return undefined;
  }
}
