import * as Effect from 'effect/Effect';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isNotSent } from '../../../src/actors/results.ts';
import { checkRun } from '../../../src/machines/replay.ts';
import type { TaskResult } from '../../../src/wire/protocol.ts';
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
 * The run actor on the memory store (README "Guarantees"): load → react → append expecting the
 * revision read → perform. A conflict re-decides on the reloaded run, a burst of one run's results
 * is one append, a stale result records nothing, a result for an attempt never sent is refused.
 * (A result too large for the store is recorded as `payload_too_large`: storeLimits.test.ts.)
 */

const act = (id: string) => ({ id, type: 'activity', activity: 'work' });

const THEN_GATE = {
  name: 'then_gate',
  steps: [
    { id: 'x', type: 'activity', activity: 'work' },
    { id: 'w', type: 'wait', signal: 'go' },
  ],
  output: "{% {'x': $steps.x, 'go': $steps.w} %}",
};

describe('the run actor', () => {
  let store: EventStoreShape;
  let log: StoreLog;
  let runtime: TestRuntime;

  beforeEach(() => {
    store = makeMemoryStore();
    log = newStoreLog();
    runtime = testRuntime(observed(store, log));
  });

  afterEach(async () => {
    runtime.supervisor.close();
    await Effect.runPromise(store.close());
  });

  /** Successful appends to the run's stream so far. */
  const appendsTo = (runId: string): number =>
    [...log.appended]
      .filter(([key]) => key.startsWith(`${runStream(runId)}@`))
      .reduce((sum, [, n]) => sum + n, 0);

  it('re-decides on the reloaded run when another runtime appended first, and records both', async () => {
    const other = testRuntime(observed(store, log));
    try {
      await runtime.supervisor.start({ blueprint: THEN_GATE, runId: 'r' });
      const [task] = runtime.dispatched;
      if (task === undefined) throw new Error('nothing was dispatched');
      // The other runtime records a signal: this one's cached run is now a revision behind.
      await other.supervisor.signal('r', 'go', 'early', 's1');
      await runtime.supervisor.onResult(completed(task, 'x done'));
      expect(log.conflicts).toBe(1);

      const events = await streamOf(store, 'r');
      expect(events.filter((e) => e.type === 'SignalReceived')).toHaveLength(1);
      expect(events.filter((e) => e.type === 'StepCompleted')).toHaveLength(1);
      expect(await checkRun(events)).toEqual({ ok: true, events: events.length });
      expect(await runtime.supervisor.get('r')).toMatchObject({
        status: 'completed',
        output: { x: 'x done', go: 'early' },
      });
    } finally {
      other.supervisor.close();
    }
  });

  it('offers the attempts an append schedules before it commits, and settles the offer with its outcome: committed, or failed on a conflict and offered again as decided anew', async () => {
    const offers: { tasks: string[]; settled?: boolean }[] = [];
    const early = testRuntime(observed(store, log), {
      offerEarly: (tasks) => {
        // Offered while the append is in flight: nothing of it is in the stream yet.
        const offer: { tasks: string[]; settled?: boolean } = {
          tasks: tasks.map((t) => `${t.stepId}/${String(t.attempt)}`),
        };
        offers.push(offer);
        return { settle: (committed) => (offer.settled = committed) };
      },
    });
    const other = testRuntime(observed(store, log));
    try {
      const blueprint = {
        name: 'two_steps',
        signals: [{ name: 'note', handler: 'append' }],
        steps: [
          { id: 'x', type: 'activity', activity: 'work' },
          { id: 'y', type: 'activity', activity: 'work', dependsOn: ['x'] },
        ],
      };
      await early.supervisor.start({ blueprint, runId: 'e' });
      expect(offers).toEqual([{ tasks: ['x/1'], settled: true }]);
      const [x] = early.dispatched;
      if (x === undefined) throw new Error('x was not dispatched');
      // Another runtime appends first: this one's append of x's result and y's schedule conflicts.
      await other.supervisor.signal('e', 'note', 'n', 's1');
      await early.supervisor.onResult(completed(x, 'x done'));
      expect(log.conflicts).toBe(1);
      expect(offers.slice(1)).toEqual([
        { tasks: ['y/1'], settled: false },
        { tasks: ['y/1'], settled: true },
      ]);
      // Dispatched (tracked) once per committed schedule, as without early offers.
      expect(early.dispatched.map((t) => t.stepId)).toEqual(['x', 'y']);
    } finally {
      early.supervisor.close();
      other.supervisor.close();
    }
  });

  it('never sends an attempt its own reaction left behind: a race won at once, or a fail step beside it; the StepScheduled stays in the stream as decided', async () => {
    const offered: string[] = [];
    const early = testRuntime(observed(store, log), {
      offerEarly: (tasks) => {
        offered.push(...tasks.map((t) => `${t.runId}/${t.stepId}`));
        return { settle: () => undefined };
      },
    });
    try {
      // `s` (a set step) wins the race as the parallel is entered; `b` was scheduled beside it.
      await early.supervisor.start({
        runId: 'race',
        blueprint: {
          name: 'race_won_at_once',
          steps: [
            {
              id: 'p',
              type: 'parallel',
              completion: 'first',
              branches: [[{ id: 's', type: 'set', data: { won: true } }], [act('b')]],
            },
            act('after'),
          ],
        },
      });
      // A fail step ends the run in the reaction that schedules `c` beside it.
      await early.supervisor.start({
        runId: 'fail',
        blueprint: {
          name: 'fail_beside',
          steps: [
            {
              id: 'p',
              type: 'parallel',
              branches: [
                [{ id: 'stop', type: 'fail', error: { code: 'no', message: 'stop here' } }],
                [act('c')],
              ],
            },
          ],
        },
      });
      const scheduled = async (runId: string) =>
        (await streamOf(store, runId)).flatMap((e) =>
          e.type === 'StepScheduled' ? [(e.data as { stepId: string }).stepId] : [],
        );
      expect(await scheduled('race')).toEqual(['b', 'after']);
      expect(await scheduled('fail')).toEqual(['c']);
      expect(await early.supervisor.get('fail')).toMatchObject({ status: 'failed' });
      // Only `after` went out, dispatched and offered: `b` and `c` reached no worker.
      expect(early.dispatched.map((t) => `${t.runId}/${t.stepId}`)).toEqual(['race/after']);
      expect(offered).toEqual(['race/after']);
      const [after] = early.dispatched;
      if (after === undefined) throw new Error('after was not dispatched');
      await early.supervisor.onResult(completed(after, 'done'));
      expect(await early.supervisor.get('race')).toMatchObject({ status: 'completed' });
      for (const runId of ['race', 'fail']) {
        const events = await streamOf(store, runId);
        expect(await checkRun(events)).toEqual({ ok: true, events: events.length });
      }
    } finally {
      early.supervisor.close();
    }
  });

  it("records a burst of one run's results in one append", async () => {
    const items = 5;
    await runtime.supervisor.start({
      blueprint: {
        name: 'burst',
        steps: [
          {
            id: 'm',
            type: 'map',
            over: '{% $input %}',
            step: { type: 'activity', activity: 'work', input: '{% $item %}' },
          },
        ],
      },
      runId: 'm',
      input: Array.from({ length: items }, (_, i) => i),
    });
    expect(runtime.dispatched).toHaveLength(items);
    const before = appendsTo('m');
    await Promise.all(
      runtime.dispatched.map((task) => runtime.supervisor.onResult(completed(task, task.taskId))),
    );
    expect(appendsTo('m') - before).toBe(1);
    expect(await runtime.supervisor.get('m')).toMatchObject({ status: 'completed' });
  });

  it('refuses, recording nothing, a result for an attempt never sent: a later attempt, an unknown task, a run that does not exist', async () => {
    await runtime.supervisor.start({ blueprint: THEN_GATE, runId: 'r' });
    const [task] = runtime.dispatched;
    if (task === undefined) throw new Error('nothing was dispatched');
    const before = { appends: appendsTo('r'), events: (await streamOf(store, 'r')).length };
    const refusal = (result: TaskResult) =>
      runtime.supervisor.onResult(result).then(
        () => 'accepted',
        (error: unknown) => (isNotSent(error) ? 'not sent' : error),
      );

    expect(await refusal(completed({ ...task, attempt: 2 }, 'early'))).toBe('not sent');
    expect(await refusal(completed({ ...task, taskId: 'r:nothing:1' }, 'lost'))).toBe('not sent');
    expect(await refusal(completed({ ...task, taskId: 'forged' }, 'lost'))).toBe('not sent');
    expect(await refusal(completed({ ...task, runId: 'missing' }, 'lost'))).toBe('not sent');

    expect(appendsTo('r')).toBe(before.appends);
    expect(await streamOf(store, 'r')).toHaveLength(before.events);
    expect(await streamOf(store, 'missing')).toEqual([]);
    // The open attempt is still answered once; a repeated report of it is accepted as late.
    await runtime.supervisor.onResult(completed(task, 'x done'));
    expect(await refusal(completed(task, 'x again'))).toBe('accepted');
    const done = (await streamOf(store, 'r')).filter((e) => e.type === 'StepCompleted');
    expect(done.map((e) => (e.data as { output: unknown }).output)).toEqual(['x done']);
  });
});
