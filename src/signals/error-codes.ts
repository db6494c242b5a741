/**
 * Meta error codes as metric label values. Every code of Meta's published Cloud API error-code table
 * (developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes: authorization,
 * throttling, integrity, registration, template, Flow and general errors; code 0 is AuthException)
 * keeps its own label value; anything else is "other", so a new or garbled code can never grow the
 * series count. Also /work/shared/reference/whatsapp-platform.md §4.4 and §4.5.
 */
export const KNOWN_ERROR_CODES: ReadonlySet<number> = new Set([
  // Authorization: AuthException, API method, permission denied, access token expired; 200–299 API permission
  0, 3, 10, 190, ...Array.from({ length: 100 }, (_, i) => 200 + i),
  // Throttling and integrity (§4.4)
  2, 4, 17, 32, 368, 613, 80007, 130429, 130497, 131000, 131016, 131031, 131048, 131056, 131064, 133004, 133016,
  // General: API unknown, parameter value not valid, invalid parameter, access denied, required parameter missing,
  // parameter value not valid
  1, 33, 100, 131005, 131008, 131009,
  // Send and delivery (§4.5)
  130472, 131021, 131026, 131030, 131037, 131042, 131045, 131047, 131049, 131050, 131051, 131052, 131053, 131057,
  131062, 131063, 132000, 132001, 132005, 132007, 132012, 132015, 132016, 137000,
  // Flows blocked or throttled; registration and two-step verification; generic user error
  132068, 132069, 133000, 133005, 133006, 133008, 133009, 133010, 133015, 135000,
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
