import { attemptKey } from '../wire/protocol.ts';
import { type Clock, type ClockTimer, MAX_TIMEOUT_MS, realClock } from './clock.ts';

/**
 * The runtime's deadlines of activity attempts (README "Guarantees", "Every attempt has a
 * deadline"):
 *
 * - schedule-to-start, for steps with a `scheduleTimeout`: an attempt no worker took within it
 *   (counted from its dispatch: the `StepScheduled` commit time plus its backoff delay) expires
 *   as `no_worker`;
 * - start-to-close, the step's `timeout`: an attempt a worker took and that has no result within it
 *   (counted from when the runtime heard of the start) expires as `timeout`.
 *
 * Durable where the step opted in: both times of a step with a `scheduleTimeout` are recorded
 * (`StepScheduled`, `StepStarted`), so after a restart `rebuild` arms them again from the stream. Of
 * other steps the start is known in memory only: after a restart, an attempt started before it is
 * bounded by JetStream's redelivery instead (README "Guarantees").
 *
 * A deadline fires once, never early (the wall clock is checked again when the timer runs), and
 * `expire` decides in the run's mailbox whether the attempt is still open and untaken.
 */

export type DeadlineCode = 'no_worker' | 'timeout';

export interface DeadlineTask {
  readonly runId: string;
  readonly taskId: string;
  readonly attempt: number;
  readonly timeoutMs: number;
  readonly scheduleTimeoutMs?: number;
}

interface Entry {
  readonly task: DeadlineTask;
  readonly startedAt: number | undefined;
  readonly code: DeadlineCode;
  readonly dueAt: number;
  timer: ClockTimer | undefined;
}

/** When each attempt of a run's stream was scheduled (commit time plus delay) and started. Pure. */
export const attemptTimes = (
  recorded: readonly { readonly type: string; readonly data: unknown; readonly at: string }[],
): ReadonlyMap<string, { readonly dispatchedAt: number; readonly startedAt?: number }> => {
  const times = new Map<string, { dispatchedAt: number; startedAt?: number }>();
  for (const event of recorded) {
    const data = event.data as {
      taskId?: unknown;
      attempt?: unknown;
      delayMs?: unknown;
      time?: unknown;
    };
    if (typeof data.taskId !== 'string' || typeof data.attempt !== 'number') continue;
    const key = attemptKey({ taskId: data.taskId, attempt: data.attempt });
    if (event.type === 'StepScheduled') {
      const delayMs = typeof data.delayMs === 'number' ? data.delayMs : 0;
      times.set(key, { dispatchedAt: Date.parse(event.at) + delayMs });
    } else if (event.type === 'StepStarted') {
      const known = times.get(key);
      const startedAt = typeof data.time === 'number' ? data.time : Date.parse(event.at);
      if (known !== undefined) times.set(key, { ...known, startedAt });
    }
  }
  return times;
};

export class Deadlines {
  readonly #entries = new Map<string, Entry>();
  readonly #expire: (task: DeadlineTask, code: DeadlineCode) => void;
  readonly #clock: Clock;
  #closed = false;

  /** `clock`: the wall time deadlines are due at, and the timers that wait for them. */
  constructor(expire: (task: DeadlineTask, code: DeadlineCode) => void, clock: Clock = realClock) {
    this.#expire = expire;
    this.#clock = clock;
  }

  /** An attempt was dispatched at `dispatchedAt`: with a `scheduleTimeout`, a worker must take it in time. */
  dispatched(task: DeadlineTask, dispatchedAt: number): void {
    if (task.scheduleTimeoutMs === undefined || this.#entries.has(attemptKey(task))) return;
    this.#arm(task, undefined, 'no_worker', dispatchedAt + task.scheduleTimeoutMs);
  }

  /** A worker took the attempt at `startedAt`: its `timeout` runs from then (the first start counts). */
  started(task: DeadlineTask, startedAt: number): void {
    if (this.isStarted(task)) return;
    this.#arm(task, startedAt, 'timeout', startedAt + task.timeoutMs);
  }

  /** The attempt's start is known (recorded, or heard since this runtime started). */
  isStarted(task: Pick<DeadlineTask, 'taskId' | 'attempt'>): boolean {
    return this.#entries.get(attemptKey(task))?.startedAt !== undefined;
  }

  /** The attempt this deadline was armed with (`StepStarted` carries no timeouts). */
  taskOf(task: Pick<DeadlineTask, 'taskId' | 'attempt'>): DeadlineTask | undefined {
    return this.#entries.get(attemptKey(task))?.task;
  }

  /** When the runtime heard the attempt's start, if it did. */
  startedAt(task: Pick<DeadlineTask, 'taskId' | 'attempt'>): number | undefined {
    return this.#entries.get(attemptKey(task))?.startedAt;
  }

  answered(task: Pick<DeadlineTask, 'taskId' | 'attempt'>): void {
    const key = attemptKey(task);
    this.#clock.clearTimeout(this.#entries.get(key)?.timer);
    this.#entries.delete(key);
  }

  /** Clears the deadlines of the selected runs (ended, or no longer this runtime's). */
  forgetRuns(select: (runId: string) => boolean): void {
    for (const [key, entry] of this.#entries) {
      if (!select(entry.task.runId)) continue;
      this.#clock.clearTimeout(entry.timer);
      this.#entries.delete(key);
    }
  }

  close(): void {
    this.#closed = true;
    for (const entry of this.#entries.values()) this.#clock.clearTimeout(entry.timer);
    this.#entries.clear();
  }

  #arm(task: DeadlineTask, startedAt: number | undefined, code: DeadlineCode, dueAt: number): void {
    if (this.#closed) return;
    const key = attemptKey(task);
    this.#clock.clearTimeout(this.#entries.get(key)?.timer);
    const entry: Entry = { task, startedAt, code, dueAt, timer: undefined };
    this.#entries.set(key, entry);
    this.#schedule(key, entry);
  }

  #schedule(key: string, entry: Entry): void {
    const delay = Math.max(0, entry.dueAt - this.#clock.now());
    entry.timer = this.#clock.setTimeout(
      () => {
        if (this.#entries.get(key) !== entry) return;
        // Never early: the wall clock may lag the monotonic one timers use.
        if (this.#clock.now() < entry.dueAt) {
          this.#schedule(key, entry);
          return;
        }
        entry.timer = undefined;
        this.#expire(entry.task, entry.code);
      },
      Math.min(delay, MAX_TIMEOUT_MS),
    );
  }
}
