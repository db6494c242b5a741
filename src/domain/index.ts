export * from './vocabulary.js';
export * from './ids.js';
