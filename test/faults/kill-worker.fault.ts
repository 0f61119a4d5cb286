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
 * A worker is killed with SIGKILL in the middle of a long activity (step timeout 2 s). Its task is
 * never acknowledged, so it stays in the tasks stream; the reconciler (WEFT_RECONCILE_GRACE_MS=1000)
 * finds it there after timeout + grace and publishes no second copy (README "Guarantees", "A task
 * executes once per attempt"). JetStream redelivers it after ack_wait (30 s) to a second worker,
 * which asks the runtime whether the attempt is still open, runs it, and the run completes.
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

it('the attempt of a killed worker is redelivered once, to a second worker, and the run completes', async () => {
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
        maxAttempts: 1,
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
  expect(summary.output).toEqual({ finishedBy: second.child.pid, attempt: 1 });
  expect(completed).toHaveLength(1);
  expect(events.filter((e) => e.type === 'StepFailed')).toHaveLength(0);
  // The same attempt was re-dispatched, not scheduled again: one StepScheduled, attempt 1, and
  // the completion carries its taskId.
  const scheduled = events.filter((e) => e.type === 'StepScheduled');
  expect(scheduled.map((e) => e.data['attempt'])).toEqual([1]);
  expect([completed[0]?.data['taskId'], completed[0]?.data['attempt']]).toEqual([
    scheduled[0]?.data['taskId'],
    1,
  ]);
  // JetStream's redelivery, not a copy from the reconciler, brought it home: the runtime published
  // none (while the stream held the attempt), and the redelivery comes ACK_WAIT_MS after the
  // first worker got the task.
  expect(runtime.output()).not.toContain('re-dispatching');
  expect(elapsed).toBeGreaterThanOrEqual(ACK_WAIT_MS);
}, 90_000);
