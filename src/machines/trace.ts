import type { Json } from '../blueprints/json.ts';
import type { CompiledRun, RunContext } from './compile.ts';
import {
  timeOf,
  type EventOf,
  type RunError,
  type RunEvent,
  type SkipReason,
  type StepError,
} from './events.ts';
import { evolve, initialSnapshot } from './run.ts';

/**
 * What a simulated run did, read from its stream: the path it took (one entry per thing that
 * happened to a step, a signal or a timer, in order, with the simulated time since the start) and
 * a summary per step. Pure: the stream is folded again event by event to see when each step that
 * is not an activity finished.
 */

/** Milliseconds since the run started. */
type At = { readonly at: number };
type Outcome = { readonly output: Json } | { readonly error: StepError };

export type PathEntry = At &
  (
    | ({
        readonly kind: 'activity';
        readonly step: string;
        readonly item?: number;
        readonly activity: string;
        readonly attempt: number;
        readonly input: Json;
      } & Outcome)
    /** A step failed without an attempt: an expression, a bad value, a container's timeout. */
    | {
        readonly kind: 'failed';
        readonly step: string;
        readonly item?: number;
        readonly error: StepError;
      }
    | { readonly kind: 'skipped'; readonly step: string; readonly reason: SkipReason | null }
    /** A step that is not an activity began; `value` is what it decided (as `StepEntered` records it). */
    | {
        readonly kind: 'entered';
        readonly step: string;
        readonly type: string;
        readonly input: Json;
        readonly value: Json;
        /** A switch: the case taken (its key). */
        readonly case?: string;
        /** A wait: the signal it waits for. */
        readonly signal?: string;
        /** A sleep: how long it sleeps. */
        readonly sleepMs?: number;
      }
    | {
        readonly kind: 'iteration';
        readonly step: string;
        readonly iteration: number;
        readonly proceed: boolean;
      }
    /** A `wait` step's `when` held. */
    | { readonly kind: 'satisfied'; readonly step: string; readonly value: Json }
    | ({
        readonly kind: 'child';
        readonly step: string;
        readonly item?: number;
        readonly blueprint: string;
        readonly input: Json;
        /** The child run, when the simulation ran it (an item of a map of `steps`). */
        readonly run?: SimulatedRun;
      } & Outcome)
    | {
        readonly kind: 'signal';
        readonly name: string;
        readonly payload: Json;
        readonly handler: string;
      }
    | { readonly kind: 'timer'; readonly step: string }
    /** A step that is not an activity finished, with its output. */
    | { readonly kind: 'done'; readonly step: string; readonly type: string; readonly output: Json }
    | { readonly kind: 'unwinding'; readonly cause: string }
  );

export interface ItemSummary {
  input?: Json;
  output?: Json;
  error?: StepError;
  attempts?: number;
}

export interface StepSummary {
  readonly type: string;
  /** The latest input it ran with. */
  input?: Json;
  /** `$steps.<id>` at the end. */
  output?: Json;
  /** Its latest failure, when its latest attempt (or entry) failed. */
  error?: StepError;
  /** An activity's attempts in its latest execution. */
  attempts?: number;
  skipped?: SkipReason | null;
  /** A map's items (of an activity or a child step), by index. */
  items?: ItemSummary[];
}

/** What a run that cannot go on waits for. */
export type Waiting =
  | { readonly step: string; readonly signal: string }
  | { readonly step: string; readonly when: string }
  | { readonly step: string; readonly timer: string }
  | {
      readonly step: string;
      readonly item?: number;
      readonly child: string;
      readonly waitingFor: readonly Waiting[];
    };

export type SimulationStatus =
  | 'completed'
  | 'failed'
  | 'cancelled'
  | 'timed_out'
  /** Nothing more can happen: it waits for a signal, a timer or a child run that never comes. */
  | 'waiting'
  /** The simulation could not go on: an activity or child had no canned result, or it ran too long. */
  | 'incomplete';

export interface SimulatedRun {
  readonly runId: string;
  readonly blueprint: string;
  /** When it started (ISO; the results file's `start` for the top run). */
  readonly startedAt: string;
  readonly status: SimulationStatus;
  readonly input: Json;
  readonly path: readonly PathEntry[];
  readonly steps: Readonly<Record<string, StepSummary>>;
  readonly output?: Json;
  readonly error?: RunError;
  readonly waitingFor?: readonly Waiting[];
  /** Why an incomplete simulation stopped. */
  readonly problem?: string;
  /** Simulated time from the start to the last fact. */
  readonly elapsedMs: number;
}

const outcomeOf = (event: RunEvent): Outcome =>
  event.type === 'StepFailed' || event.type === 'ChildFailed'
    ? { error: event.error }
    : { output: 'output' in event ? (event.output ?? null) : null };

/** What a `StepEntered` decided, in words the path can show: a switch's case, a wait's signal, a sleep's length. */
const decided = (
  compiled: CompiledRun,
  event: EventOf<'StepEntered'>,
  time: number,
): { case?: string; signal?: string; sleepMs?: number } => {
  const step = compiled.plan.steps.get(event.stepId)?.step;
  const { value } = event;
  if (step?.type === 'switch' && typeof value === 'number') {
    const key = Object.keys(step.cases)[value];
    return key === undefined ? {} : { case: key };
  }
  if (step?.type === 'wait' && step.signal !== undefined) return { signal: step.signal };
  if (step?.type === 'sleep' && value !== null && typeof value === 'object' && 'dueAt' in value) {
    const dueAt = (value as { readonly dueAt: Json }).dueAt;
    return typeof dueAt === 'number' ? { sleepMs: Math.max(0, dueAt - time) } : {};
  }
  return {};
};

/**
 * The path of a run and its steps' summaries, from its stream. `children`: the child runs the
 * simulation ran itself, by child run id.
 */
export const traceOf = (
  compiled: CompiledRun,
  stream: readonly RunEvent[],
  children: ReadonlyMap<string, SimulatedRun>,
): {
  readonly path: readonly PathEntry[];
  readonly steps: Record<string, StepSummary>;
  readonly context: RunContext;
  readonly elapsedMs: number;
} => {
  const typeOf = (id: string) => compiled.plan.steps.get(id)?.step.type ?? 'activity';
  const path: PathEntry[] = [];
  const steps: Record<string, StepSummary> = {};
  const summary = (id: string): StepSummary => (steps[id] ??= { type: typeOf(id) });
  const item = (id: string, index: number): ItemSummary => {
    const s = summary(id);
    s.items ??= [];
    return (s.items[index] ??= {});
  };
  const settle = (target: StepSummary | ItemSummary, outcome: Outcome) => {
    if ('error' in outcome) {
      target.error = outcome.error;
      delete target.output;
    } else {
      target.output = outcome.output;
      delete target.error;
    }
  };
  const scheduled = new Map<string, EventOf<'StepScheduled'>>();
  const requested = new Map<string, EventOf<'ChildRequested'>>();
  const timers = new Map<string, string>();
  /** Steps entered and not yet reported done. */
  const open = new Set<string>();
  let snapshot = initialSnapshot(compiled);
  let start: number | undefined;
  /** The last fact's time, and the same since the start. */
  let clock = 0;
  let now = 0;

  for (const event of stream) {
    const time = timeOf(event);
    if (time !== undefined) {
      start ??= time;
      clock = time;
      now = time - start;
    }
    const at = now;
    const before = snapshot.context;
    snapshot = evolve(compiled, snapshot, event).snapshot;
    switch (event.type) {
      case 'StepScheduled': {
        scheduled.set(`${event.taskId}/${event.attempt}`, event);
        const target =
          event.item === undefined ? summary(event.stepId) : item(event.stepId, event.item);
        target.input = event.input;
        target.attempts = event.attempt;
        break;
      }
      case 'StepCompleted':
      case 'StepFailed': {
        const where = event.item === undefined ? {} : { item: event.item };
        const target =
          event.item === undefined ? summary(event.stepId) : item(event.stepId, event.item);
        settle(target, outcomeOf(event));
        const attempt = scheduled.get(`${event.taskId}/${event.attempt}`);
        if (attempt === undefined && event.type === 'StepFailed')
          path.push({ at, kind: 'failed', step: event.stepId, ...where, error: event.error });
        else
          path.push({
            at,
            kind: 'activity',
            step: event.stepId,
            ...where,
            activity: attempt?.activity ?? '',
            attempt: event.attempt,
            input: attempt?.input ?? null,
            ...outcomeOf(event),
          });
        break;
      }
      case 'StepSkipped':
        summary(event.stepId).skipped = event.reason ?? null;
        path.push({ at, kind: 'skipped', step: event.stepId, reason: event.reason ?? null });
        break;
      case 'StepEntered': {
        const s = summary(event.stepId);
        s.input = event.input;
        delete s.error;
        delete s.skipped;
        open.add(event.stepId);
        path.push({
          at,
          kind: 'entered',
          step: event.stepId,
          type: s.type,
          input: event.input,
          value: event.value,
          ...decided(compiled, event, clock),
        });
        break;
      }
      case 'LoopChecked':
        path.push({
          at,
          kind: 'iteration',
          step: event.stepId,
          iteration: event.iteration,
          proceed: event.proceed,
        });
        break;
      case 'WaitSatisfied':
        path.push({ at, kind: 'satisfied', step: event.stepId, value: event.value });
        break;
      case 'TimerScheduled':
        timers.set(event.timerId, event.stepId);
        break;
      case 'TimerFired':
        path.push({ at, kind: 'timer', step: timers.get(event.timerId) ?? event.timerId });
        break;
      case 'ChildRequested':
        requested.set(event.childRunId, event);
        break;
      case 'ChildCompleted':
      case 'ChildFailed': {
        const request = requested.get(event.childRunId);
        const where = event.item === undefined ? {} : { item: event.item };
        const target =
          event.item === undefined ? summary(event.stepId) : item(event.stepId, event.item);
        target.input = request?.input ?? null;
        settle(target, outcomeOf(event));
        const run = children.get(event.childRunId);
        path.push({
          at,
          kind: 'child',
          step: event.stepId,
          ...where,
          blueprint: request?.blueprint ?? '',
          input: request?.input ?? null,
          ...outcomeOf(event),
          ...(run === undefined ? {} : { run }),
        });
        break;
      }
      case 'SignalReceived':
        path.push({
          at,
          kind: 'signal',
          name: event.name,
          payload: event.payload,
          handler: event.handler,
        });
        break;
      case 'RunUnwinding':
        path.push({ at, kind: 'unwinding', cause: event.cause });
        break;
      case 'RunStarted':
      case 'StepStarted':
      case 'RunCompleted':
      case 'RunFailed':
      case 'RunCancelled':
      case 'RunTimedOut':
        break;
    }
    const { done, steps: outputs, routing } = snapshot.context;
    // A step failed by the machine itself (a wait's or a container's timeout, a failure inside
    // a container that catches it): no event of its own says so.
    for (const [id, error] of Object.entries(routing.lastError)) {
      if (error === before.routing.lastError[id] || !compiled.plan.steps.has(id)) continue;
      if ('stepId' in event && event.stepId === id && event.type.endsWith('Failed')) continue;
      settle(summary(id), { error });
      path.push({ at, kind: 'failed', step: id, error });
    }
    for (const id of open) {
      if (done[id] !== true || before.done[id] === true) continue;
      open.delete(id);
      path.push({ at, kind: 'done', step: id, type: typeOf(id), output: outputs[id] ?? null });
    }
  }
  const { context } = snapshot;
  for (const [id, s] of Object.entries(steps))
    if (id in context.steps) s.output = context.steps[id] ?? null;
  return { path, steps, context, elapsedMs: now };
};

/** The `wait` steps waiting and, with `timers`, the open timers (that never fire) of a stuck run. */
export const waitsOf = (compiled: CompiledRun, context: RunContext, timers: boolean): Waiting[] => {
  const waits: Waiting[] = [];
  for (const [id, info] of compiled.plan.steps) {
    const { step } = info;
    if (step.type !== 'wait' || context.entered[id] === undefined || context.done[id] === true)
      continue;
    waits.push(
      step.signal === undefined
        ? { step: id, when: step.when ?? '' }
        : { step: id, signal: step.signal },
    );
  }
  if (timers)
    for (const timer of Object.values(context.timers))
      waits.push({ step: timer.stepId, timer: new Date(timer.dueAt).toISOString() });
  return waits;
};
