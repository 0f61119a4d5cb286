import { describe, expect, it } from 'vitest';
import type { Json } from '../../../src/blueprints/json.ts';
import { checkRun, LEGACY_TIME_TOLERANCE_MS } from '../../../src/machines/check.ts';
import type { DecideOptions } from '../../../src/machines/decide.ts';
import type { RunEvent } from '../../../src/machines/events.ts';
import { compiledFor, type StoredEvent } from '../../../src/machines/replay.ts';
import { replay, statusOf } from '../../../src/machines/run.ts';
import { act, completed, failed, given, OPTIONS, RUN, scheduled, started } from './spec.ts';

/**
 * What a run's history says by itself: why each step did not run (`StepSkipped` with its reason),
 * the time each reaction was decided at (`time` on its fact, used again by `checkRun` with no
 * tolerance), and the limits the run was admitted with (`RunStarted.limits`).
 */

const skipped = (stepId: string, reason: string): RunEvent =>
  ({ type: 'StepSkipped', stepId, reason }) as RunEvent;

/** The events as the store keeps them, committed `commitLagMs` after the decision's time. */
const stored = (events: readonly RunEvent[], at: number, commitLagMs = 3): StoredEvent[] =>
  events.map((event, revision) => {
    const { type, ...data } = event;
    return { revision, type, data: data as Json, at: new Date(at + commitLagMs).toISOString() };
  });

/** A stream folded fact by fact through `react`, each fact decided at its own time. */
const record = async (
  blueprint: Json,
  facts: readonly {
    readonly fact: (events: readonly RunEvent[]) => RunEvent;
    readonly at: number;
  }[],
  options: Partial<DecideOptions> = {},
): Promise<StoredEvent[]> => {
  const out: StoredEvent[] = [];
  const events: RunEvent[] = [];
  for (const { fact, at } of facts) {
    const { events: reaction } = await given(blueprint, events).when(fact(events), {
      ...OPTIONS,
      ...options,
      now: at,
    });
    events.push(...reaction);
    out.push(...stored(reaction, at).map((e, i) => ({ ...e, revision: out.length + i })));
  }
  return out;
};

const startedWith = (blueprint: Json, input: Json = { n: 1 }): RunEvent => ({
  type: 'RunStarted',
  runId: RUN,
  blueprint: { name: 'bp', version: 1, hash: 'h', content: blueprint },
  input,
});

describe('skipped steps are recorded once, with the reason', () => {
  const routed = {
    name: 'bp',
    steps: [act('a', { onError: 'h', maxAttempts: 1 }), act('b'), act('c'), act('h'), act('n')],
  };

  it('if_false: the step whose if is false', async () => {
    const blueprint = { name: 'bp', steps: [act('a', { if: '{% $input.n > 5 %}' }), act('b')] };
    const { appended } = await given(blueprint, []).when(started({ n: 1 }));
    expect(appended).toEqual([skipped('a', 'if_false'), scheduled('b', null)]);
  });

  it('dependency_failed: every step after a failure routed to a handler, once each', async () => {
    const { appended } = await given(routed, [started(), scheduled('a', { n: 1 })]).when(
      failed('a', 1, false),
    );
    expect(appended).toEqual([
      skipped('b', 'dependency_failed'),
      scheduled('h', { error: { message: 'boom', code: 'terminal', retryable: false } }),
      skipped('c', 'dependency_failed'),
    ]);
  });

  it('handler_unused: an error handler nothing failed onto', async () => {
    const history = [
      started(),
      scheduled('a', { n: 1 }),
      completed('a', 1),
      scheduled('b', 1),
      completed('b', 2),
      scheduled('c', 2),
    ];
    const { appended } = await given(routed, history).when(completed('c', 3));
    expect(appended).toEqual([skipped('h', 'handler_unused'), scheduled('n', null)]);
  });

  it('not_taken: the steps of the branch a condition did not take, not their nested steps', async () => {
    const blueprint = {
      name: 'bp',
      steps: [
        {
          id: 'k',
          type: 'condition',
          when: '{% $input.n > 0 %}',
          then: [act('t1'), act('t2')],
          else: [act('e1'), { id: 'e2', type: 'parallel', branches: [[act('inner')]] }],
        },
      ],
    };
    const { appended } = await given(blueprint, []).when(started({ n: 1 }));
    expect(appended).toEqual([
      { type: 'StepEntered', stepId: 'k', input: { n: 1 }, value: 'then' },
      skipped('e1', 'not_taken'),
      skipped('e2', 'not_taken'),
      scheduled('t1', { n: 1 }),
    ]);
  });

  it('not_taken: every case of a switch that matched none and has no default', async () => {
    const blueprint = {
      name: 'bp',
      steps: [
        {
          id: 's',
          type: 'switch',
          on: '{% $input.kind %}',
          cases: { a: [act('x')], b: [act('y'), act('z')] },
        },
        act('after'),
      ],
    };
    const { appended } = await given(blueprint, []).when(started({ kind: 'q' }));
    expect(appended).toEqual([
      { type: 'StepEntered', stepId: 's', input: { kind: 'q' }, value: null },
      skipped('x', 'not_taken'),
      skipped('y', 'not_taken'),
      skipped('z', 'not_taken'),
      scheduled('after', null),
    ]);
  });

  it('a composite step skipped by its if is one event: its own steps get none', async () => {
    const blueprint = {
      name: 'bp',
      steps: [
        { id: 'p', type: 'parallel', if: '{% false %}', branches: [[act('x')], [act('y')]] },
        act('after'),
      ],
    };
    const { appended } = await given(blueprint, []).when(started());
    expect(appended).toEqual([skipped('p', 'if_false'), scheduled('after', null)]);
  });

  it('a recorded skip other than if_false changes nothing when folded (the machine moved on already)', async () => {
    const history = [started(), scheduled('a', { n: 1 }), failed('a', 1, false)];
    const { events } = await given(routed, history.slice(0, 2)).when(failed('a', 1, false));
    const withSkips = replay(given(routed, []).compiled, [...history.slice(0, 2), ...events]);
    const withoutSkips = replay(
      given(routed, []).compiled,
      [...history.slice(0, 2), ...events].filter((e) => e.type !== 'StepSkipped'),
    );
    expect(withSkips.value).toEqual(withoutSkips.value);
    expect(withSkips.context).toEqual(withoutSkips.context);
  });
});

describe('the decision time is in the history', () => {
  const stamped = {
    name: 'bp',
    steps: [
      act('a', { input: '{% {"at": $now()} %}' }),
      { id: 'nap', type: 'sleep', duration: '5m' },
    ],
  };
  const T0 = Date.UTC(2026, 5, 1, 12);

  it('records the time it decided at in the fact that began the reaction', async () => {
    const { events } = await given(stamped, []).when(started(), { ...OPTIONS, now: T0 });
    expect(events[0]).toMatchObject({ type: 'RunStarted', time: T0 });
    expect(events[1]).toMatchObject({
      type: 'StepScheduled',
      input: { at: new Date(T0).toISOString() },
    });
    expect(events.slice(1).every((e) => !('time' in e))).toBe(true);
  });

  it('decides a fact that records a time at that time, whatever the clock says', async () => {
    const { events } = await given(stamped, []).when({ ...started(), time: T0 } as RunEvent, {
      ...OPTIONS,
      now: T0 + 99_999,
    });
    expect(events[1]).toMatchObject({ input: { at: new Date(T0).toISOString() } });
  });

  const run = () =>
    record(stamped, [
      { fact: () => startedWith(stamped), at: T0 },
      { fact: () => completed('a', 'A'), at: T0 + 1_000 },
      { fact: () => ({ type: 'TimerFired', timerId: 'nap:1' }), at: T0 + 301_000 },
    ]);

  it('a run using $now() and a sleep checks with no difference, though each commit came later than its decision', async () => {
    const events = await run();
    expect(events.map((e) => e.type)).toEqual([
      'RunStarted',
      'StepScheduled',
      'StepCompleted',
      'StepEntered',
      'TimerScheduled',
      'TimerFired',
      'RunCompleted',
    ]);
    expect(await checkRun(events)).toEqual({ ok: true, events: events.length });
  });

  it('reports a due time 1 ms off as a divergence: no tolerance when the time is recorded', async () => {
    const events = await run();
    const edited = events.map((e) =>
      e.type === 'TimerScheduled'
        ? { ...e, data: { ...(e.data as object), dueAt: (e.data as { dueAt: number }).dueAt + 1 } }
        : e,
    );
    const result = await checkRun(edited);
    expect(result).toMatchObject({ ok: false, revision: 4 });
  });

  it('reports a $now() value 1 ms off as a divergence', async () => {
    const events = await run();
    const edited = events.map((e) =>
      e.type === 'RunStarted' ? { ...e, data: { ...(e.data as object), time: T0 + 1 } } : e,
    );
    expect(await checkRun(edited)).toMatchObject({ ok: false, revision: 1 });
  });

  it('decides a fact of an older stream (no time) at its commit time, within the old tolerance', async () => {
    const sleeper = { name: 'bp', steps: [{ id: 'nap', type: 'sleep', duration: '5m' }] };
    const recorded = await record(sleeper, [
      { fact: () => startedWith(sleeper), at: T0 },
      { fact: () => ({ type: 'TimerFired', timerId: 'nap:1' }), at: T0 + 300_000 },
    ]);
    const older = recorded.map((e) => {
      const { time: _time, ...data } = e.data as { time?: number };
      return { ...e, data: data as Json };
    });
    expect(await checkRun(older)).toEqual({ ok: true, events: older.length });
    const far = older.map((e) =>
      e.type === 'TimerScheduled'
        ? {
            ...e,
            data: {
              ...(e.data as object),
              dueAt: (e.data as { dueAt: number }).dueAt + LEGACY_TIME_TOLERANCE_MS + 10,
            },
          }
        : e,
    );
    expect(await checkRun(far)).toMatchObject({ ok: false, revision: 2 });
  });
});

describe('streams recorded before skips had reasons', () => {
  const routed = {
    name: 'bp',
    steps: [
      act('g', { if: '{% $input.n > 5 %}' }),
      act('a', { onError: 'h', maxAttempts: 1 }),
      act('b'),
      act('h'),
    ],
  };
  const T0 = Date.UTC(2026, 0, 1);
  const run = () =>
    record(routed, [
      { fact: () => startedWith(routed), at: T0 },
      { fact: () => failed('a', 1, false), at: T0 + 10 },
      { fact: () => completed('h', 'handled'), at: T0 + 20 },
    ]);

  /** What older code wrote: no times, `if` skips without a reason, no other skips. */
  const asOlder = (events: readonly StoredEvent[]): StoredEvent[] =>
    events
      .filter(
        (e) => !(e.type === 'StepSkipped' && (e.data as { reason?: string }).reason !== 'if_false'),
      )
      .map((e, revision) => {
        const {
          time: _time,
          reason: _reason,
          ...data
        } = e.data as { time?: number; reason?: string };
        return { ...e, revision, data: data as Json };
      });

  it('replays and checks without a divergence, and ends as recorded', async () => {
    const events = await run();
    expect(events.filter((e) => e.type === 'StepSkipped').map((e) => e.data)).toEqual([
      { stepId: 'g', reason: 'if_false' },
      { stepId: 'b', reason: 'dependency_failed' },
    ]);
    const older = asOlder(events);
    expect(older.filter((e) => e.type === 'StepSkipped')).toHaveLength(1);
    expect(await checkRun(older)).toEqual({ ok: true, events: older.length });
    const { compiled } = compiledFor(older);
    expect(
      statusOf(
        replay(
          compiled,
          older.map((e) => ({ type: e.type, ...(e.data as object) }) as RunEvent),
        ),
      ),
    ).toBe('completed');
  });

  it('a stream that records times must have every skip: one left out is a divergence', async () => {
    const events = await run();
    const dropped = events
      .filter((e) => !(e.type === 'StepSkipped' && (e.data as { stepId: string }).stepId === 'b'))
      .map((e, revision) => ({ ...e, revision }));
    const result = await checkRun(dropped);
    expect(result).toMatchObject({ ok: false, expected: skipped('b', 'dependency_failed') });
  });
});

describe('limits pinned in RunStarted', () => {
  const many = (n: number) => ({
    name: 'bp',
    steps: Array.from({ length: n }, (_, i) => act(`s${i}`)),
  });

  it('compiles the pinned blueprint under the pinned limits, and under the defaults when none are pinned', () => {
    const blueprint = many(1_500);
    const pinned = { ...startedWith(blueprint), limits: { maxSteps: 2_000 } } as RunEvent;
    expect(compiledFor(stored([pinned], 0)).compiled.plan.steps.size).toBe(1_500);
    expect(() => compiledFor(stored([startedWith(blueprint)], 0))).toThrow(/1500 steps/);
  });

  it('checks a map under the maxMapItems its run pinned, not the default', async () => {
    const blueprint = {
      name: 'bp',
      steps: [{ id: 'm', type: 'map', over: '{% [1..$input.n] %}', step: act('each') }],
    };
    const start = { ...startedWith(blueprint, { n: 3 }), limits: { maxMapItems: 2 } } as RunEvent;
    const events = await record(blueprint, [{ fact: () => start, at: 0 }], { maxMapItems: 2 });
    expect(events[1]).toMatchObject({
      type: 'StepFailed',
      data: { error: { code: 'too_many_items' } },
    });
    expect(await checkRun(events)).toEqual({ ok: true, events: events.length });
    const unpinned = events.map((e) =>
      e.type === 'RunStarted' ? { ...e, data: { ...(e.data as object), limits: {} } } : e,
    );
    expect(await checkRun(unpinned)).toMatchObject({ ok: false, revision: 1 });
  });
});
