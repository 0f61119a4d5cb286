/**
 * The actor wing's time: the wall clock and one-shot timers. The runtime uses `realClock`; tests
 * pass a manual clock and advance it, so timers and the reconciler fire without sleeping.
 */
export interface Clock {
  /** Milliseconds since the epoch (the wall clock: it may jump, so due times are checked again). */
  now(): number;
  /** Calls `fire` once after about `ms` (monotonic), unless cleared first. */
  setTimeout(fire: () => void, ms: number): ClockTimer;
  clearTimeout(timer: ClockTimer | undefined): void;
}

/** A handle `setTimeout` returned: only its clock knows what it is. */
export type ClockTimer = object;

/** Node's clock and timers; a pending timer keeps the process alive, as before the seam. */
export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fire, ms) => setTimeout(fire, ms),
  clearTimeout: (timer) => {
    clearTimeout(timer as NodeJS.Timeout | undefined);
  },
};

/** setTimeout's longest delay; a longer wait is re-armed when it ends. */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;
