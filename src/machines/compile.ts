import { assign, setup, type SnapshotFrom } from 'xstate';
import type { Json } from '../blueprints/json.ts';
import type { Blueprint } from '../blueprints/schema.ts';
import type { RunError, RunEvent, StepError } from './events.ts';
import {
  findItemTask,
  itemTask,
  itemTaskList,
  noItemOutputs,
  noItemTasks,
  outputList,
  removeItemTask,
  setItemOutput,
  setItemTask,
  type ItemOutputs,
  type ItemTasks,
} from './itemTasks.ts';
import { buildPlan, type Plan, type PlannedStep, type StepPlan } from './plan.ts';

export { backoffDelay, DEFAULT_POLICY, resolvePolicy, type StepPolicy } from './plan.ts';

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

/** An activity attempt the run is waiting on. */
export interface OpenTask {
  readonly taskId: string;
  readonly stepId: string;
  readonly item?: number;
  readonly attempt: number;
  readonly activity: string;
  readonly input: Json;
  readonly timeoutMs: number;
  readonly scheduleTimeoutMs?: number;
}

export interface MapState {
  readonly items: readonly Json[];
  /** Outputs of the items settled so far (see `outputList`). */
  readonly outputs: ItemOutputs;
  /** Items started so far (in order). */
  readonly next: number;
  readonly completed: number;
  /** Item indexes whose failed attempt is to be retried. */
  readonly retry: readonly number[];
  /** Item attempts in flight, by item (see `itemTasks.ts`: big maps change this in far less than its size). */
  readonly inflight: ItemTasks<OpenTask>;
}

export interface OpenChild {
  readonly childRunId: string;
  readonly stepId: string;
  readonly item?: number;
}

export interface ReceivedSignal {
  readonly name: string;
  readonly payload: Json;
  readonly signalId?: string;
}

export interface Routing {
  /** Steps that did not run (or failed onto an error route): their dependents do not run either. */
  readonly abandoned: Readonly<Record<string, true>>;
  /** Error handler id → the error that routed to it. */
  readonly jumped: Readonly<Record<string, StepError>>;
  readonly lastError: Readonly<Record<string, StepError>>;
}

export interface Loops {
  /** Loop id → the iteration running. */
  readonly iterations: Readonly<Record<string, number>>;
  /** Loop id → the outputs of its finished iterations. */
  readonly outputs: Readonly<Record<string, readonly Json[]>>;
}

/**
 * A run's context. It has at most 18 top-level keys on purpose: xstate copies it with
 * `Object.assign({}, …)` on every assign, and V8 turns an object given more properties that way
 * into a slow dictionary, which made every later transition several times slower.
 */
export interface RunContext {
  readonly runId: string;
  readonly input: Json;
  /** `$steps`: step id → latest output. */
  readonly steps: Readonly<Record<string, Json>>;
  /** The input a step was entered with (what the first step of its nested lists gets). */
  readonly inputs: Readonly<Record<string, Json>>;
  /** Steps finished for this pass (completed, skipped, continued, routed or abandoned). */
  readonly done: Readonly<Record<string, true>>;
  /** How errors routed: kept in one record so the context stays small (see `RunContext`). */
  readonly routing: Routing;
  /** Step id → the activity attempt in flight (a map's items are in `maps[id].inflight`). */
  readonly tasks: Readonly<Record<string, OpenTask>>;
  /** Step id → executions started (a retry is not a new execution). */
  readonly executions: Readonly<Record<string, number>>;
  /** What `StepEntered` recorded for a step (branch taken, items, child, …). */
  readonly entered: Readonly<Record<string, Json>>;
  readonly loops: Loops;
  readonly maps: Readonly<Record<string, MapState>>;
  readonly timers: Readonly<Record<string, { readonly stepId: string; readonly dueAt: number }>>;
  /** Key (`stepId` or `stepId[item]`) → the child run it waits for. */
  readonly children: Readonly<Record<string, OpenChild>>;
  readonly signals: readonly ReceivedSignal[];
  /** Indexes into `signals` already taken by a `wait` step. */
  readonly consumed: Readonly<Record<number, true>>;
  /** `$data`: what `store` and `append` signals wrote. */
  readonly data: Readonly<Record<string, Json>>;
  readonly failure: RunError | null;
  readonly output: Json;
}

export type Command =
  | { readonly type: 'scheduleStep'; readonly stepId: string }
  | { readonly type: 'retryStep'; readonly stepId: string }
  | { readonly type: 'enterStep'; readonly stepId: string }
  | { readonly type: 'checkLoop'; readonly stepId: string }
  | { readonly type: 'scheduleItems'; readonly stepId: string }
  | { readonly type: 'requestChild'; readonly stepId: string }
  | { readonly type: 'startTimer'; readonly stepId: string }
  | { readonly type: 'completeRun' }
  | { readonly type: 'failRun' };

export const COMMAND_TYPES: ReadonlySet<string> = new Set([
  'scheduleStep',
  'retryStep',
  'enterStep',
  'checkLoop',
  'scheduleItems',
  'requestChild',
  'startTimer',
  'completeRun',
  'failRun',
]);

/** Raised when a blueprint holds a step this machine compiler cannot execute. */
export class UnsupportedStep extends Error {
  readonly stepId: string;
  readonly stepType: string;
  constructor(stepId: string, stepType: string, why: string) {
    super(`step '${stepId}' (${stepType}): ${why}`);
    this.stepId = stepId;
    this.stepType = stepType;
  }
}

export const taskKey = (stepId: string, item?: number): string =>
  item === undefined ? stepId : `${stepId}[${item}]`;

/** The attempt in flight for a step, or for one item of a map. */
const openTask_ = (
  context: RunContext,
  stepId: string,
  item: number | undefined,
): OpenTask | undefined => {
  if (item === undefined) return context.tasks[stepId];
  const state = context.maps[stepId];
  return state === undefined ? undefined : itemTask(state.inflight, item);
};

/** Every activity attempt the run waits for, a map's items included. */
export const openTasks = (context: RunContext): readonly OpenTask[] => [
  ...Object.values(context.tasks),
  ...Object.values(context.maps).flatMap((m) => itemTaskList(m.inflight)),
];

/** The attempt in flight with this task id, if any. */
export const openTaskById = (context: RunContext, taskId: string): OpenTask | undefined => {
  const task = Object.values(context.tasks).find((t) => t.taskId === taskId);
  if (task !== undefined) return task;
  for (const state of Object.values(context.maps)) {
    const found = findItemTask(state.inflight, (t) => t.taskId === taskId);
    if (found !== undefined) return found;
  }
  return undefined;
};

const emptyContext: RunContext = {
  runId: '',
  input: null,
  steps: {},
  inputs: {},
  done: {},
  routing: { abandoned: {}, jumped: {}, lastError: {} },
  tasks: {},
  executions: {},
  entered: {},
  loops: { iterations: {}, outputs: {} },
  maps: {},
  timers: {},
  children: {},
  signals: [],
  consumed: {},
  data: {},
  failure: null,
  output: null,
};

type Args = { readonly context: RunContext; readonly event: RunEvent };
type Config = Readonly<Record<string, unknown>>;

/** The record without `keys`; the record itself (no copy) when it has none of them. */
const omit = <V>(
  record: Readonly<Record<string, V>>,
  ...keys: readonly string[]
): Readonly<Record<string, V>> => {
  if (!keys.some((key) => Object.hasOwn(record, key))) return record;
  const drop = new Set(keys);
  const copy: Record<string, V> = {};
  for (const key of Object.keys(record)) if (!drop.has(key)) copy[key] = record[key] as V;
  return copy;
};

const command = (type: Command['type'], stepId: string) => ({ type, params: { stepId } });

const runSetup = setup({
  types: {} as { context: RunContext; events: RunEvent },
  actions: {
    scheduleStep: (_, _params: { stepId: string }) => undefined,
    retryStep: (_, _params: { stepId: string }) => undefined,
    enterStep: (_, _params: { stepId: string }) => undefined,
    checkLoop: (_, _params: { stepId: string }) => undefined,
    scheduleItems: (_, _params: { stepId: string }) => undefined,
    requestChild: (_, _params: { stepId: string }) => undefined,
    startTimer: (_, _params: { stepId: string }) => undefined,
    completeRun: () => undefined,
    failRun: () => undefined,
  },
});

const forStep =
  (stepId: string, withItem = false) =>
  ({ event }: Args) =>
    'stepId' in event && event.stepId === stepId && 'item' in event === withItem;

/** The event is the result of the current attempt of the task it names. */
const isCurrent = (context: RunContext, event: RunEvent): boolean => {
  if (event.type !== 'StepCompleted' && event.type !== 'StepFailed') return false;
  const task = openTask_(context, event.stepId, event.item);
  return task !== undefined && task.taskId === event.taskId && task.attempt === event.attempt;
};

const errorOf = (event: RunEvent): StepError => {
  switch (event.type) {
    case 'StepFailed':
    case 'ChildFailed':
      return event.error;
    case 'TimerFired':
      return { code: 'timeout', message: 'timed out waiting for a signal', retryable: false };
    default:
      return { code: 'internal', message: `unexpected ${event.type}`, retryable: false };
  }
};

class Compiler {
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

  /** Retries spent or the error is terminal: route by `onError` (fail the run, continue, or jump). */
  failure(id: string, errorFrom: (event: RunEvent) => StepError = errorOf): Config {
    const onError = this.info(id).step.onError ?? 'fail';
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
    const skip = (abandon: boolean) =>
      this.finish(
        id,
        () => null,
        ({ context }) =>
          abandon
            ? {
                routing: {
                  ...context.routing,
                  abandoned: { ...context.routing.abandoned, [id]: true as const },
                },
              }
            : {},
      );
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
            actions: skip(false),
          },
        ],
      };
    }
    return {
      always: [
        {
          guard: (args: Args) => depsDone(args) && depAbandoned(args),
          target: this.doneTarget(id),
          actions: skip(true),
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
        states: { blocked: this.blocked(id, 'scheduling'), ...this.activity(id), done },
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
              guard: forStep(id),
              target: this.doneTarget(id),
              actions: this.finish(id, () => null),
            },
            StepFailed: { guard: forStep(id), ...this.failure(id) },
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

  activity(id: string): Record<string, Config> {
    const policy = this.info(id).policy;
    const recordTask = assign(({ context, event }: Args) => {
      if (event.type !== 'StepScheduled') return {};
      return {
        tasks: { ...context.tasks, [id]: openTask(event) },
        executions:
          event.attempt === 1
            ? { ...context.executions, [id]: (context.executions[id] ?? 0) + 1 }
            : context.executions,
      };
    });
    return {
      scheduling: {
        entry: command('scheduleStep', id),
        on: {
          StepScheduled: { guard: forStep(id), target: 'active', actions: recordTask },
          StepSkipped: {
            guard: forStep(id),
            target: this.doneTarget(id),
            actions: this.finish(id, () => null),
          },
          StepFailed: { guard: forStep(id), ...this.failure(id) },
        },
      },
      active: {
        on: {
          StepCompleted: {
            guard: ({ context, event }: Args) =>
              forStep(id)({ context, event }) && isCurrent(context, event),
            target: this.doneTarget(id),
            actions: this.finish(id, ({ event }) =>
              event.type === 'StepCompleted' ? event.output : null,
            ),
          },
          StepFailed: [
            {
              guard: ({ context, event }: Args) =>
                forStep(id)({ context, event }) &&
                isCurrent(context, event) &&
                event.type === 'StepFailed' &&
                event.error.retryable &&
                event.attempt < policy.maxAttempts,
              target: 'retrying',
              actions: assign(({ context, event }: Args) => ({
                routing: {
                  ...context.routing,
                  lastError: { ...context.routing.lastError, [id]: errorOf(event) },
                },
              })),
            },
            {
              guard: ({ context, event }: Args) =>
                forStep(id)({ context, event }) && isCurrent(context, event),
              ...this.failure(id),
            },
          ],
        },
      },
      retrying: {
        entry: command('retryStep', id),
        on: { StepScheduled: { guard: forStep(id), target: 'active', actions: recordTask } },
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
        return this.branches(
          id,
          [
            ['then', 'then'],
            ['else', 'else'],
          ].filter(([, key]) => key === 'then' || step.else !== undefined) as [string, string][],
        );
      case 'switch':
        return this.branches(id, [
          ...Object.keys(step.cases).map((_, i) => [i, `c${i}`] as [number, string]),
          ...(step.default ? [['default', 'default'] as [string, string]] : []),
        ]);
      case 'loop':
        return this.loop(id);
      case 'map':
        return this.map(id);
      case 'child':
        return {
          initial: 'requesting',
          states: {
            requesting: {
              entry: command('requestChild', id),
              on: {
                ChildRequested: { guard: forStep(id), target: 'awaiting', actions: recordChild },
                StepFailed: { guard: forStep(id), ...this.failure(id) },
              },
            },
            awaiting: {
              on: {
                ChildCompleted: {
                  guard: (args: Args) => forStep(id)(args) && childMatches(args),
                  ...toDone(({ event }) => (event.type === 'ChildCompleted' ? event.output : null)),
                },
                ChildFailed: {
                  guard: (args: Args) => forStep(id)(args) && childMatches(args),
                  ...this.failure(id),
                },
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
            TimerFired: { guard: (args: Args) => timerOf(args) === id, ...this.failure(id) },
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
    }
  }

  /** Condition and switch: one nested list per branch, chosen by the recorded `StepEntered` value. */
  branches(id: string, choices: readonly (readonly [string | number, string])[]): Config {
    const chosen = ({ context }: Args) => context.entered[id];
    return {
      initial: 'choose',
      states: {
        choose: {
          always: [
            ...choices.map(([value, state]) => ({
              guard: (args: Args) => chosen(args) === value,
              target: state,
            })),
            { target: this.doneTarget(id), actions: this.finish(id, () => null) },
          ],
        },
        ...Object.fromEntries(
          choices.map(([, state]) => {
            const key = `${id}.${state}`;
            return [
              state,
              this.list(key, {
                target: this.doneTarget(id),
                actions: this.finish(id, this.lastOutput(key)),
              }),
            ];
          }),
        ),
      },
    };
  }

  loop(id: string): Config {
    const key = `${id}.body`;
    const descendants = this.info(id).descendants;
    return {
      initial: 'check',
      states: {
        check: {
          entry: command('checkLoop', id),
          on: {
            LoopChecked: [
              {
                guard: (args: Args) =>
                  forStep(id)(args) && args.event.type === 'LoopChecked' && args.event.proceed,
                target: 'iteration',
                actions: assign(({ context, event }: Args) => {
                  const reset = resetSteps(context, descendants);
                  const iteration = event.type === 'LoopChecked' ? event.iteration : 0;
                  return {
                    ...reset,
                    loops: {
                      ...reset.loops,
                      iterations: { ...reset.loops.iterations, [id]: iteration },
                    },
                  };
                }),
              },
              {
                guard: forStep(id),
                target: this.doneTarget(id),
                actions: this.finish(id, ({ context }) => [...(context.loops.outputs[id] ?? [])]),
              },
            ],
            StepFailed: { guard: forStep(id), ...this.failure(id) },
          },
        },
        iteration: this.list(key, {
          target: 'check',
          actions: assign((args: Args) => ({
            loops: {
              ...args.context.loops,
              outputs: {
                ...args.context.loops.outputs,
                [id]: [...(args.context.loops.outputs[id] ?? []), this.lastOutput(key)(args)],
              },
            },
          })),
        }),
      },
    };
  }

  map(id: string): Config {
    const step = this.info(id).step;
    if (step.type !== 'map') throw new Error('defect: not a map');
    const innerId =
      [...this.plan.steps.values()].find((s) => s.mapOf === id)?.step.id ?? `${id}_item`;
    const inner = this.info(innerId);
    if (inner.step.type !== 'activity' && inner.step.type !== 'child') {
      throw new UnsupportedStep(
        id,
        'map',
        `the inner step of a map must be an activity or a child, not '${inner.step.type}'`,
      );
    }
    const continueOnError = inner.step.onError === 'continue';
    const maxAttempts = inner.policy.maxAttempts;
    /** Records one item's final outcome. */
    const settle = (
      context: RunContext,
      item: number,
      output: Json,
      key: string,
    ): Partial<RunContext> => {
      const state = context.maps[id];
      if (state === undefined) return {};
      const outputs = setItemOutput(state.outputs, item, output);
      return {
        maps: {
          ...context.maps,
          [id]: {
            ...state,
            outputs,
            completed: state.completed + 1,
            inflight: removeItemTask(state.inflight, item),
          },
        },
        children: omit(context.children, key),
      };
    };
    const itemOf = (event: RunEvent): number => ('item' in event ? event.item : -1);
    const resultGuard = (args: Args) =>
      forStep(id, true)(args) &&
      (args.event.type === 'ChildCompleted' || args.event.type === 'ChildFailed'
        ? args.context.children[taskKey(id, itemOf(args.event))]?.childRunId ===
          args.event.childRunId
        : isCurrent(args.context, args.event));
    const lastItem = ({ context }: Args) => {
      const state = context.maps[id];
      return state !== undefined && state.completed + 1 === state.items.length;
    };
    const completeItem = (outputOf: (event: RunEvent) => Json) => {
      const settleItem = assign((args: Args) =>
        settle(
          args.context,
          itemOf(args.event),
          outputOf(args.event),
          taskKey(id, itemOf(args.event)),
        ),
      );
      return [
        {
          guard: (args: Args) => resultGuard(args) && lastItem(args),
          target: this.doneTarget(id),
          actions: [
            settleItem,
            this.finish(id, ({ context }) => {
              const state = context.maps[id];
              return state === undefined ? [] : outputList(state.outputs, state.items.length);
            }),
          ],
        },
        {
          // No re-entry of the map's state: the next items are asked for by the command itself (a
          // re-entry costs an exit and an entry per item).
          guard: resultGuard,
          actions: [settleItem, command('scheduleItems', id)],
        },
      ];
    };
    const failItem = [
      ...(continueOnError ? completeItem((event) => ({ error: errorOf(event) })) : []),
      { guard: resultGuard, ...this.failure(id) },
    ];
    // The map's body is its one `mapping` state (no nesting: one level less on every item's event).
    return {
      entry: command('scheduleItems', id),
      on: {
        StepScheduled: {
          guard: forStep(id, true),
          actions: assign(({ context, event }: Args) => {
            if (event.type !== 'StepScheduled' || event.item === undefined) return {};
            const state = context.maps[id];
            if (state === undefined) return {};
            const item = event.item;
            const next: MapState = {
              ...state,
              ...(state.retry.includes(item)
                ? { retry: state.retry.filter((i) => i !== item) }
                : { next: Math.max(state.next, item + 1) }),
              inflight: setItemTask(state.inflight, item, openTask(event)),
            };
            return { maps: { ...context.maps, [id]: next } };
          }),
        },
        ChildRequested: {
          guard: forStep(id, true),
          actions: [
            recordChild,
            assign(({ context, event }: Args) => {
              const state = context.maps[id];
              if (
                state === undefined ||
                event.type !== 'ChildRequested' ||
                event.item === undefined
              )
                return {};
              return {
                maps: {
                  ...context.maps,
                  [id]: { ...state, next: Math.max(state.next, event.item + 1) },
                },
              };
            }),
          ],
        },
        StepCompleted: completeItem((event) =>
          event.type === 'StepCompleted' ? event.output : null,
        ),
        ChildCompleted: completeItem((event) =>
          event.type === 'ChildCompleted' ? event.output : null,
        ),
        StepFailed: [
          {
            guard: (args: Args) =>
              resultGuard(args) &&
              args.event.type === 'StepFailed' &&
              args.event.error.retryable &&
              args.event.attempt < maxAttempts,
            actions: [
              assign(({ context, event }: Args) => {
                const state = context.maps[id];
                if (state === undefined || event.type !== 'StepFailed' || event.item === undefined)
                  return {};
                return {
                  maps: {
                    ...context.maps,
                    [id]: { ...state, retry: [...state.retry, event.item] },
                  },
                };
              }),
              command('scheduleItems', id),
            ],
          },
          ...failItem,
          // An item that never got scheduled (its input expression failed): a failure of the map.
          { guard: forStep(id, true), ...this.failure(id) },
        ],
        ChildFailed: failItem,
      },
    };
  }
}

const recordChild = assign(({ context, event }: Args) => {
  if (event.type !== 'ChildRequested') return {};
  const child: OpenChild = {
    childRunId: event.childRunId,
    stepId: event.stepId,
    ...(event.item === undefined ? {} : { item: event.item }),
  };
  return { children: { ...context.children, [taskKey(event.stepId, event.item)]: child } };
});

const childMatches = ({ context, event }: Args): boolean =>
  (event.type === 'ChildCompleted' || event.type === 'ChildFailed') &&
  context.children[taskKey(event.stepId, event.item)]?.childRunId === event.childRunId;

const recordTimer = assign(({ context, event }: Args) =>
  event.type === 'TimerScheduled'
    ? {
        timers: {
          ...context.timers,
          [event.timerId]: { stepId: event.stepId, dueAt: event.dueAt },
        },
      }
    : {},
);

/** The step whose open timer fired, if the event is a `TimerFired` of an open timer. */
const timerOf = ({ context, event }: Args): string | undefined =>
  event.type === 'TimerFired' ? context.timers[event.timerId]?.stepId : undefined;

const firstUnconsumed = (context: RunContext, name: string): number | undefined => {
  const index = context.signals.findIndex(
    (s, i) => s.name === name && context.consumed[i] !== true,
  );
  return index === -1 ? undefined : index;
};

const openTask = (event: Extract<RunEvent, { type: 'StepScheduled' }>): OpenTask => ({
  taskId: event.taskId,
  stepId: event.stepId,
  ...(event.item === undefined ? {} : { item: event.item }),
  attempt: event.attempt,
  activity: event.activity,
  input: event.input,
  timeoutMs: event.timeoutMs,
  ...(event.scheduleTimeoutMs === undefined ? {} : { scheduleTimeoutMs: event.scheduleTimeoutMs }),
});

export const itemsOf = (value: Json): readonly Json[] => {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [];
  const items = (value as { readonly items?: Json }).items;
  return Array.isArray(items) ? (items as readonly Json[]) : [];
};

/** Clears the per-pass records of the steps of a loop body before its next iteration. */
const resetSteps = (
  context: RunContext,
  ids: readonly string[],
): Pick<RunContext, 'done' | 'routing' | 'entered' | 'loops' | 'maps'> => ({
  done: omit(context.done, ...ids),
  routing: {
    ...context.routing,
    abandoned: omit(context.routing.abandoned, ...ids),
    jumped: omit(context.routing.jumped, ...ids),
  },
  entered: omit(context.entered, ...ids),
  loops: {
    iterations: omit(context.loops.iterations, ...ids),
    outputs: omit(context.loops.outputs, ...ids),
  },
  maps: omit(context.maps, ...ids),
});

const failureFrom = ({ event }: Args): Partial<RunContext> =>
  event.type === 'RunFailed' ? { failure: event.error } : {};

const signalReceived = assign(({ context, event }: Args) => {
  if (event.type !== 'SignalReceived') return {};
  const signal: ReceivedSignal = {
    name: event.name,
    payload: event.payload,
    ...(event.signalId === undefined ? {} : { signalId: event.signalId }),
  };
  const previous = context.data[event.name];
  const data =
    event.handler === 'store'
      ? { ...context.data, [event.name]: event.payload }
      : event.handler === 'append'
        ? {
            ...context.data,
            [event.name]: [
              ...(Array.isArray(previous) ? (previous as readonly Json[]) : []),
              event.payload,
            ],
          }
        : context.data;
  return { signals: [...context.signals, signal], data };
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
            actions: assign(({ event }) => ({ runId: event.runId, input: event.input })),
          },
        },
      },
      running: {
        ...(compiler.list('$', { target: 'completing' }) as object),
        on: {
          RunCancelled: '#run.cancelled',
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
