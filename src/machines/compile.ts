import { and, assign, setup, type SnapshotFrom } from 'xstate';
import type { Json } from '../blueprints/json.ts';
import type { Blueprint, Step } from '../blueprints/schema.ts';
import type { EventOf, RunError, RunEvent, StepError } from './events.ts';
import { dependencies } from './graph.ts';

/**
 * Blueprint → XState machine, pure. The run's states mirror the blueprint: a list of steps is a
 * parallel state with one region per step, and a region leaves `blocked` once every step it
 * depends on is done, so sequences and `dependsOn` DAGs are one mechanism.
 *
 * The machine never evaluates an expression and never performs an effect. Its actions are
 * commands (`scheduleStep`, `retryStep`, `completeRun`, `failRun`) that `xstate.transition`
 * returns without running; the decider (`decide.ts`) turns each into the event that records it.
 */

/** An activity attempt the run is waiting on. */
export interface OpenTask {
  readonly taskId: string;
  readonly attempt: number;
  readonly activity: string;
  readonly input: Json;
  readonly timeoutMs: number;
}

export interface RunContext {
  readonly runId: string;
  readonly input: Json;
  /** `$steps`: step id → latest output. */
  readonly steps: Readonly<Record<string, Json>>;
  /** Steps that are finished for good (completed, skipped, or continued past an error). */
  readonly done: Readonly<Record<string, true>>;
  /** Step id → its current task, from scheduling until the step is resolved. */
  readonly tasks: Readonly<Record<string, OpenTask>>;
  /** Step id → how many executions were scheduled (a retry is not a new execution). */
  readonly executions: Readonly<Record<string, number>>;
  readonly lastError: Readonly<Record<string, StepError>>;
  readonly failure: RunError | null;
  readonly output: Json;
}

export type Command =
  | { readonly type: 'scheduleStep'; readonly stepId: string }
  | { readonly type: 'retryStep'; readonly stepId: string }
  | { readonly type: 'completeRun' }
  | { readonly type: 'failRun' };

/** Raised when a blueprint holds a step kind this machine compiler cannot execute yet. */
export class UnsupportedStep extends Error {
  readonly stepId: string;
  readonly stepType: string;
  constructor(stepId: string, stepType: string) {
    super(`step '${stepId}' has type '${stepType}', which this runtime cannot execute yet`);
    this.stepId = stepId;
    this.stepType = stepType;
  }
}

const emptyContext: RunContext = {
  runId: '',
  input: null,
  steps: {},
  done: {},
  tasks: {},
  executions: {},
  lastError: {},
  failure: null,
  output: null,
};

const forStep = (stepId: string) => ({ event }: { event: RunEvent }) =>
  'stepId' in event && event.stepId === stepId;

const omit = <V>(record: Readonly<Record<string, V>>, key: string): Record<string, V> => {
  const { [key]: _dropped, ...rest } = record;
  return rest;
};

const runSetup = setup({
  types: {} as { context: RunContext; events: RunEvent },
  actions: {
    scheduleStep: (_, _params: { stepId: string }) => undefined,
    retryStep: (_, _params: { stepId: string }) => undefined,
    completeRun: () => undefined,
    failRun: () => undefined,
  },
  guards: {
    depsDone: ({ context }, params: { deps: readonly string[] }) =>
      params.deps.every((id) => context.done[id] === true),
    /** The event is the result of the step's current task and attempt: stale or foreign results are ignored. */
    currentTask: ({ context, event }, params: { stepId: string }) => {
      const task = context.tasks[params.stepId];
      return (
        (event.type === 'StepCompleted' || event.type === 'StepFailed') &&
        event.stepId === params.stepId &&
        task !== undefined &&
        event.taskId === task.taskId &&
        event.attempt === task.attempt
      );
    },
    canRetry: ({ event }, params: { maxAttempts: number }) =>
      event.type === 'StepFailed' && event.error.retryable && event.attempt < params.maxAttempts,
  },
});

/**
 * A region's config is built from runtime data, so it is typed loosely here and checked by the
 * machine's own setup (guards and actions are referred to by name) and by the tests.
 */
type RegionConfig = Readonly<Record<string, unknown>>;

export interface StepPolicy {
  readonly maxAttempts: number;
  readonly timeoutMs: number;
  readonly backoff: { readonly initialMs: number; readonly factor: number; readonly maxMs: number };
}

const stepRegion = (
  step: Step,
  deps: readonly string[],
  policy: StepPolicy,
): RegionConfig => {
  const id = step.id;
  const onError = step.onError ?? 'fail';
  const recordTask = assign(({ context, event }: { context: RunContext; event: RunEvent }) => {
    if (event.type !== 'StepScheduled') return {};
    const task: OpenTask = {
      taskId: event.taskId,
      attempt: event.attempt,
      activity: event.activity,
      input: event.input,
      timeoutMs: event.timeoutMs,
    };
    return {
      tasks: { ...context.tasks, [id]: task },
      executions:
        event.attempt === 1
          ? { ...context.executions, [id]: (context.executions[id] ?? 0) + 1 }
          : context.executions,
    };
  });
  const finish = (output: (event: RunEvent) => Json) =>
    assign(({ context, event }: { context: RunContext; event: RunEvent }) => ({
      steps: { ...context.steps, [id]: output(event) },
      done: { ...context.done, [id]: true as const },
      tasks: omit(context.tasks, id),
    }));
  const failureOf = (event: RunEvent): StepError =>
    event.type === 'StepFailed'
      ? event.error
      : { message: 'unexpected event', code: 'internal', retryable: false };
  /** Retries are spent or the error is terminal: `continue` records it and goes on, `fail` fails the run. */
  const onFailure =
    onError === 'continue'
      ? { target: 'done', actions: finish((event) => ({ error: failureOf(event) })) }
      : {
          target: '#run.failing',
          actions: assign(({ context, event }: { context: RunContext; event: RunEvent }) => {
            const error = failureOf(event);
            return {
              failure: {
                code: 'step_failed',
                message: `step '${id}' failed: ${error.message}`,
                stepId: id,
                details: { error },
              },
              lastError: { ...context.lastError, [id]: error },
            };
          }),
        };
  const current = { type: 'currentTask', params: { stepId: id } } as const;
  return {
    initial: 'blocked',
    states: {
      blocked: {
        always: { guard: { type: 'depsDone', params: { deps } }, target: 'scheduling' },
      },
      scheduling: {
        entry: { type: 'scheduleStep', params: { stepId: id } },
        on: {
          StepScheduled: { guard: forStep(id), target: 'active', actions: recordTask },
          StepSkipped: { guard: forStep(id), target: 'done', actions: finish(() => null) },
          StepFailed: { guard: forStep(id), ...onFailure },
        },
      },
      active: {
        on: {
          StepCompleted: {
            guard: current,
            target: 'done',
            actions: finish((event) => (event.type === 'StepCompleted' ? event.output : null)),
          },
          StepFailed: [
            {
              guard: and([current, { type: 'canRetry', params: { maxAttempts: policy.maxAttempts } }]),
              target: 'retrying',
              actions: assign(({ context, event }: { context: RunContext; event: RunEvent }) => ({
                lastError: { ...context.lastError, [id]: failureOf(event) },
              })),
            },
            { guard: current, ...onFailure },
          ],
        },
      },
      retrying: {
        entry: { type: 'retryStep', params: { stepId: id } },
        on: {
          StepScheduled: { guard: forStep(id), target: 'active', actions: recordTask },
        },
      },
      done: { type: 'final' },
    },
  };
};

export const DEFAULT_POLICY: StepPolicy = {
  maxAttempts: 3,
  timeoutMs: 30_000,
  backoff: { initialMs: 200, factor: 2, maxMs: 30_000 },
};

export interface CompiledRun {
  readonly blueprint: Blueprint;
  readonly machine: ReturnType<typeof compileMachine>;
  readonly policies: ReadonlyMap<string, StepPolicy>;
  readonly steps: ReadonlyMap<string, Step>;
  readonly deps: ReadonlyMap<string, readonly string[]>;
}

const compileMachine = (states: Record<string, RegionConfig>) =>
  runSetup.createMachine({
    id: 'run',
    context: emptyContext,
    initial: 'idle',
    states: {
      idle: {
        on: {
          RunStarted: {
            target: 'running',
            actions: assign(({ event }) =>
              event.type === 'RunStarted' ? { runId: event.runId, input: event.input } : {},
            ),
          },
        },
      },
      running: {
        type: 'parallel',
        states: states as never,
        onDone: 'completing',
        on: { RunCancelled: '#run.cancelled' },
      },
      completing: {
        entry: { type: 'completeRun' },
        on: {
          RunCompleted: {
            target: 'completed',
            actions: assign(({ event }) => (event.type === 'RunCompleted' ? { output: event.output } : {})),
          },
          RunFailed: { target: 'failed', actions: assign(({ event }) => failureFrom(event)) },
        },
      },
      failing: {
        entry: { type: 'failRun' },
        on: { RunFailed: { target: 'failed', actions: assign(({ event }) => failureFrom(event)) } },
      },
      completed: { type: 'final' },
      failed: { type: 'final' },
      cancelled: { type: 'final' },
    },
  });

const failureFrom = (event: RunEvent): Partial<RunContext> =>
  event.type === 'RunFailed' ? { failure: event.error } : {};

/** Pure policy resolution: the step's own fields, else the blueprint's defaults, else weft's. */
export const resolvePolicy = (
  blueprint: Blueprint,
  step: Step,
  parseDuration: (value: string | number) => number | undefined,
): StepPolicy => {
  const defaults = blueprint.defaults;
  const backoff = { ...defaults?.backoff, ...step.backoff };
  const ms = (value: string | number | undefined, fallback: number) =>
    value === undefined ? fallback : (parseDuration(value) ?? fallback);
  return {
    maxAttempts: step.maxAttempts ?? defaults?.maxAttempts ?? DEFAULT_POLICY.maxAttempts,
    timeoutMs: ms(step.timeout ?? defaults?.timeout, DEFAULT_POLICY.timeoutMs),
    backoff: {
      initialMs: ms(backoff.initial, DEFAULT_POLICY.backoff.initialMs),
      factor: backoff.factor ?? DEFAULT_POLICY.backoff.factor,
      maxMs: ms(backoff.max, DEFAULT_POLICY.backoff.maxMs),
    },
  };
};

/** Delay before attempt `attempt` (≥ 2): initial × factor^(attempt−2), capped at max. Pure. */
export const backoffDelay = (policy: StepPolicy, attempt: number): number =>
  Math.min(
    policy.backoff.maxMs,
    Math.round(policy.backoff.initialMs * policy.backoff.factor ** Math.max(0, attempt - 2)),
  );

/**
 * Compiles a valid blueprint. Pure and deterministic: the same blueprint gives an equivalent
 * machine, so callers may cache by content hash. Throws `UnsupportedStep` for step kinds this
 * runtime does not execute yet.
 */
export const compileBlueprint = (
  blueprint: Blueprint,
  parseDuration: (value: string | number) => number | undefined,
): CompiledRun => {
  const deps = dependencies(blueprint.steps);
  const policies = new Map<string, StepPolicy>();
  const steps = new Map<string, Step>();
  const regions: Record<string, RegionConfig> = {};
  for (const step of blueprint.steps) {
    if (step.type !== 'activity') throw new UnsupportedStep(step.id, step.type);
    const policy = resolvePolicy(blueprint, step, parseDuration);
    policies.set(step.id, policy);
    steps.set(step.id, step);
    regions[step.id] = stepRegion(step, deps.get(step.id) ?? [], policy);
  }
  return { blueprint, machine: compileMachine(regions), policies, steps, deps };
};

export type RunMachine = CompiledRun['machine'];
export type RunSnapshot = SnapshotFrom<RunMachine>;
export type { EventOf };
