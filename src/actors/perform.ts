import { openTasks, type RunSnapshot } from '../machines/compile.ts';
import { TERMINAL_EVENTS, type RunEvent } from '../machines/events.ts';
import { toOpenTask } from '../machines/transitions.ts';
import type { RecordedEvent } from '../store/EventStore.ts';
import type { TaskMessage } from '../wire/protocol.ts';
import type { Attempts, Held } from './attempts.ts';
import type { Children } from './children.ts';
import type { Clock } from './clock.ts';
import type { AttemptLifecycle } from './lifecycle.ts';
import type { RunReadModel } from './readModel.ts';
import type { LoadedRun } from './runCache.ts';
import type { RunTimers } from './timers.ts';

/** What the run actors do outside the store: the task channel and the events subject. */
export interface Effects {
  /**
   * Sends a task to the workers, after `delayMs`. At least once; results are matched by
   * taskId+attempt. `resend` counts re-dispatches of the same attempt by the reconciler.
   */
  readonly dispatch: (task: TaskMessage, delayMs: number, resend: number) => void;
  /** Whether the tasks stream still holds the attempt's message (see `Attempts`). */
  readonly holds: (task: TaskMessage) => Promise<Held>;
  /** Removes an ended run's tasks from the tasks stream (best effort). */
  readonly purgeRun: (runId: string) => void;
  /** Tells workers to abort a task in flight (best effort; its result is ignored anyway). */
  readonly abortTask: (taskId: string) => void;
  /** Publishes one appended event on `<p>.runs.<runId>.events`. */
  readonly publishEvent: (runId: string, event: RecordedEvent) => void;
}

/**
 * What follows a successful append, event by event: fold it into the read model, publish it,
 * then act on it — dispatch a scheduled attempt, note an answer or a start, arm a timer, start a
 * child, abort and cancel what an ended run left open, tell its parent. Never throws: what fails
 * here is retried by the reconciler, a restart, or the parent's own recovery.
 */
export class Performer {
  readonly #readModel: RunReadModel;
  readonly #effects: Effects;
  readonly #attempts: Attempts;
  readonly #lifecycle: AttemptLifecycle;
  readonly #timers: RunTimers;
  readonly #children: Children;
  readonly #clock: Clock;

  constructor(deps: {
    readonly readModel: RunReadModel;
    readonly effects: Effects;
    readonly attempts: Attempts;
    readonly lifecycle: AttemptLifecycle;
    readonly timers: RunTimers;
    readonly children: Children;
    readonly clock: Clock;
  }) {
    this.#readModel = deps.readModel;
    this.#effects = deps.effects;
    this.#attempts = deps.attempts;
    this.#lifecycle = deps.lifecycle;
    this.#timers = deps.timers;
    this.#children = deps.children;
    this.#clock = deps.clock;
  }

  perform(
    runId: string,
    run: Pick<LoadedRun, 'parent'>,
    before: RunSnapshot,
    events: readonly RunEvent[],
    recorded: readonly RecordedEvent[],
  ): void {
    const { deadlines } = this.#lifecycle;
    events.forEach((event, i) => {
      const record = recorded[i];
      if (record !== undefined) {
        this.#readModel.project(runId, event, record.revision, record.at);
        this.#effects.publishEvent(runId, record);
      }
      switch (event.type) {
        case 'StepCompleted':
        case 'StepFailed':
          this.#attempts.answered(event.taskId, event.attempt);
          deadlines.answered(event);
          break;
        case 'StepStarted': {
          const task = deadlines.taskOf(event);
          if (task !== undefined) deadlines.started(task, event.time ?? this.#clock.now());
          break;
        }
        case 'StepScheduled':
          this.#attempts.dispatch({ ...toOpenTask(event), runId }, event.delayMs);
          deadlines.dispatched(
            { ...event, runId },
            (record === undefined ? this.#clock.now() : Date.parse(record.at)) + event.delayMs,
          );
          break;
        case 'TimerScheduled':
          this.#timers.arm(runId, event.timerId, event.dueAt);
          break;
        case 'ChildRequested':
          void this.#children.start(runId, event);
          break;
        case 'RunCancelled':
        case 'RunTimedOut':
          for (const task of openTasks(before.context)) this.#effects.abortTask(task.taskId);
          this.#children.cancelAll(
            runId,
            before,
            event.type === 'RunCancelled' ? 'was cancelled' : 'timed out',
          );
          break;
        default:
          break;
      }
      if (!TERMINAL_EVENTS.has(event.type)) return;
      this.#attempts.forgetRuns((id) => id === runId);
      deadlines.forgetRuns((id) => id === runId);
      this.#lifecycle.runTimeouts.clear(runId);
      this.#timers.clear((id) => id === runId);
      // Tasks still queued for this run will never be wanted: out of the stream.
      if (openTasks(before.context).length > 0) this.#effects.purgeRun(runId);
      const summary = this.#readModel.cached(runId);
      if (run.parent !== undefined && summary !== undefined)
        void this.#children.notifyParent(run.parent, runId, summary);
    });
  }
}
