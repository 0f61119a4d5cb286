/**
 * The blueprint-level `timeout` of running runs (README "Guarantees"): one timer per run, due at
 * the run's start (`RunStarted`'s decision time) plus the timeout. Durable because both are in the
 * run's first event: a restart arms it again from there. Fires once, never early (the wall clock
 * is checked again when the timer runs); `expire` records the end in the run's mailbox.
 */

/** setTimeout's limit; longer timeouts are re-armed. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

export class RunTimeouts {
  readonly #timers = new Map<string, NodeJS.Timeout>();
  readonly #expire: (runId: string, timeoutMs: number) => void;
  readonly #now: () => number;
  #closed = false;

  constructor(expire: (runId: string, timeoutMs: number) => void, now = Date.now) {
    this.#expire = expire;
    this.#now = now;
  }

  /** Arms the run's timeout: due at `startedAt + timeoutMs`. */
  arm(runId: string, startedAt: number, timeoutMs: number): void {
    if (this.#closed) return;
    this.clear(runId);
    const dueAt = startedAt + timeoutMs;
    const schedule = (): void => {
      const timer = setTimeout(
        () => {
          if (this.#timers.get(runId) !== timer) return;
          if (this.#now() < dueAt) {
            schedule();
            return;
          }
          this.#timers.delete(runId);
          this.#expire(runId, timeoutMs);
        },
        Math.min(Math.max(0, dueAt - this.#now()), MAX_TIMEOUT_MS),
      );
      timer.unref();
      this.#timers.set(runId, timer);
    };
    schedule();
  }

  clear(runId: string): void {
    clearTimeout(this.#timers.get(runId));
    this.#timers.delete(runId);
  }

  /** Clears the timeouts of the selected runs (no longer this runtime's). */
  forgetRuns(select: (runId: string) => boolean): void {
    for (const runId of [...this.#timers.keys()]) if (select(runId)) this.clear(runId);
  }

  close(): void {
    this.#closed = true;
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
  }
}
