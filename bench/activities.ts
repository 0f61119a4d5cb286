import type { ActivityContext } from '../src/index.ts';

/**
 * The bench worker's activities (`weft worker bench/activities.ts`): trivial on purpose, so the
 * figures measure weft (NATS round trips, the store, the run actor), not the activities.
 */

const asObject = (v: unknown): Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};

/** Returns its input (an object) with one field added, named after the step. */
export const add_field = (input: unknown, ctx: ActivityContext): Record<string, unknown> => ({
  ...asObject(input),
  [ctx.stepId]: true,
});

/** Returns its input unchanged. */
export const noop = (input: unknown): unknown => input;
