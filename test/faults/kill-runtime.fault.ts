import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type PostgresHandle } from '../support/postgres.ts';
import { monotonicMs, waitFor } from '../support/wait.ts';
import type { TestClient, WeftProcess } from '../support/weft.ts';
import {
  countStoredEvents,
  FAULT_WORKER,
  pool,
  seconds,
  startHarness,
  type Harness,
  checkCompletions,
  countStepCompleted,
  expectStartedAndCompletedOnce,
  expectScheduledOnce,
  allCompleted,
} from './harness.ts';

/**
 * 200 runs of a 5-step blueprint in flight; the runtime is killed with SIGKILL three times (each
 * time once the restarted runtime has made progress) and restarted on the same store. Every run
 * must complete with the right output, and every history must hold exactly one StepScheduled per
 * step, with attempt 1 (recovery re-dispatches the open task, it does not schedule it again), and
 * one StepCompleted per step with that step's taskId and attempt. Once on sqlite, once on a private
 * PostgreSQL (or `WEFT_TEST_POSTGRES`).
 */

const RUNS = 200;
const STEPS = ['s1', 's2', 's3', 's4', 's5'];
const KILLS = 3;
/** RunStarted, StepScheduled + StepCompleted per step, RunCompleted. */
const EVENTS_PER_RUN = 2 + 2 * STEPS.length;
const blueprint = {
  name: 'five_steps',
  steps: STEPS.map((id) => ({ id, type: 'activity', activity: 'work' })),
};

describe.each(['sqlite', 'postgres'] as const)('kill-runtime on %s', (store) => {
  let postgres: PostgresHandle | undefined;
  let h: Harness;
  let runtime: WeftProcess;
  let client: TestClient;

  beforeAll(async () => {
    if (store === 'postgres') postgres = await startPostgres();
    h = await startHarness(`kill-runtime-${store}`, { postgres: postgres?.url });
    runtime = await h.serve();
    await h.worker(FAULT_WORKER, 64);
    client = await h.client();
  });

  afterAll(async () => {
    await h.close();
    await postgres?.stop();
  });

  it('completes 200 five-step runs across three SIGKILLs of the runtime: each step scheduled once, completed once by its task', async () => {
    const stepCompletedSeen = countStepCompleted(client);
    await client.call('weft.blueprints.put', { blueprint });

    const t0 = monotonicMs();
    const ids = Array.from({ length: RUNS }, (_, i) => `kr-${i}`);
    await pool(ids, 50, (runId, i) =>
      client.call('weft.runs.start', {
        blueprint: 'five_steps',
        runId,
        input: { n: i, trail: [] },
      }),
    );

    const killedAt: number[] = [];
    const unfinishedAtKill: number[] = [];
    for (let kill = 1; kill <= KILLS; kill++) {
      // Kill once this runtime incarnation has recorded some progress (events are published after the append).
      const threshold = stepCompletedSeen() + 150;
      await waitFor(() => stepCompletedSeen() >= threshold, {
        timeoutMs: 60_000,
        message: `progress before kill ${kill}`,
      });
      await runtime.kill9();
      killedAt.push(stepCompletedSeen());
      // The kill hit runs in flight: the store (read with the runtime dead) holds unfinished ones.
      const unfinished = [...(await countStoredEvents(h.store)).byStream].filter(
        ([stream, n]) => stream.startsWith('run-') && n < EVENTS_PER_RUN,
      );
      unfinishedAtKill.push(unfinished.length);
      expect(unfinished.length, `runs unfinished at kill ${kill}`).toBeGreaterThan(0);
      runtime = await h.serve();
    }

    const completed = await allCompleted(client, 'five_steps', RUNS, { timeoutMs: 120_000 });
    const elapsed = monotonicMs() - t0;

    for (const run of completed) {
      const n = Number(run.runId.slice(3));
      expect(run.output, run.runId).toEqual({ n, trail: STEPS });
    }
    expect(new Set(completed.map((r) => r.runId))).toEqual(new Set(ids));

    const { stepCompleted, duplicates } = await checkCompletions(
      client,
      ids,
      STEPS,
      (events, runId) => {
        expectStartedAndCompletedOnce(events, runId);
        expectScheduledOnce(events, runId, STEPS);
      },
    );

    console.log(
      `[fault] kill-runtime (${store}): ${RUNS} runs complete in ${seconds(elapsed)} s across ${KILLS} SIGKILLs ` +
        `(at ${killedAt.join('/')} StepCompleted seen, ${unfinishedAtKill.join('/')} runs unfinished), ${stepCompleted} StepCompleted, ${duplicates} duplicates`,
    );
    expect(stepCompleted).toBe(RUNS * STEPS.length);
    expect(duplicates).toBe(0);
  }, 240_000);
});
