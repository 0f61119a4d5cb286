import * as Result from 'effect/Result';
import * as Schema from 'effect/Schema';

/**
 * The events of a run's stream (`run-<runId>`), past tense, one Schema each. The stream is the
 * truth: folding these through the run's machine reproduces the run.
 *
 * Time: the store records when each event was committed (`at`). The time a reaction's decisions
 * were made with (`$now()`, a timer's due time) is recorded in the fact that started the reaction
 * (`time`, milliseconds since the epoch): every event that can begin a reaction has it, and replay
 * decides again with exactly that time. Streams recorded before `time` existed lack it; replay
 * then falls back to `at`.
 */

/** When the reaction to this fact was decided (ms since the epoch). Absent only in older streams. */
const time = Schema.optionalKey(Schema.Number);

/** The limits a run was admitted with (`--limits`); absent: the defaults. */
const BlueprintLimits = Schema.Struct({
  maxSteps: Schema.optionalKey(Schema.Number),
  maxDepth: Schema.optionalKey(Schema.Number),
  maxBytes: Schema.optionalKey(Schema.Number),
  maxArrayItems: Schema.optionalKey(Schema.Number),
  maxMapItems: Schema.optionalKey(Schema.Number),
});

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
  /**
   * Set when the run is one item of a map of `steps`: its steps see `$item` (its input) and
   * `$index` (`parent.item`).
   */
  bindsItem: Schema.optionalKey(Schema.Boolean),
  /**
   * The blueprint limits the run was admitted with, when the runtime's differ from the defaults:
   * the run is compiled (on start, reload, restart and replay) and decided under these for life.
   */
  limits: Schema.optionalKey(BlueprintLimits),
  /**
   * The language revision the run is compiled under for life (`LANGUAGE`): 2 — containers own
   * their inside; 3 — `$error` is bound in every step nested in an error handler. Absent in runs
   * started before 2, which replay as they ran.
   */
  language: Schema.optionalKey(Schema.Number),
  time,
});

/** The language revision new runs record in `RunStarted.language`. */
export const LANGUAGE = 3;

/** How a run's blueprint compiles, from what its `RunStarted` recorded. */
export const compileOptionsOf = (started: { readonly language?: number }) => ({
  scopes: (started.language ?? 1) >= 2,
  handlerScope: (started.language ?? 1) >= 3,
});

/** How a new run's blueprint compiles. */
export const CURRENT_LANGUAGE = compileOptionsOf({ language: LANGUAGE });

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
  time,
});

export const StepCompleted = Schema.Struct({
  type: Schema.Literal('StepCompleted'),
  stepId: Schema.String,
  item: Schema.optionalKey(Schema.Number),
  taskId: Schema.String,
  attempt: Schema.Number,
  output: Schema.Json,
  time,
});

export const StepFailed = Schema.Struct({
  type: Schema.Literal('StepFailed'),
  stepId: Schema.String,
  item: Schema.optionalKey(Schema.Number),
  taskId: Schema.String,
  attempt: Schema.Number,
  error: StepError,
  time,
});

/**
 * Why a step will not run: its `if` was false; a step it depends on failed (or was itself skipped
 * for that reason); it is an error handler and nothing failed onto it; it is in a branch (of a
 * condition or switch) that was not taken.
 */
export const SkipReason = Schema.Literals([
  'if_false',
  'dependency_failed',
  'handler_unused',
  'not_taken',
]);
export type SkipReason = typeof SkipReason.Type;

/**
 * A step will not run (this pass): it is done with output null, recorded once with the reason. A
 * skipped composite step's own steps get no event of their own. Streams recorded before reasons
 * existed have `if` skips only, without `reason`.
 */
export const StepSkipped = Schema.Struct({
  type: Schema.Literal('StepSkipped'),
  stepId: Schema.String,
  reason: Schema.optionalKey(SkipReason),
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

/** A `wait` step's `when` held (checked when a signal arrived or data was set): its value. */
export const WaitSatisfied = Schema.Struct({
  type: Schema.Literal('WaitSatisfied'),
  stepId: Schema.String,
  value: Schema.Json,
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
  time,
});

/** A child run was requested; the runtime starts it with this id (idempotent) after the append. */
export const ChildRequested = Schema.Struct({
  type: Schema.Literal('ChildRequested'),
  stepId: Schema.String,
  item: Schema.optionalKey(Schema.Number),
  childRunId: Schema.String,
  blueprint: Schema.String,
  version: Schema.optionalKey(Schema.Number),
  /** The child's blueprint itself, for an item of a map of `steps` (named `blueprint`). */
  content: Schema.optionalKey(Schema.Json),
  input: Schema.Json,
});

export const ChildCompleted = Schema.Struct({
  type: Schema.Literal('ChildCompleted'),
  stepId: Schema.String,
  item: Schema.optionalKey(Schema.Number),
  childRunId: Schema.String,
  output: Schema.Json,
  time,
});

export const ChildFailed = Schema.Struct({
  type: Schema.Literal('ChildFailed'),
  stepId: Schema.String,
  item: Schema.optionalKey(Schema.Number),
  childRunId: Schema.String,
  error: StepError,
  time,
});

/** A signal accepted by the run; `signalId` de-duplicates redeliveries. */
export const SignalReceived = Schema.Struct({
  type: Schema.Literal('SignalReceived'),
  name: Schema.String,
  payload: Schema.Json,
  signalId: Schema.optionalKey(Schema.String),
  handler: Schema.Literals(['store', 'append', 'trigger']),
  time,
});

/**
 * What a run's end records when it unwound first: `compensated` (its compensations and finally
 * steps ran) and the errors of those that failed.
 */
const unwound = {
  compensated: Schema.optionalKey(Schema.Boolean),
  cleanupErrors: Schema.optionalKey(
    Schema.Array(Schema.Struct({ stepId: Schema.String, error: StepError })),
  ),
};

export const RunCompleted = Schema.Struct({
  type: Schema.Literal('RunCompleted'),
  output: Schema.Json,
  ...unwound,
});

export const RunFailed = Schema.Struct({
  type: Schema.Literal('RunFailed'),
  error: RunError,
  /** What a `fail` step gave as the failed run's output. */
  output: Schema.optionalKey(Schema.Json),
  ...unwound,
});

/**
 * A cancel (a reason) or the run's timeout (a length) while the run has compensations or finally
 * steps to run: they run now, and then the run ends `cancelled` or `timed_out`. A cancel while it
 * unwinds ends it at once (`RunCancelled`), as does its timeout.
 */
export const RunUnwinding = Schema.Struct({
  type: Schema.Literal('RunUnwinding'),
  cause: Schema.Literals(['cancelled', 'timed_out']),
  reason: Schema.optionalKey(Schema.String),
  timeoutMs: Schema.optionalKey(Schema.Number),
  time,
});

export const RunCancelled = Schema.Struct({
  type: Schema.Literal('RunCancelled'),
  reason: Schema.String,
  time,
  ...unwound,
});

/** The blueprint's `timeout` passed while the run was running: it ends `timed_out`. */
export const RunTimedOut = Schema.Struct({
  type: Schema.Literal('RunTimedOut'),
  timeoutMs: Schema.Number,
  time,
  ...unwound,
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
  WaitSatisfied,
  TimerScheduled,
  TimerFired,
  ChildRequested,
  ChildCompleted,
  ChildFailed,
  SignalReceived,
  RunUnwinding,
  RunCompleted,
  RunFailed,
  RunCancelled,
  RunTimedOut,
]);
export type RunEvent = typeof RunEvent.Type;
export type RunEventType = RunEvent['type'];
export type EventOf<T extends RunEventType> = Extract<RunEvent, { type: T }>;

/** Every run event type, in the order of the union. */
export const RUN_EVENT_TYPES: readonly RunEventType[] = RunEvent.members.map(
  (member) => member.fields.type.literal,
);

const TIMED: ReadonlySet<RunEventType> = new Set(
  RunEvent.members.filter((member) => 'time' in member.fields).map((m) => m.fields.type.literal),
);

/** The decision time a fact records, if it records one (facts of older streams do not). */
export const timeOf = (event: RunEvent): number | undefined =>
  'time' in event ? event.time : undefined;

/**
 * The fact with its decision time: `time` kept when it has one, else set to `now`. Only event
 * types that can begin a reaction carry a time; any other event is returned as it is.
 */
export const withTime = (event: RunEvent, now: number): RunEvent =>
  TIMED.has(event.type) && timeOf(event) === undefined
    ? ({ ...event, time: now } as RunEvent)
    : event;

export const TERMINAL_EVENTS: ReadonlySet<RunEventType> = new Set([
  'RunCompleted',
  'RunFailed',
  'RunCancelled',
  'RunTimedOut',
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
