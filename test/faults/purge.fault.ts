import { jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { monotonicMs, waitFor } from '../support/wait.ts';
import type { TestClient } from '../support/weft.ts';
import {
  FAULT_WORKER,
  historyOf,
  listAll,
  pool,
  seconds,
  startHarness,
  type Harness,
  waitForValue,
  checkCompletions,
} from './harness.ts';

/**
 * Runs wait for a worker that is not up; their tasks are in the WEFT_TASKS work queue. The stream
 * is purged (the tasks are lost). A worker starts; with WEFT_RECONCILE_GRACE_MS small the
 * runtime's reconciler re-dispatches every attempt that got no result, and every run completes
 * with one StepCompleted per step; the history shows each purged task completed as it was
 * scheduled before the purge (same taskId and attempt, not scheduled again).
 */

const RUNS = 50;
const STEPS = ['a', 'b'];
const blueprint = {
  name: 'purged',
  defaults: { timeout: '2s' },
  steps: STEPS.map((id) => ({ id, type: 'activity', activity: 'work' })),
};

let h: Harness;
let client: TestClient;

beforeAll(async () => {
  h = await startHarness('purge');
  await h.serve({ WEFT_RECONCILE_GRACE_MS: '1000' });
  client = await h.client();
});

afterAll(async () => {
  await h.close();
});

it('brings every run home after its queued tasks were purged', async () => {
  const jsm = await jetstreamManager(client.nc);
  const ids = Array.from({ length: RUNS }, (_, i) => `pg-${i}`);
  const timing = { min: 10, max: 50 };
  await pool(ids, 25, (runId, i) =>
    client.call('weft.runs.start', { blueprint, runId, input: { n: i, trail: [], timing } }),
  );

  // Every first task is waiting in the work queue (re-dispatches may have added copies).
  await waitFor(async () => (await jsm.streams.info('WEFT_TASKS')).state.messages >= RUNS, {
    timeoutMs: 30_000,
    message: `${RUNS} tasks queued`,
  });
  const { purged } = await jsm.streams.purge('WEFT_TASKS');
  expect(purged).toBeGreaterThanOrEqual(RUNS);
  const running = await listAll(client, { blueprint: 'purged', status: 'running' });
  expect(running).toHaveLength(RUNS);
  // The task of each run's first step, as the store recorded it when the queue was purged.
  const purgedTasks = new Map<string, unknown>();
  for (const runId of ids) {
    const scheduled = (await historyOf(client, runId)).filter((e) => e.type === 'StepScheduled');
    expect(
      scheduled.map((e) => [e.data['stepId'], e.data['attempt']]),
      `StepScheduled of ${runId} at the purge`,
    ).toEqual([['a', 1]]);
    purgedTasks.set(runId, scheduled[0]?.data['taskId']);
  }

  const t0 = monotonicMs();
  await h.worker(FAULT_WORKER, 32);
  const completed = await waitForValue(
    async () => {
      const runs = await listAll(client, { blueprint: 'purged', status: 'completed' });
      return runs.length === RUNS ? runs : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 250, message: `all ${RUNS} runs completed after the purge` },
  );
  const elapsed = monotonicMs() - t0;
  for (const run of completed)
    expect(run.output, run.runId).toEqual({ n: Number(run.runId.slice(3)), trail: STEPS, timing });

  // A purged task came back only by re-dispatch: its step completed on the task scheduled before
  // the purge (same taskId, attempt 1), never scheduled again.
  let broughtHome = 0;
  const { stepCompleted, duplicates } = await checkCompletions(
    client,
    ids,
    STEPS,
    (events, runId) => {
      expect(
        events.filter((e) => e.type === 'StepFailed'),
        `StepFailed of ${runId}`,
      ).toHaveLength(0);
      const ofA = (type: string) =>
        events
          .filter((e) => e.type === type && e.data['stepId'] === 'a')
          .map((e) => [e.data['taskId'], e.data['attempt']]);
      const purgedTask = [purgedTasks.get(runId), 1];
      expect(ofA('StepScheduled'), `StepScheduled of a in ${runId}`).toEqual([purgedTask]);
      expect(ofA('StepCompleted'), `StepCompleted of a in ${runId}`).toEqual([purgedTask]);
      broughtHome++;
    },
  );

  console.log(
    `[fault] purge: ${purged} queued tasks of ${RUNS} runs purged; all complete ${seconds(elapsed)} s after the worker started, ` +
      `${broughtHome} purged tasks completed as re-dispatched, ${stepCompleted} StepCompleted, ${duplicates} duplicates`,
  );
  expect(stepCompleted).toBe(RUNS * STEPS.length);
  expect(duplicates).toBe(0);
  expect(broughtHome).toBe(RUNS);
}, 120_000);
