import type { Clock, ClockTimer } from './clock.ts';

export interface ReconcilerDeps {
  readonly clock: Clock;
  readonly pass: (graceMs: number) => Promise<number>;
  readonly log: (message: string) => void;
}

/**
 * The reconciler's loop: one pass (`Attempts.reconcile`) every `everyMs`, the next armed only once
 * the previous pass has finished (passes never overlap); a failed pass is logged and the loop goes
 * on. Stops for good at `close`.
 */
export class ReconcilerLoop {
  readonly #deps: ReconcilerDeps;
  #timer: ClockTimer | undefined;
  #closed = false;

  constructor(deps: ReconcilerDeps) {
    this.#deps = deps;
  }

  /** Starts the loop; a second call while it runs, or a call after `close`, does nothing. */
  start(everyMs: number, graceMs: number): void {
    const tick = (): void => {
      if (this.#closed) return;
      this.#timer = this.#deps.clock.setTimeout(() => {
        this.#deps.pass(graceMs).then(tick, (error: unknown) => {
          this.#deps.log(`reconciler: ${String(error)}`);
          tick();
        });
      }, everyMs);
    };
    if (this.#timer === undefined && !this.#closed) tick();
  }

  close(): void {
    this.#closed = true;
    this.#deps.clock.clearTimeout(this.#timer);
  }
}
