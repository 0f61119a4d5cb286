import { describe, expect, it } from 'vitest';
import type { RunSnapshot } from '../../../src/machines/compile.ts';
import type { RunEvent } from '../../../src/machines/events.ts';
import { handlersOf } from '../../../src/machines/handlers.ts';
import {
  cancelEvent,
  childResultEvent,
  resultEvent,
  signalEvent,
  timerEvent,
} from '../../../src/machines/messages.ts';
import { act, given, OPTIONS, RUN, scheduled, started } from './spec.ts';

/**
 * Given a run's history, when a message arrives, then the event it becomes (or nothing, or a
 * refusal): the pure rules `src/machines/messages.ts`, with no store, clock or mailbox.
 */

const gate = { name: 'bp', steps: [act('a'), { id: 'w', type: 'wait', signal: 'go' }] };
const sleeper = { name: 'bp', steps: [{ id: 's', type: 'sleep', duration: '2s' }] };
const parent = { name: 'bp', steps: [{ id: 'c', type: 'child', blueprint: 'kid' }] };

/** The state after `history` plus whatever the run appended reacting to its last event. */
const after = async (blueprint: unknown, history: readonly RunEvent[]) => {
  const last = history.at(-1);
  if (last === undefined) throw new Error('empty history');
  const run = given(blueprint, history.slice(0, -1));
  const { snapshot, appended } = await run.when(last);
  return { snapshot, appended, handlers: handlersOf(run.compiled, undefined) };
};

const ended = async (): Promise<RunSnapshot> => {
  const { snapshot } = await after(gate, [started(), { type: 'RunCancelled', reason: 'no' }]);
  return snapshot;
};

describe('a worker result', () => {
  const ok = { taskId: `${RUN}:a:1`, attempt: 1, ok: true as const, output: 7 };

  it('of the open attempt is the step completing, or failing with activity_error by default', async () => {
    const { snapshot } = await after(gate, [started(), scheduled('a', { n: 1 })]);
    expect(resultEvent(snapshot, ok)).toEqual({
      type: 'StepCompleted',
      stepId: 'a',
      taskId: `${RUN}:a:1`,
      attempt: 1,
      output: 7,
    });
    expect(
      resultEvent(snapshot, { ...ok, ok: false, error: { message: 'boom', retryable: true } }),
    ).toMatchObject({ type: 'StepFailed', error: { code: 'activity_error', retryable: true } });
  });

  it('of another attempt, an unknown task or an ended run is nothing to record', async () => {
    const { snapshot } = await after(gate, [started(), scheduled('a', { n: 1 })]);
    expect(resultEvent(snapshot, { ...ok, attempt: 2 })).toBeUndefined();
    expect(resultEvent(snapshot, { ...ok, taskId: 'other' })).toBeUndefined();
    expect(resultEvent(await ended(), ok)).toBeUndefined();
  });
});

describe('a signal', () => {
  const go = { name: 'go', payload: { yes: true }, signalId: 's1' };

  it('the run accepts is received with its handler; the same signalId again is nothing', async () => {
    const run = await after(gate, [started(), scheduled('a', 1)]);
    const event = signalEvent({ runId: RUN, ...run }, go);
    expect(event).toEqual({ type: 'SignalReceived', ...go, handler: 'trigger' });
    const again = await after(gate, [started(), scheduled('a', 1), event as RunEvent]);
    expect(signalEvent({ runId: RUN, ...again }, go)).toBeUndefined();
  });

  it('of a name the run does not accept is refused with unknown_signal and the accepted names', async () => {
    const run = await after(gate, [started(), scheduled('a', 1)]);
    expect(signalEvent({ runId: RUN, ...run }, { ...go, name: 'stop' })).toEqual({
      refused: 'unknown_signal',
      message: `run '${RUN}' accepts no signal 'stop'`,
      details: { runId: RUN, name: 'stop', accepted: ['go'] },
    });
  });

  it('to an ended run is refused with run_not_running', async () => {
    const run = await after(gate, [started(), scheduled('a', 1)]);
    expect(signalEvent({ runId: RUN, ...run, snapshot: await ended() }, go)).toEqual({
      refused: 'run_not_running',
      message: `run '${RUN}' is cancelled`,
      details: { runId: RUN, status: 'cancelled' },
    });
  });
});

describe('a cancel', () => {
  it('of a running run is RunCancelled; of an ended one is refused', async () => {
    const { snapshot } = await after(gate, [started(), scheduled('a', 1)]);
    expect(cancelEvent(RUN, snapshot, 'why')).toEqual({ type: 'RunCancelled', reason: 'why' });
    expect(cancelEvent(RUN, await ended(), 'why')).toMatchObject({ refused: 'run_not_running' });
  });
});

describe('a timer', () => {
  it('fires once due, is not yet due before, and is nothing once fired', async () => {
    const { snapshot, appended } = await after(sleeper, [started()]);
    const armed = appended.find((e) => e.type === 'TimerScheduled');
    if (armed?.type !== 'TimerScheduled') throw new Error('no timer was scheduled');
    expect(armed.dueAt).toBe(OPTIONS.now + 2000);
    expect(timerEvent(snapshot, armed.timerId, armed.dueAt - 1)).toEqual({ notYet: armed.dueAt });
    const fired = timerEvent(snapshot, armed.timerId, armed.dueAt);
    expect(fired).toEqual({ type: 'TimerFired', timerId: armed.timerId });
    const later = await after(sleeper, [started(), ...appended, fired as RunEvent]);
    expect(timerEvent(later.snapshot, armed.timerId, armed.dueAt + 1)).toBeUndefined();
    expect(timerEvent(snapshot, 'unknown', armed.dueAt)).toBeUndefined();
  });
});

describe("a child's result", () => {
  it('is recorded for a child the parent waits for, and nothing for another child', async () => {
    const { snapshot, appended } = await after(parent, [started()]);
    const requested = appended.find((e) => e.type === 'ChildRequested');
    if (requested?.type !== 'ChildRequested') throw new Error('no child was requested');
    const ref = { runId: RUN, stepId: 'c' };
    expect(childResultEvent(snapshot, ref, requested.childRunId, { ok: true, output: 1 })).toEqual({
      type: 'ChildCompleted',
      stepId: 'c',
      childRunId: requested.childRunId,
      output: 1,
    });
    const error = { code: 'child_failed', message: 'x', retryable: false };
    expect(childResultEvent(snapshot, ref, requested.childRunId, { ok: false, error })).toEqual({
      type: 'ChildFailed',
      stepId: 'c',
      childRunId: requested.childRunId,
      error,
    });
    expect(childResultEvent(snapshot, ref, 'stranger', { ok: true, output: 1 })).toBeUndefined();
  });
});
