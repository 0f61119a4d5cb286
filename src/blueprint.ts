/**
 * `weft/blueprint`: blueprints in TypeScript — their types, the typed builder, offline validation
 * (the runtime's own validator, without the check of served activities) and the JSON Schema an
 * LLM is given.
 */
export * from './blueprints/builder.ts';
export type { Blueprint, Step } from './blueprints/schema.ts';
export type { Diagnostic, Severity } from './blueprints/diagnostics.ts';
export type { Json } from './blueprints/json.ts';
export { validateBlueprint } from './blueprints/validate.ts';
export { blueprintJsonSchema } from './blueprints/jsonSchema.ts';
export {
  simulateBlueprint,
  cannedFrom,
  CannedInvalid,
  type Simulation,
  type SimulateResult,
  type SimulateOptions,
} from './machines/simulation.ts';
export type { Canned } from './machines/canned.ts';
