import { describe, expect, it } from 'vitest';
import { parseDuration } from '../../../src/blueprints/duration.ts';
import type { RunEvent } from '../../../src/machines/events.ts';
import { activeSteps, initialSnapshot, react, statusOf } from '../../../src/machines/run.ts';
import { act, activities, compile, drive, NOW, ok, RUN, startRun, type Activity } from './world.ts';

/**
 * Every step kind over the pure machine, driven by the in-memory world of `world.ts`; every run
 * is checked to replay to the same state.
 */

describe('parallel', () => {
  it('runs branches at once and gives an array of their last steps', async () => {
    const blueprint = {
      name: 'bp',
      steps: [
        {
          id: 'p',
          type: 'parallel',
          branches: [[act('a1', 'inc'), act('a2', 'inc')], [act('b1', 'tag')]],
        },
      ],
    };
    const run = await drive(blueprint, 1, { activities });
    expect(run.status).toBe('completed');
    expect(run.output).toEqual([3, { tagged: 1 }]);
    // Both branches' first steps are scheduled before any step completes.
    const firstCompleted = run.stream.findIndex((e) => e.type === 'StepCompleted');
    const scheduledFirst = run.stream
      .slice(0, firstCompleted)
      .flatMap((e) => (e.type === 'StepScheduled' ? [e.stepId] : []));
    expect(scheduledFirst.sort()).toEqual(['a1', 'b1']);
  });
});

describe('condition and switch', () => {
  const condition = {
    name: 'bp',
    steps: [
      {
        id: 'c',
        type: 'condition',
        when: '{% $input > 5 %}',
        then: [act('big', 'tag')],
        else: [act('small', 'inc')],
      },
    ],
  };
  it('takes then or else and gives the taken branch output', async () => {
    expect((await drive(condition, 10, { activities })).output).toEqual({ tagged: 10 });
    expect((await drive(condition, 1, { activities })).output).toEqual(2);
  });

  it('gives null when false and there is no else', async () => {
    const blueprint = {
      name: 'bp',
      steps: [
        { id: 'c', type: 'condition', when: '{% false %}', then: [act('x', 'tag')] },
        act('after', 'echo'),
      ],
    };
    const run = await drive(blueprint, 1, { activities });
    expect(run.snapshot.context.steps.c).toBeNull();
    expect(run.output).toBeNull();
  });

  it('switches on a value, with a default', async () => {
    const blueprint = {
      name: 'bp',
      steps: [
        {
          id: 's',
          type: 'switch',
          on: '{% $input.kind %}',
          cases: { a: [act('ca', 'tag')], b: [act('cb', 'inc')] },
          default: [act('cd', 'echo')],
        },
      ],
    };
    expect((await drive(blueprint, { kind: 'a' }, { activities })).output).toEqual({
      tagged: { kind: 'a' },
    });
    expect((await drive(blueprint, { kind: 'zzz' }, { activities })).output).toEqual({
      kind: 'zzz',
    });
  });
});

describe('loop', () => {
  it('repeats count times, feeding $iteration, and outputs every iteration', async () => {
    const blueprint = {
      name: 'bp',
      steps: [
        {
          id: 'l',
          type: 'loop',
          count: 3,
          steps: [act('body', 'echo', { input: '{% $iteration * 10 %}' })],
        },
      ],
    };
    const run = await drive(blueprint, null, { activities });
    expect(run.output).toEqual([0, 10, 20]);
    const taskIds = run.stream.flatMap((e) => (e.type === 'StepScheduled' ? [e.taskId] : []));
    expect(new Set(taskIds).size).toBe(3);
  });

  it('runs while a condition holds', async () => {
    const blueprint = {
      name: 'bp',
      steps: [
        {
          id: 'l',
          type: 'loop',
          while: '{% $iteration < 4 %}',
          maxIterations: 10,
          steps: [act('n', 'inc', { input: '{% $iteration %}' })],
        },
      ],
    };
    expect((await drive(blueprint, null, { activities })).output).toEqual([1, 2, 3, 4]);
  });

  it('fails with max_iterations when the condition is still true', async () => {
    const blueprint = {
      name: 'bp',
      steps: [
        { id: 'l', type: 'loop', while: '{% true %}', maxIterations: 2, steps: [act('n', 'inc')] },
      ],
    };
    const run = await drive(blueprint, 0, { activities });
    expect(run.status).toBe('failed');
    expect(
      run.stream.some((e) => e.type === 'StepFailed' && e.error.code === 'max_iterations'),
    ).toBe(true);
  });

  it('re-runs nested lists each iteration', async () => {
    const blueprint = {
      name: 'bp',
      steps: [
        {
          id: 'l',
          type: 'loop',
          count: 2,
          steps: [act('a', 'inc', { input: '{% $iteration %}' }), act('b', 'inc')],
        },
      ],
    };
    expect((await drive(blueprint, null, { activities })).output).toEqual([2, 3]);
  });
});

describe('map', () => {
  it('fans out over the dependency output and fans in, in item order', async () => {
    const blueprint = {
      name: 'bp',
      steps: [
        act('fetch', 'echo'),
        {
          id: 'm',
          type: 'map',
          concurrency: 2,
          step: { type: 'activity', activity: 'double', input: "{% {'item': $item} %}" },
        },
      ],
    };
    const run = await drive(blueprint, [1, 2, 3, 4, 5], { activities });
    expect(run.output).toEqual([2, 4, 6, 8, 10]);
  });

  it('keeps at most `concurrency` items in flight', async () => {
    const blueprint = {
      name: 'bp',
      steps: [
        { id: 'm', type: 'map', concurrency: 2, step: { type: 'activity', activity: 'double' } },
      ],
    };
    const inFlight: number[] = [];
    const run = await drive(blueprint, [1, 2, 3, 4, 5], {
      activities,
      onOpenTasks: (n) => inFlight.push(n),
    });
    expect(run.output).toEqual([2, 4, 6, 8, 10]);
    expect(inFlight).toEqual([2, 2, 2, 2, 1]);
    const compiled = compile(blueprint);
    const reaction = await react(
      compiled,
      initialSnapshot(compiled),
      { id: RUN, blueprint: 'bp', version: 1 },
      {
        type: 'RunStarted',
        runId: RUN,
        blueprint: { name: 'bp', version: 1, hash: 'h', content: null },
        input: [1, 2, 3, 4],
      },
      { now: NOW, parseDuration },
    );
    expect(reaction.events.filter((e) => e.type === 'StepScheduled')).toHaveLength(2);
  });

  it('gives [] for an empty array and fails clearly for a non-array', async () => {
    const blueprint = {
      name: 'bp',
      steps: [{ id: 'm', type: 'map', step: { type: 'activity', activity: 'double' } }],
    };
    expect((await drive(blueprint, [], { activities })).output).toEqual([]);
    const bad = await drive(blueprint, { not: 'an array' }, { activities });
    expect(bad.status).toBe('failed');
    expect(bad.stream.find((e) => e.type === 'StepFailed')).toMatchObject({
      error: { code: 'map_not_array' },
    });
  });

  it('retries a failed item and tolerates bad items with onError continue', async () => {
    const flaky: Activity = (input, attempt) =>
      attempt < 2 ? { ok: false, retryable: true } : ok(input);
    const strict: Activity = (input) =>
      typeof input === 'number' ? ok(input) : { ok: false, retryable: false, message: 'bad row' };
    const retried = await drive(
      {
        name: 'bp',
        defaults: { maxAttempts: 3 },
        steps: [{ id: 'm', type: 'map', step: { type: 'activity', activity: 'flaky' } }],
      },
      [1, 2],
      { activities: { flaky } },
    );
    expect(retried.output).toEqual([1, 2]);
    const tolerant = await drive(
      {
        name: 'bp',
        steps: [
          {
            id: 'm',
            type: 'map',
            step: { type: 'activity', activity: 'strict', onError: 'continue' },
          },
        ],
      },
      [1, 'x', 3],
      { activities: { strict } },
    );
    expect(tolerant.output).toEqual([
      1,
      { error: { message: 'bad row', code: 'e', retryable: false } },
      3,
    ]);
  });
});

describe('child', () => {
  it('starts a child run by name and takes its output', async () => {
    const blueprint = {
      name: 'bp',
      steps: [{ id: 'c', type: 'child', blueprint: 'kid', input: "{% {'x': $input} %}" }],
    };
    const run = await drive(blueprint, 4, { children: { kid: (input) => ok({ got: input }) } });
    expect(run.output).toEqual({ got: { x: 4 } });
    expect(run.stream.find((e) => e.type === 'ChildRequested')).toMatchObject({
      childRunId: `${RUN}-c-1`,
      blueprint: 'kid',
    });
  });

  it('picks the child blueprint by each item type inside a map', async () => {
    const blueprint = {
      name: 'bp',
      steps: [
        {
          id: 'm',
          type: 'map',
          step: {
            type: 'child',
            byType: { on: '{% $item.type %}', blueprints: { image: 'img', video: 'vid' } },
          },
        },
      ],
    };
    const run = await drive(blueprint, [{ type: 'image' }, { type: 'video' }], {
      children: { img: () => ok('image done'), vid: () => ok('video done') },
    });
    expect(run.output).toEqual(['image done', 'video done']);
  });

  it('fails the step when the child fails', async () => {
    const run = await drive(
      { name: 'bp', steps: [{ id: 'c', type: 'child', blueprint: 'kid' }] },
      1,
      { children: {} },
    );
    expect(run.status).toBe('failed');
    expect(run.failure).toMatchObject({ stepId: 'c' });
  });

  it('forgets a child once its step is done: no longer listed as open or active', async () => {
    const run = await startRun(
      {
        name: 'bp',
        steps: [
          { id: 'c', type: 'child', blueprint: 'kid' },
          { id: 'w', type: 'wait', signal: 'go' },
        ],
      },
      null,
    );
    const child = Object.values(run.snapshot.context.children)[0];
    expect(child).toMatchObject({ stepId: 'c', childRunId: `${RUN}-c-1` });
    expect(activeSteps(run.snapshot.context)).toEqual(['c']);

    const completed: RunEvent = {
      type: 'ChildCompleted',
      stepId: 'c',
      childRunId: `${RUN}-c-1`,
      output: 1,
    };
    await run.apply(completed);
    // The supervisor delivers a child's end only while the child is listed here (also after a
    // restart), so a finished child must not stay listed.
    expect(run.snapshot.context.children).toEqual({});
    expect(activeSteps(run.snapshot.context)).toEqual([]);
    expect(run.snapshot.context.steps['c']).toBe(1);
    expect(statusOf(run.snapshot)).toBe('running');
  });
});

describe('wait and sleep', () => {
  const waiting = {
    name: 'bp',
    steps: [{ id: 'w', type: 'wait', signal: 'approve', timeout: '1m' }, act('after', 'echo')],
  };

  it('waits for a signal and gives its payload', async () => {
    const run = await drive(waiting, null, {
      activities,
      signals: [{ name: 'approve', payload: { ok: 1 } }],
    });
    expect(run.output).toEqual({ ok: 1 });
    expect(run.stream.find((e) => e.type === 'TimerScheduled')).toMatchObject({
      dueAt: NOW + 60_000,
    });
  });

  it('keeps a signal that arrived before the wait', async () => {
    const blueprint = {
      name: 'bp',
      steps: [act('first', 'echo'), { id: 'w', type: 'wait', signal: 'go' }],
    };
    const run = await drive(blueprint, null, {
      activities,
      signals: [{ name: 'go', payload: 'early', early: true }],
    });
    expect(run.output).toBe('early');
  });

  it('fails on timeout', async () => {
    const run = await drive(waiting, null, { activities, fireTimers: true });
    expect(run.status).toBe('failed');
    expect(run.failure?.message).toContain('timed out');
  });

  it('sleeps on a durable timer and outputs null', async () => {
    const blueprint = {
      name: 'bp',
      steps: [{ id: 's', type: 'sleep', duration: '2s' }, act('after', 'echo')],
    };
    const run = await drive(blueprint, null, { activities, fireTimers: true });
    expect(run.stream.find((e) => e.type === 'TimerScheduled')).toMatchObject({
      dueAt: NOW + 2000,
    });
    expect(run.output).toBeNull();
    expect(run.status).toBe('completed');
  });
});

describe('error routes', () => {
  const graph = {
    name: 'bp',
    steps: [
      act('charge', 'charge', { onError: 'refund', maxAttempts: 1 }),
      act('ship', 'echo'),
      act('refund', 'echo', { input: "{% {'why': $error.message} %}" }),
      act('notify', 'tag'),
    ],
  };

  it('jumps to the handler on failure and skips what depended on the failed step', async () => {
    const run = await drive(graph, 1, {
      activities: {
        ...activities,
        charge: () => ({ ok: false, retryable: false, message: 'declined' }),
      },
    });
    expect(run.status).toBe('completed');
    expect(run.snapshot.context.steps.ship).toBeNull();
    expect(run.snapshot.context.steps.refund).toEqual({ why: 'declined' });
    expect(run.output).toEqual({ tagged: { why: 'declined' } });
    expect(run.stream.some((e) => e.type === 'StepScheduled' && e.stepId === 'ship')).toBe(false);
  });

  it('skips the handler when nothing failed', async () => {
    const run = await drive(graph, 1, { activities: { ...activities, charge: (i) => ok(i) } });
    expect(run.snapshot.context.steps.refund).toBeNull();
    expect(run.snapshot.context.steps.ship).toBe(1);
    expect(run.stream.some((e) => e.type === 'StepScheduled' && e.stepId === 'refund')).toBe(false);
  });
});
