import * as Effect from 'effect/Effect';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BlueprintRegistry } from '../../../src/actors/blueprintRegistry.ts';
import {
  RUNNING_RETRY_MS,
  RunningRuns,
  StartLimits,
  TokenBucket,
} from '../../../src/actors/startLimits.ts';
import type { EventStoreShape } from '../../../src/store/EventStore.ts';
import { makeMemoryStore } from '../../../src/store/memory.ts';
import { WeftError } from '../../../src/wire/errors.ts';
import { ManualClock } from './manualClock.ts';
import { streamOf, testRuntime, type TestRuntime } from './runtimes.ts';

/**
 * README "Security", Limits: the start limits of one runtime (`--max-starts-per-second`, a token
 * bucket with a burst of the rate; `--max-running`, the running runs it owns) and the cap on the
 * signals one run stores (`--max-signals`). The clock is a manual one: no test sleeps.
 */

/** What `work` threw, or undefined. */
const thrown = async (work: () => unknown): Promise<unknown> => {
  try {
    await work();
    return undefined;
  } catch (error) {
    return error;
  }
};

describe('a token bucket', () => {
  it('gives a burst of tokens, then says how long until the next, refilled at the rate', () => {
    const clock = new ManualClock();
    const bucket = new TokenBucket(4, 4, () => clock.now());
    expect([bucket.take(), bucket.take(), bucket.take(), bucket.take()]).toEqual([0, 0, 0, 0]);
    expect(bucket.take()).toBe(250);
    clock.advance(100);
    expect(bucket.take()).toBe(150);
    clock.advance(150);
    expect(bucket.take()).toBe(0);
    expect(bucket.take()).toBe(250);
  });

  it('never holds more than its burst, however long it was idle', () => {
    const clock = new ManualClock();
    const bucket = new TokenBucket(2, 2, () => clock.now());
    clock.advance(3_600_000);
    expect([bucket.take(), bucket.take()]).toEqual([0, 0]);
    expect(bucket.take()).toBe(500);
  });

  it('refills nothing when the wall clock steps back, and goes on from there', () => {
    const clock = new ManualClock();
    const bucket = new TokenBucket(1, 1, () => clock.now());
    expect(bucket.take()).toBe(0);
    clock.step(-60_000);
    expect(bucket.take()).toBe(1000);
    clock.advance(1000);
    expect(bucket.take()).toBe(0);
  });
});

describe('the start limits', () => {
  it('refuse past --max-running with unavailable, which limit and when to retry, taking no token', () => {
    const clock = new ManualClock();
    let running = 2;
    const limits = new StartLimits({ maxRunning: 2, maxStartsPerSecond: 1 }, clock, () => running);
    const error = thrown(() => limits.admit());
    return error.then((e) => {
      expect(e).toBeInstanceOf(WeftError);
      expect(e).toMatchObject({
        code: 'unavailable',
        details: {
          limit: 'max-running',
          retryAfterMs: RUNNING_RETRY_MS,
          running: 2,
          maxRunning: 2,
        },
      });
      expect((e as WeftError).message).toContain('--max-running 2');
      running = 1;
      // The bucket's one token was not spent on the refusal.
      expect(() => limits.admit()).not.toThrow();
    });
  });

  it('refuse past --max-starts-per-second with unavailable and details.retryAfterMs', async () => {
    const clock = new ManualClock();
    const limits = new StartLimits({ maxStartsPerSecond: 2 }, clock, () => 0);
    limits.admit();
    limits.admit();
    const error = await thrown(() => limits.admit());
    expect(error).toMatchObject({
      code: 'unavailable',
      details: { limit: 'max-starts-per-second', retryAfterMs: 500, maxStartsPerSecond: 2 },
    });
    expect((error as WeftError).message).toMatch(/--max-starts-per-second.*try again in 500 ms/);
    clock.advance(500);
    expect(() => limits.admit()).not.toThrow();
  });

  it('admit everything when none is set', () => {
    const limits = new StartLimits({}, new ManualClock(), () => 1_000_000);
    for (let i = 0; i < 1000; i++) limits.admit();
  });
});

describe('the running runs a runtime owns', () => {
  it('are counted as noted and forgotten by partition', () => {
    const runs = new RunningRuns();
    runs.note('a', true);
    runs.note('b', true);
    runs.note('b', true);
    runs.note('c', true);
    expect(runs.size).toBe(3);
    runs.note('a', false);
    runs.forget((runId) => runId === 'c');
    expect(runs.size).toBe(1);
  });
});

const waiting = {
  name: 'waiting',
  signals: [{ name: 'note', handler: 'append' }],
  steps: [{ id: 'w', type: 'wait', signal: 'go' }],
};

describe('a runtime with start limits', () => {
  let store: EventStoreShape;
  let clock: ManualClock;
  let runtime: TestRuntime;

  beforeEach(() => {
    store = makeMemoryStore();
    clock = new ManualClock();
    runtime = testRuntime(store, {
      clock,
      startLimits: { maxStartsPerSecond: 2, maxRunning: 3 },
      maxSignals: 2,
    });
  });

  afterEach(async () => {
    runtime.supervisor.close();
    await Effect.runPromise(store.close());
  });

  const start = (runId: string, blueprint: unknown = waiting) =>
    runtime.supervisor.start({ blueprint: blueprint as never, runId });

  it('refuses a start past the rate, then past --max-running, storing nothing; a start of an existing run and a child run pass', async () => {
    await start('r1');
    await start('r2');
    const other = { ...waiting, name: 'not_stored' };
    expect(await thrown(() => start('r3', other))).toMatchObject({
      code: 'unavailable',
      details: { limit: 'max-starts-per-second', retryAfterMs: 500 },
    });
    expect(await streamOf(store, 'r3')).toEqual([]);
    // Refused before its inline blueprint was stored.
    expect(await thrown(() => new BlueprintRegistry(store).get('not_stored'))).toMatchObject({
      code: 'blueprint_not_found',
    });
    // A start of a run that exists answers it, whatever the limits.
    expect(await start('r1')).toMatchObject({ runId: 'r1', existing: true });

    clock.advance(1000);
    await start('r3');
    expect(await thrown(() => start('r5'))).toMatchObject({
      code: 'unavailable',
      details: { limit: 'max-running', running: 3, maxRunning: 3 },
    });
    expect(await streamOf(store, 'r5')).toEqual([]);

    await runtime.supervisor.cancel('r1', 'make room');
    await start('r5');
    expect((await streamOf(store, 'r5'))[0]?.type).toBe('RunStarted');
  });

  it('starts child runs past --max-running: their parent runs already and waits for them', async () => {
    await runtime.supervisor.start({ blueprint: waiting, runId: 'r1' });
    await runtime.supervisor.start({ blueprint: waiting, runId: 'r2' });
    clock.advance(1000);
    await runtime.supervisor.start({
      blueprint: { name: 'parent', steps: [{ id: 'c', type: 'child', blueprint: 'waiting' }] },
      runId: 'p',
    });
    const child = await waitForStream(store, 'p-c-1');
    expect(child[0]?.type).toBe('RunStarted');
  });

  it('refuses a signal past --max-signals with payload_too_large, appending nothing; a repeated one is accepted', async () => {
    await start('s');
    await runtime.supervisor.signal('s', 'note', 1, 'n1');
    await runtime.supervisor.signal('s', 'note', 2, 'n2');
    const before = await streamOf(store, 's');
    expect(await thrown(() => runtime.supervisor.signal('s', 'note', 3, 'n3'))).toMatchObject({
      code: 'payload_too_large',
      details: { runId: 's', signals: 2, maxSignals: 2 },
    });
    await runtime.supervisor.signal('s', 'note', 2, 'n2');
    expect(await streamOf(store, 's')).toEqual(before);
  });
});

/** The run's stream once it has one (a child run starts after its parent's append). */
const waitForStream = async (store: EventStoreShape, runId: string) => {
  for (let i = 0; i < 200; i++) {
    const events = await streamOf(store, runId);
    if (events.length > 0) return events;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error(`run ${runId} was never started`);
};
