import * as Schema from 'effect/Schema';

/**
 * The worker wire protocol (documented in the README for workers in other languages).
 * A task is published to `<p>.tasks.exec.<activity>` (JetStream, work queue). The worker offers its
 * `TaskResult` to a runtime on `<p>.tasks.report.<runId>` (core request; `{"ok":true}` once
 * recorded) or else publishes it on `<p>.tasks.result.<runId>` (JetStream), then acknowledges the task.
 */
export const TaskMessage = Schema.Struct({
  taskId: Schema.String,
  runId: Schema.String,
  stepId: Schema.String,
  /** The item index when the task is one item of a map. */
  item: Schema.optionalKey(Schema.Number),
  attempt: Schema.Number,
  activity: Schema.String,
  input: Schema.Json,
  timeoutMs: Schema.Number,
});
export type TaskMessage = typeof TaskMessage.Type;

const ResultBase = {
  taskId: Schema.String,
  runId: Schema.String,
  stepId: Schema.String,
  attempt: Schema.Number,
};

export const TaskResult = Schema.Union([
  Schema.Struct({ ...ResultBase, ok: Schema.Literal(true), output: Schema.Json }),
  Schema.Struct({
    ...ResultBase,
    ok: Schema.Literal(false),
    error: Schema.Struct({
      message: Schema.String,
      code: Schema.optionalKey(Schema.String),
      retryable: Schema.Boolean,
    }),
  }),
]);
export type TaskResult = typeof TaskResult.Type;

/** Broadcast on `<p>.tasks.cancel` when a run is cancelled: workers abort the task if they run it. */
export const TaskCancel = Schema.Struct({ taskId: Schema.String });

export const decodeTaskMessage = Schema.decodeUnknownResult(TaskMessage);
export const decodeTaskResult = Schema.decodeUnknownResult(TaskResult);
export const decodeTaskCancel = Schema.decodeUnknownResult(TaskCancel);
