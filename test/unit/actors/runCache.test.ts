import * as Effect from 'effect/Effect';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TaskMessage } from '../../../src/wire/protocol.ts';
import { checkRun } from '../../../src/machines/replay.ts';
import type { EventStoreShape } from '../../../src/store/EventStore.ts';
import { makeMemoryStore } from '../../../src/store/memory.ts';
import { runStream } from '../../../src/store/streams.ts';
import {
  completed,
  newStoreLog,
  observed,
  streamOf,
  testRuntime,
  type StoreLog,
  type TestRuntime,
} from './runtimes.ts';

/**
 * README "Guarantees", bounded memory: running runs are cached, at most `maxRunsInMemory`, least
 * recently used out, and rebuilt from their stream on demand. A run is in the cache exactly when
 * handling a message for it does not read its stream (the store wrapper counts the reads).
 */

const BOUND = 3;
const RUNS = ['r1', 'r2', 'r3', 'r4', 'r5'];

const BLUEPRINT = {
  name: 'cached',
  steps: [
    { id: 'first', type: 'activity', activity: 'work' },
    { id: 'gate', type: 'wait', signal: 'go' },
    { id: 'second', type: 'activity', activity: 'work' },
  ],
  output: "{% {'first': $steps.first, 'go': $steps.gate, 'second': $steps.second} %}",
};

describe(`the run cache (bound ${BOUND})`, () => {
  let store: EventStoreShape;
  let log: StoreLog;
  let runtime: TestRuntime;

  beforeEach(() => {
    store = makeMemoryStore();
    log = newStoreLog();
    runtime = testRuntime(observed(store, log), { maxRunsInMemory: BOUND });
  });

  afterEach(async () => {
    runtime.supervisor.close();
    await Effect.runPromise(store.close());
  });

  const readsOf = (runId: string) => log.reads.get(runStream(runId)) ?? 0;

  /** How many times each run's stream was read while `work` ran. */
  const readsDuring = async (work: () => Promise<unknown>): Promise<Record<string, number>> => {
    const before = Object.fromEntries(RUNS.map((r) => [r, readsOf(r)]));
    await work();
    return Object.fromEntries(RUNS.map((r) => [r, readsOf(r) - (before[r] ?? 0)]));
  };

  const taskOf = (runId: string, stepId: string): TaskMessage => {
    const task = runtime.dispatched.find((t) => t.runId === runId && t.stepId === stepId);
    if (task === undefined) throw new Error(`no task for ${stepId} of ${runId} was dispatched`);
    return task;
  };

  const result = (runId: string, stepId: string) =>
    runtime.supervisor.onResult(completed(taskOf(runId, stepId), `${stepId} of ${runId}`));

  const status = (runId: string) => runtime.supervisor.query(runId, 'get_status', null);

  it('keeps the most recently used runs, evicts the least recently used, and rebuilds an evicted run that goes on to completion', async () => {
    const none = { r1: 0, r2: 0, r3: 0, r4: 0, r5: 0 };
    for (const runId of RUNS)
      await runtime.supervisor.start({ blueprint: BLUEPRINT, runId, input: { runId } });
    // Cache, least recently used first: r3 r4 r5.

    expect(await readsDuring(() => result('r3', 'first')), 'r3 is cached').toEqual(none);
    // r4 r5 r3.
    expect(await readsDuring(() => result('r1', 'first')), 'r1 was evicted').toEqual({
      ...none,
      r1: 1,
    });
    // Rebuilding r1 evicts r4, the least recently used: r5 r3 r1.

    // Probing the cached runs first (most recent first) keeps them cached and in their order, so
    // the runs read here are exactly the ones the cache no longer held.
    expect(
      await readsDuring(async () => {
        for (const runId of ['r1', 'r3', 'r5', 'r4', 'r2']) await status(runId);
      }),
    ).toEqual({ ...none, r4: 1, r2: 1 });
    // r5 r4 r2.

    expect(await readsDuring(() => runtime.supervisor.signal('r3', 'go', 'go r3')), 'r3').toEqual({
      ...none,
      r3: 1,
    });
    expect(await status('r3')).toEqual({
      status: 'running',
      activeSteps: ['second'],
      waitingFor: [],
      // No worker took it (none runs here), and no activity registry: `served` is left out.
      tasks: [expect.objectContaining({ stepId: 'second', attempt: 1, started: false })],
    });

    for (const runId of RUNS) {
      if (runId !== 'r1' && runId !== 'r3') await result(runId, 'first');
      if (runId !== 'r3') await runtime.supervisor.signal(runId, 'go', `go ${runId}`);
      await result(runId, 'second');
    }
    for (const runId of RUNS) {
      expect(await runtime.supervisor.get(runId)).toMatchObject({
        status: 'completed',
        output: { first: `first of ${runId}`, go: `go ${runId}`, second: `second of ${runId}` },
      });
      const events = await streamOf(store, runId);
      expect(events.map((e) => e.type)).toEqual([
        'RunStarted',
        'StepScheduled',
        'StepCompleted',
        'StepEntered',
        'SignalReceived',
        'StepScheduled',
        'StepCompleted',
        'RunCompleted',
      ]);
      expect(await checkRun(events)).toEqual({ ok: true, events: events.length });
    }
  });
});
