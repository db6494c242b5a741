export {
  startGraphApiSimulator, topLevelFields,
  type GraphApiSimulator, type GraphApiSimulatorOptions, type GraphFault, type RecordedRequest, type SimEndpoint, type UsageOverride,
} from './graph-api.js';
export {
  analyticsOf, DEMO_CREDIT_LINE_WABA_ID, DEMO_NO_INSIGHTS_WABA_ID, fieldFilters, growAnalytics, startDemoAnalytics, pricingAnalyticsValue, reviseAnalytics, seedAnalytics, templateAnalyticsBody,
  type SimAnalytics, type SimPricingPoint, type SimTemplatePoint,
} from './analytics.js';
export { DEMO_WABA_ID, demoState, GraphApiState, seededRandom, type SimBusiness, type SimPhoneNumber, type SimTemplate, type SimWaba } from './state.js';
export {
  accountAlert, accountReviewUpdate, accountUpdate, buildChange, businessCapabilityUpdate, digits, flowsEvent, userPreferences, envelope, inboundMessages, phoneNumberNameUpdate, qualityUpdate, sendWebhook,
  signatureOf, statuses, flowCompletion, systemErrors, templateQualityUpdate, templateStatusUpdate, userChangedNumber, userIdUpdate, SimulatorPayloadError,
  type BuiltChange, type SimCustomer, type WebhookResponse,
} from './webhooks.js';
export {
  FAILURE_CODES, parseScenarioNames, runScenarios, SCENARIO_DESCRIPTIONS, SCENARIO_NAMES, ScenarioContext,
  type ScenarioName, type ScenarioOptions, type ScenarioStats,
} from './scenarios.js';
export { addProviderWaba, PROVIDER_DEFAULTS, ProviderChanges, providerState, type Provider, type ProviderChange, type ProviderOptions } from './provider.js';
