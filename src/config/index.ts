export { businessSchema, configSchema, wabaSchema, type BusinessConfig, type Config, type WabaConfig } from './schema.js';
export { funnelSchema, stepMatcherSchema, type FunnelConfig, type StepMatcher } from './funnels.js';
export { checkConfig, loadConfig, ConfigError, ENV_VARS, secretValues, type LoadOptions } from './load.js';
export { configWarnings, didYouMean } from './explain.js';
