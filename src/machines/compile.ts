import { assign, type SnapshotFrom } from 'xstate';
import type { Json } from '../blueprints/json.ts';
import type { Blueprint } from '../blueprints/schema.ts';
import {
  emptyContext,
  itemsOf,
  omit,
  type MapState,
  type OpenTask,
  type RunContext,
} from './context.ts';
import { errorRoutes } from '../blueprints/onError.ts';
import type { RunEvent, StepError } from './events.ts';
import { noItemOutputs, noItemTasks } from './itemTasks.ts';
import { activityStates } from './activityStep.ts';
import { branchStates, loopStates } from './branchSteps.ts';
import { mapStep } from './mapStep.ts';
import { buildPlan, type Plan, type PlannedStep, type StepPlan } from './plan.ts';
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

class Compiler implements StepCompiler {
  readonly plan: Plan;
  readonly blueprint: Blueprint;

  constructor(blueprint: Blueprint, plan: Plan) {
    this.blueprint = blueprint;
    this.plan = plan;
  }

  info(id: string): StepPlan {
    const info = this.plan.steps.get(id);
    if (info === undefined) throw new Error(`defect: no step '${id}' in the plan`);
    return info;
  }

  /** Marks a step done with `output`, clearing what it held. */
  finish(
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
    errorFrom: (event: RunEvent) => StepError = errorOf,
  ): Config[] {
    const routes = errorRoutes(this.info(id).step.onError);
    return [
      ...[...routes.byCode].map(([code, route]) => ({
        guard: (args: Args) => guard(args) && errorFrom(args.event).code === code,
        ...this.route(id, route, errorFrom),
      })),
      { guard, ...this.route(id, routes.fallback, errorFrom) },
    ];
  }

  /** One `onError` route of a failed step. */
  route(id: string, onError: string, errorFrom: (event: RunEvent) => StepError): Config {
    if (onError === 'continue') {
      return {
        target: this.doneTarget(id),
        actions: this.finish(id, ({ event }) => ({ error: errorFrom(event) })),
      };
    }
    if (onError !== 'fail') {
      return {
        target: this.doneTarget(id),
        actions: this.finish(
          id,
          ({ event }) => ({ error: errorFrom(event) }),
          ({ context, event }) => ({
            routing: {
              abandoned: { ...context.routing.abandoned, [id]: true as const },
              jumped: { ...context.routing.jumped, [onError]: errorFrom(event) },
              lastError: { ...context.routing.lastError, [id]: errorFrom(event) },
            },
          }),
        ),
      };
    }
    return {
      target: '#run.failing',
      actions: assign(({ context, event }: Args) => {
        const error = errorFrom(event);
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
      this.finish(
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
              actions: this.finish(id, () => null),
            },
            StepFailed: this.failure(id, forStep(id)),
          },
        },
        body: this.body(step),
        done,
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
      // The run completes now: `completeRun` takes the output this step recorded, if it has one.
      return [{ guard: forStep(id), target: '#run.completing', actions: this.recordEntered(id) }];
    }
    if (step.type === 'set') {
      return [
        {
          guard: forStep(id),
          target: this.doneTarget(id),
          actions: [
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
    if (step.type === 'map') {
      return [
        {
          guard: (args: Args) =>
            forStep(id)(args) &&
            args.event.type === 'StepEntered' &&
            itemsOf(args.event.value).length === 0,
          target: this.doneTarget(id),
          actions: [this.recordEntered(id), this.finish(id, () => [])],
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
        return {
          type: 'parallel',
          states: Object.fromEntries(
            step.branches.map((_, i) => [
              `b${i}`,
              {
                initial: 'list',
                states: {
                  list: this.list(`${id}.b${i}`, { target: 'end' }),
                  end: { type: 'final' },
                },
              },
            ]),
          ),
          onDone: toDone((args) =>
            step.branches.map((_, i) => this.lastOutput(`${id}.b${i}`)(args)),
          ),
        };
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
            actions: assign(({ event }) => ({ runId: event.runId, input: event.input })),
          },
        },
      },
      running: {
        ...(compiler.list('$', { target: 'completing' }) as object),
        on: {
          RunCancelled: '#run.cancelled',
          RunTimedOut: '#run.timed_out',
          SignalReceived: { actions: signalReceived },
        },
      } as never,
      completing: {
        entry: { type: 'completeRun' },
        on: {
          RunCompleted: {
            target: 'completed',
            actions: assign(({ event }) => ({ output: event.output })),
          },
          RunFailed: { target: 'failed', actions: assign(failureFrom) },
        },
      },
      failing: {
        entry: { type: 'failRun' },
        on: { RunFailed: { target: 'failed', actions: assign(failureFrom) } },
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
): CompiledRun => {
  const plan = buildPlan(blueprint, parseDuration);
  const compiler = new Compiler(blueprint, plan);
  return { blueprint, plan, machine: createRunMachine(compiler) };
};

export type RunMachine = CompiledRun['machine'];
export type RunSnapshot = SnapshotFrom<RunMachine>;
