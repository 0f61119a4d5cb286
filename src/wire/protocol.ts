import * as Schema from 'effect/Schema';
import { NAME, RUN_ID } from '../blueprints/names.ts';

/**
 * The worker wire protocol (documented in the README for workers in other languages).
 * A task is published to `<p>.tasks.exec.<activity>.<runId>.<task>.<attempt>` (JetStream, work
 * queue; `Subjects.task`). The worker offers its
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
  /**
   * Set when the step has a `scheduleTimeout`: the worker must ask (`TaskStart`) before running the
   * task, and runs it only when told to (the runtime records the start, or has failed the attempt
   * with `no_worker`).
   */
  scheduleTimeoutMs: Schema.optionalKey(Schema.Number),
  /**
   * Set on a task offered before its `StepScheduled` was durable (README "Worker wire protocol"
   * 2a): the worker echoes it in the result, so that a result of an offer whose append then failed
   * is told apart from one of the attempt decided again.
   */
  offerId: Schema.optionalKey(Schema.String),
});
export type TaskMessage = typeof TaskMessage.Type;

/**
 * One attempt's key, `<taskId>/<attempt>`: how the runtime tracks attempts, and how a runtime and
 * the workers name them on `<p>.tasks.held`.
 */
export const attemptKey = (attempt: {
  readonly taskId: string;
  readonly attempt: number;
}): string => `${attempt.taskId}/${String(attempt.attempt)}`;

const ResultBase = {
  taskId: Schema.String,
  runId: Schema.String,
  stepId: Schema.String,
  attempt: Schema.Number,
  /** The task's `offerId`, echoed. */
  offerId: Schema.optionalKey(Schema.String),
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

/**
 * Sent by a worker on `<p>.tasks.start.<runId>` when it starts an attempt. As a core request
 * before it runs a task that may be stale (redelivered, re-dispatched, or waiting in the queue
 * longer than `STALE_TASK_MS`) or has `scheduleTimeoutMs`: a runtime answers
 * `{"ok":true,"run":boolean}`, `run:false` when the attempt was decided or the run has ended, and
 * the worker acknowledges the task without running it; no answer: the worker runs it. Any other
 * task: a plain publish, not waited for (the runtime's `timeout` of the attempt runs from it).
 */
export const TaskStart = Schema.Struct({
  taskId: Schema.String,
  runId: Schema.String,
  attempt: Schema.Number,
});
export type TaskStart = typeof TaskStart.Type;

/** A task published longer ago than this is checked with `TaskStart` before it runs. */
export const STALE_TASK_MS = 1_000;

/** Header of a task the runtime re-dispatched (its value: the re-dispatch count); checked too. */
export const RESEND_HEADER = 'Weft-Resend';

export const decodeTaskStart = Schema.decodeUnknownResult(TaskStart);
export const decodeTaskMessage = Schema.decodeUnknownResult(TaskMessage);
export const decodeTaskResult = Schema.decodeUnknownResult(TaskResult);
export const decodeTaskCancel = Schema.decodeUnknownResult(TaskCancel);

const ActivityName = Schema.String.pipe(Schema.check(Schema.isPattern(NAME)));
const WorkerId = Schema.String.pipe(Schema.check(Schema.isPattern(RUN_ID)));

/** One activity a worker serves; `input`/`output` are JSON Schemas, descriptive only. */
export const ActivityAnnouncement = Schema.Struct({
  name: ActivityName,
  description: Schema.optionalKey(Schema.String),
  input: Schema.optionalKey(Schema.Json),
  output: Schema.optionalKey(Schema.Json),
});
export type ActivityAnnouncement = typeof ActivityAnnouncement.Type;

/**
 * Published by a worker on `<p>.workers.announce` at start, every `heartbeatMs`, and whenever a
 * runtime asks on `<p>.workers.discover`. A runtime counts the worker live until it has missed a
 * few heartbeats, or until it says goodbye on `<p>.workers.goodbye`.
 */
export const WorkerAnnouncement = Schema.Struct({
  workerId: WorkerId,
  activities: Schema.Array(ActivityAnnouncement),
  heartbeatMs: Schema.Number.pipe(Schema.check(Schema.isFinite(), Schema.isGreaterThan(0))),
});
export type WorkerAnnouncement = typeof WorkerAnnouncement.Type;

export const WorkerGoodbye = Schema.Struct({ workerId: WorkerId });

export const decodeWorkerAnnouncement = Schema.decodeUnknownResult(WorkerAnnouncement);
export const decodeWorkerGoodbye = Schema.decodeUnknownResult(WorkerGoodbye);
