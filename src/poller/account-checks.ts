import type { Config } from '../config/index.js';
import { TOKEN_SCOPES } from '../domain/index.js';
import type { Logger } from '../log.js';
import type { ExporterMetrics } from '../metrics/registry.js';
import { appAccessToken, fieldSubscriptionFacts, subscribedAppsFacts, tokenFacts } from './account.js';
import type { GraphClient } from './client.js';
import { appSubscriptionsSchema, debugTokenSchema, subscribedAppsSchema, type GraphAppSubscriptions } from './schemas.js';

export interface AccountCheckWaba {
  id: string;
  token: string | undefined;
  /** Takes one call from the WABA's hourly budget; false when it is spent (the check is skipped). */
  spend(): boolean;
}

/** Gauges this module owns: reset when the replica stops polling, as the round's are. */
export const ACCOUNT_GAUGES = [
  'wabaSubscribedApps', 'wabaOwnAppSubscribed', 'appWebhookFieldSubscribed', 'graphApiTokenExpiry', 'graphApiTokenWabaScope',
] as const;

/**
 * What keeps webhooks and polling working, read far less often than numbers and templates: the
 * apps subscribed to each WABA (none = no webhooks at all), the fields the exporter's app is
 * subscribed to, and each token's expiry and the WABAs its permissions cover.
 * subscribed_apps is a WABA endpoint and is paid from the WABA's budget; debug_token and the app's
 * subscriptions are not WABA endpoints and are called once per token and once per app.
 */
export class AccountChecks {
  private readonly log: Logger;
  /** Index into webhook.appSecrets of the secret that belongs to graph.appId, once found. */
  private appSecretIndex: number | undefined;
  /** Problems already logged, so each is logged once per change rather than every check. */
  private readonly logged = new Map<string, string>();

  constructor(
    private readonly client: GraphClient,
    private readonly config: Config,
    private readonly metrics: ExporterMetrics,
    logger: Logger,
    private readonly signal: AbortSignal,
  ) {
    this.log = logger.child({ component: 'account-checks' });
  }

  async run(wabas: readonly AccountCheckWaba[]): Promise<void> {
    for (const w of wabas) await this.subscribedApps(w);
    await this.tokens(wabas);
    await this.appSubscriptions();
  }

  private async subscribedApps(w: AccountCheckWaba): Promise<void> {
    if (!w.token || !w.spend()) return;
    const r = await this.client.get('subscribed_apps', this.client.url(`${w.id}/subscribed_apps`), w.token, subscribedAppsSchema, { wabaId: w.id }, this.signal);
    if (r.outcome !== 'success') return;
    const facts = subscribedAppsFacts(r.data, this.config.graph.appId);
    this.metrics.gauge('wabaSubscribedApps').set({ waba_id: w.id }, facts.count);
    if (facts.ownAppSubscribed !== undefined) this.metrics.gauge('wabaOwnAppSubscribed').set({ waba_id: w.id }, facts.ownAppSubscribed ? 1 : 0);
    this.once(`apps:${w.id}`, facts.count === 0, () => this.log.error({ waba_id: w.id }, 'no app is subscribed to this WABA: Meta sends its webhooks to no one (POST /{WABA_ID}/subscribed_apps with a token of the app)'));
    this.once(`own:${w.id}`, facts.ownAppSubscribed === false, () => this.log.warn({ waba_id: w.id, app_id: this.config.graph.appId }, 'the exporter\'s app (graph.appId) is not subscribed to this WABA: its webhooks do not reach the exporter'));
  }

  private async tokens(wabas: readonly AccountCheckWaba[]): Promise<void> {
    const byToken = new Map<string, string[]>();
    for (const w of wabas) if (w.token) byToken.set(w.token, [...(byToken.get(w.token) ?? []), w.id]);
    for (const [token, ids] of byToken) {
      // Meta's own recipe: the token inspects itself (Bearer and input_token are the same token).
      const r = await this.client.get('debug_token', this.client.url('debug_token', { input_token: token }), token, debugTokenSchema, {}, this.signal);
      if (r.outcome !== 'success') continue;
      const facts = tokenFacts(r.data.data, ids);
      for (const id of ids) {
        if (facts.expiresAt !== undefined) this.metrics.gauge('graphApiTokenExpiry').set({ waba_id: id }, facts.expiresAt);
        else this.metrics.gauge('graphApiTokenExpiry').remove({ waba_id: id });
        for (const scope of TOKEN_SCOPES) {
          const covered = facts.wabaScopes.get(id)?.get(scope) === true;
          this.metrics.gauge('graphApiTokenWabaScope').set({ waba_id: id, scope }, covered ? 1 : 0);
        }
        const management = facts.wabaScopes.get(id)?.get('whatsapp_business_management') === true;
        this.once(`scope:${id}`, !management, () => this.log.error({ waba_id: id }, 'the access token\'s whatsapp_business_management permission does not cover this WABA: assign the WABA to the system user and generate a new token'));
      }
    }
  }

  private async appSubscriptions(): Promise<void> {
    const appId = this.config.graph.appId;
    if (appId === undefined) return;
    const subs = await this.readAppSubscriptions(appId);
    if (!subs) return;
    const facts = fieldSubscriptionFacts(subs, this.config.graph.requiredWebhookFields);
    const missing: string[] = [];
    for (const [field, subscribed] of facts.fields) {
      this.metrics.gauge('appWebhookFieldSubscribed').set({ field }, subscribed ? 1 : 0);
      if (!subscribed) missing.push(field);
    }
    this.once('fields', missing.length > 0 && missing.join(','), () => this.log.warn({ app_id: appId, missing }, 'the exporter\'s app is not subscribed to webhook fields the monitor needs (App Dashboard > WhatsApp > Configuration)'));
  }

  /** The app token needs the app's secret: the one of webhook.appSecrets that Meta accepts with graph.appId. */
  private async readAppSubscriptions(appId: string): Promise<GraphAppSubscriptions | undefined> {
    const r = await readAppSubscriptions(this.client, appId, this.config.webhook.appSecrets, this.signal, this.appSecretIndex);
    this.appSecretIndex = r.kind === 'ok' ? r.secretIndex : r.kind === 'no_secret' ? undefined : this.appSecretIndex;
    if (r.kind === 'failed') return undefined;
    this.once('app-secret', r.kind === 'no_secret', () => this.log.warn({ app_id: appId }, 'none of the app secrets (WHATSAPP_APP_SECRET) is the secret of graph.appId: the app\'s webhook subscriptions cannot be read'));
    return r.kind === 'ok' ? r.data : undefined;
  }

  /** Runs `log` when the problem starts or changes; forgets it when it ends, so a recurrence is logged again. */
  private once(key: string, problem: boolean | string, log: () => void): void {
    if (problem === false) {
      this.logged.delete(key);
      return;
    }
    const signature = String(problem);
    if (this.logged.get(key) === signature) return;
    this.logged.set(key, signature);
    log();
  }
}

export type AppSubscriptionsRead =
  | { kind: 'ok'; data: GraphAppSubscriptions; secretIndex: number }
  /** Meta rejected the app token made with every configured secret. */
  | { kind: 'no_secret' }
  /** An outage or an unexpected answer: try again later. */
  | { kind: 'failed'; reason: string };

/**
 * GET /{app-id}/subscriptions with the app token `{app-id}|{secret}`, trying the configured webhook
 * secrets (the one that worked before first): several apps or a rotation may be configured, and
 * only Meta knows which secret is this app's.
 */
export async function readAppSubscriptions(
  client: GraphClient, appId: string, secrets: readonly string[], signal?: AbortSignal, preferIndex?: number,
): Promise<AppSubscriptionsRead> {
  const order = preferIndex !== undefined && preferIndex < secrets.length ? [preferIndex, ...[...secrets.keys()].filter((i) => i !== preferIndex)] : [...secrets.keys()];
  for (const i of order) {
    const r = await client.get('app_subscriptions', client.url(`${appId}/subscriptions`), appAccessToken(appId, secrets[i]!), appSubscriptionsSchema, {}, signal);
    if (r.outcome === 'success') return { kind: 'ok', data: r.data, secretIndex: i };
    // Only a rejected token means "try the next secret"; anything else is an outage to retry later.
    if (r.outcome !== 'token_error' && r.outcome !== 'client_error') return { kind: 'failed', reason: r.failure.reason };
  }
  return { kind: 'no_secret' };
}
