import { Schema } from 'effect';

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
});

/** An activity attempt was decided and dispatched. `taskId` is the same on every retry of one execution. */
export const StepScheduled = Schema.Struct({
  type: Schema.Literal('StepScheduled'),
  stepId: Schema.String,
  taskId: Schema.String,
  attempt: Schema.Number,
  activity: Schema.String,
  input: Schema.Json,
  /** Wait this long after the event before dispatching (retry backoff). */
  delayMs: Schema.Number,
  timeoutMs: Schema.Number,
});

export const StepCompleted = Schema.Struct({
  type: Schema.Literal('StepCompleted'),
  stepId: Schema.String,
  taskId: Schema.String,
  attempt: Schema.Number,
  output: Schema.Json,
});

export const StepFailed = Schema.Struct({
  type: Schema.Literal('StepFailed'),
  stepId: Schema.String,
  taskId: Schema.String,
  attempt: Schema.Number,
  error: StepError,
});

/** The step's `if` was false: it is done with output null. */
export const StepSkipped = Schema.Struct({
  type: Schema.Literal('StepSkipped'),
  stepId: Schema.String,
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
  StepCompleted,
  StepFailed,
  StepSkipped,
  RunCompleted,
  RunFailed,
  RunCancelled,
]);
export type RunEvent = typeof RunEvent.Type;
export type RunEventType = RunEvent['type'];
export type EventOf<T extends RunEventType> = Extract<RunEvent, { type: T }>;

export const TERMINAL_EVENTS: ReadonlySet<RunEventType> = new Set(['RunCompleted', 'RunFailed', 'RunCancelled']);
