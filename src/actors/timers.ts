import { isNotYet, timerEvent } from '../machines/messages.ts';
import { MAX_TIMEOUT_MS, type Clock, type ClockTimer } from './clock.ts';
import type { RunActors } from './runActor.ts';

export interface RunTimersDeps {
  readonly clock: Clock;
  readonly actors: Pick<RunActors, 'inMailbox' | 'transact'>;
  readonly log: (message: string) => void;
}

/**
 * The timers of running runs (`sleep` steps, a `wait`'s timeout): one clock timer per open run
 * timer, armed when its `TimerScheduled` is appended or the run is recovered. A firing is decided
 * in the run's mailbox (`timerEvent`): recorded once, never early — when the wall clock lags the
 * monotonic one the clock's timers use, it is armed again for the rest — and ignored when the
 * timer is no longer open.
 */
export class RunTimers {
  readonly #deps: RunTimersDeps;
  /** Armed timers, by run and timer id. */
  readonly #armed = new Map<string, Map<string, ClockTimer>>();
  #closed = false;

  constructor(deps: RunTimersDeps) {
    this.#deps = deps;
  }

  /** Arms (or re-arms) the run's timer to fire at `dueAt` (wall clock). Nothing after `close`. */
  arm(runId: string, timerId: string, dueAt: number): void {
    if (this.#closed) return;
    const timers = this.#armed.get(runId) ?? new Map<string, ClockTimer>();
    this.#armed.set(runId, timers);
    this.#deps.clock.clearTimeout(timers.get(timerId));
    const delay = Math.max(0, dueAt - this.#deps.clock.now());
    const timer = this.#deps.clock.setTimeout(
      () => {
        if (timers.get(timerId) !== timer) return;
        this.#forget(runId, timerId);
        if (delay >= MAX_TIMEOUT_MS) {
          this.arm(runId, timerId, dueAt);
          return;
        }
        void this.fire(runId, timerId).catch((error: unknown) =>
          this.#deps.log(`timer ${timerId} of run ${runId}: ${String(error)}`),
        );
      },
      Math.min(delay, MAX_TIMEOUT_MS),
    );
    timers.set(timerId, timer);
  }

  /** Records the timer's firing once, in the run's mailbox; true when it was recorded now. */
  fire(runId: string, timerId: string): Promise<boolean> {
    return this.#deps.actors.inMailbox(runId, () =>
      this.#deps.actors.transact(runId, (run) => {
        const decision = timerEvent(run.snapshot, timerId, this.#deps.clock.now());
        if (!isNotYet(decision)) return decision;
        this.arm(runId, timerId, decision.notYet);
        return undefined;
      }),
    );
  }

  /** The run's timers armed now (ids), for tests and inspection. */
  armed(runId: string): readonly string[] {
    return [...(this.#armed.get(runId)?.keys() ?? [])];
  }

  /** Clears the timers of the selected runs (ended, or no longer this runtime's). */
  clear(select: (runId: string) => boolean): void {
    for (const [runId, timers] of [...this.#armed]) {
      if (!select(runId)) continue;
      for (const timer of timers.values()) this.#deps.clock.clearTimeout(timer);
      this.#armed.delete(runId);
    }
  }

  close(): void {
    this.#closed = true;
    this.clear(() => true);
  }

  #forget(runId: string, timerId: string): void {
    const timers = this.#armed.get(runId);
    timers?.delete(timerId);
    if (timers?.size === 0) this.#armed.delete(runId);
  }
}
