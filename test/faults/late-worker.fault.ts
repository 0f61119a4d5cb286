import { jetstreamManager } from '@nats-io/jetstream';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { countsOf, executionsIn } from '../support/executionLog.ts';
import { monotonicMs, waitFor } from '../support/wait.ts';
import type { TestClient } from '../support/weft.ts';
import {
  historyOf,
  listAll,
  pool,
  seconds,
  startHarness,
  type Harness,
  waitForValue,
} from './harness.ts';

/**
 * README "Guarantees", "A task executes once per attempt": 100 runs start on an activity no worker
 * serves yet; the reconciler's grace is short (step timeout 1 s + WEFT_RECONCILE_GRACE_MS 300 ms),
 * so for the 5 s before the worker starts every attempt is overdue many times over. The worker
 * that then starts runs each attempt exactly once: the activity writes every execution to a file,
 * and executions per attempt (attempts read from the histories' StepScheduled) must be 1.00.
 * Before, the reconciler published a copy with a new message id every 1.3 s, and the late worker
 * ran the original and every copy.
 */

const RUNS = 100;
const WORKER_LATE_MS = 5_000;
const EXECUTIONS = 'test/support/executions.ts';

let h: Harness;
let client: TestClient;

beforeAll(async () => {
  h = await startHarness('late-worker');
  await h.serve({ WEFT_RECONCILE_GRACE_MS: '300' });
  client = await h.client();
});

afterAll(async () => {
  await h.close();
});

it('a worker that starts 5 s late runs every attempt exactly once (executions/attempt 1.00)', async () => {
  const log = join(h.dir, 'executions.log');
  const blueprint = {
    name: 'late_worker',
    steps: [
      { id: 'first', type: 'activity', activity: 'recorded', timeout: '1s', input: { log } },
      { id: 'second', type: 'activity', activity: 'recorded', timeout: '1s', input: { log } },
    ],
  };
  const ids = Array.from({ length: RUNS }, (_, i) => `late-${i}`);
  const t0 = monotonicMs();
  await pool(ids, 25, (runId) => client.call('weft.runs.start', { blueprint, runId }));
  const jsm = await jetstreamManager(client.nc);
  await waitFor(async () => (await jsm.streams.info('WEFT_TASKS')).state.messages >= RUNS, {
    timeoutMs: 30_000,
    message: `${RUNS} tasks queued`,
  });

  // Nobody serves `recorded` for 5 s, while the reconciler looks at every attempt every ~1.3 s.
  await waitFor(() => monotonicMs() - t0 >= WORKER_LATE_MS, {
    timeoutMs: WORKER_LATE_MS + 5_000,
    intervalMs: 200,
    message: 'the worker is 5 s late',
  });
  const queuedAtStart = (await jsm.streams.info('WEFT_TASKS')).state.messages;
  expect(executionsIn(log)).toEqual([]);
  await h.worker(EXECUTIONS);

  await waitForValue(
    async () => {
      const done = await listAll(client, { status: 'completed', blueprint: 'late_worker' }, 5_000);
      return done.length === RUNS ? done : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 250, message: `all ${RUNS} runs completed` },
  );
  const elapsed = monotonicMs() - t0;

  const attempts: string[] = [];
  for (const runId of ids) {
    for (const event of await historyOf(client, runId)) {
      if (event.type === 'StepScheduled')
        attempts.push(`${String(event.data['taskId'])}/${String(event.data['attempt'])}`);
    }
  }
  const executions = executionsIn(log);
  const counts = countsOf(executions);
  const perAttempt = executions.length / attempts.length;
  console.log(
    `[fault] late-worker: ${RUNS} runs, worker ${seconds(WORKER_LATE_MS)} s late, ` +
      `${queuedAtStart} tasks queued when it started; all completed in ${seconds(elapsed)} s; ` +
      `${executions.length} executions of ${attempts.length} attempts: ` +
      `executions/attempt ${perAttempt.toFixed(2)}`,
  );
  // Every attempt the histories scheduled ran, and ran once; nothing else ran.
  expect(new Set(counts.keys())).toEqual(new Set(attempts));
  expect([...counts.values()].filter((n) => n !== 1)).toEqual([]);
  expect(perAttempt.toFixed(2)).toBe('1.00');
  // No copy was left behind in the queue either.
  expect((await jsm.streams.info('WEFT_TASKS')).state.messages).toBe(0);
}, 180_000);
