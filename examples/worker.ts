// `weft worker examples/worker.ts` serves the activities of every example under examples/<name>/.
// Names are prefixed by example so they never clash (TypeScript reports a clash between these
// `export *` lines as an error), and none of them is the demo worker's.
export * from './config_pipeline/activities.ts';
export * from './media_processing/activities.ts';
export * from './runtime_built/activities.ts';
export * from './conditional_graph/activities.ts';
export * from './ai_data_pipeline/activities.ts';
export * from './etl/activities.ts';
export * from './multi_agent/activities.ts';
export * from './approval/activities.ts';
export * from './dynamic_handlers/activities.ts';
