import { afterAll, beforeAll, expect, it } from 'vitest';
import { monotonicMs, sleep, waitFor } from '../support/wait.ts';
import type { TestClient, WeftProcess } from '../support/weft.ts';
import {
  countStoredEvents,
  historyOf,
  listAll,
  pool,
  seconds,
  startHarness,
  stopProcess,
  type Harness,
} from './harness.ts';

/**
 * 1,000 runs, each with two durable timers: a sleep of 1–16 s (spread evenly over the runs) and then
 * one of 0.5–1.25 s. The runtime is restarted twice while they wait — once by SIGKILL, once by
 * SIGTERM, which must end it with exit code 0 — on the same sqlite store. Every timer fires
 * exactly once and never before its dueAt (the TimerFired event's store time against
 * TimerScheduled's dueAt).
 */

const RUNS = 1000;
const blueprint = {
  name: 'sleepers',
  steps: [
    { id: 'nap', type: 'sleep', duration: '{% $input.d %}' },
    { id: 'tail', type: 'sleep', duration: '{% $input.t %}' },
  ],
};
const durations = (i: number) => ({
  d: 1000 + Math.floor((i * 15_000) / RUNS),
  t: 500 + (i % 4) * 250,
});

let h: Harness;
let runtime: WeftProcess;
let client: TestClient;

beforeAll(async () => {
  h = await startHarness('timers');
  runtime = await h.serve();
  client = await h.client();
});

afterAll(async () => {
  await h.close();
});

it('fires each of 2,000 timers once and never early across a SIGKILL and a graceful SIGTERM restart', async () => {
  await client.call('weft.blueprints.put', { blueprint });
  const ids = Array.from({ length: RUNS }, (_, i) => `tm-${i}`);
  const t0 = monotonicMs();
  await pool(ids, 100, (runId, i) =>
    client.call('weft.runs.start', { blueprint: 'sleepers', runId, input: durations(i) }, 30_000),
  );
  const startedIn = monotonicMs() - t0;

  // The scenario is about time: restart at fixed points while timers of 1–17 s are pending.
  await sleep(Math.max(0, 4_000 - (monotonicMs() - t0)));
  await runtime.kill9();
  const atKill = (await countStoredEvents(h.store)).byStream;
  runtime = await h.serve();
  const firstRestart = monotonicMs() - t0;
  await sleep(Math.max(0, 10_000 - (monotonicMs() - t0)));
  const sigterm = await stopProcess(runtime);
  // A graceful stop, not the SIGKILL stopProcess falls back to after its grace period.
  expect(sigterm, `the SIGTERMed runtime's exit:\n${runtime.output()}`).toEqual({
    code: 0,
    signal: null,
    forced: false,
  });
  const atTerm = (await countStoredEvents(h.store)).byStream;
  runtime = await h.serve();
  const secondRestart = monotonicMs() - t0;

  await waitFor(
    async () =>
      (await listAll(client, { blueprint: 'sleepers', status: 'completed' })).length === RUNS,
    { timeoutMs: 45_000, intervalMs: 1000, message: `all ${RUNS} runs completed` },
  );
  const elapsed = monotonicMs() - t0;
  // Both restarts happened while timers were pending: runs whose stream (read with the runtime
  // down) was shorter than it is now that every run has completed.
  const atEnd = (await countStoredEvents(h.store)).byStream;
  const unfinished = (at: Map<string, number>) =>
    ids.filter((runId) => (at.get(`run-${runId}`) ?? 0) < (atEnd.get(`run-${runId}`) ?? 0)).length;
  const pending = [unfinished(atKill), unfinished(atTerm)];
  expect(pending[0], 'runs unfinished at the SIGKILL').toBeGreaterThan(0);
  expect(pending[1], 'runs unfinished at the SIGTERM').toBeGreaterThan(0);

  let timers = 0;
  let early = 0;
  let duplicates = 0;
  const lateness: number[] = [];
  const histories = await pool(ids, 25, (runId) => historyOf(client, runId));
  histories.forEach((events, i) => {
    const runId = ids[i] ?? '';
    const scheduled = events.filter((e) => e.type === 'TimerScheduled');
    const fired = events.filter((e) => e.type === 'TimerFired');
    expect(
      scheduled.map((e) => e.data['stepId']),
      runId,
    ).toEqual(['nap', 'tail']);
    for (const s of scheduled) {
      timers++;
      const timerId = s.data['timerId'];
      const dueAt = Number(s.data['dueAt']);
      const firings = fired.filter((f) => f.data['timerId'] === timerId);
      expect(firings.length, `firings of ${String(timerId)} in ${runId}`).toBeGreaterThanOrEqual(1);
      duplicates += firings.length - 1;
      for (const f of firings) {
        const at = Date.parse(f.at);
        if (at < dueAt) early++;
        lateness.push(at - dueAt);
      }
    }
    // The sleep asked for is the sleep recorded: dueAt is the decision time + d, and the store
    // records the event a little after the decision.
    const nap = scheduled[0];
    if (nap !== undefined) {
      const recorded = Number(nap.data['dueAt']) - Date.parse(nap.at);
      expect(recorded, runId).toBeLessThanOrEqual(durations(i).d);
      expect(recorded, runId).toBeGreaterThan(durations(i).d - 5_000);
    }
    expect(fired).toHaveLength(scheduled.length);
    expect(events.at(-1)?.type).toBe('RunCompleted');
  });
  lateness.sort((x, y) => x - y);
  const median = lateness[Math.floor(lateness.length / 2)] ?? NaN;
  const max = lateness[lateness.length - 1] ?? NaN;

  console.log(
    `[fault] timers: ${RUNS} runs (started in ${seconds(startedIn)} s), ${timers} timers of 0.5–16 s; runtime SIGKILLed+restarted at ` +
      `${seconds(firstRestart)} s and SIGTERMed+restarted at ${seconds(secondRestart)} s (${pending.join('/')} runs unfinished); all complete in ${seconds(elapsed)} s; ` +
      `${early} early, ${duplicates} duplicate firings, lateness median ${median} ms, max ${max} ms`,
  );
  expect(timers).toBe(RUNS * 2);
  expect(early).toBe(0);
  expect(duplicates).toBe(0);
}, 120_000);
