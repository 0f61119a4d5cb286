import type { Json } from '../blueprints/json.ts';
import { openTaskById, type RunSnapshot } from './compile.ts';
import type { RunEvent } from './events.ts';
import { taskIdParts } from './identity.ts';
import type { Handlers } from './handlers.ts';
import { statusOf } from './run.ts';

/**
 * Whether a message to a run becomes an event, pure: each rule looks at the run's folded state
 * (and, for a timer, at a time passed in) and returns the event to record, `undefined` when there
 * is nothing to record (a stale or repeated message), or a refusal the caller reports. The shell
 * turns refusals into reply errors; nothing here throws.
 */

/** A message the run refuses, with the reply code and what to tell the caller. */
export interface Refusal {
  readonly refused: 'run_not_running' | 'unknown_signal' | 'payload_too_large';
  readonly message: string;
  readonly details: Readonly<Record<string, Json>>;
}

/** Not yet due: the timer should fire at `dueAt`. */
export interface NotYet {
  readonly notYet: number;
}

export const isRefusal = (decision: RunEvent | Refusal | NotYet | undefined): decision is Refusal =>
  decision !== undefined && 'refused' in decision;

export const isNotYet = (decision: RunEvent | NotYet | undefined): decision is NotYet =>
  decision !== undefined && 'notYet' in decision;

/** A worker's answer to one attempt (the wire's `TaskResult` without its routing fields). */
export type WorkerResult = { readonly taskId: string; readonly attempt: number } & (
  | { readonly ok: true; readonly output: Json }
  | {
      readonly ok: false;
      readonly error: {
        readonly message: string;
        readonly code?: string | undefined;
        readonly retryable: boolean;
      };
    }
);

/** What a child run's end means to its parent. */
export type ChildResult =
  | { readonly ok: true; readonly output: Json }
  | {
      readonly ok: false;
      readonly error: { code: string; message: string; retryable: boolean };
    };

/** Where a child run reports: its parent run and the step (and map item) that started it. */
export interface ParentRef {
  readonly runId: string;
  readonly stepId: string;
  readonly item?: number;
}

const notRunning = (runId: string, snapshot: RunSnapshot): Refusal | undefined => {
  const status = statusOf(snapshot);
  return status === 'running'
    ? undefined
    : {
        refused: 'run_not_running',
        message: `run '${runId}' is ${status}`,
        details: { runId, status },
      };
};

/** A worker's result: recorded when the run is running and this attempt is its open one. */
export const resultEvent = (snapshot: RunSnapshot, result: WorkerResult): RunEvent | undefined => {
  const open = openTaskById(snapshot.context, result.taskId);
  if (statusOf(snapshot) !== 'running' || open === undefined || open.attempt !== result.attempt)
    return undefined;
  const base = {
    stepId: open.stepId,
    ...(open.item === undefined ? {} : { item: open.item }),
    taskId: result.taskId,
    attempt: result.attempt,
  };
  return result.ok
    ? { type: 'StepCompleted', ...base, output: result.output }
    : {
        type: 'StepFailed',
        ...base,
        error: {
          message: result.error.message,
          code: result.error.code ?? 'activity_error',
          retryable: result.error.retryable,
        },
      };
};

/** Signals one run stores over its whole life unless the runtime says otherwise (`--max-signals`). */
export const DEFAULT_MAX_SIGNALS = 10_000;

/**
 * Where a worker's result stands in the run: `open` (its attempt is the one in flight: record
 * it), `settled` (an attempt the run sent and has decided since, or of a run that ended: a late
 * or repeated result, nothing to record), or `never_sent` (no attempt of this run has that task
 * id and number: a forged or misrouted result, refused). Sent means: the task id is one this run
 * made (`taskIdFor`: its own run id, a step it executed, an execution it reached) and the attempt
 * is not beyond the one in flight. What a settled execution's last attempt was is not kept, so any
 * attempt of it counts as sent.
 */
export const resultStanding = (
  runId: string,
  snapshot: RunSnapshot,
  result: Pick<WorkerResult, 'taskId' | 'attempt'>,
): 'open' | 'settled' | 'never_sent' => {
  const parts = taskIdParts(result.taskId);
  const { context } = snapshot;
  if (
    parts === undefined ||
    parts.runId !== runId ||
    !Number.isInteger(result.attempt) ||
    result.attempt < 1 ||
    parts.execution < 1 ||
    parts.execution > (context.executions[parts.stepId] ?? 0)
  )
    return 'never_sent';
  const open = openTaskById(context, result.taskId);
  if (open === undefined || open.attempt < result.attempt)
    return open === undefined ? 'settled' : 'never_sent';
  return open.attempt === result.attempt && statusOf(snapshot) === 'running' ? 'open' : 'settled';
};

/**
 * A signal: refused unless the run is running and accepts the name; a `signalId` already recorded
 * is nothing to record (the signal was received before, and is accepted again however many the
 * run holds). A new signal once the run holds `maxSignals` is refused with `payload_too_large`:
 * like the payload cap, the limit bounds what one run stores (its history, `$signals`), and the
 * same signal sent again would be refused again.
 */
export const signalEvent = (
  run: { readonly runId: string; readonly snapshot: RunSnapshot; readonly handlers: Handlers },
  signal: { readonly name: string; readonly payload: Json; readonly signalId: string },
  maxSignals = DEFAULT_MAX_SIGNALS,
): RunEvent | Refusal | undefined => {
  const refused = notRunning(run.runId, run.snapshot);
  if (refused !== undefined) return refused;
  const handler = run.handlers.signals.get(signal.name);
  if (handler === undefined) {
    return {
      refused: 'unknown_signal',
      message: `run '${run.runId}' accepts no signal '${signal.name}'`,
      details: { runId: run.runId, name: signal.name, accepted: [...run.handlers.signals.keys()] },
    };
  }
  const { signals } = run.snapshot.context;
  if (signals.some((s) => s.signalId === signal.signalId)) return undefined;
  if (signals.length >= maxSignals) {
    return {
      refused: 'payload_too_large',
      message: `run '${run.runId}' holds ${signals.length} signals, the most one run stores (--max-signals ${maxSignals}); signal '${signal.name}' is not recorded`,
      details: { runId: run.runId, name: signal.name, signals: signals.length, maxSignals },
    };
  }
  return { type: 'SignalReceived', ...signal, handler };
};

/**
 * How a cancel or the run's timeout ends a running run: at once, or — when it has compensations
 * or finally steps to run — by unwinding first (`RunUnwinding`). A run already unwinding ends at
 * once: a second cancel does not wait for its compensations.
 */
export const endingEvent = (
  snapshot: RunSnapshot,
  end: { readonly reason: string } | { readonly timeoutMs: number },
): RunEvent => {
  const { routing } = snapshot.context;
  if (routing.undo.length > 0 && routing.unwinding === null)
    return 'reason' in end
      ? { type: 'RunUnwinding', cause: 'cancelled', reason: end.reason }
      : { type: 'RunUnwinding', cause: 'timed_out', timeoutMs: end.timeoutMs };
  return 'reason' in end
    ? { type: 'RunCancelled', reason: end.reason }
    : { type: 'RunTimedOut', timeoutMs: end.timeoutMs };
};

/** A cancel: refused unless the run is running. */
export const cancelEvent = (
  runId: string,
  snapshot: RunSnapshot,
  reason: string,
): RunEvent | Refusal => notRunning(runId, snapshot) ?? endingEvent(snapshot, { reason });

/**
 * A timer's firing at time `now`: recorded when the run is running, the timer open and due;
 * before `dueAt` it is not yet due (the wall clock may lag the monotonic one timers use).
 */
export const timerEvent = (
  snapshot: RunSnapshot,
  timerId: string,
  now: number,
): RunEvent | NotYet | undefined => {
  const timer = snapshot.context.timers[timerId];
  if (statusOf(snapshot) !== 'running' || timer === undefined) return undefined;
  if (now < timer.dueAt) return { notYet: timer.dueAt };
  return { type: 'TimerFired', timerId };
};

/** A child run's end: recorded when the parent is running and still waits for that child. */
export const childResultEvent = (
  snapshot: RunSnapshot,
  parent: ParentRef,
  childRunId: string,
  result: ChildResult,
): RunEvent | undefined => {
  const open = Object.values(snapshot.context.children).some((c) => c.childRunId === childRunId);
  if (statusOf(snapshot) !== 'running' || !open) return undefined;
  const base = {
    stepId: parent.stepId,
    ...(parent.item === undefined ? {} : { item: parent.item }),
    childRunId,
  };
  return result.ok
    ? { type: 'ChildCompleted', ...base, output: result.output }
    : { type: 'ChildFailed', ...base, error: result.error };
};
