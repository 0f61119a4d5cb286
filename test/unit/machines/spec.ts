import type { Json } from '../../../src/blueprints/json.ts';
import { parseDuration } from '../../../src/blueprints/duration.ts';
import type { DecideOptions } from '../../../src/machines/decide.ts';
import type { RunEvent } from '../../../src/machines/events.ts';
import { react, replay } from '../../../src/machines/run.ts';
import { compile } from './driver.ts';

/** Given events → when an event → then the events the run appends (emmett's DeciderSpecification). */

export const RUN = 'r1';
export const OPTIONS = { now: 1_000_000, parseDuration };

export const started = (input: Json = { n: 1 }): RunEvent => ({
  type: 'RunStarted',
  runId: RUN,
  blueprint: { name: 'bp', version: 1, hash: 'h', content: null },
  input,
});

export const given = (blueprint: unknown, history: readonly RunEvent[]) => {
  const compiled = compile(blueprint);
  const snapshot = replay(compiled, history);
  return {
    compiled,
    snapshot,
    when: async (event: RunEvent, options: DecideOptions = OPTIONS) => {
      const reaction = await react(
        compiled,
        snapshot,
        { id: RUN, blueprint: 'bp', version: 1 },
        event,
        options,
      );
      return { ...reaction, appended: reaction.events.slice(1) };
    },
  };
};

export const act = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  type: 'activity',
  activity: `do_${id}`,
  ...extra,
});

export const scheduled = (
  stepId: string,
  input: Json,
  attempt = 1,
  delayMs = 0,
  execution = 1,
): RunEvent => ({
  type: 'StepScheduled',
  stepId,
  taskId: `${RUN}:${stepId}:${execution}`,
  attempt,
  activity: `do_${stepId}`,
  input,
  delayMs,
  timeoutMs: 30_000,
});

export const completed = (stepId: string, output: Json, attempt = 1): RunEvent => ({
  type: 'StepCompleted',
  stepId,
  taskId: `${RUN}:${stepId}:1`,
  attempt,
  output,
});

export const failed = (stepId: string, attempt: number, retryable = true): RunEvent => ({
  type: 'StepFailed',
  stepId,
  taskId: `${RUN}:${stepId}:1`,
  attempt,
  error: { message: 'boom', code: retryable ? 'activity_error' : 'terminal', retryable },
});
