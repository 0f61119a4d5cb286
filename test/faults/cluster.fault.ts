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
  stopProcess,
  type Ended,
  type Harness,
  type NatsTap,
  allCompleted,
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

    const completed = await allCompleted(client, 'cluster_five', RUNS, { timeoutMs: 120_000 });
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

  it.runIf(store === 'sqlite')(
    'answers each of 1,000 queries with every signal acknowledged before it, whichever runtime takes them',
    async () => {
      await runtimes.allUp(view);
      const RUNS = 20;
      const SIGNALS = 50;
      await client.call('weft.blueprints.put', {
        blueprint: {
          name: 'cluster_ticker',
          signals: [{ name: 'tick', handler: 'append' }],
          queries: [{ name: 'ticks', expr: '{% $data.tick %}' }],
          steps: [{ id: 'gate', type: 'wait', signal: 'done' }],
        },
      });
      const ids = Array.from({ length: RUNS }, (_, i) => `sq-${String(i)}`);
      await pool(ids, RUNS, (runId) =>
        client.call('weft.runs.start', { blueprint: 'cluster_ticker', runId }),
      );
      // Forwards between runtimes, seen by a plain subscriber of the internal subject.
      const forwarded = new Map<string, number>();
      const forwards = client.nc.subscribe('weft.runtime.*.call', {
        callback: (error, msg) => {
          if (error !== null) return;
          const method = msg.json<{ call?: { method?: string } }>().call?.method;
          if (method !== 'signal' && method !== 'query') return;
          const target = msg.subject.split('.')[2] ?? '';
          forwarded.set(target, (forwarded.get(target) ?? 0) + 1);
        },
      });
      const delivered = (): number[] => IDS.map((id) => taps.get(id)?.delivered() ?? 0);
      const before = delivered();

      // One lane per run: signal k, and once it is acknowledged, a query, which must show ticks 1..k.
      const t0 = monotonicMs();
      let stale = 0;
      let ahead = 0;
      const answers = await pool(ids, RUNS, async (runId) => {
        const seen: number[][] = [];
        for (let k = 1; k <= SIGNALS; k++) {
          await client.call(`weft.runs.${runId}.signal.tick`, { k });
          const ticks = await client.call<{ k: number }[]>(`weft.runs.${runId}.query.ticks`, {});
          if (ticks.length < k) stale++;
          if (ticks.length > k) ahead++;
          seen.push(ticks.map((t) => t.k));
        }
        return seen;
      });
      const elapsed = monotonicMs() - t0;
      forwards.unsubscribe();
      const served = delivered().map((n, i) => n - (before[i] ?? 0));

      for (const [i, seen] of answers.entries())
        for (const [k, ticks] of seen.entries())
          expect(ticks, `ticks of ${ids[i] ?? ''} after signal ${String(k + 1)}`).toEqual(
            Array.from({ length: k + 1 }, (_, j) => j + 1),
          );
      // Each signal recorded once, in order.
      await pool(ids, RUNS, (runId) => client.call(`weft.runs.${runId}.signal.done`, {}));
      for (const runId of ids) {
        const events = await historyOf(client, runId);
        expectStartedAndCompletedOnce(events, runId);
        const ticks = events.filter(
          (e) => e.type === 'SignalReceived' && e.data['name'] === 'tick',
        );
        expect(
          ticks.map((e) => (e.data['payload'] as { k: number }).k),
          runId,
        ).toEqual(Array.from({ length: SIGNALS }, (_, j) => j + 1));
        expect(new Set(ticks.map((e) => e.data['signalId'])).size, runId).toBe(SIGNALS);
      }
      const forwardedTotal = [...forwarded.values()].reduce((a, b) => a + b, 0);
      console.log(
        `[fault] cluster-signals (${store}, 3 runtimes): ${String(RUNS * SIGNALS)} signals, each followed by a query, on ${String(RUNS)} runs in ${seconds(elapsed)} s; ` +
          `NATS delivered ${served.map((n, i) => `${String(n)} to ${IDS[i] ?? ''}`).join(', ')}; ${String(forwardedTotal)} forwarded to the owner ` +
          `(${showCounts(forwarded)}); ${String(stale)} stale answers, ${String(ahead)} ahead`,
      );
      expect(stale).toBe(0);
      expect(ahead).toBe(0);
      expect(served.reduce((a, b) => a + b, 0)).toBe(2 * RUNS * SIGNALS);
      for (const [i, n] of served.entries())
        expect(n, `signals and queries delivered to ${IDS[i] ?? ''}`).toBeGreaterThan(0);
      expect(forwardedTotal).toBeGreaterThan(0);
    },
    120_000,
  );

  it.runIf(store === 'sqlite')(
    'serves a steady stream of runs through a rolling restart of the three runtimes: none failed, no step twice',
    async () => {
      await runtimes.allUp(view);
      await client.call('weft.blueprints.put', {
        blueprint: { ...fiveSteps, name: 'cluster_rolling' },
      });
      const LANES = 8;
      const timing = { min: 20, max: 60 };
      // Each lane executes runs one after the other until told to stop: the client's view.
      const stop = new AbortController();
      const ids: string[] = [];
      const failures: string[] = [];
      const latencies: number[] = [];
      const replies: number[] = [];
      const lane = async (l: number): Promise<void> => {
        for (let k = 0; !stop.signal.aborted; k++) {
          const runId = `rr-${String(l)}-${String(k)}`;
          ids.push(runId);
          const sent = monotonicMs();
          const reply = await client
            .request<{ status: string; output?: unknown }>(
              'weft.runs.execute',
              {
                blueprint: 'cluster_rolling',
                runId,
                input: { runId, trail: [], timing },
                timeoutMs: 30_000,
              },
              35_000,
            )
            .catch((error: unknown) => ({ ok: false, error: String(error), data: undefined }));
          const at = monotonicMs();
          latencies.push(at - sent);
          replies.push(at);
          // A failure, or a run that ended otherwise or with another output than its steps give.
          if (
            !reply.ok ||
            reply.data?.status !== 'completed' ||
            JSON.stringify(reply.data.output) !== JSON.stringify({ runId, trail: STEPS, timing })
          )
            failures.push(`${runId}: ${JSON.stringify(reply.error ?? reply.data)}`);
        }
      };
      const t0 = monotonicMs();
      const lanes = Promise.all(Array.from({ length: LANES }, (_, l) => lane(l)));

      const ends: Ended[] = [];
      const drains: number[] = [];
      const rejoins: number[] = [];
      try {
        await sleep(2000);
        for (const id of IDS) {
          const sent = monotonicMs();
          const ended = await stopProcess(runtimes.get(id), 10_000);
          drains.push(monotonicMs() - sent);
          if (ended !== undefined) ends.push(ended);
          expect(ended, `${id}'s exit after SIGTERM:\n${runtimes.get(id).output()}`).toEqual({
            code: 0,
            signal: null,
            forced: false,
          });
          const restarted = monotonicMs();
          await runtimes.restart(id);
          await runtimes.allUp(view);
          rejoins.push(monotonicMs() - restarted);
        }
        await sleep(2000);
      } finally {
        stop.abort();
      }
      await lanes;
      const elapsed = monotonicMs() - t0;

      expect(failures).toEqual([]);
      const { stepCompleted, duplicates } = await checkCompletions(
        client,
        ids,
        STEPS,
        (events, runId) => {
          expectStartedAndCompletedOnce(events, runId);
          expectScheduledOnce(events, runId, STEPS);
        },
      );
      const gaps = replies.sort((a, b) => a - b).map((at, i) => at - (replies[i - 1] ?? t0));
      console.log(
        `[fault] cluster-rolling (${store}, 3 runtimes): ${String(ids.length)} runs executed by ${String(LANES)} clients in ${seconds(elapsed)} s ` +
          `while each runtime was SIGTERMed (drained in ${drains.map((ms) => seconds(ms)).join('/')} s, exit ${ends.map((e) => String(e.code)).join('/')}) ` +
          `and started again (partitions spread again after ${rejoins.map((ms) => seconds(ms)).join('/')} s); ` +
          `${String(failures.length)} failed, ${String(stepCompleted)} StepCompleted, ${String(duplicates)} duplicates; ` +
          `longest execute request ${String(Math.round(Math.max(...latencies)))} ms, longest gap between two replies ${String(Math.round(Math.max(...gaps)))} ms`,
      );
      expect(duplicates).toBe(0);
      // A handover is immediate: no client waits as long as a lease (the wait a crash costs).
      expect(Math.max(...latencies)).toBeLessThan(LEASE_MS);
    },
    120_000,
  );
});
