export * from './vocabulary.js';
export * from './ids.js';
export * from './messaging-limits.js';
export * from './enforcement.js';
export * from './template-statuses.js';
