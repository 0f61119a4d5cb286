import { afterAll, beforeAll, expect, it } from 'vitest';
import { startPostgres, type PostgresHandle } from '../support/postgres.ts';
import { storedEvents } from '../support/stores.ts';
import { monotonicMs, waitFor } from '../support/wait.ts';
import type { Reply, TestClient, WeftProcess } from '../support/weft.ts';
import {
  checkCompletions,
  FAULT_WORKER,
  listAll,
  pool,
  seconds,
  startHarness,
  type Harness,
  waitForValue,
  countStepCompleted,
  expectStartedAndCompletedOnce,
} from './harness.ts';

/**
 * `weft serve` on a private PostgreSQL with 150 five-step runs in flight; the PostgreSQL server
 * (its postmaster) is killed with SIGKILL mid-load and started again on the same data directory
 * and port. The runtime must stay up, answer requests made during the outage with `unavailable`,
 * and once the server is back complete every run, the runs refused during the outage included
 * (started again by the client, as `unavailable` asks), with nothing recorded twice.
 */

const RUNS = 150;
const DURING = 20;
const STEPS = ['s1', 's2', 's3', 's4', 's5'];
const blueprint = {
  name: 'five_steps_pg',
  steps: STEPS.map((id) => ({ id, type: 'activity', activity: 'work' })),
};

let postgres: PostgresHandle;
let h: Harness;
let runtime: WeftProcess;
let client: TestClient;

beforeAll(async () => {
  postgres = await startPostgres();
  h = await startHarness('kill-postgres', { postgres: postgres.url });
  runtime = await h.serve();
  await h.worker(FAULT_WORKER, 64);
  client = await h.client();
}, 90_000);

afterAll(async () => {
  await h.close();
  await postgres.stop();
});

it.skipIf(process.env['WEFT_TEST_POSTGRES'] !== undefined)(
  'loses PostgreSQL (SIGKILL) under load: the runtime stays up, answers unavailable meanwhile, and completes every run once the server is back, nothing recorded twice',
  async () => {
    const stepCompletedSeen = countStepCompleted(client);
    await client.call('weft.blueprints.put', { blueprint });
    const ids = Array.from({ length: RUNS }, (_, i) => `kp-${i}`);
    const start = (runId: string, n: number) =>
      client.request('weft.runs.start', {
        blueprint: blueprint.name,
        runId,
        input: { n, trail: [] },
      });
    const t0 = monotonicMs();
    const started = await pool(ids, 50, (runId, i) => start(runId, i));
    expect(started.filter((r) => !r.ok)).toEqual([]);

    await waitFor(() => stepCompletedSeen() >= 150, {
      timeoutMs: 60_000,
      message: 'progress before the kill',
    });
    const logBefore = runtime.output().length;
    const pid = postgres.pid;
    await postgres.kill9();
    const downAt = monotonicMs();
    const seenAtKill = stepCompletedSeen();

    // The runtime notices (a failed append or read) and says so.
    await waitFor(() => /postgres 127\.0\.0\.1:\d+\//.test(runtime.output().slice(logBefore)), {
      timeoutMs: 30_000,
      message: 'the runtime logged the store failure',
    });
    // Requests that must write are refused with the retryable code while the server is down.
    const duringIds = Array.from({ length: DURING }, (_, i) => `kp-during-${i}`);
    const during: Reply[] = await pool(duringIds, 10, (runId, i) => start(runId, RUNS + i));
    const outage = runtime.output().slice(logBefore);
    expect(
      during.map((r) => (r.ok ? 'ok' : r.error?.code)),
      `${JSON.stringify(during[0])}; runtime output since the kill:\n${outage}`,
    ).toEqual(Array(DURING).fill('unavailable'));

    await postgres.restart();
    const downMs = monotonicMs() - downAt;
    expect(postgres.pid).not.toBe(pid);
    expect(runtime.child.exitCode, `the runtime exited:\n${runtime.output()}`).toBeNull();
    expect(runtime.child.signalCode).toBeNull();

    // The client retries what was refused, as `unavailable` asks.
    await waitFor(
      async () =>
        (await pool(duringIds, 10, (runId, i) => start(runId, RUNS + i))).every((r) => r.ok),
      { timeoutMs: 30_000, intervalMs: 500, message: 'the refused starts accepted after restart' },
    );

    const all = [...ids, ...duringIds];
    const completed = await waitForValue(
      async () => {
        const runs = await listAll(
          client,
          { blueprint: blueprint.name, status: 'completed' },
          5_000,
        );
        return runs.length === all.length ? runs : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 500, message: `all ${all.length} runs completed` },
    );
    const elapsed = monotonicMs() - t0;
    expect(new Set(completed.map((r) => r.runId))).toEqual(new Set(all));
    for (const run of completed) {
      const n = Number(run.runId.split('-').at(-1)) + (run.runId.includes('during') ? RUNS : 0);
      expect(run.output, run.runId).toEqual({ n, trail: STEPS });
    }
    expect(runtime.child.exitCode, `the runtime exited:\n${runtime.output()}`).toBeNull();
    expect(runtime.output(), 'no request failed as a defect').not.toContain('internal error');

    const { stepCompleted, duplicates } = await checkCompletions(
      client,
      all,
      STEPS,
      (events, runId) => {
        expectStartedAndCompletedOnce(events, runId);
        const done = events
          .filter((e) => e.type === 'StepCompleted')
          .map((e) => `${String(e.data['taskId'])}/${String(e.data['attempt'])}`);
        expect(new Set(done).size, `StepCompleted per task attempt in ${runId}`).toBe(done.length);
      },
    );
    // What PostgreSQL holds: each event id once, each stream's revisions 0..n without a gap.
    const stored = (await storedEvents(h.store)).filter((e) => e.stream.startsWith('run-kp-'));
    expect(new Set(stored.map((e) => e.id)).size).toBe(stored.length);
    const revisions = new Map<string, number[]>();
    for (const e of stored)
      revisions.set(e.stream, [...(revisions.get(e.stream) ?? []), e.revision]);
    for (const [stream, revs] of revisions) expect(revs, stream).toEqual(revs.map((_, i) => i));
    expect(revisions.size).toBe(all.length);

    console.log(
      `[fault] kill-postgres: ${all.length} runs complete in ${seconds(elapsed)} s; postgres SIGKILLed ` +
        `at ${seenAtKill} StepCompleted seen; ${DURING} starts during the outage answered unavailable; ` +
        `${stepCompleted} StepCompleted, ${duplicates} duplicates, ${stored.length} events stored\n` +
        `runtime output during the ${seconds(downMs)} s outage, one line of each kind:\n` +
        [...new Set(outage.split('\n').map((l) => l.replace(/kp-\d+:s\d:\d/, '<task>')))].join(
          '\n',
        ),
    );
    expect(stepCompleted).toBe(all.length * STEPS.length);
    expect(duplicates).toBe(0);
  },
  240_000,
);
