import * as Result from 'effect/Result';
import * as Schema from 'effect/Schema';

/**
 * The events of a run's stream (`run-<runId>`), past tense, one Schema each. The stream is the
 * truth: folding these through the run's machine reproduces the run. Times are not in the data;
 * the store records them.
 */

const StepError = Schema.Struct({
  message: Schema.String,
  /** `activity_error`, `terminal`, `timeout`, `expression_error`, `unknown_activity`, … */
  code: Schema.String,
  retryable: Schema.Boolean,
  details: Schema.optionalKey(Schema.Json),
});
export type StepError = typeof StepError.Type;

const RunError = Schema.Struct({
  message: Schema.String,
  code: Schema.String,
  stepId: Schema.optionalKey(Schema.String),
  details: Schema.optionalKey(Schema.Json),
});
export type RunError = typeof RunError.Type;

export const RunStarted = Schema.Struct({
  type: Schema.Literal('RunStarted'),
  runId: Schema.String,
  blueprint: Schema.Struct({
    name: Schema.String,
    version: Schema.Number,
    hash: Schema.String,
    /** The blueprint's full content, pinned for the run's life. */
    content: Schema.Json,
  }),
  input: Schema.Json,
  /** Signals, queries and plugins its start request added for this run alone. */
  extensions: Schema.optionalKey(Schema.Json),
  /** Set when the run is a child run: the parent's step waits for this run's end. */
  parent: Schema.optionalKey(
    Schema.Struct({
      runId: Schema.String,
      stepId: Schema.String,
      item: Schema.optionalKey(Schema.Number),
    }),
  ),
});

/** An activity attempt was decided and dispatched. `taskId` is the same on every retry of one execution. */
export const StepScheduled = Schema.Struct({
  type: Schema.Literal('StepScheduled'),
  stepId: Schema.String,
  /** The item index when the step is the inner step of a map. */
  item: Schema.optionalKey(Schema.Number),
  taskId: Schema.String,
  attempt: Schema.Number,
  activity: Schema.String,
  input: Schema.Json,
  /** Wait this long after the event before dispatching (retry backoff). */
  delayMs: Schema.Number,
  timeoutMs: Schema.Number,
  /**
   * The step's `scheduleTimeout`: when no worker has taken the attempt this long after it was
   * dispatched (the event's commit time plus `delayMs`), it fails with `no_worker`. Only set when
   * the step has one; then the attempt's start is recorded (`StepStarted`).
   */
  scheduleTimeoutMs: Schema.optionalKey(Schema.Number),
});

/**
 * A worker took an attempt of a step with a `scheduleTimeout` (`time`: when the runtime heard it).
 * Its `timeout` runs from then; the machine's state does not change.
 */
export const StepStarted = Schema.Struct({
  type: Schema.Literal('StepStarted'),
  stepId: Schema.String,
  item: Schema.optionalKey(Schema.Number),
  taskId: Schema.String,
  attempt: Schema.Number,
  time: Schema.optionalKey(Schema.Number),
});

export const StepCompleted = Schema.Struct({
  type: Schema.Literal('StepCompleted'),
  stepId: Schema.String,
  item: Schema.optionalKey(Schema.Number),
  taskId: Schema.String,
  attempt: Schema.Number,
  output: Schema.Json,
});

export const StepFailed = Schema.Struct({
  type: Schema.Literal('StepFailed'),
  stepId: Schema.String,
  item: Schema.optionalKey(Schema.Number),
  taskId: Schema.String,
  attempt: Schema.Number,
  error: StepError,
});

/** The step's `if` was false: it is done with output null. */
export const StepSkipped = Schema.Struct({
  type: Schema.Literal('StepSkipped'),
  stepId: Schema.String,
});

/**
 * A step that is not an activity began; `value` is what its expressions decided, so replay never
 * evaluates them again: condition → `"then"`/`"else"`/null, switch → the case index or
 * `"default"` or null, loop → `{count}`, map → `{items}`, child → `{blueprint, version?, input}`,
 * sleep → `{dueAt}`, wait → `{timeoutMs?}`, parallel → null.
 */
export const StepEntered = Schema.Struct({
  type: Schema.Literal('StepEntered'),
  stepId: Schema.String,
  input: Schema.Json,
  value: Schema.Json,
});

/** A loop decided whether to run iteration `iteration` (for `while`, the condition's result). */
export const LoopChecked = Schema.Struct({
  type: Schema.Literal('LoopChecked'),
  stepId: Schema.String,
  iteration: Schema.Number,
  proceed: Schema.Boolean,
});

/** A durable timer; `dueAt` is milliseconds since the epoch. */
export const TimerScheduled = Schema.Struct({
  type: Schema.Literal('TimerScheduled'),
  timerId: Schema.String,
  stepId: Schema.String,
  dueAt: Schema.Number,
});

export const TimerFired = Schema.Struct({
  type: Schema.Literal('TimerFired'),
  timerId: Schema.String,
});

/** A child run was requested; the runtime starts it with this id (idempotent) after the append. */
export const ChildRequested = Schema.Struct({
  type: Schema.Literal('ChildRequested'),
  stepId: Schema.String,
  item: Schema.optionalKey(Schema.Number),
  childRunId: Schema.String,
  blueprint: Schema.String,
  version: Schema.optionalKey(Schema.Number),
  input: Schema.Json,
});

export const ChildCompleted = Schema.Struct({
  type: Schema.Literal('ChildCompleted'),
  stepId: Schema.String,
  item: Schema.optionalKey(Schema.Number),
  childRunId: Schema.String,
  output: Schema.Json,
});

export const ChildFailed = Schema.Struct({
  type: Schema.Literal('ChildFailed'),
  stepId: Schema.String,
  item: Schema.optionalKey(Schema.Number),
  childRunId: Schema.String,
  error: StepError,
});

/** A signal accepted by the run; `signalId` de-duplicates redeliveries. */
export const SignalReceived = Schema.Struct({
  type: Schema.Literal('SignalReceived'),
  name: Schema.String,
  payload: Schema.Json,
  signalId: Schema.optionalKey(Schema.String),
  handler: Schema.Literals(['store', 'append', 'trigger']),
});

export const RunCompleted = Schema.Struct({
  type: Schema.Literal('RunCompleted'),
  output: Schema.Json,
});

export const RunFailed = Schema.Struct({
  type: Schema.Literal('RunFailed'),
  error: RunError,
});

export const RunCancelled = Schema.Struct({
  type: Schema.Literal('RunCancelled'),
  reason: Schema.String,
});

export const RunEvent = Schema.Union([
  RunStarted,
  StepScheduled,
  StepStarted,
  StepCompleted,
  StepFailed,
  StepSkipped,
  StepEntered,
  LoopChecked,
  TimerScheduled,
  TimerFired,
  ChildRequested,
  ChildCompleted,
  ChildFailed,
  SignalReceived,
  RunCompleted,
  RunFailed,
  RunCancelled,
]);
export type RunEvent = typeof RunEvent.Type;
export type RunEventType = RunEvent['type'];
export type EventOf<T extends RunEventType> = Extract<RunEvent, { type: T }>;

/** Every run event type, in the order of the union. */
export const RUN_EVENT_TYPES: readonly RunEventType[] = RunEvent.members.map(
  (member) => member.fields.type.literal,
);

export const TERMINAL_EVENTS: ReadonlySet<RunEventType> = new Set([
  'RunCompleted',
  'RunFailed',
  'RunCancelled',
]);

const decodeRunEvent = Schema.decodeUnknownResult(RunEvent);

/** A stored event (type and data apart) as a run event, checked by its Schema; throws if it is not one. */
export const toRunEvent = (stored: {
  readonly revision: number;
  readonly type: string;
  readonly data: unknown;
}): RunEvent => {
  const decoded = decodeRunEvent({ ...(stored.data as object), type: stored.type });
  if (Result.isFailure(decoded))
    throw new Error(`revision ${stored.revision}: not a run event: ${decoded.failure.message}`);
  return decoded.success;
};
