import * as Effect from 'effect/Effect';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Peers, RunSupervisor } from '../../../src/actors/supervisor.ts';
import type { EventStoreShape } from '../../../src/store/EventStore.ts';
import { makeMemoryStore } from '../../../src/store/memory.ts';
import { runStream } from '../../../src/store/streams.ts';
import { ManualClock } from './manualClock.ts';
import { newStoreLog, observed, streamOf, testRuntime, type TestRuntime } from './runtimes.ts';

/**
 * The supervisor's hooks for a cluster (README "Cluster"): a runtime recovers only the runs it is
 * given (`recoverRuns`, after `catchUp`), forgets the runs it gives away (`dropRuns`) once their
 * mailboxes are idle (`settleRuns`), and calls other runs through `peers`.
 */

/** A timer and an activity open at once, so a run holds a timer, an attempt and a cache entry. */
const BUSY = {
  name: 'busy',
  steps: [
    { id: 't', type: 'sleep', duration: '1h' },
    { id: 'x', type: 'activity', activity: 'work', dependsOn: [] },
  ],
};

const GATE = { name: 'gate', steps: [{ id: 'w', type: 'wait', signal: 'go' }] };

const stores: EventStoreShape[] = [];
const runtimes: TestRuntime[] = [];

const memoryStore = (): EventStoreShape => {
  const store = makeMemoryStore();
  stores.push(store);
  return store;
};

const runtimeOn = (...args: Parameters<typeof testRuntime>): TestRuntime => {
  const runtime = testRuntime(...args);
  runtimes.push(runtime);
  return runtime;
};

afterEach(async () => {
  for (const runtime of runtimes.splice(0)) runtime.supervisor.close();
  for (const store of stores.splice(0)) await Effect.runPromise(store.close());
});

const tasksOf = (runtime: TestRuntime, runId: string) =>
  runtime.dispatched.filter((t) => t.runId === runId);

describe('dropRuns and recoverRuns', () => {
  it('forgets the selected runs (timer, attempt, cache) and carries them on again when recovered', async () => {
    const store = memoryStore();
    const log = newStoreLog();
    const clock = new ManualClock();
    const runtime = runtimeOn(observed(store, log), { clock });
    const { supervisor } = runtime;
    for (const runId of ['a', 'b']) await supervisor.start({ blueprint: BUSY, runId });
    expect(clock.pending).toBe(2);
    expect(runtime.dispatched).toHaveLength(2);

    supervisor.dropRuns((runId) => runId === 'a');
    // Its timer is gone; b's is not.
    expect(clock.pending).toBe(1);
    // Its attempt is no longer awaited: the reconciler re-dispatches b's alone.
    clock.advance(31_000);
    expect(await supervisor.reconcile(0)).toBe(1);
    expect(runtime.dispatched.at(-1)?.runId).toBe('b');
    // It is no longer cached: the next message for it reads its stream, b's does not.
    const reads = (runId: string) => log.reads.get(runStream(runId)) ?? 0;
    const before = { a: reads('a'), b: reads('b') };
    await supervisor.query('a', 'get_status', null);
    await supervisor.query('b', 'get_status', null);
    expect({ a: reads('a') - before.a, b: reads('b') - before.b }).toEqual({ a: 1, b: 0 });

    await supervisor.recoverRuns((runId) => runId === 'a');
    expect(clock.pending).toBe(2);
    await vi.waitFor(() => expect(tasksOf(runtime, 'a')).toHaveLength(2));
    expect(tasksOf(runtime, 'a')[1]).toEqual(tasksOf(runtime, 'a')[0]);
  });

  it("recovers only the selected runs, and sees another runtime's runs once caught up", async () => {
    const store = memoryStore();
    const first = runtimeOn(store);
    for (const runId of ['a', 'b']) await first.supervisor.start({ blueprint: BUSY, runId });

    const clock = new ManualClock();
    const second = runtimeOn(store, { clock });
    await second.supervisor.recoverRuns(() => true);
    expect(second.dispatched, 'not caught up: it knows no runs yet').toEqual([]);

    await second.supervisor.catchUp();
    await second.supervisor.recoverRuns((runId) => runId === 'a');
    await vi.waitFor(() => expect(second.dispatched).toHaveLength(1));
    expect(second.dispatched[0]).toEqual(tasksOf(first, 'a')[0]);
    expect(clock.pending, "a's timer only").toBe(1);
  });
});

describe('settleRuns', () => {
  it('resolves once the selected runs have handled what was queued for them, not before', async () => {
    const store = memoryStore();
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    let holding = false;
    const gated: EventStoreShape = {
      ...store,
      append: (stream, events, expected) =>
        holding && stream === runStream('a')
          ? Effect.promise(() => held).pipe(
              Effect.flatMap(() => store.append(stream, events, expected)),
            )
          : store.append(stream, events, expected),
    };
    const { supervisor } = runtimeOn(gated);
    for (const runId of ['a', 'b']) await supervisor.start({ blueprint: GATE, runId });

    holding = true;
    const signalled = supervisor.signal('a', 'go', 1);
    let settled = false;
    const settling = supervisor.settleRuns((runId) => runId === 'a').then(() => (settled = true));
    await supervisor.settleRuns((runId) => runId === 'b');
    await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBe(false);

    release();
    await settling;
    await signalled;
    expect((await streamOf(store, 'a')).map((e) => e.type)).toContain('SignalReceived');
  });
});

describe('peers', () => {
  it("start a run's children, cancel them, and deliver their results", async () => {
    const store = memoryStore();
    const calls: string[] = [];
    const self: { supervisor?: RunSupervisor } = {};
    const on = (): RunSupervisor => {
      if (self.supervisor === undefined) throw new Error('no supervisor yet');
      return self.supervisor;
    };
    const peers: Peers = {
      start: (request) => {
        calls.push(`start ${String(request.runId)} for ${String(request.parent?.runId)}`);
        return on().start(request);
      },
      cancel: (runId, reason) => {
        calls.push(`cancel ${runId}`);
        return on().cancel(runId, reason);
      },
      childResult: (parent, childRunId, result) => {
        calls.push(`result of ${childRunId} to ${parent.runId}`);
        return on().childResult(parent, childRunId, result);
      },
    };
    const { supervisor } = runtimeOn(store, { peers });
    self.supervisor = supervisor;
    // Puts the child's blueprint in the registry.
    await supervisor.start({ blueprint: { ...GATE, name: 'kid' }, runId: 'seed' });
    const parent = { name: 'parent', steps: [{ id: 'c', type: 'child', blueprint: 'kid' }] };
    const childOf = async (runId: string): Promise<string> => {
      const requested = (await streamOf(store, runId)).find((e) => e.type === 'ChildRequested');
      return (requested?.data as { childRunId: string }).childRunId;
    };

    await supervisor.start({ blueprint: parent, runId: 'p1' });
    const kid1 = await childOf('p1');
    await vi.waitFor(() => expect(calls).toContain(`start ${kid1} for p1`));
    await vi.waitFor(() => supervisor.get(kid1));
    await supervisor.signal(kid1, 'go', 'done');
    await vi.waitFor(() => expect(calls).toContain(`result of ${kid1} to p1`));
    expect(await supervisor.waitForEnd('p1', 5000)).toMatchObject({ status: 'completed' });

    await supervisor.start({ blueprint: parent, runId: 'p2' });
    const kid2 = await childOf('p2');
    await vi.waitFor(() => supervisor.get(kid2));
    await supervisor.cancel('p2', 'no longer wanted');
    await vi.waitFor(() => expect(calls).toContain(`cancel ${kid2}`));
    expect(await supervisor.waitForEnd(kid2, 5000)).toMatchObject({ status: 'cancelled' });
  });
});
