import type { Json } from '../blueprints/json.ts';
import { parseDuration } from '../blueprints/duration.ts';
import { validateBlueprint } from '../blueprints/validate.ts';
import { compileBlueprint, type CompiledRun } from './compile.ts';
import { compileOptionsOf, toRunEvent, type EventOf } from './events.ts';

/** A run's stream as the store gives it, and the machine it is replayed through. Pure. */

export interface StoredEvent {
  readonly revision: number;
  readonly type: string;
  readonly data: Json;
  readonly at: string;
}

/**
 * The run's machine, compiled from the blueprint pinned in its first event under the limits
 * pinned there (the defaults when none are).
 */
export const compiledFor = (
  events: readonly StoredEvent[],
): {
  readonly compiled: CompiledRun;
  readonly runId: string;
  readonly name: string;
  readonly version: number;
  readonly started: EventOf<'RunStarted'>;
} => {
  const first = events[0];
  const started = first === undefined ? undefined : toRunEvent(first);
  if (started?.type !== 'RunStarted') throw new Error('the stream does not begin with RunStarted');
  const validated = validateBlueprint(started.blueprint.content, started.limits, {
    recorded: true,
  });
  if (!validated.ok)
    throw new Error(
      `the pinned blueprint no longer validates: ${validated.diagnostics.map((d) => d.message).join('; ')}`,
    );
  return {
    compiled: compileBlueprint(validated.blueprint, parseDuration, compileOptionsOf(started)),
    runId: started.runId,
    name: started.blueprint.name,
    version: started.blueprint.version,
    started,
  };
};
