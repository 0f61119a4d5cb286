import { describe, expect, it } from 'vitest';
import { blueprintGraph, startedTasks, stepStates } from '../../../src/projections/runGraph.ts';
import { openTasks } from '../../../src/machines/compile.ts';
import { act, activities, compile, drive, startRun } from '../machines/world.ts';

/** The picture of a run: the blueprint as a graph, and each step's state in a run. */

const blueprint = {
  name: 'bp',
  steps: [
    act('fetch', 'echo'),
    {
      id: 'both',
      type: 'parallel',
      onError: 'recover',
      branches: [[act('left', 'echo')], [act('right', 'echo')]],
    },
    act('save', 'echo', { if: '{% false %}' }),
    act('recover', 'echo'),
  ],
};

describe('the blueprint as a graph', () => {
  it('has every step, nested ones inside their holder, with after and onError edges', () => {
    const graph = blueprintGraph(compile(blueprint).plan);
    expect(graph.nodes).toEqual(
      expect.arrayContaining([
        { id: 'fetch', type: 'activity', list: '$', activity: 'echo' },
        { id: 'both', type: 'parallel', list: '$' },
        { id: 'left', type: 'activity', parent: 'both', list: 'both.b0', activity: 'echo' },
        { id: 'right', type: 'activity', parent: 'both', list: 'both.b1', activity: 'echo' },
      ]),
    );
    expect(graph.nodes).toHaveLength(6);
    expect(graph.edges).toEqual(
      expect.arrayContaining([
        { from: 'fetch', to: 'both', kind: 'after' },
        { from: 'both', to: 'save', kind: 'after' },
        { from: 'both', to: 'recover', kind: 'onError' },
      ]),
    );
  });
});

describe("each step's state in a run", () => {
  it('is running while its attempt is in flight, retrying from its second, pending before', async () => {
    const run = await startRun(blueprint, null);
    const { plan } = run.compiled;
    expect(stepStates(plan, run.snapshot.context)).toMatchObject({
      fetch: 'running',
      both: 'pending',
      left: 'pending',
      save: 'pending',
    });
    const task = openTasks(run.snapshot.context)[0];
    if (task === undefined) throw new Error('no task');
    await run.apply({
      type: 'StepFailed',
      stepId: task.stepId,
      taskId: task.taskId,
      attempt: task.attempt,
      error: { code: 'e', message: 'once', retryable: true },
    });
    expect(stepStates(plan, run.snapshot.context).fetch).toBe('retrying');
  });

  it('is scheduled until a worker takes the attempt of a step whose start is recorded', async () => {
    const run = await startRun(
      { name: 'sched', steps: [act('fetch', 'echo', { scheduleTimeout: '1m' })] },
      null,
    );
    const { plan } = run.compiled;
    expect(stepStates(plan, run.snapshot.context).fetch).toBe('scheduled');
    const task = openTasks(run.snapshot.context)[0];
    if (task === undefined) throw new Error('no task');
    const taken = { type: 'StepStarted', data: { taskId: task.taskId } };
    expect(stepStates(plan, run.snapshot.context, startedTasks([taken])).fetch).toBe('running');
    // A step without a scheduleTimeout records no start: it is running once scheduled.
    const plain = await startRun({ name: 'plain', steps: [act('fetch', 'echo')] }, null);
    expect(stepStates(plain.compiled.plan, plain.snapshot.context).fetch).toBe('running');
  });

  it('says which steps completed, failed onto a route, were skipped or were never reached', async () => {
    const failing = {
      ...blueprint,
      steps: [
        act('fetch', 'echo'),
        {
          id: 'both',
          type: 'parallel',
          onError: 'recover',
          branches: [[act('left', 'echo')], [act('right', 'nope', { maxAttempts: 1 })]],
        },
        act('save', 'echo', { if: '{% false %}' }),
        act('recover', 'echo'),
      ],
    };
    const run = await drive(failing, null, {
      activities: { ...activities, nope: () => ({ ok: false, retryable: false, message: 'no' }) },
    });
    expect(run.status).toBe('completed');
    expect(stepStates(compile(failing).plan, run.snapshot.context)).toEqual({
      fetch: 'completed',
      both: 'failed',
      left: 'completed',
      right: 'failed',
      save: 'skipped',
      recover: 'completed',
    });
  });
});
