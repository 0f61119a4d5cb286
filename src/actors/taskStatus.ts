import { openTasks, type RunContext } from '../machines/compile.ts';
import type { ActiveTask } from '../projections/runQueries.ts';

/**
 * What `get_status` says about each attempt in flight (README "Blueprints", built-in queries):
 * its activity, whether a worker serves it now (`served`, from the announced activities; absent
 * when this runtime keeps no registry), whether a worker took it (`started`, as far as this
 * runtime knows), and how long since it was dispatched (`waitedMs`). Pure.
 */
export const activeTasks = (
  context: RunContext,
  known: {
    readonly served: readonly string[] | undefined;
    readonly isStarted: (task: { taskId: string; attempt: number }) => boolean;
    readonly dispatchedAt: (task: { taskId: string; attempt: number }) => number | undefined;
    readonly now: number;
  },
): readonly ActiveTask[] => {
  const served = known.served === undefined ? undefined : new Set(known.served);
  return openTasks(context).map((task) => ({
    stepId: task.stepId,
    ...(task.item === undefined ? {} : { item: task.item }),
    attempt: task.attempt,
    activity: task.activity,
    ...(served === undefined ? {} : { served: served.has(task.activity) }),
    started: known.isStarted(task),
    waitedMs: Math.max(0, known.now - (known.dispatchedAt(task) ?? known.now)),
  }));
};
