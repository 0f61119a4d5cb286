/**
 * `weft`: the runtime and the worker. The typed client is `weft/client`, blueprints (types,
 * builder, offline validation) are `weft/blueprint`; each entry point loads only what it needs.
 */
export * from './worker.ts';
export * from './runtime.ts';
