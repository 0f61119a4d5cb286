import { describe, expect, it } from 'vitest';
import type { RunEvent } from '../../../src/machines/events.ts';
import { handlersOf } from '../../../src/machines/handlers.ts';
import { taskIdFor, taskIdParts } from '../../../src/machines/identity.ts';
import { resultStanding, signalEvent } from '../../../src/machines/messages.ts';
import { act, given, RUN, scheduled, started } from './spec.ts';

/**
 * The pure rules behind two of a runtime's limits (README "Security", Limits): whether a worker's
 * result names an attempt its run sent (`resultStanding`), and the cap on the signals one run
 * stores (`signalEvent`'s `maxSignals`).
 */

const twoSteps = { name: 'bp', steps: [act('a', { maxAttempts: 3 }), act('b')] };

/** The state after `history` plus whatever the run appended reacting to its last event. */
const after = async (blueprint: unknown, history: readonly RunEvent[]) => {
  const last = history.at(-1);
  if (last === undefined) throw new Error('empty history');
  const run = given(blueprint, history.slice(0, -1));
  const { snapshot } = await run.when(last);
  return { snapshot, handlers: handlersOf(run.compiled, undefined) };
};

const failedAttempt = (attempt: number): RunEvent => ({
  type: 'StepFailed',
  stepId: 'a',
  taskId: `${RUN}:a:1`,
  attempt,
  error: { message: 'boom', code: 'activity_error', retryable: true },
});

describe('a task id', () => {
  it('is taken apart into what taskIdFor put together, and nothing else is', () => {
    expect(taskIdParts(taskIdFor('run-1', 'step_a', 3))).toEqual({
      runId: 'run-1',
      stepId: 'step_a',
      execution: 3,
    });
    expect(taskIdParts(taskIdFor('r', 'm', 1, 12))).toEqual({
      runId: 'r',
      stepId: 'm',
      item: 12,
      execution: 1,
    });
    for (const forged of ['', 'forged', 'r:a', 'r:a:x', 'r:9a:1', 'r.x:a:1', 'r:a[x]:1', 'r:a:1:2'])
      expect(taskIdParts(forged), forged).toBeUndefined();
  });
});

describe("a worker's result stands", () => {
  it('open for the attempt in flight; never sent for a later attempt, an execution not reached, a step not run, another run or a made-up id', async () => {
    const { snapshot } = await after(twoSteps, [started(), scheduled('a', { n: 1 })]);
    const standing = (taskId: string, attempt = 1) =>
      resultStanding(RUN, snapshot, { taskId, attempt });
    expect(standing(`${RUN}:a:1`)).toBe('open');
    expect(standing(`${RUN}:a:1`, 2)).toBe('never_sent');
    expect(standing(`${RUN}:a:1`, 0)).toBe('never_sent');
    expect(standing(`${RUN}:a:2`)).toBe('never_sent');
    expect(standing(`${RUN}:b:1`)).toBe('never_sent');
    expect(standing('other:a:1')).toBe('never_sent');
    expect(standing('forged-task')).toBe('never_sent');
  });

  it('settled for an attempt decided since (a late or repeated report), open for the retry', async () => {
    const { snapshot } = await after(twoSteps, [
      started(),
      scheduled('a', { n: 1 }),
      failedAttempt(1),
    ]);
    const standing = (attempt: number) =>
      resultStanding(RUN, snapshot, { taskId: `${RUN}:a:1`, attempt });
    expect(standing(1)).toBe('settled');
    expect(standing(2)).toBe('open');
    expect(standing(3)).toBe('never_sent');
  });

  it('settled for any attempt of an execution that ended, and once the run has ended', async () => {
    const completedA: RunEvent = {
      type: 'StepCompleted',
      stepId: 'a',
      taskId: `${RUN}:a:1`,
      attempt: 1,
      output: 1,
    };
    const done = await after(twoSteps, [started(), scheduled('a', { n: 1 }), completedA]);
    expect(resultStanding(RUN, done.snapshot, { taskId: `${RUN}:a:1`, attempt: 1 })).toBe(
      'settled',
    );
    expect(resultStanding(RUN, done.snapshot, { taskId: `${RUN}:b:1`, attempt: 1 })).toBe('open');
    const cancelled = await after(twoSteps, [
      started(),
      scheduled('a', { n: 1 }),
      { type: 'RunCancelled', reason: 'no' },
    ]);
    expect(resultStanding(RUN, cancelled.snapshot, { taskId: `${RUN}:a:1`, attempt: 1 })).toBe(
      'settled',
    );
  });

  it("of a map's item: open while the item's attempt is in flight", async () => {
    const map = {
      name: 'bp',
      steps: [
        { id: 'm', type: 'map', over: '{% $input %}', step: { type: 'activity', activity: 'x' } },
      ],
    };
    const run = given(map, []);
    const { snapshot, appended } = await run.when(started([1, 2]));
    const items = appended.filter((e) => e.type === 'StepScheduled');
    expect(items).toHaveLength(2);
    for (const item of items)
      expect(resultStanding(RUN, snapshot, { taskId: item.taskId, attempt: 1 })).toBe('open');
    expect(resultStanding(RUN, snapshot, { taskId: `${RUN}:m[0]:2`, attempt: 1 })).toBe(
      'never_sent',
    );
  });
});

describe('a signal past the cap of signals one run stores', () => {
  const noted = {
    name: 'bp',
    signals: [{ name: 'note', handler: 'append' }],
    steps: [act('a')],
  };
  const note = (signalId: string): RunEvent => ({
    type: 'SignalReceived',
    name: 'note',
    payload: { id: signalId },
    signalId,
    handler: 'append',
  });

  it('is refused with payload_too_large naming the count and the cap; a repeated one is still accepted as received', async () => {
    const run = await after(noted, [started(), scheduled('a', { n: 1 }), note('s1'), note('s2')]);
    const signal = (signalId: string) => ({ name: 'note', payload: { id: signalId }, signalId });
    expect(signalEvent({ runId: RUN, ...run }, signal('s3'), 2)).toEqual({
      refused: 'payload_too_large',
      message: `run '${RUN}' holds 2 signals, the most one run stores (--max-signals 2); signal 'note' is not recorded`,
      details: { runId: RUN, name: 'note', signals: 2, maxSignals: 2 },
    });
    expect(signalEvent({ runId: RUN, ...run }, signal('s2'), 2)).toBeUndefined();
    expect(signalEvent({ runId: RUN, ...run }, signal('s3'), 3)).toMatchObject({
      type: 'SignalReceived',
      signalId: 's3',
    });
  });
});
