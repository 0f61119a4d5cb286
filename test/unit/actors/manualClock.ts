import type { Clock, ClockTimer } from '../../../src/actors/clock.ts';

interface Pending {
  readonly at: number;
  readonly fire: () => void;
}

/**
 * A clock that moves only when told: `advance` runs the timers due on the way, in due order
 * (timers armed while firing included); `step` moves the wall clock alone, as an NTP correction
 * does, so `now()` and the timers' monotonic time can disagree.
 */
export class ManualClock implements Clock {
  /** Monotonic time since the clock was made, what timers count. */
  #elapsed = 0;
  #wall: number;
  readonly #pending = new Map<ClockTimer, Pending>();

  constructor(start = Date.parse('2026-01-01T00:00:00Z')) {
    this.#wall = start;
  }

  now(): number {
    return this.#wall + this.#elapsed;
  }

  setTimeout(fire: () => void, ms: number): ClockTimer {
    const handle = {};
    this.#pending.set(handle, { at: this.#elapsed + Math.max(0, ms), fire });
    return handle;
  }

  clearTimeout(timer: ClockTimer | undefined): void {
    if (timer !== undefined) this.#pending.delete(timer);
  }

  /** Timers armed and not yet fired or cleared. */
  get pending(): number {
    return this.#pending.size;
  }

  /** Moves time forward by `ms`, firing every timer that falls due, in due order. */
  advance(ms: number): void {
    const end = this.#elapsed + ms;
    for (;;) {
      let next: [ClockTimer, Pending] | undefined;
      for (const entry of this.#pending)
        if (next === undefined || entry[1].at < next[1].at) next = entry;
      if (next === undefined || next[1].at > end) break;
      this.#pending.delete(next[0]);
      this.#elapsed = next[1].at;
      next[1].fire();
    }
    this.#elapsed = end;
  }

  /** Moves the wall clock alone by `ms` (negative: back); armed timers are unaffected. */
  step(ms: number): void {
    this.#wall += ms;
  }
}
