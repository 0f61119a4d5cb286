import { assign } from 'xstate';
import { errorRoutes } from '../blueprints/onError.ts';
import { CONTAINER_TYPES } from '../blueprints/settings.ts';
import { omit } from './context.ts';
import type { Plan, PlannedStep, StepPlan } from './plan.ts';
import {
  command,
  forStep,
  recordTimer,
  timerOf,
  type Args,
  type Config,
  type StepCompiler,
} from './transitions.ts';

/**
 * Containers own their inside (language 2): where a failure inside a container goes, what
 * leaving a container early drops, and a container's `timeout`. Pure.
 */

/** Steps that hold other steps (or a child run) and, with scopes, own what runs inside them. */
export const CONTAINERS: ReadonlySet<string> = new Set(CONTAINER_TYPES);

/** Where a failure routed to `fail` goes instead of failing the run, and where its error is kept. */
export interface Catcher {
  /** `#caught_<container>`, or `#bfail_<parallel>_b<i>` for a branch of a race or quorum. */
  readonly target: string;
  /** The key of `routing.lastError` that keeps the error: the container's id, or the branch's. */
  readonly key: string;
}

export class Scopes {
  readonly #plan: Plan;
  /** Step id → its catcher, for the steps a container catches (none without scopes). */
  readonly #catchers = new Map<string, Catcher>();

  constructor(plan: Plan, enabled: boolean) {
    this.#plan = plan;
    if (!enabled) return;
    for (const [id, info] of plan.steps) {
      // A map's item step is settled by the map itself (mapStep.ts), not by a catcher.
      if (info.mapOf !== undefined) continue;
      const catcher = this.#find(id);
      if (catcher !== undefined) this.#catchers.set(id, catcher);
    }
  }

  /** Where the failure of `id` goes when its own route is `fail`; undefined: it fails the run. */
  catcherOf(id: string): Catcher | undefined {
    return this.#catchers.get(id);
  }

  /** True when some step inside `id` fails onto it. */
  isCatcher(id: string): boolean {
    for (const catcher of this.#catchers.values()) if (catcher.key === id) return true;
    return false;
  }

  /** The index of the branch of `parallel` holding `stepId`, when `parallel` is a race or quorum. */
  quorumBranch(parallel: string, stepId: string): number | undefined {
    const { step } = this.#info(parallel);
    if (step.type !== 'parallel' || (step.completion ?? 'all') === 'all') return undefined;
    const index = step.branches.findIndex((_, i) =>
      (this.#plan.lists.get(`${parallel}.b${i}`) ?? []).includes(stepId),
    );
    return index === -1 ? undefined : index;
  }

  #info(id: string): StepPlan {
    const info = this.#plan.steps.get(id);
    if (info === undefined) throw new Error(`defect: no step '${id}' in the plan`);
    return info;
  }

  /** Whether `stepId` is in the `compensate` list of `holder` (that list's edge). */
  #compensates(holder: string, stepId: string): boolean {
    return (this.#plan.lists.get(`${holder}.compensate`) ?? []).includes(stepId);
  }

  /** The nearest catcher of `id`'s failure going outward, not past a compensation list's edge. */
  #find(id: string): Catcher | undefined {
    const catches = (holder: string): boolean => {
      const { step } = this.#info(holder);
      if (!CONTAINERS.has(step.type) || ['map', 'graph', 'child'].includes(step.type)) return false;
      if ((step.maxAttempts ?? 1) > 1) return true;
      const routes = errorRoutes(step.onError);
      return [...routes.byCode.values(), routes.fallback].some((route) => route !== 'fail');
    };
    for (let inner = id, holder = this.#info(id).holder; holder !== undefined;) {
      if (this.#compensates(holder, inner)) return undefined;
      const branch = this.quorumBranch(holder, inner);
      if (branch !== undefined)
        return { target: `#bfail_${holder}_b${branch}`, key: `${holder}.b${branch}` };
      if (catches(holder)) return { target: `#caught_${holder}`, key: holder };
      inner = holder;
      holder = this.#info(holder).holder;
    }
    return undefined;
  }
}

/**
 * Forgets the attempts, timers, child runs, map items and entries of these steps: what runs
 * inside a container left early (failed, timed out, caught, a race won). The runtime aborts and
 * cancels what it sees gone (`perform.ts`); a wait forgotten is no longer waiting.
 */
export const drop = (ids: readonly string[]) => {
  const inside = new Set(ids);
  return assign(({ context }: Args) => {
    const outside = <V extends { readonly stepId: string }>(record: Readonly<Record<string, V>>) =>
      Object.values(record).some((v) => inside.has(v.stepId))
        ? Object.fromEntries(Object.entries(record).filter(([, v]) => !inside.has(v.stepId)))
        : record;
    return {
      tasks: omit(context.tasks, ...inside),
      maps: omit(context.maps, ...inside),
      entered: omit(context.entered, ...inside),
      timers: outside(context.timers),
      children: outside(context.children),
    };
  });
};

/** `drop` of everything nested inside the container `id`. */
export const dropInside = (compiler: StepCompiler, id: string) =>
  drop(compiler.info(id).descendants);

/**
 * A container's body with its `timeout` (with scopes): a timer from its entry that, when it
 * fires, fails the container with code `timeout` (its `onError` applies).
 */
export const scoped = (
  compiler: StepCompiler,
  step: PlannedStep,
  body: Config,
  enabled: boolean,
): Config => {
  if (!enabled || step.timeout === undefined || !CONTAINERS.has(step.type)) return body;
  const id = step.id;
  const timeout = step.timeout;
  const entry = body['entry'];
  return {
    ...body,
    entry: [command('startTimer', id), ...(entry === undefined ? [] : [entry].flat())],
    on: {
      ...(body['on'] as Config | undefined),
      TimerScheduled: { guard: forStep(id), actions: recordTimer },
      TimerFired: compiler.failure(
        id,
        (args: Args) => timerOf(args) === id,
        () => ({
          code: 'timeout',
          message: `step '${id}' did not finish within its timeout of ${timeout}`,
          retryable: true,
        }),
      ),
    },
  };
};
