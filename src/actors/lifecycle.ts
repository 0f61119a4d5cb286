import { parseDuration } from '../blueprints/duration.ts';
import { attemptKey, type TaskStart } from '../wire/protocol.ts';
import {
  openTaskById,
  type CompiledRun,
  type OpenTask,
  type RunSnapshot,
} from '../machines/compile.ts';
import { timeOf, toRunEvent, type RunEvent } from '../machines/events.ts';
import { statusOf } from '../machines/run.ts';
import { endingEvent } from '../machines/messages.ts';
import type { RecordedEvent } from '../store/EventStore.ts';
import type { Clock, ClockTimer } from './clock.ts';
import { attemptTimes, Deadlines, type DeadlineCode, type DeadlineTask } from './deadlines.ts';
import { RunTimeouts } from './runTimeouts.ts';

/**
 * What the run supervisor lends the attempt lifecycle: its per-run mailbox, the folded state of a
 * run, its append with optimistic concurrency, the run's stream and the task channel's abort.
 */
export interface RunAccess {
  readonly inMailbox: <A>(runId: string, work: () => Promise<A>) => Promise<A>;
  /** The run's folded state, undefined when it does not exist (call it inside the mailbox). */
  readonly snapshotOf: (runId: string) => Promise<RunSnapshot | undefined>;
  /** The run's state if it is in memory now, without loading or waiting (may be a step behind). */
  readonly cachedSnapshotOf: (runId: string) => RunSnapshot | undefined;
  /** Appends the reaction to the event `makeEvent` decides (none: nothing); true when recorded. */
  readonly transact: (
    runId: string,
    makeEvent: (snapshot: RunSnapshot) => RunEvent | undefined,
  ) => Promise<boolean>;
  readonly read: (
    runId: string,
    options?: { readonly limit: number },
  ) => Promise<readonly RecordedEvent[]>;
  readonly abortTask: (taskId: string) => void;
  readonly log: (message: string) => void;
  /** The wall clock and timers (the runtime's clock seam). */
  readonly clock: Clock;
}

/** A failed record is tried again after this long. */
const RETRY_MS = 1_000;

/**
 * The runtime's side of an attempt's life and of a run's deadline (README "Guarantees"): whether a
 * worker may start an attempt (recording the start of a step with a `scheduleTimeout`), the
 * attempt deadlines (`no_worker`, `timeout`) and the run's `timeout` (`RunTimedOut`), each decided
 * in the run's mailbox so that it and a result, a start or a cancel never both win.
 */
export class AttemptLifecycle {
  readonly deadlines: Deadlines;
  readonly runTimeouts: RunTimeouts;
  readonly #access: RunAccess;
  /** Records to try again after a failure, by run. */
  readonly #retries = new Map<string, Set<ClockTimer>>();
  #closed = false;

  constructor(access: RunAccess) {
    this.#access = access;
    this.deadlines = new Deadlines((task, code) => this.#expire(task, code), access.clock);
    this.runTimeouts = new RunTimeouts(
      (runId, timeoutMs) => this.#timeOut(runId, timeoutMs),
      access.clock,
    );
  }

  close(): void {
    this.#closed = true;
    this.#dropRetries(() => true);
    this.deadlines.close();
    this.runTimeouts.close();
  }

  /**
   * Clears the deadlines, run timeouts and pending retries of the selected runs (no longer this
   * runtime's).
   */
  forgetRuns(select: (runId: string) => boolean): void {
    this.deadlines.forgetRuns(select);
    this.runTimeouts.forgetRuns(select);
    this.#dropRetries(select);
  }

  /**
   * Tries `record` again after `RETRY_MS`, unless the run is forgotten or the lifecycle closed
   * first.
   */
  #retry(runId: string, record: () => void): void {
    const timers = this.#retries.get(runId) ?? new Set<ClockTimer>();
    this.#retries.set(runId, timers);
    const timer = this.#access.clock.setTimeout(() => {
      timers.delete(timer);
      if (timers.size === 0 && this.#retries.get(runId) === timers) this.#retries.delete(runId);
      record();
    }, RETRY_MS);
    timers.add(timer);
  }

  #dropRetries(select: (runId: string) => boolean): void {
    for (const [runId, timers] of [...this.#retries]) {
      if (!select(runId)) continue;
      for (const timer of timers) this.#access.clock.clearTimeout(timer);
      this.#retries.delete(runId);
    }
  }

  /** Whether the run is running and this attempt is its step's open one (in the run's mailbox). */
  isOpen(start: Pick<TaskStart, 'runId' | 'taskId' | 'attempt'>): Promise<boolean> {
    return this.#access.inMailbox(start.runId, async () => {
      const snapshot = await this.#access.snapshotOf(start.runId);
      if (snapshot === undefined || statusOf(snapshot) !== 'running') return false;
      return openTaskById(snapshot.context, start.taskId)?.attempt === start.attempt;
    });
  }

  /**
   * A worker starts an attempt: true when it may run it (its run is running and the attempt is its
   * step's open one), false when it must skip it. Starts the attempt's `timeout`. Of a step with a
   * `scheduleTimeout` the start is recorded (`StepStarted`) before the answer, in the run's mailbox,
   * so it and a `no_worker` expiry never both win. A store that fails rejects: the worker is told
   * nothing and runs the task (at least once).
   *
   * A start no one waits for (`answered` false: a fresh task of a step without `scheduleTimeout`)
   * decides nothing; it only starts the attempt's `timeout`, so when the run is in memory it is
   * noted at once rather than queued behind the run's appends (a map's items would otherwise
   * wait on each other's results).
   */
  mayStart(
    start: Pick<TaskStart, 'runId' | 'taskId' | 'attempt'>,
    answered = true,
  ): Promise<boolean> {
    if (!answered) {
      const cached = this.#access.cachedSnapshotOf(start.runId);
      const open =
        cached === undefined || statusOf(cached) !== 'running'
          ? undefined
          : openTaskById(cached.context, start.taskId);
      if (open?.attempt === start.attempt && open.scheduleTimeoutMs === undefined) {
        this.deadlines.started({ ...open, runId: start.runId }, this.#access.clock.now());
        return Promise.resolve(true);
      }
    }
    return this.#access.inMailbox(start.runId, async () => {
      const snapshot = await this.#access.snapshotOf(start.runId);
      if (snapshot === undefined || statusOf(snapshot) !== 'running') return false;
      const open = openTaskById(snapshot.context, start.taskId);
      if (open?.attempt !== start.attempt) return false;
      const task: DeadlineTask = { ...open, runId: start.runId };
      if (open.scheduleTimeoutMs === undefined || this.deadlines.isStarted(task)) {
        this.deadlines.started(task, this.#access.clock.now());
        return true;
      }
      return this.#access.transact(start.runId, (current) => {
        const still = openTaskById(current.context, start.taskId);
        if (statusOf(current) !== 'running' || still?.attempt !== start.attempt) return undefined;
        return {
          type: 'StepStarted',
          stepId: still.stepId,
          ...(still.item === undefined ? {} : { item: still.item }),
          taskId: still.taskId,
          attempt: still.attempt,
        };
      });
    });
  }

  /** Arms the run's blueprint-level `timeout` (if it has one), counted from `startedAt`. */
  armRunTimeout(runId: string, compiled: CompiledRun, startedAt: number): void {
    const timeout = compiled.blueprint.timeout;
    const timeoutMs = timeout === undefined ? undefined : parseDuration(timeout);
    if (timeoutMs !== undefined) this.runTimeouts.arm(runId, startedAt, timeoutMs);
  }

  /**
   * After a restart: the run's `timeout`, from its `RunStarted` (decision time, else commit time).
   */
  async rearmRunTimeout(runId: string, compiled: CompiledRun): Promise<void> {
    if (compiled.blueprint.timeout === undefined) return;
    const [first] = await this.#access.read(runId, { limit: 1 });
    if (first === undefined) return;
    this.armRunTimeout(runId, compiled, timeOf(toRunEvent(first)) ?? Date.parse(first.at));
  }

  /** After a restart: the deadlines of a run's open attempts that opted in, from its stream. */
  async rearmDeadlines(runId: string, tasks: readonly OpenTask[]): Promise<void> {
    if (!tasks.some((task) => task.scheduleTimeoutMs !== undefined)) return;
    const times = attemptTimes(await this.#access.read(runId));
    for (const task of tasks) {
      const known = times.get(attemptKey(task));
      if (task.scheduleTimeoutMs === undefined || known === undefined) continue;
      this.deadlines.dispatched({ ...task, runId }, known.dispatchedAt);
      if (known.startedAt !== undefined)
        this.deadlines.started({ ...task, runId }, known.startedAt);
    }
  }

  /** The run's `timeout` passed: it ends `timed_out` unless it has ended already. */
  #timeOut(runId: string, timeoutMs: number): void {
    if (this.#closed) return;
    this.#access
      .inMailbox(runId, () =>
        this.#access.transact(runId, (snapshot) =>
          statusOf(snapshot) === 'running' ? endingEvent(snapshot, { timeoutMs }) : undefined,
        ),
      )
      .catch((error: unknown) => {
        this.#access.log(`timeout of run ${runId} not recorded, retried: ${String(error)}`);
        this.#retry(runId, () => this.#timeOut(runId, timeoutMs));
      });
  }

  /**
   * A deadline passed: the attempt fails with `no_worker` or `timeout` (retryable, so the step's
   * retry policy and `onError` apply) unless it was answered, or — for `no_worker` — taken
   * meanwhile. A worker still running a timed-out attempt is told to abort it.
   */
  #expire(task: DeadlineTask, code: DeadlineCode): void {
    if (this.#closed) return;
    const message =
      code === 'no_worker'
        ? `no worker took attempt ${task.attempt} within its scheduleTimeout (${task.scheduleTimeoutMs ?? 0} ms)`
        : `attempt ${task.attempt} had no result ${task.timeoutMs} ms after a worker took it (timeout, enforced by the runtime)`;
    this.#access
      .inMailbox(task.runId, () =>
        this.#access.transact(task.runId, (snapshot) => {
          const open = openTaskById(snapshot.context, task.taskId);
          if (statusOf(snapshot) !== 'running' || open?.attempt !== task.attempt) return undefined;
          if (code === 'no_worker' && this.deadlines.isStarted(task)) return undefined;
          return {
            type: 'StepFailed',
            stepId: open.stepId,
            ...(open.item === undefined ? {} : { item: open.item }),
            taskId: open.taskId,
            attempt: open.attempt,
            error: { code, message, retryable: true },
          };
        }),
      )
      .then(
        (recorded) => {
          if (recorded && code === 'timeout') this.#access.abortTask(task.taskId);
        },
        (error: unknown) => {
          this.#access.log(
            `${code} of ${task.taskId} attempt ${task.attempt} not recorded: ${String(error)}`,
          );
          this.#retry(task.runId, () => this.#expire(task, code));
        },
      );
  }
}
