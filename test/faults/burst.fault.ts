import { afterAll, beforeAll, expect, it } from 'vitest';
import { monotonicMs, sleep, waitFor } from '../support/wait.ts';
import type { TestClient, WeftProcess } from '../support/weft.ts';
import {
  listAll,
  pool,
  rssKiB,
  seconds,
  startHarness,
  SUPPORT_WORKER,
  type Harness,
} from './harness.ts';

/**
 * 10,000 starts as fast as possible: all 10,000 requests sent at once, more than the gateway
 * takes at once (4,096), so some must be refused. A refused request gets `unavailable` at once —
 * never a timeout — and is retried. The runtime's peak RSS is sampled from /proc; all 10,000 runs
 * (one fast activity each) must exist and complete.
 */

const RUNS = 10_000;
const IN_FLIGHT = 10_000;
const REQUEST_TIMEOUT_MS = 30_000;
/** What "fast" means for a refusal, on a 2-core machine whose runtime is busy with 4,096 requests. */
const FAST_UNAVAILABLE_MS = 5_000;

let h: Harness;
let runtime: WeftProcess;
let client: TestClient;

beforeAll(async () => {
  h = await startHarness('burst');
  runtime = await h.serve();
  await h.worker(SUPPORT_WORKER, 64);
  client = await h.client();
});

afterAll(async () => {
  await h.close();
});

it('takes 10,000 starts in a burst: each run exists and completes; refusals are fast `unavailable`', async () => {
  const blueprint = { name: 'burst', steps: [{ id: 'only', type: 'activity', activity: 'echo' }] };
  await client.call('weft.blueprints.put', { blueprint });

  const pid = runtime.child.pid ?? -1;
  const baselineRss = rssKiB(pid) ?? 0;
  let peakRss = baselineRss;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssKiB(pid) ?? 0)), 50);

  let unavailable = 0;
  let slowestRefusal = 0;
  let slowestAccept = 0;
  const failures: string[] = [];
  const ids = Array.from({ length: RUNS }, (_, i) => `b-${i}`);
  const t0 = monotonicMs();
  let startedIn = 0;
  let completeIn = 0;
  try {
    await pool(ids, IN_FLIGHT, async (runId, i) => {
      for (let attempt = 1; ; attempt++) {
        const sent = monotonicMs();
        let reply;
        try {
          reply = await client.request<{ runId: string; existing: boolean }>(
            'weft.runs.start',
            { blueprint: 'burst', runId, input: { i } },
            REQUEST_TIMEOUT_MS,
          );
        } catch (error) {
          failures.push(
            `${runId} attempt ${attempt}: ${String(error)} after ${Math.round(monotonicMs() - sent)} ms`,
          );
          return;
        }
        const took = monotonicMs() - sent;
        if (reply.ok) {
          slowestAccept = Math.max(slowestAccept, took);
          // A retry after a refusal may find the run made by an earlier attempt whose reply was lost: never here.
          if (reply.data?.runId !== runId || reply.data.existing)
            failures.push(`${runId}: ${JSON.stringify(reply.data)}`);
          return;
        }
        if (reply.error?.code !== 'unavailable') {
          failures.push(`${runId}: ${JSON.stringify(reply.error)}`);
          return;
        }
        unavailable++;
        slowestRefusal = Math.max(slowestRefusal, took);
        await sleep(20 + (i % 10) * 10);
      }
    });
    startedIn = monotonicMs() - t0;

    await waitFor(
      async () =>
        (await listAll(client, { blueprint: 'burst', status: 'completed' })).length === RUNS,
      { timeoutMs: 240_000, intervalMs: 2_000, message: `all ${RUNS} runs completed` },
    );
    completeIn = monotonicMs() - t0;
  } finally {
    clearInterval(sampler);
  }

  const all = await listAll(client, { blueprint: 'burst' });
  const rssAfter = rssKiB(pid) ?? 0;
  const mib = (kib: number) => Math.round(kib / 1024);
  console.log(
    `[fault] burst: ${RUNS} starts (${IN_FLIGHT} in flight) taken in ${seconds(startedIn)} s (${Math.round(RUNS / (startedIn / 1000))}/s), ` +
      `${unavailable} fast 'unavailable' refusals (slowest ${Math.round(slowestRefusal)} ms, retried; slowest accept ${Math.round(slowestAccept)} ms), ` +
      `0 timeouts expected / ${failures.length} failures; all ${all.length} runs complete in ${seconds(completeIn)} s; ` +
      `runtime peak RSS ${mib(peakRss)} MiB (${mib(baselineRss)} MiB before, ${mib(rssAfter)} MiB once all completed)`,
  );
  expect(failures.slice(0, 10)).toEqual([]);
  expect(all).toHaveLength(RUNS);
  expect(new Set(all.map((r) => r.runId))).toEqual(new Set(ids));
  expect(all.every((r) => r.status === 'completed')).toBe(true);
  expect(slowestRefusal).toBeLessThan(FAST_UNAVAILABLE_MS);
  expect(runtime.child.exitCode).toBeNull();
}, 420_000);
