import { describe, expect, it } from 'vitest';
import { fieldSubscriptionFacts, subscribedAppsFacts, tokenFacts, webhookTargetLevel } from '../../src/poller/account.js';
import { appSubscriptionsSchema, debugTokenSchema, phoneNumberSchema, subscribedAppsSchema, wabaHealthSchema } from '../../src/poller/schemas.js';

/** Meta's example of debug_token for a token from Embedded Signup (solution-providers/manage-accounts). */
const DEBUG_TOKEN = {
  data: {
    app_id: '670843887433847', application: 'JaspersMarket', data_access_expires_at: 1672092840, expires_at: 1665090000,
    granular_scopes: [
      { scope: 'whatsapp_business_management', target_ids: ['102289599326934', '101569239400667'] },
      { scope: 'whatsapp_business_messaging', target_ids: ['102289599326934', '101569239400667'] },
    ],
    is_valid: true, scopes: ['whatsapp_business_management', 'whatsapp_business_messaging', 'public_profile'], type: 'USER', user_id: '10222270944537964',
  },
};

/** The reference's subscribed_apps example (two apps, one with a WABA-level override). */
const SUBSCRIBED_APPS = {
  data: [
    { whatsapp_business_api_data: { id: '670843887433847', link: 'https://www.facebook.com/games/?app_id=670843887433847', name: 'Lucky Shrub' }, override_callback_uri: 'https://alt.example.com/webhook' },
    { whatsapp_business_api_data: { id: '525650000000000', link: 'https://www.facebook.com/games/?app_id=525650000000000', name: 'Monitor App' } },
  ],
};

/** The Graph API's subscriptions-edge example shape: fields as {name, version}. */
const APP_SUBSCRIPTIONS = {
  data: [{
    object: 'whatsapp_business_account', callback_url: 'https://exporter.example.com/webhook', active: true,
    fields: [{ name: 'account_update', version: 'v25.0' }, { name: 'messages', version: 'v25.0' }],
  }],
};

describe('account readings', () => {
  it('counts subscribed apps and finds the own app', () => {
    const apps = subscribedAppsSchema.parse(SUBSCRIBED_APPS);
    expect(subscribedAppsFacts(apps, '525650000000000')).toEqual({ count: 2, ownAppSubscribed: true });
    expect(subscribedAppsFacts(apps, '111')).toEqual({ count: 2, ownAppSubscribed: false });
    expect(subscribedAppsFacts(apps, undefined)).toEqual({ count: 2, ownAppSubscribed: undefined });
    expect(subscribedAppsFacts(subscribedAppsSchema.parse({ data: [] }), '111')).toEqual({ count: 0, ownAppSubscribed: false });
  });

  it('reads the required fields of the whatsapp_business_account subscription; an inactive one subscribes nothing', () => {
    const subs = appSubscriptionsSchema.parse(APP_SUBSCRIPTIONS);
    const facts = fieldSubscriptionFacts(subs, ['account_update', 'account_alerts', 'messages']);
    expect(facts.active).toBe(true);
    expect([...facts.fields]).toEqual([['account_update', true], ['account_alerts', false], ['messages', true]]);
    const inactive = appSubscriptionsSchema.parse({ data: [{ ...APP_SUBSCRIPTIONS.data[0], active: false }] });
    expect([...fieldSubscriptionFacts(inactive, ['account_update']).fields]).toEqual([['account_update', false]]);
    // A subscription for another object (page, user) does not count.
    const page = appSubscriptionsSchema.parse({ data: [{ object: 'page', fields: ['account_update'] }] });
    expect(fieldSubscriptionFacts(page, ['account_update']).fields.get('account_update')).toBe(false);
  });

  it('reads expiry and which WABAs each permission covers from debug_token', () => {
    const d = debugTokenSchema.parse(DEBUG_TOKEN).data;
    const facts = tokenFacts(d, ['102289599326934', '999']);
    expect(facts.expiresAt).toBe(1665090000);
    expect(facts.wabaScopes.get('102289599326934')?.get('whatsapp_business_management')).toBe(true);
    expect(facts.wabaScopes.get('999')?.get('whatsapp_business_management')).toBe(false);
    // expires_at 0: never.
    expect(tokenFacts({ ...d, expires_at: 0 }, []).expiresAt).toBeUndefined();
    // A permission granted without target_ids applies to every WABA; one not granted covers none.
    const unrestricted = tokenFacts({ ...d, scopes: ['whatsapp_business_management'], granular_scopes: [{ scope: 'whatsapp_business_management' }] }, ['999']);
    expect(unrestricted.wabaScopes.get('999')?.get('whatsapp_business_management')).toBe(true);
    expect(unrestricted.wabaScopes.get('999')?.get('whatsapp_business_messaging')).toBe(false);
    // An invalid token covers nothing.
    const invalid = tokenFacts(debugTokenSchema.parse({ data: { is_valid: false, scopes: [], error: { code: 190, message: 'x' } } }).data, ['102289599326934']);
    expect(invalid.valid).toBe(false);
    expect(invalid.wabaScopes.get('102289599326934')?.get('whatsapp_business_management')).toBe(false);
  });

  it('names the webhook target by Meta\'s precedence: phone number, then WABA override, then the app', () => {
    expect(webhookTargetLevel({ application: 'https://a' })).toBe('application');
    expect(webhookTargetLevel({ whatsapp_business_account: 'https://w', application: 'https://a' })).toBe('whatsapp_business_account');
    expect(webhookTargetLevel({ phone_number: 'https://p', whatsapp_business_account: 'https://w', application: 'https://a' })).toBe('phone_number');
    // An override deleted by setting it to "" falls back.
    expect(webhookTargetLevel({ phone_number: '', application: 'https://a' })).toBe('application');
    expect(webhookTargetLevel(undefined)).toBeUndefined();
  });

  it('parses the reference\'s phone-number and WABA examples with the new fields', () => {
    const n = phoneNumberSchema.parse({
      id: '106540352242922', verified_name: 'Lucky Shrub', display_phone_number: '15550783881', quality_rating: 'GREEN',
      code_verification_status: 'VERIFIED', platform_type: 'CLOUD_API', throughput: { level: 'STANDARD' }, is_on_biz_app: true,
      webhook_configuration: { application: 'https://example.com/webhooks' }, whatsapp_business_manager_messaging_limit: 'TIER_2K',
    });
    expect(n).toMatchObject({ code_verification_status: 'VERIFIED', platform_type: 'CLOUD_API', is_on_biz_app: true });
    const w = wabaHealthSchema.parse({
      id: '102290129340398', health_status: { can_send_message: 'AVAILABLE', entities: [] }, account_review_status: 'APPROVED',
      business_verification_status: 'verified', owner_business_info: { id: '506914307656634', name: 'Lucky Shrub' },
      whatsapp_business_manager_messaging_limit: -1,
    });
    expect(w.owner_business_info?.id).toBe('506914307656634');
    // Integers (the unlimited -1 included) are kept as strings, like the tier names.
    expect(w.whatsapp_business_manager_messaging_limit).toBe('-1');
  });
});
