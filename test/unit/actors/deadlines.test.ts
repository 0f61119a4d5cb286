import { describe, expect, it } from 'vitest';
import { Deadlines, type DeadlineCode, type DeadlineTask } from '../../../src/actors/deadlines.ts';
import { RunTimeouts } from '../../../src/actors/runTimeouts.ts';
import { ManualClock } from './manualClock.ts';

/**
 * Attempt deadlines and run timeouts on the runtime's clock seam (README "Guarantees": "Every
 * attempt has a deadline", "A run's timeout ends it"): each fires once, at its due time on the
 * wall clock and never before it, also when the wall clock is stepped back under a waiting timer;
 * an answer or a clear disarms it.
 */

const task: DeadlineTask = {
  runId: 'r',
  taskId: 'r:a',
  attempt: 1,
  timeoutMs: 2_000,
  scheduleTimeoutMs: 500,
};

const deadlinesOn = (clock: ManualClock) => {
  const fired: { code: DeadlineCode; at: number }[] = [];
  const deadlines = new Deadlines((_t, code) => fired.push({ code, at: clock.now() }), clock);
  return { deadlines, fired };
};

describe('attempt deadlines', () => {
  it('fails an attempt no worker took with no_worker at its schedule deadline, once', () => {
    const clock = new ManualClock();
    const { deadlines, fired } = deadlinesOn(clock);
    const t0 = clock.now();
    deadlines.dispatched(task, t0);
    clock.advance(499);
    expect(fired).toEqual([]);
    clock.advance(1);
    expect(fired).toEqual([{ code: 'no_worker', at: t0 + 500 }]);
    clock.advance(10_000);
    expect(fired).toHaveLength(1);
    expect(clock.pending).toBe(0);
  });

  it('counts timeout from the start, replacing the schedule deadline, and never fires early when the wall clock steps back', () => {
    const clock = new ManualClock();
    const { deadlines, fired } = deadlinesOn(clock);
    const t0 = clock.now();
    deadlines.dispatched(task, t0);
    clock.advance(100);
    deadlines.started(task, clock.now());
    expect(deadlines.isStarted(task)).toBe(true);
    clock.advance(1_000);
    clock.step(-700); // an NTP correction while the timer waits
    clock.advance(1_000); // the timer's delay has passed, but the wall clock is 700 ms short
    expect(fired).toEqual([]);
    expect(clock.pending).toBe(1); // armed again for the rest
    clock.advance(699);
    expect(fired).toEqual([]);
    clock.advance(1);
    expect(fired).toEqual([{ code: 'timeout', at: t0 + 100 + 2_000 }]);
  });

  it('disarms an attempt once answered, and every attempt of a forgotten run', () => {
    const clock = new ManualClock();
    const { deadlines, fired } = deadlinesOn(clock);
    deadlines.started(task, clock.now());
    deadlines.answered(task);
    const other = { ...task, runId: 's', taskId: 's:a' };
    deadlines.started(other, clock.now());
    deadlines.forgetRuns((runId) => runId === 's');
    clock.advance(60_000);
    expect(fired).toEqual([]);
    expect(clock.pending).toBe(0);
  });
});

describe('run timeouts', () => {
  it('ends a run once at its start plus its timeout, not before (the wall clock stepped back), and not at all once cleared', () => {
    const clock = new ManualClock();
    const ended: { runId: string; at: number }[] = [];
    const timeouts = new RunTimeouts((runId) => ended.push({ runId, at: clock.now() }), clock);
    const t0 = clock.now();
    timeouts.arm('r', t0, 5_000);
    timeouts.arm('s', t0, 5_000);
    timeouts.clear('s');
    clock.advance(3_000);
    clock.step(-1_000);
    clock.advance(2_000);
    expect(ended).toEqual([]);
    clock.advance(1_000);
    expect(ended).toEqual([{ runId: 'r', at: t0 + 5_000 }]);
    clock.advance(60_000);
    expect(ended).toHaveLength(1);
    expect(clock.pending).toBe(0);
  });
});
