import type { JsMsg } from '@nats-io/jetstream';
import { RESEND_HEADER, STALE_TASK_MS, type TaskMessage } from '../gateway/protocol.ts';
import type { Subjects } from '../gateway/subjects.ts';

/**
 * The worker's side of "a task executes once per attempt" (README "Guarantees"). A fresh task —
 * delivered for the first time, published less than `STALE_TASK_MS` ago and not a re-dispatch — is
 * run at once, with no extra round trip. Any other may belong to an attempt already decided or a
 * run that has ended: the worker asks a runtime first (`<p>.tasks.start.<runId>`).
 */

/** Whether a task must be checked with a runtime before it runs. Pure. */
export const mayBeStale = (msg: Pick<JsMsg, 'info' | 'headers'>, now: number): boolean =>
  msg.info.redelivered ||
  msg.headers?.has(RESEND_HEADER) === true ||
  now - msg.info.timestampNanos / 1_000_000 > STALE_TASK_MS;

/**
 * False only when a runtime answered that the attempt is no longer open; no answer (no runtime up,
 * a timeout, an error) keeps at-least-once: the task runs.
 */
export const stillOpen = async (
  task: TaskMessage,
  runtime: { ask(subject: string, body: string): Promise<unknown> },
  subjects: Subjects,
): Promise<boolean> => {
  const reply = await runtime.ask(
    subjects.taskStart(task.runId),
    JSON.stringify({ taskId: task.taskId, runId: task.runId, attempt: task.attempt }),
  );
  if (typeof reply !== 'object' || reply === null) return true;
  const { ok, run } = reply as { ok?: unknown; run?: unknown };
  return !(ok === true && run === false);
};
