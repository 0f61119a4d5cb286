import { DatabaseSync } from 'node:sqlite';
import { jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Subjects } from '../../src/wire/subjects.ts';
import { monotonicMs, sleep, waitFor } from '../support/wait.ts';
import type { TestClient, WeftProcess } from '../support/weft.ts';
import {
  FAULT_WORKER,
  listAll,
  pool,
  seconds,
  startHarness,
  type Harness,
  waitForValue,
  checkCompletions,
  countStepCompleted,
} from './harness.ts';

/**
 * Runs in flight on one worker of concurrency 4; nats-server is killed with SIGKILL, stays down
 * 2 s, its JetStream store directory is wiped, and it is restarted on the same port: the tasks and
 * results streams, the messages in them and the durable consumers are gone, as on a JetStream
 * that lost its storage.
 *
 * Proved from the event store: more tasks were open at the wipe (a StepScheduled with no
 * StepCompleted/StepFailed of the same taskId and attempt) than the worker can hold, so at least
 * the difference existed only in the wiped streams; every task open at the wipe then ends with a
 * StepCompleted of its taskId, and no duplicate: either of the same attempt and nothing else — a
 * task no worker had started was re-dispatched by the reconciler (step timeout 5 s,
 * WEFT_RECONCILE_GRACE_MS=2000), not retried as a new attempt — or, for a task the worker had
 * started and whose result was lost, after a StepFailed `timeout` from the runtime's deadline and
 * the next attempt (README "Guarantees", "Every attempt has a deadline"); at most as many of those
 * as the worker can hold. The tasks and results streams and the durable consumers in use
 * afterwards were created after the wipe: the runtime and the worker create them again by
 * themselves. Every run completes with the right output, one StepCompleted per step and no
 * duplicate; the runtime's log names a re-dispatch of at least as many of the open tasks as were
 * certainly lost.
 */

const RUNS = 60;
const STEPS = ['a', 'b', 'c'];
const CONCURRENCY = 4;
/**
 * Tasks a worker can hold (delivered, not acknowledged): `concurrency` running, and at most
 * `concurrency` more taken, buffered or requested but not started: its consume pulls
 * `max_messages: concurrency` (src/actors/worker.ts) and nats.js sends a further pull request
 * only as the worker takes a message.
 */
const HELD_MAX = 2 * CONCURRENCY;
const blueprint = {
  name: 'three_steps',
  defaults: { timeout: '5s' },
  steps: STEPS.map((id) => ({ id, type: 'activity', activity: 'work' })),
};

interface StoredEvent {
  readonly position: number;
  readonly stream: string;
  readonly type: string;
  readonly data: { readonly taskId?: string; readonly attempt?: number };
}

/** Every event in the sqlite store, in append order, read with a read-only connection. */
const storedEvents = (dbPath: string): StoredEvent[] => {
  const db = new DatabaseSync(dbPath, { readOnly: true });
  try {
    return db
      .prepare('SELECT position, stream, type, data FROM events ORDER BY position')
      .all()
      .map((row) => ({
        position: Number(row['position']),
        stream: String(row['stream']),
        type: String(row['type']),
        data: JSON.parse(String(row['data'])) as StoredEvent['data'],
      }));
  } finally {
    db.close();
  }
};

interface Attempt {
  readonly taskId: string;
  readonly attempt: number;
}

const keyOf = (a: Attempt): string => `${a.taskId}/${a.attempt}`;

/** Every StepScheduled with no StepCompleted or StepFailed of the same taskId and attempt, by `taskId/attempt`. */
const openTasks = (events: readonly StoredEvent[]): Map<string, Attempt> => {
  const open = new Map<string, Attempt>();
  for (const { type, data } of events) {
    if (data.taskId === undefined || data.attempt === undefined) continue;
    const task = { taskId: data.taskId, attempt: data.attempt };
    if (type === 'StepScheduled') open.set(keyOf(task), task);
    else if (type === 'StepCompleted' || type === 'StepFailed') open.delete(keyOf(task));
  }
  return open;
};

let h: Harness;
let runtime: WeftProcess;
let client: TestClient;

beforeAll(async () => {
  h = await startHarness('kill-nats');
  runtime = await h.serve({ WEFT_RECONCILE_GRACE_MS: '2000' });
  await h.worker(FAULT_WORKER, CONCURRENCY);
  client = await h.client();
});

afterAll(async () => {
  await h.close();
});

it('re-dispatches every task lost with a wiped JetStream and completes every run', async () => {
  const stepCompletedSeen = countStepCompleted(client);
  await client.call('weft.blueprints.put', { blueprint });

  const t0 = monotonicMs();
  const ids = Array.from({ length: RUNS }, (_, i) => `kn-${i}`);
  const timing = { min: 100, max: 300 };
  await pool(ids, 20, (runId, i) =>
    client.call('weft.runs.start', {
      blueprint: 'three_steps',
      runId,
      input: { n: i, trail: [], timing },
    }),
  );

  await waitFor(() => stepCompletedSeen() >= 20, {
    timeoutMs: 60_000,
    message: 'progress before the kill',
  });
  const seenAtKill = stepCompletedSeen();
  h.nats.kill9();
  const down = monotonicMs();
  // The outage: nothing reaches the runtime, so the store holds still and is read as it is at the wipe.
  await sleep(2_000);
  const atWipe = storedEvents(h.dbPath);
  const openAtWipe = openTasks(atWipe);
  const wipePosition = atWipe.at(-1)?.position ?? 0;
  const wipedAt = Date.now();
  await h.nats.restart({ wipe: true });
  const outageMs = monotonicMs() - down;
  const certainlyLost = openAtWipe.size - HELD_MAX;
  expect(certainlyLost, 'open tasks beyond what the worker can hold').toBeGreaterThan(0);

  const completed = await waitForValue(
    async () => {
      const runs = await listAll(client, { blueprint: 'three_steps', status: 'completed' }, 3_000);
      return runs.length === RUNS ? runs : undefined;
    },
    {
      timeoutMs: 120_000,
      intervalMs: 500,
      message: `all ${RUNS} runs completed after the NATS restart with a wiped store`,
    },
  );
  const elapsed = monotonicMs() - t0;

  for (const run of completed)
    expect(run.output, run.runId).toEqual({ n: Number(run.runId.slice(3)), trail: STEPS, timing });

  const { stepCompleted, duplicates } = await checkCompletions(client, ids, STEPS, (events) => {
    expect(events.at(-1)?.type).toBe('RunCompleted');
  });

  // Each task open at the wipe: after it, its StepCompleted of the same attempt and nothing else,
  // or (started by the worker, result lost) a runtime timeout, the next attempt and its completion.
  const after = storedEvents(h.dbPath).filter((e) => e.position > wipePosition);
  const timedOut: string[] = [];
  for (const [key, { taskId, attempt }] of openAtWipe) {
    const later = after.filter((e) => e.data.taskId === taskId);
    const described = later.map((e) => `${e.type} ${e.data.taskId}/${e.data.attempt}`);
    if (later[0]?.type !== 'StepFailed') {
      expect(described, key).toEqual([`StepCompleted ${key}`]);
      continue;
    }
    const next = `${taskId}/${attempt + 1}`;
    expect(described, key).toEqual([
      `StepFailed ${key}`,
      `StepScheduled ${next}`,
      `StepCompleted ${next}`,
    ]);
    const error = (later[0].data as { error?: { code?: string; message?: string } }).error;
    expect(error?.code, key).toBe('timeout');
    expect(error?.message, key).toContain('enforced by the runtime');
    timedOut.push(key);
  }
  expect(timedOut.length).toBeLessThanOrEqual(HELD_MAX);

  // The streams and consumers in use were created again after the wipe, by the runtime and the worker.
  const subjects = new Subjects('weft');
  const jsm = await jetstreamManager(client.nc);
  for (const stream of [subjects.tasksStream, subjects.resultsStream])
    expect(Date.parse((await jsm.streams.info(stream)).created), stream).toBeGreaterThan(wipedAt);
  for (const [stream, durable] of [
    [subjects.tasksStream, subjects.activityConsumer('work')],
    [subjects.resultsStream, subjects.resultsConsumer],
  ] as const)
    expect(
      Date.parse((await jsm.consumers.info(stream, durable)).created),
      durable,
    ).toBeGreaterThan(wipedAt);

  const redispatched = new Set(
    [...runtime.output().matchAll(/re-dispatching (\S+):/g)].map((m) => m[1]),
  );
  const openRedispatched = [...openAtWipe.keys()].filter((key) => redispatched.has(key)).length;
  console.log(
    `[fault] kill-nats: ${RUNS} runs complete in ${seconds(elapsed)} s; nats-server SIGKILLed after ${seenAtKill} StepCompleted, ` +
      `store wiped, back after ${seconds(outageMs)} s; ${openAtWipe.size} tasks open at the wipe, at least ${certainlyLost} lost with it, ` +
      `${openRedispatched} of them re-dispatched, ${timedOut.length} started ones timed out by the runtime and retried; ` +
      `${stepCompleted} StepCompleted, ${duplicates} duplicates`,
  );
  expect(openRedispatched).toBeGreaterThanOrEqual(certainlyLost);
  expect(stepCompleted).toBe(RUNS * STEPS.length);
  expect(duplicates).toBe(0);
}, 240_000);
