import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as Effect from 'effect/Effect';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { RunSupervisor } from '../../../src/actors/supervisor.ts';
import { checkRun } from '../../../src/machines/replay.ts';
import type { EventStoreShape, RecordedEvent } from '../../../src/store/EventStore.ts';
import { makeMemoryStore } from '../../../src/store/memory.ts';
import { makeSqliteStore } from '../../../src/store/sqlite.ts';
import {
  completed,
  newStoreLog,
  observed,
  racesLost,
  streamOf,
  testRuntime,
  type StoreLog,
  type TestRuntime,
} from './runtimes.ts';

/**
 * README "Guarantees", state transitions exactly once: two runtimes on one store, each handed the
 * same results, signals and timer firings of one run at the same moment, never fork its history.
 * Each phase also proves the race happened: some append of the losing runtime was rejected with
 * a conflict or found already made (the store's own answers, counted by `observed`).
 */

const RUN = 'raced';
const ITEMS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
const T0 = Date.parse('2030-01-01T00:00:00Z');
const HOUR = 3_600_000;

const BLUEPRINT = {
  name: 'raced',
  signals: [{ name: 'note', handler: 'append' }],
  steps: [
    {
      id: 'items',
      type: 'map',
      over: '{% $input.items %}',
      concurrency: 10,
      step: { type: 'activity', activity: 'work' },
    },
    { id: 'gate', type: 'wait', signal: 'approve' },
    { id: 'nap', type: 'sleep', duration: '1h' },
    { id: 'last', type: 'activity', activity: 'work' },
  ],
  output: "{% {'items': $steps.items, 'notes': $data.note, 'last': $steps.last} %}",
};

interface SharedStore {
  /** What each runtime opens: one instance (memory) or two connections to one file (sqlite). */
  readonly forA: EventStoreShape;
  readonly forB: EventStoreShape;
  close(): Promise<void>;
}

const STORES: readonly { readonly name: string; readonly open: () => SharedStore }[] = [
  {
    name: 'memory',
    open: () => {
      const store = makeMemoryStore();
      return { forA: store, forB: store, close: () => Effect.runPromise(store.close()) };
    },
  },
  {
    name: 'sqlite',
    open: () => {
      const dir = mkdtempSync(join(tmpdir(), 'weft-two-runtimes-'));
      const path = join(dir, 'events.db');
      const forA = makeSqliteStore(path);
      const forB = makeSqliteStore(path);
      return {
        forA,
        forB,
        async close() {
          await Effect.runPromise(forA.close());
          await Effect.runPromise(forB.close());
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
];

const countBy = (events: readonly RecordedEvent[], type: string, key: string) => {
  const counts = new Map<string, number>();
  for (const e of events.filter((r) => r.type === type)) {
    const value = String((e.data as Record<string, unknown>)[key]);
    counts.set(value, (counts.get(value) ?? 0) + 1);
  }
  return counts;
};

/** The stream is one unforked history: revisions 0..n-1, and today's code replays it as recorded. */
const expectOneHistory = async (events: readonly RecordedEvent[]) => {
  expect(events.map((e) => e.revision)).toEqual(events.map((_, i) => i));
  expect(await checkRun(events)).toEqual({ ok: true, events: events.length });
};

describe.each(STORES)('two runtimes on one $name store', ({ open }) => {
  let shared: SharedStore;
  let log: StoreLog;
  let a: TestRuntime;
  let b: TestRuntime;

  beforeEach(() => {
    // Only Date is faked (timers stay real): the sleep's hour passes when the test says so.
    vi.useFakeTimers({ toFake: ['Date'], now: T0 });
    shared = open();
    log = newStoreLog();
    a = testRuntime(observed(shared.forA, log));
    b = testRuntime(observed(shared.forB, log));
  });

  afterEach(async () => {
    a.supervisor.close();
    b.supervisor.close();
    vi.useRealTimers();
    await shared.close();
  });

  /** Hands the same messages to both runtimes at once; true when some append of theirs lost a race. */
  const race = async (send: (s: RunSupervisor) => readonly Promise<unknown>[]) => {
    const before = racesLost(log);
    await Promise.all([...send(a.supervisor), ...send(b.supervisor)]);
    return racesLost(log) > before;
  };

  it('records each result, signal and timer firing of one run once when both handle it at once', async () => {
    await a.supervisor.start({ blueprint: BLUEPRINT, runId: RUN, input: { items: ITEMS } });
    // B comes up while the run is going: it rebuilds it and re-dispatches its open tasks.
    await b.supervisor.recover();
    const tasks = a.dispatched.filter((t) => t.stepId === 'items');
    expect(tasks).toHaveLength(ITEMS.length);
    expect(b.dispatched).toEqual(tasks);

    // Every item's result to both, A in item order and B in reverse.
    const results = tasks.map((t) => completed(t, { doubled: (t.item ?? -1) * 2 }));
    expect(
      await race((s) =>
        (s === a.supervisor ? results : [...results].reverse()).map((r) => s.onResult(r)),
      ),
    ).toBe(true);

    // Three signals to both, B in reverse order: each decides on a stream the other moved on.
    const notes = ['n1', 'n2', 'n3'];
    expect(
      await race((s) =>
        (s === a.supervisor ? notes : [...notes].reverse()).map((id) =>
          s.signal(RUN, 'note', { id }, id),
        ),
      ),
    ).toBe(true);
    expect(await race((s) => [s.signal(RUN, 'approve', { by: 'x' }, 'approve-1')])).toBe(true);

    const scheduled = (await streamOf(shared.forA, RUN)).filter((e) => e.type === 'TimerScheduled');
    expect(scheduled).toHaveLength(1);
    const { timerId, dueAt } = scheduled[0]?.data as { timerId: string; dueAt: number };
    expect(dueAt).toBe(T0 + HOUR);
    vi.setSystemTime(dueAt);
    expect(await race((s) => [s.fireTimer(RUN, timerId), s.fireTimer(RUN, timerId)])).toBe(true);

    const last = [...a.dispatched, ...b.dispatched].find((t) => t.stepId === 'last');
    expect(last).toBeDefined();
    if (last === undefined) return;
    expect(await race((s) => [s.onResult(completed(last, 'done'))])).toBe(true);

    const events = await streamOf(shared.forA, RUN);
    await expectOneHistory(events);
    const stepsCompleted = countBy(events, 'StepCompleted', 'taskId');
    expect([...stepsCompleted.keys()].sort()).toEqual(
      [...tasks.map((t) => t.taskId), last.taskId].sort(),
    );
    expect([...stepsCompleted.values()].every((n) => n === 1)).toBe(true);
    expect(countBy(events, 'SignalReceived', 'signalId')).toEqual(
      new Map([
        ['n1', 1],
        ['n2', 1],
        ['n3', 1],
        ['approve-1', 1],
      ]),
    );
    expect(countBy(events, 'TimerFired', 'timerId')).toEqual(new Map([[timerId, 1]]));
    const ended = events.filter((e) => e.type === 'RunCompleted').map((e) => e.data);
    expect(ended).toHaveLength(1);
    const { output } = ended[0] as {
      output: { items: unknown; notes: { id: string }[]; last: unknown };
    };
    expect(output.items).toEqual(ITEMS.map((i) => ({ doubled: i * 2 })));
    // In the order the run received them, which the two runtimes decided between them.
    expect(output.notes.map((n) => n.id).sort()).toEqual(notes);
    expect(output.last).toBe('done');
  });

  it('records both of two signals without an id sent at once to the two runtimes', async () => {
    await a.supervisor.start({ blueprint: BLUEPRINT, runId: RUN, input: { items: [] } });
    await b.supervisor.recover();
    expect(await race((s) => [s.signal(RUN, 'note', { same: true })])).toBe(true);

    const events = await streamOf(shared.forA, RUN);
    await expectOneHistory(events);
    expect(events.filter((e) => e.type === 'SignalReceived')).toHaveLength(2);
  });
});
