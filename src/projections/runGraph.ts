import { errorRoutes, isJump } from '../blueprints/onError.ts';
import type { RunContext } from '../machines/compile.ts';
import { openTasks } from '../machines/compile.ts';
import type { Plan } from '../machines/plan.ts';

/**
 * What a picture of a run needs, pure: the blueprint as a graph (each step a node inside the step
 * holding it, edges for `dependsOn` and error routes) and each step's state in a run's context, for
 * colouring. The web UI lays it out; nothing here knows about pixels.
 */

export interface GraphNode {
  readonly id: string;
  readonly type: string;
  /** The step holding this one (a branch, a loop body, a map's item, a compensation); none at the top. */
  readonly parent?: string;
  /** The list it is in: `$` (the top), `$finally`, or `<parent>.<list>` (`b0`, `then`, `body`, …). */
  readonly list: string;
  /** The activity it runs, when that is a literal name. */
  readonly activity?: string;
}

export interface GraphEdge {
  readonly from: string;
  readonly to: string;
  /** `after`: `to` waits for `from` (dependsOn, or the order of its list); `onError`: a jump. */
  readonly kind: 'after' | 'onError';
  /** For an `onError` edge by code: the code (`default` for the rest). */
  readonly code?: string;
}

export interface BlueprintGraph {
  readonly nodes: readonly GraphNode[];
  readonly edges: readonly GraphEdge[];
}

/** The blueprint's steps and their edges, from its plan (every step, nested ones included). */
export const blueprintGraph = (plan: Plan): BlueprintGraph => {
  const listOf = new Map<string, string>();
  for (const [key, ids] of plan.lists) for (const id of ids) listOf.set(id, key);
  const nodes: GraphNode[] = [];
  const edges: GraphEdge[] = [];
  for (const [id, info] of plan.steps) {
    const { step } = info;
    const activity =
      step.type === 'activity' && !step.activity.startsWith('{%') ? step.activity : undefined;
    nodes.push({
      id,
      type: step.type,
      ...(info.holder === undefined ? {} : { parent: info.holder }),
      list: listOf.get(id) ?? (info.mapOf === undefined ? '$' : `${info.mapOf}.item`),
      ...(activity === undefined ? {} : { activity }),
    });
    for (const dep of info.deps) edges.push({ from: dep, to: id, kind: 'after' });
    const routes = errorRoutes(step.onError);
    for (const [code, route] of routes.byCode)
      if (isJump(route)) edges.push({ from: id, to: route, kind: 'onError', code });
    if (isJump(routes.fallback))
      edges.push({
        from: id,
        to: routes.fallback,
        kind: 'onError',
        ...(routes.byCode.size > 0 ? { code: 'default' } : {}),
      });
  }
  return { nodes, edges };
};

export type StepState =
  'pending' | 'scheduled' | 'running' | 'retrying' | 'completed' | 'failed' | 'skipped';

/** The attempts a worker has taken, from a run's `StepStarted` events. */
export const startedTasks = (
  events: readonly { readonly type: string; readonly data: unknown }[],
): ReadonlySet<string> =>
  new Set(
    events.flatMap((e) =>
      e.type === 'StepStarted' ? [(e.data as { readonly taskId: string }).taskId] : [],
    ),
  );

/**
 * Each step's state in a run's context: `scheduled` while its attempt waits for a worker (known
 * only for a step with a `scheduleTimeout`, whose start is recorded: `started` holds the attempts
 * taken); `running` while an attempt, child run, timer or its inside is in flight (`retrying` from
 * a second attempt on), `completed`, `failed` (its error recorded: routed by `onError`, or the
 * run's failure), `skipped` (did not run), else `pending`.
 */
export const stepStates = (
  plan: Plan,
  context: RunContext,
  started: ReadonlySet<string> = new Set(),
): Readonly<Record<string, StepState>> => {
  const attempts = new Map<string, number>();
  const waiting = new Set<string>();
  for (const task of openTasks(context)) {
    attempts.set(task.stepId, Math.max(attempts.get(task.stepId) ?? 0, task.attempt));
    if (task.scheduleTimeoutMs !== undefined && !started.has(task.taskId)) waiting.add(task.stepId);
  }
  const busy = new Set([
    ...Object.values(context.timers).map((t) => t.stepId),
    ...Object.values(context.children).map((c) => c.stepId),
  ]);
  const states: Record<string, StepState> = {};
  for (const id of plan.steps.keys()) {
    const attempt = attempts.get(id);
    const failed = context.routing.lastError[id] !== undefined || context.failure?.stepId === id;
    // A step done that never started (`if` false, a dependency failed) was skipped.
    const skipped = context.routing.abandoned[id] === true || context.executions[id] === undefined;
    states[id] =
      attempt !== undefined
        ? waiting.has(id)
          ? 'scheduled'
          : attempt > 1
            ? 'retrying'
            : 'running'
        : failed
          ? 'failed'
          : context.done[id] === true
            ? skipped
              ? 'skipped'
              : 'completed'
            : busy.has(id) || context.entered[id] !== undefined
              ? 'running'
              : 'pending';
  }
  // A map's or graph's item step is as its map is.
  for (const [id, info] of plan.steps)
    if (info.mapOf !== undefined) states[id] = states[info.mapOf] ?? 'pending';
  return states;
};
