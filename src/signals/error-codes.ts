/**
 * Meta error codes as metric label values. Only codes the reference names become their own label
 * value (the rest is "other"), so a new or garbled code can never grow the series count.
 * Source: /work/shared/reference/whatsapp-platform.md §4.4 (throttling, integrity) and §4.5
 * (send and delivery errors).
 */
export const KNOWN_ERROR_CODES: ReadonlySet<number> = new Set([
  // §4.4 throttling and integrity
  2, 4, 17, 32, 368, 613, 80007, 130429, 130497, 131000, 131016, 131031, 131048, 131056, 131064, 133004, 133016,
  // §4.5 send and delivery
  130472, 131021, 131026, 131030, 131037, 131042, 131045, 131047, 131049, 131050, 131051, 131052, 131053, 131057,
  131062, 131063, 132000, 132001, 132005, 132007, 132012, 132015, 132016, 137000,
]);

export function errorCodeLabel(code: number): string {
  return KNOWN_ERROR_CODES.has(code) ? String(code) : 'other';
}

/**
 * Failures that say the customer does not want, or cannot get, the message: what a marketer
 * watches to see opt-outs and unreachable audiences, apart from the business's own mistakes.
 */
export const USER_SIDE_REASONS: Readonly<Record<number, string>> = {
  131050: 'marketing_opt_out', // the user stopped marketing messages from this business
  131049: 'marketing_limit', // not delivered "to maintain healthy ecosystem engagement" (per-user marketing limit)
  131026: 'undeliverable', // not on WhatsApp, terms not accepted, old client, business blocked, ...
  131047: 'outside_service_window', // more than 24 h since the user last wrote: only a template may be sent
  130472: 'marketing_experiment', // the user's number is part of a marketing message experiment
  131021: 'recipient_is_sender',
  131030: 'recipient_not_allowed', // a test number's allowed-recipient list
  131051: 'unsupported_message_type',
  137000: 'identity_changed', // the recipient's identity key hash no longer matches
};

export function userSideReason(code: number): string | undefined {
  return USER_SIDE_REASONS[code];
}
