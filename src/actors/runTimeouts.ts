import { type Clock, type ClockTimer, MAX_TIMEOUT_MS, realClock } from './clock.ts';

/**
 * The blueprint-level `timeout` of running runs (README "Guarantees"): one timer per run, due at
 * the run's start (`RunStarted`'s decision time) plus the timeout. Durable because both are in the
 * run's first event: a restart arms it again from there. Fires once, never early (the wall clock
 * is checked again when the timer runs); `expire` records the end in the run's mailbox.
 */

export class RunTimeouts {
  readonly #timers = new Map<string, ClockTimer>();
  readonly #expire: (runId: string, timeoutMs: number) => void;
  readonly #clock: Clock;
  #closed = false;

  /** `clock`: the wall time timeouts are due at, and the timers that wait for them. */
  constructor(expire: (runId: string, timeoutMs: number) => void, clock: Clock = realClock) {
    this.#expire = expire;
    this.#clock = clock;
  }

  /** Arms the run's timeout: due at `startedAt + timeoutMs`. */
  arm(runId: string, startedAt: number, timeoutMs: number): void {
    if (this.#closed) return;
    this.clear(runId);
    const dueAt = startedAt + timeoutMs;
    const schedule = (): void => {
      const timer = this.#clock.setTimeout(
        () => {
          if (this.#timers.get(runId) !== timer) return;
          if (this.#clock.now() < dueAt) {
            schedule();
            return;
          }
          this.#timers.delete(runId);
          this.#expire(runId, timeoutMs);
        },
        Math.min(Math.max(0, dueAt - this.#clock.now()), MAX_TIMEOUT_MS),
      );
      this.#timers.set(runId, timer);
    };
    schedule();
  }

  clear(runId: string): void {
    this.#clock.clearTimeout(this.#timers.get(runId));
    this.#timers.delete(runId);
  }

  /** Clears the timeouts of the selected runs (no longer this runtime's). */
  forgetRuns(select: (runId: string) => boolean): void {
    for (const runId of [...this.#timers.keys()]) if (select(runId)) this.clear(runId);
  }

  close(): void {
    this.#closed = true;
    for (const timer of this.#timers.values()) this.#clock.clearTimeout(timer);
    this.#timers.clear();
  }
}
