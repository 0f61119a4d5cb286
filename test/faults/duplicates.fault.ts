import {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type ConsumerMessages,
  type JetStreamClient,
  type JsMsg,
} from '@nats-io/jetstream';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { monotonicMs, waitFor } from '../support/wait.ts';
import type { TestClient } from '../support/weft.ts';
import {
  historyOf,
  pool,
  rng,
  seconds,
  startHarness,
  type Harness,
  type HistoryEvent,
  type Summary,
  waitForValue,
} from './harness.ts';

/**
 * At-least-once everywhere. A worker written here against the README's wire protocol alone (raw
 * NATS + JetStream: streams, durable pull consumers `activity_<name>`, the task JSON, results with
 * `Nats-Msg-Id: <taskId>/<attempt>/result`, ack after the result is stored) publishes every result
 * THREE times under distinct message ids (so JetStream does not de-duplicate them), in shuffled
 * order across tasks and spread over later flushes; the test sends every signal three times with
 * the same `Nats-Msg-Id`. Each such run's history (event types, step ids, outputs, …; not times)
 * must be identical to that of a clean run of the same blueprint and input.
 */

const PAIRS = 20;
const ACK_WAIT_NS = 30_000 * 1_000_000;

const blueprint = {
  name: 'dup_flow',
  defaults: { backoff: { initial: '10ms', factor: 2, max: '50ms' } },
  signals: [
    { name: 'note', handler: 'append' },
    { name: 'config', handler: 'store' },
  ],
  steps: [
    { id: 'first', type: 'activity', activity: 'raw_double', input: "{% {'x': $input.x} %}" },
    { id: 'shaky', type: 'activity', activity: 'raw_shaky', maxAttempts: 3 },
    { id: 'refused', type: 'activity', activity: 'raw_declined', onError: 'continue' },
    { id: 'gate', type: 'wait', signal: 'approve' },
    {
      id: 'fan',
      type: 'map',
      concurrency: 1,
      over: '{% [1, 2, 3] %}',
      step: { type: 'activity', activity: 'raw_double', input: "{% {'x': $item * $input.x} %}" },
    },
    { id: 'gate2', type: 'wait', signal: 'finish' },
    {
      id: 'last',
      type: 'activity',
      activity: 'raw_double',
      input:
        "{% {'x': $sum($steps.fan.x), 'first': $steps.first.x, 'shaky': $steps.shaky, 'refused': $steps.refused, 'notes': $data.note, 'config': $data.config, 'approve': $steps.gate, 'finish': $steps.gate2} %}",
    },
  ],
};

interface Task {
  readonly taskId: string;
  readonly runId: string;
  readonly stepId: string;
  readonly item?: number;
  readonly attempt: number;
  readonly activity: string;
  readonly input: unknown;
  readonly timeoutMs: number;
}

type Outcome =
  | { ok: true; output: unknown }
  | { ok: false; error: { message: string; code: string; retryable: boolean } };

const obj = (v: unknown): Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};

const ACTIVITIES: Record<string, (task: Task) => Outcome> = {
  raw_double: (task) => ({
    ok: true,
    output: { ...obj(task.input), x: Number(obj(task.input)['x']) * 2 },
  }),
  raw_shaky: (task) =>
    task.attempt < 3
      ? {
          ok: false,
          error: {
            message: `shaky attempt ${task.attempt}`,
            code: 'activity_error',
            retryable: true,
          },
        }
      : { ok: true, output: { attempts: task.attempt } },
  raw_declined: () => ({
    ok: false,
    error: { message: 'declined for good', code: 'terminal', retryable: false },
  }),
};

interface Copy {
  readonly subject: string;
  readonly payload: string;
  readonly msgId: string;
  readonly task: JsMsg;
  readonly flush: number;
}

/**
 * The raw worker. Results of runs whose id starts with `noisy-` are published three times, each
 * copy held back 0–3 flushes (every 25 ms) and published in shuffled order with the other pending
 * copies; `clean-` runs get one result, published at once. A task is acknowledged once one copy of
 * its result is stored.
 */
const startRawWorker = async (url: string) => {
  const nc: NatsConnection = await connect({ servers: url, name: 'raw-fault-worker' });
  const jsm = await jetstreamManager(nc);
  const js: JetStreamClient = jetstream(nc);
  for (const [name, subject] of [
    ['WEFT_TASKS', 'weft.tasks.exec.>'],
    ['WEFT_RESULTS', 'weft.tasks.result.>'],
  ] as const) {
    await jsm.streams.info(name).catch(() =>
      jsm.streams.add({
        name,
        subjects: [subject],
        retention: RetentionPolicy.Workqueue,
        storage: StorageType.File,
      }),
    );
  }
  const random = rng(42);
  let flushNo = 0;
  let pending: Copy[] = [];
  let published = 0;
  const acked = new Set<JsMsg>();
  const publish = async (copy: Copy) => {
    await js.publish(copy.subject, copy.payload, { msgID: copy.msgId });
    published++;
    if (!acked.has(copy.task)) {
      acked.add(copy.task);
      copy.task.ack();
    }
  };
  let flushing = Promise.resolve();
  const flusher = setInterval(() => {
    flushing = flushing.then(async () => {
      flushNo++;
      const due = pending.filter((c) => c.flush <= flushNo);
      pending = pending.filter((c) => c.flush > flushNo);
      for (let i = due.length - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [due[i], due[j]] = [due[j] as Copy, due[i] as Copy];
      }
      for (const copy of due) await publish(copy);
    });
  }, 25);

  const loops: ConsumerMessages[] = [];
  for (const activity of Object.keys(ACTIVITIES)) {
    const durable = `activity_${activity}`;
    await jsm.consumers.add('WEFT_TASKS', {
      durable_name: durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: `weft.tasks.exec.${activity}.>`,
      ack_wait: ACK_WAIT_NS,
    });
    const messages = await (await js.consumers.get('WEFT_TASKS', durable)).consume();
    loops.push(messages);
    void (async () => {
      for await (const msg of messages) {
        const task = msg.json<Task>();
        const run = ACTIVITIES[task.activity];
        const outcome: Outcome =
          run === undefined
            ? { ok: false, error: { message: 'unknown', code: 'terminal', retryable: false } }
            : run(task);
        const payload = JSON.stringify({
          taskId: task.taskId,
          runId: task.runId,
          stepId: task.stepId,
          attempt: task.attempt,
          ...outcome,
        });
        const subject = `weft.tasks.result.${task.runId}`;
        const msgId = `${task.taskId}/${task.attempt}/result`;
        if (task.runId.startsWith('noisy-')) {
          for (let k = 0; k < 3; k++) {
            pending.push({
              subject,
              payload,
              msgId: k === 0 ? msgId : `${msgId}/copy${k}`,
              task: msg,
              flush: flushNo + 1 + Math.floor(random() * 4),
            });
          }
        } else {
          flushing = flushing.then(() => publish({ subject, payload, msgId, task: msg, flush: 0 }));
        }
      }
    })();
  }
  return {
    published: () => published,
    pending: () => pending.length,
    async close() {
      clearInterval(flusher);
      for (const m of loops) m.stop();
      await flushing.catch(() => undefined);
      await nc.drain().catch(() => undefined);
    },
  };
};

let h: Harness;
let client: TestClient;
let worker: Awaited<ReturnType<typeof startRawWorker>> | undefined;

beforeAll(async () => {
  h = await startHarness('duplicates');
  await h.serve();
  worker = await startRawWorker(h.nats.url);
  client = await h.client();
});

afterAll(async () => {
  await worker?.close();
  await h.close();
});

/**
 * The history with times (the store's `at`, and the decision `time` a fact records) and
 * run-specific ids removed: what must be identical between two runs.
 */
const normalized = (runId: string, events: readonly HistoryEvent[]): string[] =>
  events.map((e) => {
    const data = 'time' in e.data ? { ...e.data, time: '<time>' } : e.data;
    return `${e.revision} ${e.type} ${JSON.stringify(data).replaceAll(runId, '<run>')}`;
  });

const waitingAt = async (runId: string, stepId: string): Promise<void> => {
  await waitFor(
    async () =>
      (await historyOf(client, runId)).some(
        (e) => e.type === 'StepEntered' && e.data['stepId'] === stepId,
      ),
    { timeoutMs: 30_000, intervalMs: 50, message: `${runId} waiting at ${stepId}` },
  );
};

/** Sends a signal `copies` times at once, each with the same Nats-Msg-Id; the first must be accepted. */
const signal = async (
  runId: string,
  name: string,
  payload: unknown,
  key: string,
  copies: number,
): Promise<number> => {
  const h = headers();
  h.set('Nats-Msg-Id', `${runId}/${key}`);
  const replies = await Promise.all(
    Array.from({ length: copies }, async () => {
      const msg = await client.nc.request(
        `weft.runs.${runId}.signal.${name}`,
        JSON.stringify(payload),
        { timeout: 10_000, headers: h },
      );
      return msg.json<{ ok: boolean; data?: unknown; error?: { code: string } }>();
    }),
  );
  for (const reply of replies) {
    // A copy that arrives after the run ended may be told so; it must never be recorded.
    if (!reply.ok) expect(reply.error?.code).toBe('run_not_running');
  }
  expect(replies.filter((r) => r.ok).length, `${name} accepted`).toBeGreaterThanOrEqual(1);
  return copies;
};

/** One run driven to its end: start, signal at each wait step, wait for completion. */
const drive = async (runId: string, x: number, copies: number): Promise<Summary> => {
  await client.call('weft.runs.start', { blueprint: 'dup_flow', runId, input: { x } });
  await waitingAt(runId, 'gate');
  await signal(runId, 'note', { text: `hello ${x}` }, 'note-1', copies);
  await signal(runId, 'config', { level: x }, 'config-1', copies);
  await signal(runId, 'note', { text: `again ${x}` }, 'note-2', copies);
  await signal(runId, 'approve', { by: 'ann' }, 'approve', copies);
  await waitingAt(runId, 'gate2');
  await signal(runId, 'note', { text: `late ${x}` }, 'note-3', copies);
  await signal(runId, 'finish', { done: x }, 'finish', copies);
  return waitForValue(
    async () => {
      const s = await client.call<Summary>(`weft.runs.${runId}.get`, {});
      return s.status === 'running' ? undefined : s;
    },
    { timeoutMs: 60_000, intervalMs: 50, message: `${runId} ended` },
  );
};

it('records a run identically when every result arrives three times, shuffled, and every signal three times', async () => {
  await client.call('weft.blueprints.put', { blueprint });
  const inputs = Array.from({ length: PAIRS }, (_, i) => i + 1);

  const clean = await pool(inputs, 4, (x) => drive(`clean-${x}`, x, 1));
  const t0 = monotonicMs();
  const publishedBefore = worker?.published() ?? 0;
  const noisy = await pool(inputs, PAIRS, (x) => drive(`noisy-${x}`, x, 3));
  const elapsed = monotonicMs() - t0;
  // The runs ended on the first copy of their last result; let the held-back copies go out too.
  await waitFor(() => worker?.pending() === 0, {
    timeoutMs: 10_000,
    message: 'every copy published',
  });
  await waitFor(
    async () =>
      (await jetstreamManager(client.nc)).streams
        .info('WEFT_RESULTS')
        .then((i) => i.state.messages === 0),
    {
      timeoutMs: 30_000,
      message: 'the runtime consumed every result copy',
    },
  );
  const resultsPublished = (worker?.published() ?? 0) - publishedBefore;

  let compared = 0;
  // Every stale copy was consumed (above) before the histories are read, so a late one would show.
  for (const [i, x] of inputs.entries()) {
    expect(clean[i]?.status, `clean-${x}`).toBe('completed');
    expect(noisy[i]?.status, `noisy-${x}`).toBe('completed');
    expect(noisy[i]?.output).toEqual(clean[i]?.output);
    const cleanHistory = normalized(`clean-${x}`, await historyOf(client, `clean-${x}`));
    const noisyHistory = normalized(`noisy-${x}`, await historyOf(client, `noisy-${x}`));
    expect(noisyHistory, `history of noisy-${x}`).toEqual(cleanHistory);
    compared += noisyHistory.length;
  }
  // The output proves the flow: fan = 2x, 4x, 6x; notes appended once each; shaky took 3 attempts.
  expect(clean[0]?.output).toEqual({
    x: 24,
    first: 2,
    shaky: { attempts: 3 },
    refused: { error: { message: 'declined for good', code: 'terminal', retryable: false } },
    notes: [{ text: 'hello 1' }, { text: 'again 1' }, { text: 'late 1' }],
    config: { level: 1 },
    approve: { by: 'ann' },
    finish: { done: 1 },
  });

  console.log(
    `[fault] duplicates: ${PAIRS} runs with every result x3 (${resultsPublished} results published, shuffled) and every signal x3 ` +
      `in ${seconds(elapsed)} s; ${compared} events identical to ${PAIRS} clean runs`,
  );
  // 9 tasks per run (first, shaky x3, refused, fan x3, last), each result three times.
  expect(resultsPublished).toBe(PAIRS * 9 * 3);
}, 180_000);
