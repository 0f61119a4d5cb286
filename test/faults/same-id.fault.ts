import { afterAll, beforeAll, expect, it } from 'vitest';
import { monotonicMs } from '../support/wait.ts';
import type { Reply, TestClient } from '../support/weft.ts';
import {
  historyOf,
  listAll,
  seconds,
  startHarness,
  SUPPORT_WORKER,
  type Harness,
  type NatsTap,
  type Summary,
  waitForValue,
} from './harness.ts';

/**
 * The same run id started 1,000 times at once from two clients (two NATS connections), served by
 * two runtimes on the same sqlite store (the gateway's queue group splits the requests between
 * them, so the race is decided by the store's expected revision, not by one process's mailbox;
 * each runtime reaches NATS through a tap that counts the starts delivered to it, and both must have
 * been given some): exactly one run exists, with one RunStarted, and every reply says
 * `existing: true` except one.
 */

const STARTS = 1000;
const RUN_ID = 'same-id-run';

let h: Harness;
let a: TestClient;
let b: TestClient;
/** What NATS delivered of `weft.runs.start` to each runtime: each runtime talks to NATS through its own tap. */
let taps: NatsTap[];

beforeAll(async () => {
  h = await startHarness('same-id');
  taps = [await h.tap('weft.runs.start'), await h.tap('weft.runs.start')];
  for (const tap of taps) await h.serve({}, tap.url);
  await h.worker(SUPPORT_WORKER);
  a = await h.client();
  b = await h.client();
});

afterAll(async () => {
  await h.close();
});

it('makes one run of 1,000 concurrent starts of one run id from two clients, served by both runtimes', async () => {
  const blueprint = {
    name: 'same_id',
    steps: [{ id: 'only', type: 'activity', activity: 'echo' }],
  };
  await a.call('weft.blueprints.put', { blueprint });
  const t0 = monotonicMs();
  // Half of the starts name the blueprint, half send it inline (same content: same version).
  const replies = await Promise.all(
    Array.from({ length: STARTS }, (_, i) =>
      (i % 2 === 0 ? a : b).request<{
        runId: string;
        existing: boolean;
        blueprint: { name: string; version: number };
      }>(
        'weft.runs.start',
        { blueprint: i % 4 < 2 ? 'same_id' : blueprint, runId: RUN_ID, input: { i } },
        30_000,
      ),
    ),
  );
  const elapsed = monotonicMs() - t0;

  const failed = replies.filter((r: Reply) => !r.ok);
  expect(failed.map((r) => r.error)).toEqual([]);
  const fresh = replies.filter((r) => r.data?.existing === false);
  const existing = replies.filter((r) => r.data?.existing === true);
  expect(replies.every((r) => r.data?.runId === RUN_ID)).toBe(true);
  expect(
    replies.every((r) => r.data?.blueprint.name === 'same_id' && r.data.blueprint.version === 1),
  ).toBe(true);

  const summary = await waitForValue(
    async () => {
      const s = await a.call<Summary>(`weft.runs.${RUN_ID}.get`, {});
      return s.status === 'running' ? undefined : s;
    },
    { timeoutMs: 30_000, message: 'the run ended' },
  );
  const events = await historyOf(a, RUN_ID);
  const runStarted = events.filter((e) => e.type === 'RunStarted');
  const runs = await listAll(a, { blueprint: 'same_id' });

  const served = taps.map((tap) => tap.delivered());

  console.log(
    `[fault] same-id: ${STARTS} concurrent starts of one id from 2 clients to 2 runtimes in ${seconds(elapsed)} s ` +
      `(${served.join(' + ')} delivered to each): ` +
      `${fresh.length} new, ${existing.length} existing, ${runStarted.length} RunStarted, ${runs.length} run(s)`,
  );
  // Both runtimes took part in the race: the queue group gave each some of the starts.
  expect(served.reduce((x, y) => x + y, 0)).toBe(STARTS);
  for (const [i, n] of served.entries())
    expect(n, `starts delivered to runtime ${i + 1}`).toBeGreaterThan(0);
  expect(fresh).toHaveLength(1);
  expect(existing).toHaveLength(STARTS - 1);
  expect(runStarted).toHaveLength(1);
  expect(runs).toHaveLength(1);
  expect(summary.status).toBe('completed');
  // The input of the one start that won is the run's input.
  const winner = replies.indexOf(fresh[0] as (typeof replies)[number]);
  expect(summary.input).toEqual({ i: winner });
  expect(events.filter((e) => e.type === 'StepScheduled')).toHaveLength(1);
  expect(events.filter((e) => e.type === 'RunCompleted')).toHaveLength(1);
}, 120_000);
