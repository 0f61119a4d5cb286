import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type PostgresHandle } from '../support/postgres.ts';
import { monotonicMs, sleep, waitFor } from '../support/wait.ts';
import type { TestClient } from '../support/weft.ts';
import {
  checkCompletions,
  countStepCompleted,
  countStoredEvents,
  expectScheduledOnce,
  expectStartedAndCompletedOnce,
  FAULT_WORKER,
  historyOf,
  listAll,
  pool,
  seconds,
  startHarness,
  type Harness,
  type NatsTap,
  waitForValue,
} from './harness.ts';
import {
  killBusiest,
  openLeaseView,
  runsIn,
  showCounts,
  startRuntimes,
  unfinishedIn,
  type LeaseView,
  type Runtimes,
} from './cluster.ts';

/**
 * Issue 13's fault suite: three runtimes (`WEFT_RUNTIME_ID` rt-a, rt-b, rt-c) on one store — a
 * sqlite file the three processes share, and a private PostgreSQL — with one worker, on the default
 * lease (5,000 ms). Each scenario starts from all three up and the 64 partitions spread over them
 * (a runtime an earlier scenario killed is started again under its id). Each runtime reaches NATS
 * through a tap of its own that counts the signals and queries NATS delivers to it.
 *
 * - a SIGKILL of the runtime owning the most partitions under 300 five-step runs (both stores);
 * - 1,000 durable timers due around a SIGKILL of the busiest runtime (sqlite);
 * - 1,000 signals, each followed by a query, sent through whichever runtime the queue group picks (sqlite);
 * - a rolling restart (SIGTERM, start again, rejoin) of the three under a steady stream of runs (sqlite).
 */

const IDS = ['rt-a', 'rt-b', 'rt-c'];
const LEASE_MS = 5000;
const STEPS = ['s1', 's2', 's3', 's4', 's5'];
const fiveSteps = {
  name: 'cluster_five',
  steps: STEPS.map((id) => ({ id, type: 'activity', activity: 'work' })),
};
/** Signals and queries as NATS delivers them to a runtime (not the forwards between runtimes). */
const SIGNAL_OR_QUERY = /^weft\.runs\.[^.]+\.(signal|query)\./;

describe.each(['sqlite', 'postgres'] as const)('three runtimes on one %s store', (store) => {
  let postgres: PostgresHandle | undefined;
  let h: Harness;
  let taps: Map<string, NatsTap>;
  let runtimes: Runtimes;
  let client: TestClient;
  let view: LeaseView;

  beforeAll(async () => {
    if (store === 'postgres') postgres = await startPostgres();
    h = await startHarness(`cluster-${store}`, { postgres: postgres?.url });
    taps = new Map();
    for (const id of IDS) taps.set(id, await h.tap(SIGNAL_OR_QUERY));
    [runtimes] = await Promise.all([
      startRuntimes(h, IDS, {
        env: { WEFT_LEASE_MS: String(LEASE_MS) },
        urlOf: (id) => taps.get(id)?.url ?? h.natsUrl,
      }),
      h.worker(FAULT_WORKER, 64),
    ]);
    client = await h.client();
    view = await openLeaseView(client.nc);
  });

  afterAll(async () => {
    view.close();
    await h.close();
    await postgres?.stop();
  });

  it('completes 300 five-step runs across a SIGKILL of the runtime owning the most partitions', async () => {
    await runtimes.allUp(view);
    const stepCompletedSeen = countStepCompleted(client);
    await client.call('weft.blueprints.put', { blueprint: fiveSteps });
    const RUNS = 300;
    const t0 = monotonicMs();
    const ids = Array.from({ length: RUNS }, (_, i) => `cf-${String(i)}`);
    await pool(ids, 50, (runId, i) =>
      client.call('weft.runs.start', {
        blueprint: 'cluster_five',
        runId,
        input: { n: i, trail: [] },
      }),
    );
    await waitFor(() => stepCompletedSeen() >= RUNS, {
      timeoutMs: 60_000,
      message: 'progress before the kill',
    });

    const kill = await killBusiest(runtimes, view);
    const atKill = stepCompletedSeen();
    const stored = (await countStoredEvents(h.store)).byStream;
    const takeoverMs = await kill.takeover;

    const completed = await waitForValue(
      async () => {
        const runs = await listAll(client, { blueprint: 'cluster_five', status: 'completed' });
        return runs.length === RUNS ? runs : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 500, message: `all ${String(RUNS)} runs completed` },
    );
    const elapsed = monotonicMs() - t0;
    for (const run of completed) {
      const n = Number(run.runId.slice(3));
      expect(run.output, run.runId).toEqual({ n, trail: STEPS });
    }
    expect(new Set(completed.map((r) => r.runId))).toEqual(new Set(ids));
    // The kill caught runs of the killed runtime's partitions unfinished.
    const unfinished = unfinishedIn(
      stored,
      (await countStoredEvents(h.store)).byStream,
      ids,
      kill.lost,
    );
    expect(unfinished, `runs of ${kill.victim} unfinished at the kill`).toBeGreaterThan(0);

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
      `[fault] cluster-kill (${store}, 3 runtimes, lease ${String(LEASE_MS)} ms): ${String(RUNS)} five-step runs complete in ${seconds(elapsed)} s; ` +
        `SIGKILL of ${kill.victim} (${String(kill.lost.length)} of 64 partitions, ${String(unfinished)} of its runs unfinished) at ${String(atKill)} StepCompleted; ` +
        `time to takeover ${seconds(takeoverMs)} s (owners ${kill.before} → ${showCounts(view.counts())}); ` +
        `${String(stepCompleted)} StepCompleted, ${String(duplicates)} duplicates`,
    );
    expect(stepCompleted).toBe(RUNS * STEPS.length);
    expect(duplicates).toBe(0);
  }, 180_000);

  it.runIf(store === 'sqlite')(
    'fires 1,000 timers due around a SIGKILL of the busiest runtime once each, never early',
    async () => {
      await runtimes.allUp(view);
      const RUNS = 1000;
      await client.call('weft.blueprints.put', {
        blueprint: {
          name: 'cluster_sleepers',
          steps: [{ id: 'nap', type: 'sleep', until: '{% $input.at %}' }],
        },
      });
      // Due 6–12 s from now (wall clock: `until` is an epoch time); the kill comes at 8.5 s, so
      // the killed runtime fires some of its timers, and leaves others to the takeover.
      const t0 = Date.now();
      const dueAt = (i: number) => t0 + 6000 + Math.floor((i * 6000) / RUNS);
      const ids = Array.from({ length: RUNS }, (_, i) => `tm-${String(i)}`);
      await pool(ids, 100, (runId, i) =>
        client.call(
          'weft.runs.start',
          { blueprint: 'cluster_sleepers', runId, input: { at: dueAt(i) } },
          30_000,
        ),
      );
      const startedIn = Date.now() - t0;
      await sleep(Math.max(0, t0 + 8500 - Date.now()));
      const kill = await killBusiest(runtimes, view);
      const killedAt = Date.now() - t0;
      const stored = (await countStoredEvents(h.store)).byStream;
      const takeoverMs = await kill.takeover;

      await waitFor(
        async () =>
          (await listAll(client, { blueprint: 'cluster_sleepers', status: 'completed' }, 5000))
            .length === RUNS,
        { timeoutMs: 60_000, intervalMs: 500, message: `all ${String(RUNS)} runs completed` },
      );
      const elapsed = Date.now() - t0;
      const atEnd = (await countStoredEvents(h.store)).byStream;
      // The killed runtime's partitions had timers pending at the kill, and had fired some before it.
      const pending = unfinishedIn(stored, atEnd, ids, kill.lost);
      const ownedByVictim = runsIn(ids, kill.lost);
      expect(pending, `runs of ${kill.victim} waiting at the kill`).toBeGreaterThan(0);
      expect(pending, `runs of ${kill.victim} done before the kill`).toBeLessThan(
        ownedByVictim.length,
      );

      let early = 0;
      let duplicates = 0;
      const lateness: number[] = [];
      const histories = await pool(ids, 25, (runId) => historyOf(client, runId));
      histories.forEach((events, i) => {
        const runId = ids[i] ?? '';
        expectStartedAndCompletedOnce(events, runId);
        const scheduled = events.filter((e) => e.type === 'TimerScheduled');
        const fired = events.filter((e) => e.type === 'TimerFired');
        expect(scheduled, `TimerScheduled of ${runId}`).toHaveLength(1);
        expect(Number(scheduled[0]?.data['dueAt']), `dueAt of ${runId}`).toBe(dueAt(i));
        expect(fired.length, `TimerFired of ${runId}`).toBeGreaterThanOrEqual(1);
        duplicates += fired.length - 1;
        for (const f of fired) {
          expect(f.data['timerId'], runId).toBe(scheduled[0]?.data['timerId']);
          const late = Date.parse(f.at) - dueAt(i);
          if (late < 0) early++;
          lateness.push(late);
        }
      });
      lateness.sort((x, y) => x - y);
      console.log(
        `[fault] cluster-timers (${store}, 3 runtimes, lease ${String(LEASE_MS)} ms): ${String(RUNS)} runs (started in ${seconds(startedIn)} s) ` +
          `each sleeping until 6–12 s; SIGKILL of ${kill.victim} at ${seconds(killedAt)} s with ${String(pending)} of its ${String(ownedByVictim.length)} timers pending; ` +
          `time to takeover ${seconds(takeoverMs)} s; all complete in ${seconds(elapsed)} s; ${String(early)} early, ${String(duplicates)} duplicate firings, ` +
          `lateness median ${String(lateness[lateness.length >> 1])} ms, max ${String(lateness.at(-1))} ms`,
      );
      expect(early).toBe(0);
      expect(duplicates).toBe(0);
    },
    120_000,
  );
});
