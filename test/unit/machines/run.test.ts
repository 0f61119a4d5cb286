import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseDuration } from '../../../src/blueprints/duration.ts';
import { compileBlueprint, UnsupportedStep } from '../../../src/machines/compile.ts';
import { RUN_EVENT_TYPES } from '../../../src/machines/events.ts';
import {
  checkRun,
  compiledFor,
  toRunEvent,
  type StoredEvent,
} from '../../../src/machines/replay.ts';
import {
  activeSteps,
  evolve,
  initialSnapshot,
  replay,
  statusOf,
} from '../../../src/machines/run.ts';
import { choices, compile, drive, shapes, toBlueprint, type Shape } from './driver.ts';
import { act, completed, failed, given, RUN, scheduled, started } from './spec.ts';

const pipeline = { name: 'bp', steps: [act('a'), act('b'), act('c')] };
const diamond = {
  name: 'bp',
  steps: [
    act('a'),
    act('b', { dependsOn: ['a'] }),
    act('c', { dependsOn: ['a'] }),
    act('d', { dependsOn: ['b', 'c'] }),
  ],
};

describe('sequence', () => {
  it('schedules the first step with the run input when the run starts', async () => {
    const { appended, snapshot } = await given(pipeline, []).when(started({ n: 1 }));
    expect(appended).toEqual([scheduled('a', { n: 1 })]);
    expect(statusOf(snapshot)).toBe('running');
    expect(activeSteps(snapshot.context)).toEqual(['a']);
  });

  it('gives each next step the output of the one before it', async () => {
    const { appended } = await given(pipeline, [started(), scheduled('a', { n: 1 })]).when(
      completed('a', { a: true }),
    );
    expect(appended).toEqual([scheduled('b', { a: true })]);
  });

  it('completes with the output of the single leaf', async () => {
    const history = [
      started(),
      scheduled('a', { n: 1 }),
      completed('a', 1),
      scheduled('b', 1),
      completed('b', 2),
      scheduled('c', 2),
    ];
    const { appended, snapshot } = await given(pipeline, history).when(completed('c', 3));
    expect(appended).toEqual([{ type: 'RunCompleted', output: 3 }]);
    expect(statusOf(snapshot)).toBe('completed');
  });

  it('uses the output expression when there is one', async () => {
    const blueprint = {
      ...pipeline,
      steps: [act('a')],
      output: "{% {'sum': $steps.a + $input.n, 'run': $run.id} %}",
    };
    const { appended } = await given(blueprint, [started({ n: 1 }), scheduled('a', { n: 1 })]).when(
      completed('a', 41),
    );
    expect(appended).toEqual([{ type: 'RunCompleted', output: { sum: 42, run: RUN } }]);
  });
});

describe('dependsOn DAG', () => {
  it('runs both branches of a diamond once their dependency is done', async () => {
    const { appended } = await given(diamond, [started(), scheduled('a', { n: 1 })]).when(
      completed('a', 'A'),
    );
    expect(appended).toEqual([scheduled('b', 'A'), scheduled('c', 'A')]);
  });

  it('waits for every dependency and gives an object keyed by dependency id', async () => {
    const history = [
      started(),
      scheduled('a', { n: 1 }),
      completed('a', 'A'),
      scheduled('b', 'A'),
      scheduled('c', 'A'),
    ];
    const first = await given(diamond, history).when(completed('c', 'C'));
    expect(first.appended).toEqual([]);
    const second = await given(diamond, [...history, completed('c', 'C')]).when(
      completed('b', 'B'),
    );
    expect(second.appended).toEqual([scheduled('d', { b: 'B', c: 'C' })]);
  });

  it('gives an object keyed by leaf id when there are several leaves', async () => {
    const blueprint = { name: 'bp', steps: [act('a'), act('b', { dependsOn: [] })] };
    const history = [
      started(),
      scheduled('a', { n: 1 }),
      scheduled('b', { n: 1 }),
      completed('a', 1),
    ];
    const { appended } = await given(blueprint, history).when(completed('b', 2));
    expect(appended).toEqual([{ type: 'RunCompleted', output: { a: 1, b: 2 } }]);
  });
});

describe('retries and failures', () => {
  const policy = {
    name: 'bp',
    defaults: { maxAttempts: 3, backoff: { initial: '100ms', factor: 3, max: '1s' } },
    steps: [act('a'), act('b')],
  };

  it('retries a retryable failure with the same task id and backoff', async () => {
    const first = await given(policy, [started(), scheduled('a', { n: 1 })]).when(failed('a', 1));
    expect(first.appended).toEqual([scheduled('a', { n: 1 }, 2, 100)]);
    const second = await given(policy, [
      started(),
      scheduled('a', { n: 1 }),
      failed('a', 1),
      scheduled('a', { n: 1 }, 2, 100),
    ]).when(failed('a', 2));
    expect(second.appended).toEqual([scheduled('a', { n: 1 }, 3, 300)]);
  });

  it('fails the run once attempts are spent', async () => {
    const history = [
      started(),
      scheduled('a', { n: 1 }),
      failed('a', 1),
      scheduled('a', { n: 1 }, 2, 100),
      failed('a', 2),
      scheduled('a', { n: 1 }, 3, 300),
    ];
    const { appended, snapshot } = await given(policy, history).when(failed('a', 3));
    expect(appended).toHaveLength(1);
    expect(appended[0]).toMatchObject({
      type: 'RunFailed',
      error: { code: 'step_failed', stepId: 'a' },
    });
    expect(statusOf(snapshot)).toBe('failed');
  });

  it('never retries a terminal error', async () => {
    const { appended } = await given(policy, [started(), scheduled('a', { n: 1 })]).when(
      failed('a', 1, false),
    );
    expect(appended).toMatchObject([
      { type: 'RunFailed', error: { code: 'step_failed', stepId: 'a' } },
    ]);
  });

  it('ignores a result of an attempt that is not the current one', async () => {
    const history = [
      started(),
      scheduled('a', { n: 1 }),
      failed('a', 1),
      scheduled('a', { n: 1 }, 2, 100),
    ];
    const { snapshot, appended } = await given(policy, history).when(completed('a', 'late', 1));
    expect(appended).toEqual([]);
    expect(snapshot.context.tasks.a?.attempt).toBe(2);
    expect(snapshot.context.steps.a).toBeUndefined();
  });

  it('records the error and goes on with onError: continue', async () => {
    const blueprint = {
      name: 'bp',
      steps: [act('a', { onError: 'continue', maxAttempts: 1 }), act('b')],
    };
    const { appended } = await given(blueprint, [started(), scheduled('a', { n: 1 })]).when(
      failed('a', 1),
    );
    expect(appended).toEqual([
      scheduled('b', { error: { message: 'boom', code: 'activity_error', retryable: true } }),
    ]);
  });

  it('fails the step, not the runtime, when an input expression fails', async () => {
    const blueprint = { name: 'bp', steps: [act('a', { input: '{% $error("bad input") %}' })] };
    const { appended } = await given(blueprint, []).when(started());
    expect(appended[0]).toMatchObject({
      type: 'StepFailed',
      stepId: 'a',
      error: { retryable: false },
    });
    expect(appended[1]).toMatchObject({ type: 'RunFailed', error: { stepId: 'a' } });
  });
});

describe('if and activity expressions', () => {
  it('skips a step whose if is false, with output null', async () => {
    const blueprint = { name: 'bp', steps: [act('a', { if: '{% $input.n > 5 %}' }), act('b')] };
    const { appended } = await given(blueprint, []).when(started({ n: 1 }));
    expect(appended).toEqual([
      { type: 'StepSkipped', stepId: 'a', reason: 'if_false' },
      scheduled('b', null),
    ]);
  });

  it('resolves an activity name from an expression', async () => {
    const blueprint = {
      name: 'bp',
      steps: [{ id: 'a', type: 'activity', activity: '{% $input.use %}' }],
    };
    const { appended } = await given(blueprint, []).when(started({ use: 'do_a' }));
    expect(appended).toEqual([scheduled('a', { use: 'do_a' })]);
  });

  it('fails the step when an activity expression gives no valid name', async () => {
    const blueprint = {
      name: 'bp',
      steps: [{ id: 'a', type: 'activity', activity: '{% $input.use %}' }],
    };
    const { appended } = await given(blueprint, []).when(started({ use: 'bad.name' }));
    expect(appended[0]).toMatchObject({
      type: 'StepFailed',
      error: { code: 'invalid_activity_name' },
    });
  });
});

describe('cancel', () => {
  it('ends a running run as cancelled and ignores later results', async () => {
    const history = [started(), scheduled('a', { n: 1 })];
    const { snapshot } = await given(pipeline, history).when({
      type: 'RunCancelled',
      reason: 'stop',
    });
    expect(statusOf(snapshot)).toBe('cancelled');
    const after = await given(pipeline, [
      ...history,
      { type: 'RunCancelled', reason: 'stop' },
    ]).when(completed('a', 1));
    expect(after.appended).toEqual([]);
  });
});

describe('compiler', () => {
  it('rejects a map whose inner step it cannot execute, by name (the validator refuses it first)', () => {
    const blueprint = {
      name: 'bp',
      steps: [{ id: 'm', type: 'map', step: { type: 'sleep', duration: '1s' } }],
    };
    expect(() => compile(blueprint)).toThrow(/a map runs an activity or a child step/);
    const unchecked = blueprint as unknown as Parameters<typeof compileBlueprint>[0];
    expect(() => compileBlueprint(unchecked, parseDuration)).toThrow(UnsupportedStep);
    expect(() => compileBlueprint(unchecked, parseDuration)).toThrow(/'m'/);
  });
});

describe('replay', () => {
  it('rebuilds every generated run from its stored stream alone, to the end the run reached', async () => {
    const seen = new Set<string>();
    const endings = new Set<string>();
    let retries = 0;
    let itemsOutOfOrder = 0;
    let unwound = 0;
    await fc.assert(
      fc.asyncProperty(shapes, choices, fc.boolean(), async (list, how, cleanup) => {
        const { blueprint, scripts, expectedStatus } = toBlueprint(list, cleanup);
        const live = await drive(blueprint, scripts, how);

        // Only what the store keeps reaches the replay: text, decoded by the runtime's decoder,
        // folded through a machine compiled anew from the blueprint pinned in RunStarted.
        const stored = JSON.parse(JSON.stringify(live.stored)) as StoredEvent[];
        const fresh = compiledFor(stored);
        expect(fresh.compiled.machine).not.toBe(live.compiled.machine);
        const replayed = replay(fresh.compiled, stored.map(toRunEvent));
        expect(statusOf(replayed)).toBe(statusOf(live.snapshot));
        expect(replayed.value).toEqual(live.snapshot.value);
        expect(replayed.context).toEqual(live.snapshot.context);
        expect(await checkRun(stored)).toEqual({ ok: true, events: stored.length });

        const status = statusOf(live.snapshot);
        expect(status).toBe(
          live.cancelled ? 'cancelled' : live.timedOut ? 'timed_out' : expectedStatus,
        );
        const last = stored[stored.length - 1]?.type;
        expect(last).toBe(
          {
            completed: 'RunCompleted',
            failed: 'RunFailed',
            cancelled: 'RunCancelled',
            timed_out: 'RunTimedOut',
          }[status as 'completed' | 'failed' | 'cancelled' | 'timed_out'],
        );

        // Compensations: a run that unwound (its end says `compensated`) undid each step that
        // completed, last first, and then ran `finally`; a completed run undid nothing.
        const compensable = (id: string) => scripts.activities.has(`${id}_undo`);
        const completedOrder = stored.flatMap((e) => {
          const { stepId, item } = e.data as { stepId?: string; item?: number };
          return e.type === 'StepCompleted' && item === undefined && compensable(stepId ?? '')
            ? [stepId as string]
            : [];
        });
        const undone = stored.flatMap((e) => {
          const { stepId, attempt } = e.data as { stepId?: string; attempt?: number };
          return e.type === 'StepScheduled' && attempt === 1 && /_undo$|^fin$/.test(stepId ?? '')
            ? [stepId as string]
            : [];
        });
        const end = stored[stored.length - 1]?.data as { compensated?: boolean };
        if (end.compensated === true)
          expect(undone).toEqual([
            ...completedOrder.reverse().map((id) => `${id}_undo`),
            ...(cleanup ? ['fin'] : []),
          ]);
        if (status === 'completed') expect(undone).toEqual(cleanup ? ['fin'] : []);
        if (end.compensated === true) unwound++;

        endings.add(status);
        for (const e of stored) seen.add(e.type);
        retries += stored.filter(
          (e) => e.type === 'StepScheduled' && (e.data as { attempt: number }).attempt > 1,
        ).length;
        const completedItems = new Map<string, number[]>();
        for (const e of stored) {
          const data = e.data as { item?: number; taskId?: string };
          if (e.type !== 'StepCompleted' || data.item === undefined) continue;
          const execution = (data.taskId ?? '').replace(/\[\d+\]/, '');
          completedItems.set(execution, [...(completedItems.get(execution) ?? []), data.item]);
        }
        for (const order of completedItems.values())
          if (order.some((item, i) => i > 0 && item < (order[i - 1] ?? 0))) itemsOutOfOrder++;
      }),
      { numRuns: 100 },
    );
    expect([...RUN_EVENT_TYPES].filter((type) => !seen.has(type))).toEqual([]);
    expect([...endings].sort()).toEqual(['cancelled', 'completed', 'failed', 'timed_out']);
    expect(retries).toBeGreaterThan(0);
    expect(itemsOutOfOrder).toBeGreaterThan(0);
    expect(unwound).toBeGreaterThan(0);
  }, 120_000);
});

describe('the run context', () => {
  it('keeps at most 18 top-level keys after every event of a run through every step kind (xstate copies it with Object.assign; with more, V8 makes it a slow dictionary)', async () => {
    const plain = { skip: false, deps: null };
    const activity = (failures: number): Shape => ({
      ...plain,
      kind: 'activity',
      script: { failures, then: 'ok' },
      maxAttempts: 3,
      onError: 'fail',
    });
    const every: readonly Shape[] = [
      activity(1),
      {
        ...plain,
        kind: 'parallel',
        completion: 'all',
        maxAttempts: 1,
        branches: [
          [{ ...plain, kind: 'sleep', ms: 1_000 }],
          [
            {
              ...plain,
              kind: 'wait',
              arrives: 'late',
              timeoutMs: 10_000,
              handler: 'store',
              onError: 'fail',
            },
          ],
        ],
      },
      { ...plain, kind: 'condition', holds: true, then: [activity(0)], else: [activity(0)] },
      { ...plain, kind: 'switch', on: 'b', a: [activity(0)], b: [activity(0)], default: null },
      {
        ...plain,
        kind: 'loop',
        form: 'count',
        times: 2,
        maxIterations: 2,
        onError: 'fail',
        body: [activity(0)],
      },
      {
        ...plain,
        kind: 'map',
        inner: 'activity',
        items: [0, 1, 2].map(() => ({ script: { failures: 0, then: 'ok' }, ok: true })),
        concurrency: 2,
        maxAttempts: 1,
        innerOnError: 'fail',
        onError: 'fail',
      },
      { ...plain, kind: 'child', ok: true, onError: 'fail' },
    ];
    const { blueprint, scripts, expectedStatus } = toBlueprint(every);
    expect(expectedStatus).toBe('completed');
    const run = await drive(blueprint, scripts, {
      picks: [0],
      gaps: [1_000],
      extraSignals: 2,
      cancelAt: null,
    });
    expect(statusOf(run.snapshot)).toBe('completed');
    interface StepJson {
      readonly id: string;
      readonly type: string;
      readonly then?: readonly StepJson[];
      readonly steps?: readonly StepJson[];
      readonly branches?: readonly (readonly StepJson[])[];
      readonly cases?: Readonly<Record<string, readonly StepJson[]>>;
    }
    // Every step on the path the run takes (the condition's then, the switch's case b) is done.
    const kinds = new Set<string>();
    const visit = (steps: readonly StepJson[]) => {
      for (const step of steps) {
        kinds.add(step.type);
        expect(run.snapshot.context.done[step.id], step.id).toBe(true);
        visit([...(step.then ?? []), ...(step.steps ?? []), ...(step.cases?.['b'] ?? [])]);
        for (const branch of step.branches ?? []) visit(branch);
      }
    };
    visit((blueprint as unknown as { steps: readonly StepJson[] }).steps);
    expect([...kinds].sort()).toEqual([
      'activity',
      'child',
      'condition',
      'loop',
      'map',
      'parallel',
      'sleep',
      'switch',
      'wait',
    ]);

    const { compiled } = run;
    let snapshot = initialSnapshot(compiled);
    for (const stored of run.stored) {
      snapshot = evolve(compiled, snapshot, toRunEvent(stored)).snapshot;
      const keys = Object.keys(snapshot.context).length;
      expect(keys, `after revision ${stored.revision} (${stored.type})`).toBeLessThanOrEqual(18);
    }
  });
});
