import { TOKEN_SCOPES, WEBHOOK_TARGET_LEVELS } from '../domain/index.js';
import type { GraphAppSubscriptions, GraphDebugToken, GraphPhoneNumber, GraphSubscribedApps } from './schemas.js';

/**
 * Pure readings of the account-level Graph API answers (subscribed apps, app subscriptions, token
 * debug): what the poller exports and `doctor` checks, computed the same way for both.
 */

export interface SubscribedAppsFacts {
  /** Apps receiving the WABA's webhooks; 0 means no webhook reaches anyone. */
  count: number;
  /** Whether the configured own app is among them; undefined without graph.appId. */
  ownAppSubscribed: boolean | undefined;
}

export function subscribedAppsFacts(apps: GraphSubscribedApps, ownAppId: string | undefined): SubscribedAppsFacts {
  const ids = apps.data.map((a) => a.whatsapp_business_api_data.id);
  return { count: ids.length, ownAppSubscribed: ownAppId === undefined ? undefined : ids.includes(ownAppId) };
}

export const WABA_OBJECT = 'whatsapp_business_account';

export interface FieldSubscriptionFacts {
  /** The app has an active subscription to whatsapp_business_account. */
  active: boolean;
  /** Each required field: subscribed (on an active whatsapp_business_account subscription) or not. */
  fields: Map<string, boolean>;
}

export function fieldSubscriptionFacts(subs: GraphAppSubscriptions, required: readonly string[]): FieldSubscriptionFacts {
  const waba = subs.data.find((s) => s.object === WABA_OBJECT);
  // `active` is absent in some answers; only an explicit false means the subscription is off.
  const active = waba !== undefined && waba.active !== false;
  const names = new Set(active ? waba.fields.map((f) => f.name) : []);
  return { active, fields: new Map(required.map((f) => [f, names.has(f)])) };
}

export interface TokenFacts {
  valid: boolean;
  /** Unix seconds; undefined when the token never expires (expires_at 0 or absent). */
  expiresAt: number | undefined;
  scopes: string[];
  /** For each WABA, whether each of TOKEN_SCOPES covers it. */
  wabaScopes: Map<string, Map<string, boolean>>;
}

/**
 * granular_scopes lists, per permission, the WABAs it was granted for. A permission without
 * target_ids, or one in `scopes` but absent from granular_scopes, applies without restriction.
 */
export function tokenFacts(debug: GraphDebugToken, wabaIds: readonly string[]): TokenFacts {
  const scopes = debug.scopes;
  const wabaScopes = new Map<string, Map<string, boolean>>();
  for (const wabaId of wabaIds) {
    const covered = new Map<string, boolean>();
    for (const scope of TOKEN_SCOPES) {
      const granular = debug.granular_scopes.filter((g) => g.scope === scope);
      const granted = scopes.includes(scope) || granular.length > 0;
      const restricted = granular.length > 0 && granular.every((g) => g.target_ids !== undefined);
      covered.set(scope, debug.is_valid && granted && (!restricted || granular.some((g) => g.target_ids!.includes(wabaId))));
    }
    wabaScopes.set(wabaId, covered);
  }
  const expiresAt = debug.expires_at !== undefined && debug.expires_at > 0 ? debug.expires_at : undefined;
  return { valid: debug.is_valid, expiresAt, scopes, wabaScopes };
}

/** The level whose callback URL receives the number's messages webhooks, by Meta's precedence. */
export function webhookTargetLevel(config: GraphPhoneNumber['webhook_configuration']): string | undefined {
  if (!config) return undefined;
  return WEBHOOK_TARGET_LEVELS.find((level) => typeof config[level] === 'string' && config[level] !== '');
}

/** The app access token (`{app-id}|{app-secret}`), sent in the Authorization header like any token. */
export function appAccessToken(appId: string, appSecret: string): string {
  return `${appId}|${appSecret}`;
}
