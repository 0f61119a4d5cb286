import { jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { monotonicMs, waitFor } from '../support/wait.ts';
import type { TestClient, WeftProcess } from '../support/weft.ts';
import {
  FAULT_WORKER,
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
 * with one StepCompleted per step.
 */

const RUNS = 50;
const STEPS = ['a', 'b'];
const blueprint = {
  name: 'purged',
  defaults: { timeout: '2s' },
  steps: STEPS.map((id) => ({ id, type: 'activity', activity: 'work' })),
};

let h: Harness;
let runtime: WeftProcess;
let client: TestClient;

beforeAll(async () => {
  h = await startHarness('purge');
  runtime = await h.serve({ WEFT_RECONCILE_GRACE_MS: '1000' });
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

  const { stepCompleted, duplicates } = await checkCompletions(
    client,
    ids,
    STEPS,
    (events, runId) => {
      expect(
        events.filter((e) => e.type === 'StepFailed'),
        `StepFailed of ${runId}`,
      ).toHaveLength(0);
    },
  );
  const redispatches = (runtime.output().match(/re-dispatching /g) ?? []).length;

  console.log(
    `[fault] purge: ${purged} queued tasks of ${RUNS} runs purged; all complete ${seconds(elapsed)} s after the worker started, ` +
      `${redispatches} re-dispatches by the reconciler, ${stepCompleted} StepCompleted, ${duplicates} duplicates`,
  );
  expect(stepCompleted).toBe(RUNS * STEPS.length);
  expect(duplicates).toBe(0);
  expect(redispatches).toBeGreaterThanOrEqual(RUNS);
}, 120_000);
