import * as Effect from 'effect/Effect';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { EventStoreShape } from '../../../src/store/EventStore.ts';
import { makeMemoryStore } from '../../../src/store/memory.ts';
import { ManualClock } from './manualClock.ts';
import { streamOf, testRuntime, type TestRuntime } from './runtimes.ts';

/**
 * The clock seam (README "Guarantees", timers): run timers and the reconciler run on the
 * supervisor's clock, here a manual one advanced by the test, so nothing sleeps. A timer fires
 * once, never before its due time, also when the wall clock lags the timers' clock; an ended run
 * leaves no timer armed.
 */

const SLEEPER = {
  name: 'sleeper',
  steps: [
    { id: 's', type: 'sleep', duration: '2s' },
    { id: 'w', type: 'wait', signal: 'go' },
  ],
};

describe('run timers on a manual clock', () => {
  let store: EventStoreShape;
  let clock: ManualClock;
  let runtime: TestRuntime;

  beforeEach(() => {
    store = makeMemoryStore();
    clock = new ManualClock();
    runtime = testRuntime(store, { clock });
  });

  afterEach(async () => {
    runtime.supervisor.close();
    await Effect.runPromise(store.close());
  });

  /** Moves the clock and waits until the work the timers queued has been handled. */
  const advance = async (ms: number) => {
    clock.advance(ms);
    await runtime.supervisor.settleRuns(() => true);
  };

  const fired = async (runId: string) =>
    (await streamOf(store, runId)).filter((e) => e.type === 'TimerFired').length;

  it('fires a timer exactly once, once its due time has passed and never before', async () => {
    const startedAt = clock.now();
    await runtime.supervisor.start({ blueprint: SLEEPER, runId: 'r' });
    const scheduled = (await streamOf(store, 'r')).find((e) => e.type === 'TimerScheduled');
    expect(scheduled?.data).toMatchObject({ dueAt: startedAt + 2000 });
    expect(clock.pending).toBe(1);

    await advance(1999);
    expect(await fired('r')).toBe(0);
    await advance(1);
    expect(await fired('r')).toBe(1);
    expect(clock.pending).toBe(0);
    await advance(60_000);
    expect(await fired('r')).toBe(1);
    expect(await runtime.supervisor.query('r', 'get_status', null)).toMatchObject({
      waitingFor: ['go'],
    });
  });

  it('arms a timer again when the wall clock lags: it fires at the due wall time, once', async () => {
    await runtime.supervisor.start({ blueprint: SLEEPER, runId: 'r' });
    // The wall clock steps back 500 ms: when the timer runs, 2 s later, its due time is still ahead.
    clock.step(-500);
    await advance(2000);
    expect(await fired('r')).toBe(0);
    expect(clock.pending).toBe(1);
    await advance(499);
    expect(await fired('r')).toBe(0);
    await advance(1);
    expect(await fired('r')).toBe(1);
  });

  it("clears a run's timers when it ends: nothing fires for it afterwards", async () => {
    await runtime.supervisor.start({ blueprint: SLEEPER, runId: 'r' });
    await runtime.supervisor.start({ blueprint: SLEEPER, runId: 'other' });
    expect(clock.pending).toBe(2);
    await runtime.supervisor.cancel('r', 'stop');
    expect(clock.pending).toBe(1);
    await advance(5000);
    expect(await fired('r')).toBe(0);
    expect(await fired('other')).toBe(1);
  });
});

describe('the reconciler on a manual clock', () => {
  it('re-dispatches an unanswered attempt once its timeout plus grace has passed, every period, and stops at close', async () => {
    const store = makeMemoryStore();
    const clock = new ManualClock();
    const runtime = testRuntime(store, { clock });
    try {
      await runtime.supervisor.start({
        blueprint: { name: 'one', steps: [{ id: 'a', type: 'activity', activity: 'work' }] },
        runId: 'r',
      });
      const [task] = runtime.dispatched;
      if (task === undefined) throw new Error('nothing was dispatched');
      runtime.supervisor.startReconciler(1000, 500);
      expect(clock.pending).toBe(1);

      // Passes before the attempt's timeout plus grace leave it alone.
      clock.advance(task.timeoutMs + 499);
      await vi.waitFor(() => expect(clock.pending).toBe(1));
      expect(runtime.dispatched).toHaveLength(1);

      // The next pass after it finds it gone from the (absent) tasks stream and still open.
      clock.advance(1000);
      await vi.waitFor(() => expect(runtime.dispatched).toHaveLength(2), { timeout: 2000 });
      expect(runtime.dispatched[1]).toEqual(task);
      await vi.waitFor(() => expect(clock.pending).toBe(1));

      runtime.supervisor.close();
      expect(clock.pending).toBe(0);
      clock.advance(task.timeoutMs * 2);
      expect(runtime.dispatched).toHaveLength(2);
    } finally {
      runtime.supervisor.close();
      await Effect.runPromise(store.close());
    }
  });
});
