import type { JsMsg } from '@nats-io/jetstream';
import { RESEND_HEADER, STALE_TASK_MS, type TaskMessage } from '../wire/protocol.ts';
import type { Subjects } from '../wire/subjects.ts';

/**
 * The worker's side of "a task executes once per attempt" and of the runtime's deadlines (README
 * "Guarantees"). A fresh task — delivered for the first time, published less than `STALE_TASK_MS`
 * ago, not a re-dispatch, and of a step without `scheduleTimeout` — is run at once: the worker
 * only tells a runtime it started (`<p>.tasks.start.<runId>`, a plain publish, not waited for).
 * Any other may belong to an attempt already decided or a run that has ended, or must have its
 * start recorded: the worker asks a runtime first, on the same subject.
 */

/** Whether a task must be checked with a runtime before it runs. Pure. */
export const mayBeStale = (msg: Pick<JsMsg, 'info' | 'headers'>, now: number): boolean =>
  msg.info.redelivered ||
  msg.headers?.has(RESEND_HEADER) === true ||
  now - msg.info.timestampNanos / 1_000_000 > STALE_TASK_MS;

/** Whether the worker must ask a runtime before running the task (and wait for its answer). Pure. */
export const mustAsk = (
  msg: Pick<JsMsg, 'info' | 'headers'>,
  task: Pick<TaskMessage, 'scheduleTimeoutMs'>,
  now: number,
): boolean => task.scheduleTimeoutMs !== undefined || mayBeStale(msg, now);

const startOf = (task: TaskMessage): string =>
  JSON.stringify({ taskId: task.taskId, runId: task.runId, attempt: task.attempt });

/** Tells a runtime the worker starts the task (its `timeout` runs from now); not waited for. */
export const tellStart = (
  task: TaskMessage,
  runtime: { tell(subject: string, body: string): void },
  subjects: Subjects,
): void => runtime.tell(subjects.taskStart(task.runId), startOf(task));

/**
 * False only when a runtime answered that the attempt is no longer open; no answer (no runtime up,
 * a timeout, an error) keeps at-least-once: the task runs.
 */
export const stillOpen = async (
  task: TaskMessage,
  runtime: { ask(subject: string, body: string): Promise<unknown> },
  subjects: Subjects,
): Promise<boolean> => {
  const reply = await runtime.ask(subjects.taskStart(task.runId), startOf(task));
  if (typeof reply !== 'object' || reply === null) return true;
  const { ok, run } = reply as { ok?: unknown; run?: unknown };
  return !(ok === true && run === false);
};
