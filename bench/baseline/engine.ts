import { parseArgs } from 'node:util';
import { connect, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { openDatabase } from '../../src/store/sqliteBatch.ts';

/**
 * The least-work engine of the bench's baseline (bench/README.md, "Baseline"): what any engine
 * built from weft's own pieces must at least do for a run, and nothing more.
 *
 * - Each event is one sqlite transaction of its own (an autocommitted INSERT) into weft's events
 *   table, opened as weft's sqlite store opens it (WAL, synchronous=FULL: one fsync per event);
 *   `--sync off` sets synchronous=OFF (no fsync) for the no-fsync baseline.
 * - A step is one core NATS request-reply to the worker process (`baseline.task`, queue group),
 *   recorded before (`StepScheduled`) and after (`StepCompleted`).
 * - No replay, retries, timers, JetStream, read models or schemas: a run lives in this process's
 *   memory while it runs, and a lost reply fails it.
 *
 * Subjects (JSON bodies; replies `{ ok, data | error }` as weft's API):
 * - `baseline.execute` `{ runId, kind: 'sequence', steps, input }`: the steps in order, each given
 *   the previous output (W1); `{ runId, kind: 'map', items, concurrency }`: `noop` on each item, at
 *   most `concurrency` at once, the outputs joined in order (W2). Replies when the run has ended.
 * - `baseline.start` `{ runId }`: records RunStarted and parks the run for signal `go` (W3).
 * - `baseline.runs.<id>.signal.go`: records SignalReceived and RunCompleted, publishes
 *   `{ type: 'RunCompleted' }` on `baseline.runs.<id>.events`, then replies.
 *
 * `node bench/baseline/engine.ts --nats URL --db PATH [--sync full|off]`; prints
 * `baseline engine serving` with the settings sqlite reports once it listens.
 */

const { values } = parseArgs({
  options: { nats: { type: 'string' }, db: { type: 'string' }, sync: { type: 'string', default: 'full' } },
  strict: true,
});
if (values.nats === undefined || values.db === undefined || !['full', 'off'].includes(values.sync)) {
  throw new Error('usage: node bench/baseline/engine.ts --nats URL --db PATH [--sync full|off]');
}

const db = openDatabase(values.db);
if (values.sync === 'off') db.exec('PRAGMA synchronous = OFF');
const insert = db.prepare('INSERT INTO events (stream, revision, id, type, data, at) VALUES (?, ?, ?, ?, ?, ?)');
const setting = (pragma: string): unknown => Object.values(db.prepare(`PRAGMA ${pragma}`).get() ?? {})[0];

const TASK_TIMEOUT_MS = 30_000;

/** A run's stream while it runs: each `append` is its own transaction (its own fsync with FULL). */
const stream = (runId: string) => {
  let revision = 0;
  return (type: string, data: unknown): void => {
    const r = revision++;
    insert.run(runId, r, `${runId}:${r}`, type, JSON.stringify(data), new Date().toISOString());
  };
};

const nc: NatsConnection = await connect({ servers: values.nats });

/** One step: recorded, requested from the worker by core request-reply, its result recorded. */
const step = async (append: (type: string, data: unknown) => void, stepId: string, activity: string, input: unknown): Promise<unknown> => {
  append('StepScheduled', { stepId, activity, input });
  const reply = await nc.request('baseline.task', JSON.stringify({ activity, stepId, input }), { timeout: TASK_TIMEOUT_MS });
  const { output } = reply.json<{ output: unknown }>();
  append('StepCompleted', { stepId, output });
  return output;
};

interface Execute {
  readonly runId: string;
  readonly kind: 'sequence' | 'map';
  readonly steps?: readonly { readonly id: string; readonly activity: string }[];
  readonly input?: unknown;
  readonly items?: readonly unknown[];
  readonly concurrency?: number;
}

const execute = async (request: Execute): Promise<unknown> => {
  const append = stream(request.runId);
  append('RunStarted', request);
  let output: unknown;
  if (request.kind === 'sequence') {
    output = request.input;
    for (const s of request.steps ?? []) output = await step(append, s.id, s.activity, output);
  } else {
    const items = request.items ?? [];
    const outputs: unknown[] = new Array<unknown>(items.length);
    let next = 0;
    const lane = async (): Promise<void> => {
      for (let i = next++; i < items.length; i = next++) outputs[i] = await step(append, `m:${i}`, 'noop', items[i]);
    };
    await Promise.all(Array.from({ length: Math.min(request.concurrency ?? 1, items.length) }, lane));
    output = outputs;
  }
  append('RunCompleted', { output });
  return output;
};

const respond = (msg: Msg, work: () => Promise<unknown>): void => {
  work().then(
    (data) => msg.respond(JSON.stringify({ ok: true, data })),
    (error: unknown) => msg.respond(JSON.stringify({ ok: false, error: { code: 'Failed', message: String(error) } })),
  );
};

/** Runs parked in their wait, by id, with their stream. */
const waiting = new Map<string, (type: string, data: unknown) => void>();

nc.subscribe('baseline.execute', { callback: (_, msg) => respond(msg, () => execute(msg.json<Execute>())) });
nc.subscribe('baseline.start', {
  callback: (_, msg) =>
    respond(msg, () => {
      const { runId } = msg.json<{ runId: string }>();
      const append = stream(runId);
      append('RunStarted', { runId, wait: 'go' });
      waiting.set(runId, append);
      return Promise.resolve({ runId, status: 'running' });
    }),
});
nc.subscribe('baseline.runs.*.signal.go', {
  callback: (_, msg) =>
    respond(msg, () => {
      const runId = msg.subject.split('.')[2] ?? '';
      const append = waiting.get(runId);
      if (append === undefined) return Promise.reject(new Error(`run ${runId} is not waiting`));
      waiting.delete(runId);
      append('SignalReceived', { signal: 'go', payload: msg.json<unknown>() });
      append('RunCompleted', { output: {} });
      nc.publish(`baseline.runs.${runId}.events`, JSON.stringify({ type: 'RunCompleted' }));
      return Promise.resolve({ runId, status: 'completed' });
    }),
});
await nc.flush();

process.on('SIGTERM', () => {
  void nc.drain().finally(() => {
    db.close();
    process.exit(0);
  });
});
process.stdout.write(
  `baseline engine serving (journal_mode=${String(setting('journal_mode'))}, synchronous=${String(setting('synchronous'))})\n`,
);
