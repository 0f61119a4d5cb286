import { assign, setup } from 'xstate';
import type { Json } from '../blueprints/json.ts';
import {
  omit,
  openTaskOf,
  taskKey,
  type Command,
  type OpenChild,
  type OpenTask,
  type ReceivedSignal,
  type RunContext,
} from './context.ts';
import type { RunEvent, SkipReason, StepError } from './events.ts';
import type { Plan, StepPlan } from './plan.ts';

/**
 * The pieces the compiler builds a run's machine from: the machine's setup (its actions are the
 * commands, never run), guards over the event and the context, and the context updates shared by
 * several kinds of step. Pure.
 */

export type Args = { readonly context: RunContext; readonly event: RunEvent };
export type Config = Readonly<Record<string, unknown>>;

/** What a step kind compiled outside the compiler (`mapStep.ts`) needs of it. */
export interface StepCompiler {
  readonly plan: Plan;
  info(id: string): StepPlan;
  doneTarget(id: string): string;
  /** Marks a step completed with `output` (its compensation, if it has one, is now owed). */
  finish(
    id: string,
    output: (args: Args) => Json,
    extra?: (args: Args) => Partial<RunContext>,
  ): unknown;
  /** Marks a step done without completing it (skipped, or failed onto a route). */
  settle(
    id: string,
    output: (args: Args) => Json,
    extra?: (args: Args) => Partial<RunContext>,
  ): unknown;
  /** The `onError` transitions of a failed step, taken on events `guard` accepts. */
  failure(
    id: string,
    guard: (args: Args) => boolean,
    errorFrom?: (args: Args) => StepError,
  ): Config[];
  /** The transition that completes step `id` with an output. */
  toDone(id: string): (output: (args: Args) => Json) => Config;
  /** A list of steps as a parallel state, done when every step is. */
  list(key: string, onDone: Config): Config;
  /** The output of a list: its last step's. */
  lastOutput(key: string): (args: Args) => Json;
}

export const command = (type: Command['type'], stepId: string) => ({ type, params: { stepId } });

/**
 * Records that a step will not run. The machine has already moved the step to done; the
 * `StepSkipped` the decider makes of this is only a record (folding it changes nothing), so
 * streams recorded before these skips were recorded replay the same.
 */
export const skipCommand = (stepId: string, reason: SkipReason) => ({
  type: 'skipStep' as const,
  params: { stepId, reason },
});

/** A `StepSkipped` that moves the step to done: its `if` was false (older streams: no reason). */
export const ifSkipped = (id: string) => (args: Args) =>
  forStep(id)(args) &&
  args.event.type === 'StepSkipped' &&
  (args.event.reason === undefined || args.event.reason === 'if_false');

export const runSetup = setup({
  types: {} as { context: RunContext; events: RunEvent },
  actions: {
    scheduleStep: (_, _params: { stepId: string }) => undefined,
    retryStep: (_, _params: { stepId: string }) => undefined,
    enterStep: (_, _params: { stepId: string }) => undefined,
    checkLoop: (_, _params: { stepId: string }) => undefined,
    scheduleItems: (_, _params: { stepId: string }) => undefined,
    requestChild: (_, _params: { stepId: string }) => undefined,
    startTimer: (_, _params: { stepId: string }) => undefined,
    skipStep: (_, _params: { stepId: string; reason: SkipReason }) => undefined,
    /** Checks the `when` of the `wait` steps waiting, after a signal or a `set` step. */
    checkWaits: () => undefined,
    /** Records the run's end: completed, failed, or — once it unwound — cancelled or timed out. */
    endRun: () => undefined,
  },
});

export const forStep =
  (stepId: string, withItem = false) =>
  ({ event }: Args) =>
    'stepId' in event && event.stepId === stepId && 'item' in event === withItem;

/** The event is the result of the current attempt of the task it names. */
export const isCurrent = (context: RunContext, event: RunEvent): boolean => {
  if (event.type !== 'StepCompleted' && event.type !== 'StepFailed') return false;
  const task = openTaskOf(context, event.stepId, event.item);
  return task !== undefined && task.taskId === event.taskId && task.attempt === event.attempt;
};

export const errorOf = (event: RunEvent): StepError => {
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

export const recordChild = assign(({ context, event }: Args) => {
  if (event.type !== 'ChildRequested') return {};
  const child: OpenChild = {
    childRunId: event.childRunId,
    stepId: event.stepId,
    ...(event.item === undefined ? {} : { item: event.item }),
  };
  return { children: { ...context.children, [taskKey(event.stepId, event.item)]: child } };
});

export const childMatches = ({ context, event }: Args): boolean =>
  (event.type === 'ChildCompleted' || event.type === 'ChildFailed') &&
  context.children[taskKey(event.stepId, event.item)]?.childRunId === event.childRunId;

export const recordTimer = assign(({ context, event }: Args) =>
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
export const timerOf = ({ context, event }: Args): string | undefined =>
  event.type === 'TimerFired' ? context.timers[event.timerId]?.stepId : undefined;

export const firstUnconsumed = (context: RunContext, name: string): number | undefined => {
  const index = context.signals.findIndex(
    (s, i) => s.name === name && context.consumed[i] !== true,
  );
  return index === -1 ? undefined : index;
};

export const toOpenTask = (event: Extract<RunEvent, { type: 'StepScheduled' }>): OpenTask => ({
  taskId: event.taskId,
  stepId: event.stepId,
  ...(event.item === undefined ? {} : { item: event.item }),
  attempt: event.attempt,
  activity: event.activity,
  input: event.input,
  timeoutMs: event.timeoutMs,
  ...(event.scheduleTimeoutMs === undefined ? {} : { scheduleTimeoutMs: event.scheduleTimeoutMs }),
});

/** Clears the per-pass records of the steps of a loop body before its next iteration. */
export const resetSteps = (
  context: RunContext,
  ids: readonly string[],
): Pick<RunContext, 'done' | 'routing' | 'entered' | 'loops' | 'maps'> => ({
  done: omit(context.done, ...ids),
  routing: {
    ...context.routing,
    abandoned: omit(context.routing.abandoned, ...ids),
    jumped: omit(context.routing.jumped, ...ids),
    attempts: omit(context.routing.attempts, ...ids),
  },
  entered: omit(context.entered, ...ids),
  loops: {
    iterations: omit(context.loops.iterations, ...ids),
    outputs: omit(context.loops.outputs, ...ids),
  },
  maps: omit(context.maps, ...ids),
});

export const failureFrom = ({ event }: Args): Partial<RunContext> =>
  event.type === 'RunFailed' ? { failure: event.error } : {};

export const signalReceived = assign(({ context, event }: Args) => {
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

/** Records what a step's `StepEntered` decided: its input, its value, one more execution. */
export const recordEntered = (id: string) =>
  assign(({ context, event }: Args) =>
    event.type === 'StepEntered'
      ? {
          inputs: { ...context.inputs, [id]: event.input },
          entered: { ...context.entered, [id]: event.value },
          executions: { ...context.executions, [id]: (context.executions[id] ?? 0) + 1 },
        }
      : {},
  );
