import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { monotonicMs, waitFor } from '../support/wait.ts';
import type { TestClient, WeftProcess } from '../support/weft.ts';
import {
  FAULT_WORKER,
  historyOf,
  seconds,
  startHarness,
  type Harness,
  type Summary,
  waitForValue,
} from './harness.ts';

/**
 * A worker is killed with SIGKILL in the middle of a long activity (step timeout 2 s, two
 * attempts). Its task is never acknowledged and stays in the tasks stream, so the reconciler
 * (WEFT_RECONCILE_GRACE_MS=1000) publishes no copy of it (README "Guarantees", "A task executes
 * once per attempt"); the runtime, which heard the worker start the attempt, fails it with
 * `timeout` 2 s later ("Every attempt has a deadline"), attempt 2 runs on a second worker, and the
 * run completes — well before JetStream's redelivery of attempt 1 (ack_wait, 30 s).
 */

/** The tasks consumer's ack_wait (README, "Worker wire protocol"): when JetStream redelivers. */
const ACK_WAIT_MS = 30_000;

let h: Harness;
let client: TestClient;
let runtime: WeftProcess;

beforeAll(async () => {
  h = await startHarness('kill-worker');
  runtime = await h.serve({ WEFT_RECONCILE_GRACE_MS: '1000' });
  client = await h.client();
});

afterAll(async () => {
  await h.close();
});

it("the killed worker's attempt fails with timeout by the runtime, attempt 2 runs on a second worker, and the run completes", async () => {
  const marks = join(h.dir, 'marks');
  mkdirSync(marks);
  const first = await h.worker(FAULT_WORKER);
  const firstPid = first.child.pid;
  const blueprint = {
    name: 'long_one',
    steps: [
      {
        id: 'long',
        type: 'activity',
        activity: 'long',
        timeout: '2s',
        maxAttempts: 2,
        input: { ms: 1200, dir: marks },
      },
    ],
  };

  const t0 = monotonicMs();
  const { runId } = await client.call<{ runId: string }>('weft.runs.start', {
    blueprint,
    runId: 'kw-1',
  });
  // The first worker has begun the activity: kill it mid-activity.
  await waitFor(() => readdirSync(marks).some((f) => f.startsWith(`started-${firstPid}-`)), {
    timeoutMs: 15_000,
    message: 'the first worker began the activity',
  });
  await first.kill9();
  const killedAfter = monotonicMs() - t0;
  const second = await h.worker(FAULT_WORKER);

  const summary = await waitForValue(
    async () => {
      const s = await client.call<Summary>(`weft.runs.${runId}.get`, {});
      return s.status === 'running' ? undefined : s;
    },
    { timeoutMs: 60_000, intervalMs: 100, message: 'the run ended' },
  );
  const elapsed = monotonicMs() - t0;

  const events = await historyOf(client, runId);
  const completed = events.filter((e) => e.type === 'StepCompleted');
  console.log(
    `[fault] kill-worker: worker ${firstPid} killed ${seconds(killedAfter)} s into the run; ` +
      `run ${summary.status} in ${seconds(elapsed)} s, finished by ${String((summary.output as { finishedBy?: number } | undefined)?.finishedBy)} ` +
      `(second worker ${second.child.pid}), ${completed.length} StepCompleted`,
  );
  expect(summary.status).toBe('completed');
  expect(summary.output).toEqual({ finishedBy: second.child.pid, attempt: 2 });
  expect(completed).toHaveLength(1);
  // Attempt 1 failed by the runtime's deadline (the killed worker could report nothing), and the
  // retry ran: two StepScheduled of one taskId, attempts 1 and 2.
  const failed = events.filter((e) => e.type === 'StepFailed');
  expect(
    failed.map((e) => [e.data['attempt'], (e.data['error'] as { code: string }).code]),
  ).toEqual([[1, 'timeout']]);
  expect((failed[0]?.data['error'] as { message: string }).message).toContain(
    'enforced by the runtime',
  );
  const scheduled = events.filter((e) => e.type === 'StepScheduled');
  expect(scheduled.map((e) => e.data['attempt'])).toEqual([1, 2]);
  expect(new Set(scheduled.map((e) => e.data['taskId']))).toEqual(
    new Set([completed[0]?.data['taskId']]),
  );
  // No copy of attempt 1 was published while the stream held it, and it was not JetStream's
  // redelivery (ACK_WAIT_MS after the first worker got the task, which was after t0).
  expect(runtime.output()).not.toContain('re-dispatching');
  expect(elapsed).toBeLessThan(ACK_WAIT_MS);
}, 90_000);
