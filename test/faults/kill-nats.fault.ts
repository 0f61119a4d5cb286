import { afterAll, beforeAll, expect, it } from 'vitest';
import { monotonicMs, sleep, waitFor } from '../support/wait.ts';
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
 * Runs in flight; nats-server is killed with SIGKILL, stays down 2 s, and is restarted on the same
 * port and JetStream directory. The runtime, the worker and the client reconnect; what NATS lost
 * in between (a task published while it was down, a result that could not be stored) is
 * re-dispatched by the reconciler (step timeout 5 s, WEFT_RECONCILE_GRACE_MS=2000). Every run completes with the right
 * output and one StepCompleted per step.
 */

const RUNS = 100;
const STEPS = ['a', 'b', 'c'];
const blueprint = {
  name: 'three_steps',
  defaults: { timeout: '5s' },
  steps: STEPS.map((id) => ({ id, type: 'activity', activity: 'work' })),
};

let h: Harness;
let runtime: WeftProcess;
let client: TestClient;

beforeAll(async () => {
  h = await startHarness('kill-nats');
  runtime = await h.serve({ WEFT_RECONCILE_GRACE_MS: '2000' });
  await h.worker(FAULT_WORKER, 64);
  client = await h.client();
});

afterAll(async () => {
  await h.close();
});

it('completes every run after nats-server is SIGKILLed and restarted', async () => {
  let stepCompletedSeen = 0;
  client.nc.subscribe('weft.runs.*.events', {
    callback: (error, msg) => {
      if (error === null && msg.json<{ type: string }>().type === 'StepCompleted')
        stepCompletedSeen++;
    },
  });
  await client.call('weft.blueprints.put', { blueprint });

  const t0 = monotonicMs();
  const ids = Array.from({ length: RUNS }, (_, i) => `kn-${i}`);
  const timing = { min: 200, max: 600 };
  await pool(ids, 50, (runId, i) =>
    client.call('weft.runs.start', {
      blueprint: 'three_steps',
      runId,
      input: { n: i, trail: [], timing },
    }),
  );

  await waitFor(() => stepCompletedSeen >= 60, {
    timeoutMs: 60_000,
    message: 'progress before the kill',
  });
  const seenAtKill = stepCompletedSeen;
  h.nats.kill9();
  const down = monotonicMs();
  // Stay down a while (the scenario is about an outage): publishes and acks in between are lost.
  await sleep(2_000);
  await h.nats.restart();
  const outageMs = monotonicMs() - down;

  const completed = await waitForValue(
    async () => {
      const runs = await listAll(client, { blueprint: 'three_steps', status: 'completed' }, 3_000);
      return runs.length === RUNS ? runs : undefined;
    },
    {
      timeoutMs: 120_000,
      intervalMs: 500,
      message: `all ${RUNS} runs completed after the NATS restart`,
    },
  );
  const elapsed = monotonicMs() - t0;

  for (const run of completed)
    expect(run.output, run.runId).toEqual({ n: Number(run.runId.slice(3)), trail: STEPS, timing });

  const { stepCompleted, duplicates } = await checkCompletions(client, ids, STEPS, (events) => {
    expect(events.at(-1)?.type).toBe('RunCompleted');
  });

  console.log(
    `[fault] kill-nats: ${RUNS} runs complete in ${seconds(elapsed)} s; nats-server SIGKILLed after ${seenAtKill} StepCompleted, ` +
      `back after ${seconds(outageMs)} s (reconciler: ${(runtime.output().match(/re-dispatching /g) ?? []).length} re-dispatches); ${stepCompleted} StepCompleted, ${duplicates} duplicates`,
  );
  expect(stepCompleted).toBe(RUNS * STEPS.length);
  expect(duplicates).toBe(0);
}, 240_000);
