import { assign, type SnapshotFrom } from 'xstate';
import type { Json } from '../blueprints/json.ts';
import type { Blueprint } from '../blueprints/schema.ts';
import {
  emptyContext,
  itemsOf,
  omit,
  type MapState,
  type OpenTask,
  type Routing,
  type RunContext,
  type Unwinding,
} from './context.ts';
import { errorRoutes } from '../blueprints/onError.ts';
import { CONTAINER_TYPES } from '../blueprints/settings.ts';
import type { RunEvent, StepError } from './events.ts';
import { noItemOutputs, noItemTasks } from './itemTasks.ts';
import { activityStates } from './activityStep.ts';
import { branchStates, loopStates } from './branchSteps.ts';
import { mapStep } from './mapStep.ts';
import {
  buildPlan,
  compensationOf,
  FINALLY,
  type Plan,
  type PlannedStep,
  type StepPlan,
} from './plan.ts';
import {
  childMatches,
  command,
  errorOf,
  failureFrom,
  firstUnconsumed,
  forStep,
  ifSkipped,
  recordChild,
  recordTimer,
  resetSteps,
  runSetup,
  signalReceived,
  skipCommand,
  timerOf,
  type Args,
  type Config,
  type StepCompiler,
} from './transitions.ts';

export { backoffDelay, DEFAULT_POLICY, resolvePolicy, type StepPolicy } from './plan.ts';
export {
  COMMAND_TYPES,
  itemsOf,
  openTaskById,
  openTasks,
  taskKey,
  type Command,
  type Loops,
  type MapState,
  type OpenChild,
  type OpenTask,
  type ReceivedSignal,
  type Routing,
  type RunContext,
} from './context.ts';
export { UnsupportedStep } from './transitions.ts';

/**
 * Blueprint → XState machine, pure. The run's states mirror the blueprint: every list of steps is
 * a parallel state with one region per step; a region leaves `blocked` once the steps it depends
 * on are done, so sequences and `dependsOn` DAGs are one mechanism. Nested lists (branches, cases,
 * loop bodies) are nested parallel states; a loop body is re-entered per iteration; a map's items
 * are data (an array in the context), since their number is known only at run time.
 *
 * The machine never evaluates an expression and never performs an effect. Its actions are
 * commands that `xstate.transition` returns without running; the decider (`decide.ts`) turns each
 * into the events that record it.
 */

/** Steps that hold other steps (or a child run) and, with scopes, own what runs inside them. */
const CONTAINERS: ReadonlySet<string> = new Set(CONTAINER_TYPES);

export interface CompileOptions {
  /**
   * Containers own their inside (language 2): `onError` on a container catches the failures of
   * the steps inside it, and its `timeout` bounds all of them. Off for runs recorded before
   * (`RunStarted` without `language`), which ran without, so that they replay as they ran.
   */
  readonly scopes: boolean;
}

class Compiler implements StepCompiler {
  readonly plan: Plan;
  readonly blueprint: Blueprint;
  readonly options: CompileOptions;
  /**
   * Step id → where its failure goes when its route is `fail`: the nearest enclosing container
   * whose `onError` catches it (`#caught_<id>`), or the branch of a `{atLeast}` parallel it is in
   * (`#bfail_<id>_b<i>`); `key` is where the error is kept (`routing.lastError`).
   */
  readonly #catchers = new Map<string, { readonly target: string; readonly key: string }>();

  constructor(blueprint: Blueprint, plan: Plan, options: CompileOptions) {
    this.blueprint = blueprint;
    this.plan = plan;
    this.options = options;
    for (const [id, info] of plan.steps) {
      // A map's item step is settled by the map itself (mapStep.ts), not by a catcher.
      if (info.mapOf !== undefined) continue;
      const catcher = options.scopes ? this.#catcherOf(id) : undefined;
      if (catcher !== undefined) this.#catchers.set(id, catcher);
    }
  }

  /** Whether `stepId` is in the `compensate` list of `holder` (that list's edge). */
  #compensates(holder: string, stepId: string): boolean {
    return (this.plan.lists.get(`${holder}.compensate`) ?? []).includes(stepId);
  }

  /** The nearest catcher of `id`'s failure going outward, not past a compensation list's edge. */
  #catcherOf(id: string): { readonly target: string; readonly key: string } | undefined {
    const catches = (holder: string): boolean => {
      const { step } = this.info(holder);
      if (!CONTAINERS.has(step.type) || ['map', 'graph', 'child'].includes(step.type)) return false;
      const routes = errorRoutes(step.onError);
      return [...routes.byCode.values(), routes.fallback].some((route) => route !== 'fail');
    };
    for (let inner = id, holder = this.info(id).holder; holder !== undefined;) {
      if (this.#compensates(holder, inner)) return undefined;
      const branch = this.quorumBranch(holder, inner);
      if (branch !== undefined)
        return { target: `#bfail_${holder}_b${branch}`, key: `${holder}.b${branch}` };
      if (catches(holder)) return { target: `#caught_${holder}`, key: holder };
      inner = holder;
      holder = this.info(holder).holder;
    }
    return undefined;
  }

  /** The index of the branch of `parallel` holding `stepId`, when `parallel` completes on a quorum. */
  quorumBranch(parallel: string, stepId: string): number | undefined {
    const { step } = this.info(parallel);
    if (step.type !== 'parallel' || (step.completion ?? 'all') === 'all') return undefined;
    const index = step.branches.findIndex((_, i) =>
      (this.plan.lists.get(`${parallel}.b${i}`) ?? []).includes(stepId),
    );
    return index === -1 ? undefined : index;
  }

  /** True when some step inside `id` fails onto it. */
  isCatcher(id: string): boolean {
    for (const catcher of this.#catchers.values()) if (catcher.key === id) return true;
    return false;
  }

  /**
   * Forgets what runs inside a container that is left early (failed, timed out, caught): the
   * attempts, timers, child runs and map items of its descendants. The runtime aborts and cancels
   * them when it sees them gone (`perform.ts`).
   */
  dropInside(id: string) {
    return this.drop(this.info(id).descendants);
  }

  /** Forgets the attempts, timers, child runs and map items of these steps (see `dropInside`). */
  drop(ids: readonly string[]) {
    const inside = new Set(ids);
    return assign(({ context }: Args) => {
      const outside = <V extends { readonly stepId: string }>(
        record: Readonly<Record<string, V>>,
      ) =>
        Object.values(record).some((v) => inside.has(v.stepId))
          ? Object.fromEntries(Object.entries(record).filter(([, v]) => !inside.has(v.stepId)))
          : record;
      return {
        tasks: omit(context.tasks, ...inside),
        maps: omit(context.maps, ...inside),
        // A wait left behind is no longer waiting (`checkWaits` looks for entered waits).
        entered: omit(context.entered, ...inside),
        timers: outside(context.timers),
        children: outside(context.children),
      };
    });
  }

  info(id: string): StepPlan {
    const info = this.plan.steps.get(id);
    if (info === undefined) throw new Error(`defect: no step '${id}' in the plan`);
    return info;
  }

  finish(
    id: string,
    output: (args: Args) => Json,
    extra: (args: Args) => Partial<RunContext> = () => ({}),
  ) {
    if (compensationOf(this.info(id).step) === undefined) return this.settle(id, output, extra);
    return this.settle(id, output, (args) => {
      const more = extra(args);
      const routing = more.routing ?? args.context.routing;
      return { ...more, routing: { ...routing, undo: [...routing.undo, id] } };
    });
  }

  /** Marks a step done with `output`, clearing what it held. */
  settle(
    id: string,
    output: (args: Args) => Json,
    extra: (args: Args) => Partial<RunContext> = () => ({}),
  ) {
    return assign((args: Args) => {
      const { context } = args;
      return {
        steps: { ...context.steps, [id]: output(args) },
        done: { ...context.done, [id]: true as const },
        tasks: omit(context.tasks, id),
        ...(context.maps[id] === undefined || context.maps[id].inflight.size === 0
          ? {}
          : {
              maps: {
                ...context.maps,
                [id]: { ...context.maps[id], inflight: noItemTasks<OpenTask>() },
              },
            }),
        timers: Object.fromEntries(
          Object.entries(context.timers).filter(([, timer]) => timer.stepId !== id),
        ),
        children: Object.fromEntries(
          Object.entries(context.children).filter(([, child]) => child.stepId !== id),
        ),
        ...extra(args),
      };
    });
  }

  doneTarget(id: string): string {
    return `#done_${id}`;
  }

  /**
   * Retries spent or the error is terminal: route by `onError` (fail the run, continue, or jump;
   * by the error's code when `onError` is a map). The transitions taken on an event `guard` accepts.
   */
  failure(
    id: string,
    guard: (args: Args) => boolean,
    errorFrom: (args: Args) => StepError = ({ event }) => errorOf(event),
  ): Config[] {
    const routes = errorRoutes(this.info(id).step.onError);
    return [
      ...[...routes.byCode].map(([code, route]) => ({
        guard: (args: Args) => guard(args) && errorFrom(args).code === code,
        ...this.route(id, route, errorFrom),
      })),
      { guard, ...this.route(id, routes.fallback, errorFrom) },
    ];
  }

  /** One `onError` route of a failed step. */
  route(id: string, onError: string, errorFrom: (args: Args) => StepError): Config {
    // A container left early leaves nothing of its inside running.
    const drop =
      this.options.scopes && this.info(id).descendants.length > 0 ? [this.dropInside(id)] : [];
    /** The step done with `{error}` as its output, the routing changed by `routing`. */
    const settled = (
      routing: (args: Args, error: StepError) => Routing = (args) => args.context.routing,
    ): Config => ({
      target: this.doneTarget(id),
      actions: [
        ...drop,
        this.settle(
          id,
          (args) => ({ error: errorFrom(args) }),
          (args) => ({ routing: routing(args, errorFrom(args)) }),
        ),
      ],
    });
    if (onError === 'continue') return settled();
    if (onError !== 'fail') {
      return settled(({ context: { routing } }, error) => ({
        ...routing,
        abandoned: { ...routing.abandoned, [id]: true as const },
        jumped: { ...routing.jumped, [onError]: error },
        lastError: { ...routing.lastError, [id]: error },
      }));
    }
    const catcher = this.#catchers.get(id);
    if (catcher !== undefined) {
      // Fails the container that catches it (its own onError decides, with this error), or the
      // branch of a quorum parallel it is in.
      return {
        target: catcher.target,
        actions: assign((args: Args) => {
          const error = errorFrom(args);
          const { routing } = args.context;
          return {
            routing: {
              ...routing,
              lastError: { ...routing.lastError, [id]: error, [catcher.key]: error },
            },
          };
        }),
      };
    }
    if (this.plan.cleanup.has(id)) {
      // A compensation or finally step that nothing inside its list catches: its failure is
      // recorded for the run's end, and the others go on.
      return settled(({ context: { routing } }, error) => ({
        ...routing,
        unwinding:
          routing.unwinding === null
            ? null
            : {
                ...routing.unwinding,
                errors: [...routing.unwinding.errors, { stepId: id, error }],
              },
      }));
    }
    return {
      target: '#run.failing',
      actions: assign((args: Args) => {
        const error = errorFrom(args);
        const { context } = args;
        return {
          failure: {
            code: 'step_failed',
            message: `step '${id}' failed: ${error.message}`,
            stepId: id,
            details: { error },
          },
          routing: { ...context.routing, lastError: { ...context.routing.lastError, [id]: error } },
        };
      }),
    };
  }

  /** `blocked`: waits for dependencies (or, for an error handler, for a jump or for its sources to pass). */
  blocked(id: string, start: string): Config {
    const info = this.info(id);
    const skip = (reason: 'dependency_failed' | 'handler_unused') => [
      this.settle(
        id,
        () => null,
        ({ context }) =>
          reason === 'dependency_failed'
            ? {
                routing: {
                  ...context.routing,
                  abandoned: { ...context.routing.abandoned, [id]: true as const },
                },
              }
            : {},
      ),
      skipCommand(id, reason),
    ];
    const depsDone = ({ context }: Args) => info.deps.every((d) => context.done[d] === true);
    const depAbandoned = ({ context }: Args) =>
      info.deps.some((d) => context.routing.abandoned[d] === true);
    if (info.handlerFor.length > 0) {
      return {
        always: [
          {
            guard: ({ context }: Args) => context.routing.jumped[id] !== undefined,
            target: start,
          },
          {
            guard: (args: Args) =>
              info.handlerFor.every((s) => args.context.done[s] === true) &&
              (depsDone(args) || depAbandoned(args)),
            target: this.doneTarget(id),
            actions: skip('handler_unused'),
          },
        ],
      };
    }
    return {
      always: [
        {
          guard: (args: Args) => depsDone(args) && depAbandoned(args),
          target: this.doneTarget(id),
          actions: skip('dependency_failed'),
        },
        { guard: depsDone, target: start },
      ],
    };
  }

  /** A list of steps as a parallel state, done when every step is; `then` runs on done. */
  list(key: string, onDone: Config): Config {
    const ids = this.plan.lists.get(key) ?? [];
    if (ids.length === 0) return { always: onDone };
    return {
      type: 'parallel',
      states: Object.fromEntries(ids.map((id) => [id, this.region(id)])),
      onDone,
    };
  }

  lastOutput(key: string): (args: Args) => Json {
    const ids = this.plan.lists.get(key) ?? [];
    const last = ids[ids.length - 1];
    return ({ context }) => (last === undefined ? null : (context.steps[last] ?? null));
  }

  region(id: string): Config {
    const { step } = this.info(id);
    const done = { type: 'final', id: `done_${id}` };
    if (step.type === 'activity') {
      return {
        initial: 'blocked',
        states: { blocked: this.blocked(id, 'scheduling'), ...activityStates(this, id), done },
      };
    }
    return {
      initial: 'blocked',
      states: {
        blocked: this.blocked(id, 'entering'),
        entering: {
          entry: command('enterStep', id),
          on: {
            StepEntered: [
              ...this.entered(step),
              { guard: forStep(id), target: 'body', actions: this.recordEntered(id) },
            ],
            StepSkipped: {
              guard: ifSkipped(id),
              target: this.doneTarget(id),
              actions: this.settle(id, () => null),
            },
            StepFailed: this.failure(id, forStep(id)),
          },
        },
        body: this.scoped(step, this.body(step)),
        ...(this.isCatcher(id)
          ? {
              caught: {
                id: `caught_${id}`,
                always: this.failure(
                  id,
                  () => true,
                  ({ context }) =>
                    context.routing.lastError[id] ?? {
                      code: 'internal',
                      message: `step '${id}' was failed without an error`,
                      retryable: false,
                    },
                ),
              },
            }
          : {}),
        done,
      },
    };
  }

  /**
   * A parallel's body by its `completion`: `all` (every branch, output the array of their
   * outputs); otherwise a branch that fails ends alone (`routing.lastError[<id>.b<i>]`) and —
   * `first` — the first branch to finish wins, with its output, the others stopped, or —
   * `{atLeast: n}` — once every branch has ended the step completes with the array (null for a
   * failed branch) if at least n succeeded. Too few left: it fails with `quorum_not_met`.
   */
  parallel(
    step: PlannedStep & { readonly type: 'parallel' },
    toDone: (output: (args: Args) => Json) => Config,
  ): Config {
    const id = step.id;
    const keys = step.branches.map((_, i) => `${id}.b${i}`);
    const completion = step.completion ?? 'all';
    if (completion === 'all') {
      return {
        type: 'parallel',
        states: Object.fromEntries(
          keys.map((key, i) => [
            `b${i}`,
            {
              initial: 'list',
              states: { list: this.list(key, { target: 'end' }), end: { type: 'final' } },
            },
          ]),
        ),
        onDone: toDone((args) => keys.map((key) => this.lastOutput(key)(args))),
      };
    }
    const needed = completion === 'first' ? 1 : completion.atLeast;
    const failedBranch = ({ context }: Args, key: string) =>
      context.routing.lastError[key] !== undefined;
    const succeeded = (args: Args) => keys.filter((key) => !failedBranch(args, key)).length;
    const won: Config =
      completion === 'first'
        ? {
            target: this.doneTarget(id),
            actions: [this.dropInside(id)],
          }
        : { target: 'end' };
    return {
      type: 'parallel',
      // A pass starts with no branch failed (a loop may run this step again).
      entry: assign(({ context }: Args) => ({
        routing: { ...context.routing, lastError: omit(context.routing.lastError, ...keys) },
      })),
      states: Object.fromEntries(
        keys.map((key, i) => {
          const inside = (this.plan.lists.get(key) ?? []).flatMap((s) => [
            s,
            ...this.info(s).descendants,
          ]);
          const onDone =
            completion === 'first'
              ? {
                  ...won,
                  actions: [
                    ...(won['actions'] as unknown[]),
                    this.finish(id, this.lastOutput(key)),
                  ],
                }
              : won;
          return [
            `b${i}`,
            {
              initial: 'list',
              states: {
                list: this.list(key, onDone),
                end: { type: 'final' },
                failed: { id: `bfail_${id}_b${i}`, type: 'final', entry: this.drop(inside) },
              },
            },
          ];
        }),
      ),
      // Every branch ended: for `first`, all of them failed.
      onDone: [
        ...(completion === 'first'
          ? []
          : [
              {
                guard: (args: Args) => succeeded(args) >= needed,
                ...toDone((args) =>
                  keys.map((key) => (failedBranch(args, key) ? null : this.lastOutput(key)(args))),
                ),
              },
            ]),
        ...this.failure(
          id,
          () => true,
          (args) => ({
            code: 'quorum_not_met',
            message: `${succeeded(args)} of ${keys.length} branches of '${id}' succeeded; ${needed} needed`,
            retryable: false,
            details: {
              errors: keys.map((key) => args.context.routing.lastError[key] ?? null),
            } as unknown as Json,
          }),
        ),
      ],
    };
  }

  /** A container's body with its `timeout` (with scopes): a timer from entry, failing it with `timeout`. */
  scoped(step: PlannedStep, body: Config): Config {
    if (!this.options.scopes || step.timeout === undefined || !CONTAINERS.has(step.type))
      return body;
    const id = step.id;
    const timeout = step.timeout;
    const entry = body['entry'];
    return {
      ...body,
      entry: [command('startTimer', id), ...(entry === undefined ? [] : [entry].flat())],
      on: {
        ...(body['on'] as Config | undefined),
        TimerScheduled: { guard: forStep(id), actions: recordTimer },
        TimerFired: this.failure(
          id,
          (args: Args) => timerOf(args) === id,
          () => ({
            code: 'timeout',
            message: `step '${id}' did not finish within its timeout of ${timeout}`,
            retryable: false,
          }),
        ),
      },
    };
  }

  recordEntered(id: string) {
    return assign(({ context, event }: Args) =>
      event.type === 'StepEntered'
        ? {
            inputs: { ...context.inputs, [id]: event.input },
            entered: { ...context.entered, [id]: event.value },
            executions: { ...context.executions, [id]: (context.executions[id] ?? 0) + 1 },
          }
        : {},
    );
  }

  /** Transitions taken on `StepEntered` before the generic one (e.g. a map over no items). */
  entered(step: PlannedStep): Config[] {
    const id = step.id;
    const enteredValue = (event: RunEvent): Json =>
      event.type === 'StepEntered' ? event.value : null;
    if (step.type === 'fail') {
      // The run fails with the step's error; whatever else is running is stopped by its end.
      return [
        {
          guard: forStep(id),
          target: '#run.failing',
          actions: [
            this.recordEntered(id),
            assign(({ event }: Args) => {
              const value = enteredValue(event) as {
                error?: { code?: string; message?: string };
                output?: Json;
              } | null;
              return {
                failure: {
                  code: value?.error?.code ?? 'failed',
                  message: value?.error?.message ?? `step '${id}' failed the run`,
                  stepId: id,
                },
                ...(value !== null && value.output !== undefined ? { output: value.output } : {}),
              };
            }),
          ],
        },
      ];
    }
    if (step.type === 'succeed') {
      // The run completes now: `endRun` takes the output this step recorded, if it has one.
      return [{ guard: forStep(id), target: '#run.completing', actions: this.recordEntered(id) }];
    }
    if (step.type === 'set') {
      return [
        {
          guard: forStep(id),
          target: this.doneTarget(id),
          actions: [
            ...this.checkWaits(),
            this.recordEntered(id),
            this.finish(
              id,
              ({ event }) => enteredValue(event),
              ({ context, event }) => ({
                data: { ...context.data, ...(enteredValue(event) as Record<string, Json>) },
              }),
            ),
          ],
        },
      ];
    }
    if (step.type === 'wait' && step.when !== undefined) {
      // Its `when` held at once: done with its value.
      return [
        {
          guard: (args: Args) => {
            const value = args.event.type === 'StepEntered' ? args.event.value : null;
            return forStep(id)(args) && isRecord(value) && value['met'] === true;
          },
          target: this.doneTarget(id),
          actions: [
            this.recordEntered(id),
            this.finish(id, ({ event }) => {
              const value = enteredValue(event);
              return isRecord(value) ? (value['value'] ?? null) : null;
            }),
          ],
        },
      ];
    }
    if (step.type === 'map' || step.type === 'graph') {
      return [
        {
          guard: (args: Args) =>
            forStep(id)(args) &&
            args.event.type === 'StepEntered' &&
            itemsOf(args.event.value).length === 0,
          target: this.doneTarget(id),
          actions: [
            this.recordEntered(id),
            this.finish(id, () => (step.type === 'graph' ? {} : [])),
          ],
        },
        {
          guard: forStep(id),
          target: 'body',
          actions: [
            this.recordEntered(id),
            assign(({ context, event }: Args) => {
              if (event.type !== 'StepEntered') return {};
              const items = itemsOf(event.value);
              const state: MapState = {
                items,
                outputs: noItemOutputs,
                next: 0,
                completed: 0,
                failed: 0,
                retry: [],
                inflight: noItemTasks<OpenTask>(),
              };
              return { maps: { ...context.maps, [id]: state } };
            }),
          ],
        },
      ];
    }
    return [];
  }

  /**
   * `checkWaits` after `$signals` or `$data` changed, when some `wait` step waits on a `when`
   * (the decider checks those that wait right now).
   */
  checkWaits(): readonly { readonly type: 'checkWaits' }[] {
    const waitsOnWhen = [...this.plan.steps.values()].some(
      ({ step }) => step.type === 'wait' && step.when !== undefined,
    );
    return waitsOnWhen ? [{ type: 'checkWaits' }] : [];
  }

  /**
   * Unwinding: the compensations owed (`routing.undo`), last completed first, then the `finally`
   * steps; each list starts afresh (a step compensated twice runs its compensation twice). Then
   * the run's end is recorded (`endRun`).
   */
  unwinding(): Config {
    const owing = [...this.plan.steps.values()]
      .filter((info) => compensationOf(info.step) !== undefined)
      .map((info) => info.step.id);
    const next = ({ context }: Args) => context.routing.undo.at(-1);
    const pop = assign(({ context }: Args) => ({
      routing: { ...context.routing, undo: context.routing.undo.slice(0, -1) },
    }));
    const fresh = (key: string) => {
      const ids = (this.plan.lists.get(key) ?? []).flatMap((s) => [s, ...this.info(s).descendants]);
      return assign(({ context }: Args) => resetSteps(context, ids));
    };
    const run = (key: string): Config => ({
      entry: fresh(key),
      ...this.list(key, { target: 'next', actions: pop }),
    });
    return {
      initial: 'next',
      states: {
        next: {
          always: [
            ...owing.map((id) => ({
              guard: (args: Args) => next(args) === id,
              target: `undo_${id}`,
            })),
            ...(this.plan.lists.has(FINALLY)
              ? [{ guard: (args: Args) => next(args) === FINALLY, target: 'finally' }]
              : []),
            { target: '#run.ending' },
          ],
        },
        ...Object.fromEntries(owing.map((id) => [`undo_${id}`, run(`${id}.compensate`)])),
        ...(this.plan.lists.has(FINALLY) ? { finally: run(FINALLY) } : {}),
      },
    };
  }

  body(step: PlannedStep): Config {
    const id = step.id;
    const toDone = (output: (args: Args) => Json) => ({
      target: this.doneTarget(id),
      actions: this.finish(id, output),
    });
    switch (step.type) {
      case 'activity':
        throw new Error('defect: activity has no body');
      case 'parallel':
        return this.parallel(step, toDone);
      case 'condition':
        return branchStates(
          this,
          id,
          [
            ['then', 'then'],
            ['else', 'else'],
          ].filter(([, key]) => key === 'then' || step.else !== undefined) as [string, string][],
        );
      case 'switch':
        return branchStates(this, id, [
          ...Object.keys(step.cases).map((_, i) => [i, `c${i}`] as [number, string]),
          ...(step.default ? [['default', 'default'] as [string, string]] : []),
        ]);
      case 'loop':
        return loopStates(this, id);
      case 'map':
      case 'graph':
        return mapStep(this, id);
      case 'child':
        return {
          initial: 'requesting',
          states: {
            requesting: {
              entry: command('requestChild', id),
              on: {
                ChildRequested: { guard: forStep(id), target: 'awaiting', actions: recordChild },
                StepFailed: this.failure(id, forStep(id)),
              },
            },
            awaiting: {
              on: {
                ChildCompleted: {
                  guard: (args: Args) => forStep(id)(args) && childMatches(args),
                  ...toDone(({ event }) => (event.type === 'ChildCompleted' ? event.output : null)),
                },
                ChildFailed: this.failure(
                  id,
                  (args: Args) => forStep(id)(args) && childMatches(args),
                ),
              },
            },
          },
        };
      case 'wait': {
        const signal = step.signal;
        if (signal === undefined) {
          // `when`: done when the decider finds it holds (at entry, see `entered`, or on a
          // `checkWaits` after a signal or a set step); an error in it fails the step.
          return {
            entry: command('startTimer', id),
            on: {
              TimerScheduled: { guard: forStep(id), actions: recordTimer },
              TimerFired: this.failure(id, (args: Args) => timerOf(args) === id),
              WaitSatisfied: {
                guard: forStep(id),
                target: this.doneTarget(id),
                actions: this.finish(id, ({ event }) =>
                  event.type === 'WaitSatisfied' ? event.value : null,
                ),
              },
              StepFailed: this.failure(id, forStep(id)),
            },
          };
        }
        const waiting = ({ context }: Args) => firstUnconsumed(context, signal);
        return {
          entry: command('startTimer', id),
          on: {
            TimerScheduled: { guard: forStep(id), actions: recordTimer },
            TimerFired: this.failure(id, (args: Args) => timerOf(args) === id),
          },
          always: {
            guard: (args: Args) => waiting(args) !== undefined,
            target: this.doneTarget(id),
            actions: this.finish(
              id,
              (args) => args.context.signals[waiting(args) ?? -1]?.payload ?? null,
              (args) => ({
                consumed: { ...args.context.consumed, [waiting(args) ?? -1]: true as const },
              }),
            ),
          },
        };
      }
      case 'sleep':
        return {
          entry: command('startTimer', id),
          on: {
            TimerScheduled: { guard: forStep(id), actions: recordTimer },
            TimerFired: { guard: (args: Args) => timerOf(args) === id, ...toDone(() => null) },
          },
        };
      case 'fail':
      case 'succeed':
      case 'set':
        // Never entered: `entered` leaves the step on its StepEntered.
        return {};
    }
  }
}

const isRecord = (value: Json): value is Readonly<Record<string, Json>> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/** Whether the run has compensations or finally steps to run and has not begun to run them. */
const mayUnwind = ({ context }: Args): boolean =>
  context.routing.undo.length > 0 && context.routing.unwinding === null;

/**
 * The run begins to unwind: whatever still runs is dropped (the runtime aborts and cancels it on
 * seeing it gone); a completed run runs its `finally` steps only.
 */
const beginUnwinding = (why: Unwinding['cause'] | 'as recorded') =>
  assign(({ context, event }: Args): Partial<RunContext> => {
    const cause = why === 'as recorded' && event.type === 'RunUnwinding' ? event.cause : why;
    if (cause === 'as recorded') throw new Error(`defect: ${event.type} does not unwind a run`);
    return {
      tasks: {},
      maps: {},
      timers: {},
      children: {},
      routing: {
        ...context.routing,
        undo: cause === 'completed' ? [FINALLY] : context.routing.undo,
        unwinding: {
          cause,
          ...(event.type === 'RunUnwinding' && event.reason !== undefined
            ? { reason: event.reason }
            : {}),
          ...(event.type === 'RunUnwinding' && event.timeoutMs !== undefined
            ? { timeoutMs: event.timeoutMs }
            : {}),
          errors: [],
        },
      },
    };
  });

export interface CompiledRun {
  readonly blueprint: Blueprint;
  readonly plan: Plan;
  readonly machine: ReturnType<typeof createRunMachine>;
}

const createRunMachine = (compiler: Compiler) =>
  runSetup.createMachine({
    id: 'run',
    context: emptyContext,
    initial: 'idle',
    states: {
      idle: {
        on: {
          RunStarted: {
            target: 'running',
            actions: assign(({ context, event }) => ({
              runId: event.runId,
              input: event.input,
              // The `finally` steps run at the end, however the run ends.
              ...(compiler.plan.lists.has(FINALLY)
                ? { routing: { ...context.routing, undo: [FINALLY] } }
                : {}),
            })),
          },
        },
      },
      running: {
        ...(compiler.list('$', { target: 'completing' }) as object),
        on: {
          RunCancelled: '#run.cancelled',
          RunTimedOut: '#run.timed_out',
          RunUnwinding: {
            target: '#run.unwinding',
            actions: beginUnwinding('as recorded'),
          },
          SignalReceived: { actions: [signalReceived, ...compiler.checkWaits()] },
        },
      } as never,
      // The run's steps are done (or a `succeed` step ended it): its `finally` steps, if any, then its output.
      completing: {
        always: [
          { guard: mayUnwind, target: 'unwinding', actions: beginUnwinding('completed') as never },
          { target: 'ending' },
        ],
      },
      // A step failed the run: its compensations and `finally` steps, if any, then `RunFailed`.
      failing: {
        always: [
          { guard: mayUnwind, target: 'unwinding', actions: beginUnwinding('failed') as never },
          { target: 'ending' },
        ],
      },
      unwinding: {
        ...(compiler.unwinding() as object),
        on: {
          RunCancelled: '#run.cancelled',
          RunTimedOut: '#run.timed_out',
          SignalReceived: { actions: [signalReceived, ...compiler.checkWaits()] },
        },
      } as never,
      ending: {
        entry: { type: 'endRun' },
        on: {
          RunCompleted: {
            target: 'completed',
            actions: assign(({ event }) => ({ output: event.output })),
          },
          RunFailed: { target: 'failed', actions: assign(failureFrom) },
          RunCancelled: 'cancelled',
          RunTimedOut: 'timed_out',
        },
      },
      completed: { type: 'final' },
      failed: { type: 'final' },
      cancelled: { type: 'final' },
      timed_out: { type: 'final' },
    },
  });

/**
 * Compiles a valid blueprint. Pure and deterministic: the same blueprint gives an equivalent
 * machine, so callers may cache by content hash. Throws `UnsupportedStep` for a shape this
 * runtime cannot execute (a map whose inner step is not an activity or a child).
 */
export const compileBlueprint = (
  blueprint: Blueprint,
  parseDuration: (value: string | number) => number | undefined,
  options: CompileOptions = { scopes: true },
): CompiledRun => {
  const plan = buildPlan(blueprint, parseDuration);
  const compiler = new Compiler(blueprint, plan, options);
  return { blueprint, plan, machine: createRunMachine(compiler) };
};

export type RunMachine = CompiledRun['machine'];
export type RunSnapshot = SnapshotFrom<RunMachine>;
