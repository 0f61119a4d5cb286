import { taskKey } from './compile.ts';
import { shortHash } from './plan.ts';

/**
 * The names a run gives what it starts, made from the run's own identity and the step, so that
 * deciding again (a conflict, a replay) makes the same ones: task ids, child run ids, and `$run`.
 * Pure.
 */

const RUN_ID_MAX = 128;

export interface RunIdentity {
  readonly id: string;
  readonly blueprint: string;
  readonly version: number;
  /** When the run was started (ms since the epoch): `RunStarted`'s decision time. */
  readonly startedAt?: number;
}

/** `$run`: the run's id, blueprint, version and start time (ISO; null only for runs recorded without one). */
export const runBinding = (run: RunIdentity) => ({
  id: run.id,
  blueprint: run.blueprint,
  version: run.version,
  startedAt: run.startedAt === undefined ? null : new Date(run.startedAt).toISOString(),
});

/** A task id is stable across retries of one execution: `<runId>:<stepId>[<item>]:<execution>`. */
export const taskIdFor = (
  runId: string,
  stepId: string,
  execution: number,
  item?: number,
): string => `${runId}:${taskKey(stepId, item)}:${execution}`;

const TASK_ID = /^([A-Za-z0-9_-]{1,128}):([a-zA-Z_][a-zA-Z0-9_]*)(?:\[(\d{1,9})\])?:(\d{1,9})$/;

/** The parts `taskIdFor` put together, or undefined when `taskId` is not one it could have made. */
export const taskIdParts = (
  taskId: string,
):
  | {
      readonly runId: string;
      readonly stepId: string;
      readonly item?: number;
      readonly execution: number;
    }
  | undefined => {
  const match = TASK_ID.exec(taskId);
  if (match === null) return undefined;
  const [, runId = '', stepId = '', item, execution = ''] = match;
  return {
    runId,
    stepId,
    ...(item === undefined ? {} : { item: Number(item) }),
    execution: Number(execution),
  };
};

/** A deterministic child run id, shortened with a hash when it would pass 128 characters. */
export const childRunIdFor = (
  runId: string,
  stepId: string,
  execution: number,
  item?: number,
): string => {
  const full = `${runId}-${stepId}-${execution}${item === undefined ? '' : `-${item}`}`;
  return full.length <= RUN_ID_MAX ? full : `${full.slice(0, RUN_ID_MAX - 9)}-${shortHash(full)}`;
};
