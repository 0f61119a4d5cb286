import { openTasks, type RunSnapshot } from '../machines/compile.ts';
import { TERMINAL_EVENTS, type EventOf, type RunEvent } from '../machines/events.ts';
import { toOpenTask } from '../machines/transitions.ts';
import type { RecordedEvent } from '../store/EventStore.ts';
import { attemptKey, type TaskMessage } from '../wire/protocol.ts';
import type { Attempts, Held } from './attempts.ts';
import type { Children } from './children.ts';
import type { Clock } from './clock.ts';
import type { AttemptLifecycle } from './lifecycle.ts';
import type { RunReadModel } from './readModel.ts';
import type { LoadedRun } from './runCache.ts';
import type { RunTimers } from './timers.ts';

/** Attempts and child runs open in a context, counted without listing them (a map's in O(1)). */
const openCount = (context: RunSnapshot['context']): number => {
  let count = Object.keys(context.tasks).length + Object.keys(context.children).length;
  for (const map of Object.values(context.maps)) count += map.inflight.size;
  return count;
};

/**
 * Whether a reaction may have dropped an attempt or a child run without an answer (a container
 * left early, a race won, the run unwinding): fewer are open after it than its own events
 * account for. Cheap, so the full comparison runs only then.
 */
const mayHaveDropped = (
  before: RunSnapshot,
  after: RunSnapshot,
  events: readonly RunEvent[],
): boolean => {
  let expected = openCount(before.context);
  for (const e of events) {
    if (e.type === 'StepScheduled' || e.type === 'ChildRequested') expected += 1;
    else if (
      e.type === 'StepCompleted' ||
      e.type === 'StepFailed' ||
      e.type === 'ChildCompleted' ||
      e.type === 'ChildFailed'
    )
      expected -= 1;
  }
  return openCount(after.context) < expected;
};

/**
 * Which of the attempts `events` schedule are to be sent once they are folded into `after`. Not
 * one when they also end the run (a `fail` or `succeed` step decided beside it); not one whose step
 * the same reaction left (a race won at once, a container failed): its `StepScheduled` stays in
 * the stream as decided, but no worker is ever given it, so an activity never runs for a step its
 * run no longer waits for. Cheap unless the reaction may have dropped something.
 */
export const toSend = (
  before: RunSnapshot,
  after: RunSnapshot,
  events: readonly RunEvent[],
  dropped = mayHaveDropped(before, after, events),
): ((scheduled: EventOf<'StepScheduled'>) => boolean) => {
  if (events.some((e) => TERMINAL_EVENTS.has(e.type))) return () => false;
  if (!dropped) return () => true;
  const open = new Set(openTasks(after.context).map(attemptKey));
  return (scheduled) => open.has(attemptKey(scheduled));
};

/** How an ended parent's open child runs are told why they are cancelled. */
const ENDED_HOW = {
  RunCancelled: 'was cancelled',
  RunTimedOut: 'timed out',
  RunFailed: 'failed',
  RunCompleted: 'completed',
} as const;

/** What the run actors do outside the store: the task channel and the events subject. */
export interface Effects {
  /**
   * Sends a task to the workers, after `delayMs`. At least once; results are matched by
   * taskId+attempt. `resend` counts re-dispatches of the same attempt by the reconciler.
   */
  readonly dispatch: (task: TaskMessage, delayMs: number, resend: number) => void;
  /** Whether the tasks stream still holds the attempt's message (see `Attempts`). */
  readonly holds: (task: TaskMessage) => Promise<Held>;
  /** Whether a worker says it is running the attempt (taken directly, in no stream). */
  readonly heldByWorker: (task: TaskMessage) => Promise<boolean>;
  /** Removes an ended run's tasks from the tasks stream (best effort). */
  readonly purgeRun: (runId: string) => void;
  /** Tells workers to abort a task in flight (best effort; its result is ignored anyway). */
  readonly abortTask: (taskId: string) => void;
  /** Publishes one appended event on `<p>.runs.<runId>.events`. */
  readonly publishEvent: (runId: string, event: RecordedEvent) => void;
  /**
   * Offers tasks whose `StepScheduled` is being appended (optional); settled with the append's
   * outcome before the append's events are performed.
   */
  readonly offerEarly?: (
    tasks: readonly TaskMessage[],
  ) => { readonly settle: (committed: boolean) => void } | undefined;
}

export interface PerformerDeps {
  readonly readModel: RunReadModel;
  readonly effects: Effects;
  readonly attempts: Attempts;
  readonly lifecycle: AttemptLifecycle;
  readonly timers: RunTimers;
  readonly children: Children;
  readonly clock: Clock;
}

/**
 * What follows a successful append, event by event: fold it into the read model, publish it,
 * then act on it — dispatch a scheduled attempt, note an answer or a start, arm a timer, start a
 * child, abort and cancel what an ended run left open, tell its parent. Never throws: what fails
 * here is retried by the reconciler, a restart, or the parent's own recovery.
 */
export class Performer {
  readonly #deps: PerformerDeps;

  constructor(deps: PerformerDeps) {
    this.#deps = deps;
  }

  /**
   * A container left early (a caught failure, its timeout, a race won) or the run's unwinding drops
   * what ran inside it from the run (`scopes.ts` `drop`): its attempts are aborted on their workers
   * and its child runs cancelled. Looked at only when a reaction leaves fewer open than its own
   * events account for (`mayHaveDropped`).
   */
  #stopDropped(
    runId: string,
    before: RunSnapshot,
    after: RunSnapshot,
    events: readonly RunEvent[],
    dropped: boolean,
  ): void {
    if (!dropped) return;
    if (events.some((e) => TERMINAL_EVENTS.has(e.type))) return; // the run's end stops them all
    const answered = new Set(
      events.flatMap((e) =>
        e.type === 'StepCompleted' || e.type === 'StepFailed' ? [attemptKey(e)] : [],
      ),
    );
    const open = new Set(openTasks(after.context).map(attemptKey));
    for (const task of openTasks(before.context)) {
      const key = attemptKey(task);
      if (open.has(key) || answered.has(key)) continue;
      this.#deps.effects.abortTask(task.taskId);
      this.#deps.attempts.answered(task.taskId, task.attempt);
    }
    const kept = after.context.children;
    const ended = new Set(
      events.flatMap((e) =>
        e.type === 'ChildCompleted' || e.type === 'ChildFailed' ? [e.childRunId] : [],
      ),
    );
    for (const [key, child] of Object.entries(before.context.children)) {
      if (kept[key]?.childRunId === child.childRunId || ended.has(child.childRunId)) continue;
      void this.#deps.children.cancelOne(runId, child.childRunId, 'left the step that started it');
    }
  }

  perform(
    runId: string,
    run: Pick<LoadedRun, 'parent' | 'snapshot'>,
    before: RunSnapshot,
    events: readonly RunEvent[],
    recorded: readonly RecordedEvent[],
  ): void {
    const { deadlines } = this.#deps.lifecycle;
    // Counted once for both: what the reaction dropped, and what it scheduled but left.
    const dropped = mayHaveDropped(before, run.snapshot, events);
    this.#stopDropped(runId, before, run.snapshot, events, dropped);
    const send = toSend(before, run.snapshot, events, dropped);
    events.forEach((event, i) => {
      const record = recorded[i];
      if (record !== undefined) {
        this.#deps.readModel.project(runId, event, record.revision, record.at);
        this.#deps.effects.publishEvent(runId, record);
      }
      switch (event.type) {
        case 'StepCompleted':
        case 'StepFailed':
          this.#deps.attempts.answered(event.taskId, event.attempt);
          deadlines.answered(event);
          break;
        case 'StepStarted': {
          const task = deadlines.taskOf(event);
          if (task !== undefined) deadlines.started(task, event.time ?? this.#deps.clock.now());
          break;
        }
        case 'StepScheduled':
          if (!send(event)) break;
          this.#deps.attempts.dispatch({ ...toOpenTask(event), runId }, event.delayMs);
          deadlines.dispatched(
            { ...event, runId },
            (record === undefined ? this.#deps.clock.now() : Date.parse(record.at)) + event.delayMs,
          );
          break;
        case 'TimerScheduled':
          this.#deps.timers.arm(runId, event.timerId, event.dueAt);
          break;
        case 'ChildRequested':
          void this.#deps.children.start(runId, event);
          break;
        case 'RunCancelled':
        case 'RunTimedOut':
        case 'RunFailed':
        case 'RunCompleted':
          // What the run left running (other branches, when a step failed or a fail or succeed
          // step ended it early) is no longer wanted.
          for (const task of openTasks(before.context)) this.#deps.effects.abortTask(task.taskId);
          this.#deps.children.cancelAll(runId, before, ENDED_HOW[event.type]);
          break;
        default:
          break;
      }
      if (!TERMINAL_EVENTS.has(event.type)) return;
      this.#deps.attempts.forgetRuns((id) => id === runId);
      deadlines.forgetRuns((id) => id === runId);
      this.#deps.lifecycle.runTimeouts.clear(runId);
      this.#deps.timers.clear((id) => id === runId);
      // Tasks still queued for this run will never be wanted: out of the stream. An attempt
      // completed in this same append (a run's last step) was taken by a worker, so it is not
      // queued any more; one failed may have been failed by the runtime (`no_worker`) while queued.
      const answered = new Set(
        events.flatMap((e) => (e.type === 'StepCompleted' ? [attemptKey(e)] : [])),
      );
      if (openTasks(before.context).some((t) => !answered.has(attemptKey(t))))
        this.#deps.effects.purgeRun(runId);
      const summary = this.#deps.readModel.cached(runId);
      if (run.parent !== undefined && summary !== undefined)
        void this.#deps.children.notifyParent(run.parent, runId, summary);
    });
  }
}
