import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Subjects } from '../../src/wire/subjects.ts';
import { executionsOf, openGate } from '../support/recoveryActivities.ts';
import { storedTypes } from '../support/stores.ts';
import { waitFor } from '../support/wait.ts';
import { act, runEnded, startStack, type HistoryEvent, type Stack } from '../support/weft.ts';

/**
 * README "Worker wire protocol" (4) and "Guarantees": a worker offers its result to a runtime on
 * `weft.tasks.report.<runId>`; when none answers it publishes it to the results stream; it
 * acknowledges its task only once one of the two has taken the result, and a task whose result
 * neither took is redelivered, run again and recorded once a runtime is back.
 *
 * The activity waits for a gate the test opens, so the test can stop the runtime (or hold its
 * store's write lock) while the task is in flight; stream and consumer state is read with the
 * JetStream manager API.
 */

const subjects = new Subjects('weft');
let stack: Stack;
let jsm: JetStreamManager;

beforeAll(async () => {
  // The JetStream path of a task (a worker takes it from the tasks stream, acks it): what these
  // tests hold up. The direct path has its own tests (directTasks.test.ts).
  stack = await startStack({
    workerModule: 'test/support/recoveryActivities.ts',
    env: { WEFT_DIRECT_TASKS: '0' },
  });
  jsm = await jetstreamManager(stack.client.nc);
});

afterAll(() => stack.stop());

// A test that failed half way may have left the runtime down; the next one starts with one up.
beforeEach(async () => {
  if (stack.runtime.child.exitCode === null && stack.runtime.child.signalCode === null) return;
  await stack.startRuntime();
});

const dbPath = () => join(stack.dir, 'events.db');

const history = async (runId: string): Promise<HistoryEvent[]> =>
  (await stack.client.call<{ events: HistoryEvent[] }>(`weft.runs.${runId}.history`, {})).events;

/** Starts a one-step run of `activity` held at the gate `key`, and waits until the worker runs it. */
const startHeld = async (activity: string, key: string) => {
  const blueprint = {
    name: `rd_${key}`,
    steps: [act('held', activity, { input: { dir: stack.dir, key }, timeout: '5m' })],
  };
  const { runId } = await stack.client.call<{ runId: string }>('weft.runs.start', { blueprint });
  await waitFor(() => executionsOf(stack.dir, key) === 1, {
    message: `the worker runs the task of ${runId}`,
  });
  return runId;
};

const tasksConsumer = (activity: string) =>
  jsm.consumers.info(subjects.tasksStream, subjects.activityConsumer(activity));

const waitForCompleted = async (runId: string) => {
  const summary = await runEnded(stack.client, runId);
  expect(summary.status).toBe('completed');
  return summary;
};

describe('a task is acknowledged only after its result is recorded or stored', () => {
  it('stores the result in the results stream when no runtime answers, acks the task, and records it once after a restart', async () => {
    const key = 'fallback';
    const runId = await startHeld('gate_fallback', key);
    expect((await tasksConsumer('gate_fallback')).num_ack_pending, 'held by the worker').toBe(1);

    await stack.stopRuntime();
    expect((await jsm.streams.info(subjects.resultsStream)).state.messages).toBe(0);
    openGate(stack.dir, key);

    // No runtime answers the report: the result goes to the results stream, then the task is acked.
    const stored = await waitFor(
      () =>
        jsm.streams.getMessage(subjects.resultsStream, { last_by_subj: subjects.result(runId) }),
      { message: `the result of ${runId} in ${subjects.resultsStream}` },
    );
    expect(stored?.json()).toMatchObject({
      runId,
      stepId: 'held',
      attempt: 1,
      ok: true,
      output: { key, execution: 1 },
    });
    const taskId = (stored?.json() as { taskId: string }).taskId;
    expect(stored?.header.get('Nats-Msg-Id')).toBe(`${taskId}/1/result`);
    await waitFor(
      async () => {
        const consumer = await tasksConsumer('gate_fallback');
        const tasks = await jsm.streams.info(subjects.tasksStream);
        return (
          consumer.num_ack_pending === 0 && consumer.num_pending === 0 && tasks.state.messages === 0
        );
      },
      { message: 'the task acknowledged (and so removed from the work queue)' },
    );
    expect(await storedTypes(stack.store, runId), 'nothing recorded yet').toEqual([
      'RunStarted',
      'StepScheduled',
    ]);

    await stack.startRuntime();
    const summary = await waitForCompleted(runId);
    expect(summary.output).toEqual({ key, execution: 1 });
    const completed = (await history(runId)).filter((e) => e.type === 'StepCompleted');
    expect(completed.map((e) => e.data)).toEqual([
      {
        stepId: 'held',
        taskId,
        attempt: 1,
        output: { key, execution: 1 },
        time: expect.any(Number) as unknown,
      },
    ]);
    await waitFor(
      async () => (await jsm.streams.info(subjects.resultsStream)).state.messages === 0,
      { message: 'the runtime acknowledged the stored result' },
    );
  });

  it('does not ack a task whose result neither a runtime nor the results stream took; it is run again and recorded once', async () => {
    const key = 'unrecorded';
    const runId = await startHeld('gate_unrecorded', key);

    await stack.stopRuntime();
    await jsm.streams.delete(subjects.resultsStream);
    openGate(stack.dir, key);

    // Nothing can take the result: the task is not acked, so the worker gets it again and re-runs it.
    await waitFor(() => executionsOf(stack.dir, key) >= 2, {
      timeoutMs: 20_000,
      message: 'the unacknowledged task redelivered and run again',
    });
    const held = await tasksConsumer('gate_unrecorded');
    expect(held.num_ack_pending, 'the task is still unacknowledged').toBe(1);
    expect(held.num_redelivered).toBeGreaterThan(0);
    expect((await jsm.streams.info(subjects.tasksStream)).state.messages).toBe(1);
    expect(await storedTypes(stack.store, runId), 'nothing recorded').toEqual([
      'RunStarted',
      'StepScheduled',
    ]);

    await stack.startRuntime();
    const summary = await waitForCompleted(runId);
    const completed = (await history(runId)).filter((e) => e.type === 'StepCompleted');
    expect(completed).toHaveLength(1);
    // The recorded result is the last run's: every earlier run's result was refused, not recorded.
    expect(summary.output).toEqual({ key, execution: executionsOf(stack.dir, key) });
    await waitFor(
      async () => {
        const consumer = await tasksConsumer('gate_unrecorded');
        const tasks = await jsm.streams.info(subjects.tasksStream);
        return consumer.num_ack_pending === 0 && tasks.state.messages === 0;
      },
      { message: 'the task acknowledged once its result was recorded' },
    );
  });

  it('stores a result in the results stream when the runtime cannot record it, and the runtime acks it only once recorded', async () => {
    const key = 'refused';
    const runId = await startHeld('gate_refused', key);

    // Another connection holds the store's write lock: the runtime is up but every append fails.
    const lock = new DatabaseSync(dbPath());
    lock.exec('BEGIN IMMEDIATE');
    try {
      openGate(stack.dir, key);
      // The worker got no {ok:true} for its report (it publishes to the stream only then) ...
      await waitFor(
        () =>
          jsm.streams.getMessage(subjects.resultsStream, { last_by_subj: subjects.result(runId) }),
        { timeoutMs: 20_000, message: `the result of ${runId} in ${subjects.resultsStream}` },
      );
      // ... and the runtime, handed it from the stream, does not acknowledge what it did not record.
      await waitFor(
        async () =>
          (await jsm.consumers.info(subjects.resultsStream, subjects.resultsConsumer))
            .num_redelivered > 0,
        { timeoutMs: 30_000, message: 'the stored result delivered to the runtime again' },
      );
      expect((await jsm.streams.info(subjects.resultsStream)).state.messages).toBe(1);
      expect(await storedTypes(stack.store, runId), 'nothing recorded').toEqual([
        'RunStarted',
        'StepScheduled',
      ]);
      const task = await tasksConsumer('gate_refused');
      expect(task.num_ack_pending, 'the task acked once its result was stored').toBe(0);
    } finally {
      lock.exec('ROLLBACK');
      lock.close();
    }

    await waitForCompleted(runId);
    const completed = (await history(runId)).filter((e) => e.type === 'StepCompleted');
    expect(completed.map((e) => e.data['output'])).toEqual([{ key, execution: 1 }]);
    await waitFor(
      async () => (await jsm.streams.info(subjects.resultsStream)).state.messages === 0,
      { message: 'the runtime acknowledged the result once recorded' },
    );
  }, 90_000);
});
