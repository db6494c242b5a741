export { configSchema, wabaSchema, type Config, type WabaConfig } from './schema.js';
export { funnelSchema, stepMatcherSchema, type FunnelConfig, type StepMatcher } from './funnels.js';
export { loadConfig, ConfigError, ENV_VARS, secretValues, type LoadOptions } from './load.js';
