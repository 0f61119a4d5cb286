import { weftError } from '../wire/errors.ts';
import type { Clock } from './clock.ts';

/**
 * The start limits of one runtime (README "Security", Limits): how many new runs it admits per
 * second and how many of the runs it owns may be running at once. A start past either is answered
 * `unavailable` at once, with `details.retryAfterMs`, before anything is stored. The time comes
 * from the injected clock, so the bucket is tested without sleeping.
 */

export interface StartLimitOptions {
  /** New runs per second, with a burst of as many (a token bucket); absent: no limit. */
  readonly maxStartsPerSecond?: number;
  /** Runs this runtime owns that may be running at once; absent: no limit. */
  readonly maxRunning?: number;
}

/** What a start refused for `--max-running` is told to wait: runs end on their own schedule. */
export const RUNNING_RETRY_MS = 1000;

/**
 * A token bucket holding at most `burst` tokens, refilled at `perSecond`. Not thread-safe (one
 * event loop). A wall clock that steps back refills nothing; one that jumps ahead refills at most
 * to `burst`.
 */
export class TokenBucket {
  readonly #perSecond: number;
  readonly #burst: number;
  readonly #now: () => number;
  #tokens: number;
  #at: number;

  constructor(perSecond: number, burst: number, now: () => number) {
    if (!(perSecond > 0) || !(burst >= 1))
      throw new Error(`defect: a token bucket needs a positive rate and a burst of at least 1`);
    this.#perSecond = perSecond;
    this.#burst = burst;
    this.#now = now;
    this.#tokens = burst;
    this.#at = now();
  }

  /** Takes a token: 0 when there was one, else the milliseconds until there will be one. */
  take(): number {
    const now = this.#now();
    const elapsed = Math.max(0, now - this.#at);
    this.#at = now;
    this.#tokens = Math.min(this.#burst, this.#tokens + (elapsed * this.#perSecond) / 1000);
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil(((1 - this.#tokens) * 1000) / this.#perSecond));
  }
}

/**
 * The running runs this runtime owns: noted after every append it makes (a start, a run's end)
 * and on recovery; forgotten with the partitions it hands over. Its size is what `--max-running`
 * counts.
 */
export class RunningRuns {
  readonly #ids = new Set<string>();

  note(runId: string, running: boolean): void {
    if (running) this.#ids.add(runId);
    else this.#ids.delete(runId);
  }

  forget(select: (runId: string) => boolean): void {
    for (const runId of this.#ids) if (select(runId)) this.#ids.delete(runId);
  }

  get size(): number {
    return this.#ids.size;
  }
}

/** Both start limits; `admit` is called for a new run a client asks for (not a child run). */
export class StartLimits {
  readonly #maxRunning: number | undefined;
  readonly #rate: number | undefined;
  readonly #bucket: TokenBucket | undefined;
  readonly #running: () => number;

  constructor(options: StartLimitOptions, clock: Pick<Clock, 'now'>, running: () => number) {
    this.#maxRunning = options.maxRunning;
    this.#rate = options.maxStartsPerSecond;
    this.#bucket =
      this.#rate === undefined
        ? undefined
        : new TokenBucket(this.#rate, this.#rate, () => clock.now());
    this.#running = running;
  }

  /**
   * Admits one new run, or throws `unavailable` saying which limit and when to try again
   * (`details: {limit, retryAfterMs, …}`). A start refused for `--max-running` takes no token.
   */
  admit(): void {
    const max = this.#maxRunning;
    if (max !== undefined) {
      const running = this.#running();
      if (running >= max)
        throw weftError(
          'unavailable',
          `${running} runs are running on this runtime, its most (--max-running ${max}); try again in ${RUNNING_RETRY_MS} ms or once one has ended`,
          { limit: 'max-running', retryAfterMs: RUNNING_RETRY_MS, running, maxRunning: max },
        );
    }
    const wait = this.#bucket?.take() ?? 0;
    if (wait > 0)
      throw weftError(
        'unavailable',
        `too many starts: this runtime admits at most ${this.#rate ?? 0} new runs per second (--max-starts-per-second); try again in ${wait} ms`,
        { limit: 'max-starts-per-second', retryAfterMs: wait, maxStartsPerSecond: this.#rate },
      );
  }
}
