import { mkdtempSync, openSync, readSync, closeSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchNode, stopProcess } from '../../bench/harness.ts';
import { startNatsServer, type NatsServerHandle } from '../support/natsServer.ts';
import type { WeftProcess } from '../support/weft.ts';

/**
 * The bench's baseline engine (bench/baseline/engine.ts, bench/README.md "Baseline") does what
 * its ratios assume: each event its own sqlite transaction in weft's events table, with
 * synchronous FULL (or OFF for the no-fsync baseline); steps answered by the worker process over
 * core NATS; a parked run completed by its signal, with RunCompleted published.
 */

let dir: string;
let nats: NatsServerHandle;
let worker: WeftProcess;
let nc: NatsConnection;
const engines: WeftProcess[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'weft-baseline-test-'));
  nats = await startNatsServer();
  worker = (
    await launchNode(
      ['bench/baseline/worker.ts', '--nats', nats.url],
      /baseline worker serving/,
      undefined,
    )
  ).process;
  nc = await connect({ servers: nats.url });
});

afterAll(async () => {
  await nc.close();
  for (const engine of engines) await stopProcess(engine);
  await stopProcess(worker);
  await nats.stop();
  rmSync(dir, { recursive: true, force: true });
});

const startEngine = async (sync: 'full' | 'off'): Promise<{ db: string; output: string }> => {
  const db = join(dir, `${sync}.db`);
  const { process: engine } = await launchNode(
    ['bench/baseline/engine.ts', '--nats', nats.url, '--db', db, '--sync', sync],
    /baseline engine serving.*\n/,
    undefined,
  );
  engines.push(engine);
  return { db, output: engine.output() };
};

const call = async (subject: string, body: unknown): Promise<unknown> => {
  const reply = (await nc.request(subject, JSON.stringify(body), { timeout: 10_000 })).json<{
    ok: boolean;
    data?: unknown;
  }>();
  expect(reply.ok).toBe(true);
  return reply.data;
};

const types = (db: string, runId: string): string[] => {
  const reader = new DatabaseSync(db, { readOnly: true });
  try {
    return reader
      .prepare('SELECT type FROM events WHERE stream = ? ORDER BY revision')
      .all(runId)
      .map((row) => String(row['type']));
  } finally {
    reader.close();
  }
};

/** Frames in the WAL file so far (each commit writes at least one): from its size and page size. */
const walFrames = (db: string): number => {
  const fd = openSync(`${db}-wal`, 'r');
  const header = Buffer.alloc(32);
  readSync(fd, header, 0, 32, 0);
  closeSync(fd);
  return (statSync(`${db}-wal`).size - 32) / (24 + header.readUInt32BE(8));
};

const W1 = [
  { id: 'a', activity: 'add_field' },
  { id: 'b', activity: 'add_field' },
  { id: 'c', activity: 'add_field' },
];

describe('bench baseline engine', () => {
  it('runs W1 step by step through the worker, each event its own transaction, synchronous FULL', async () => {
    const { db, output } = await startEngine('full');
    expect(output).toMatch(/journal_mode=wal, synchronous=2/);
    await call('baseline.execute', { runId: 'warm', kind: 'sequence', steps: W1, input: {} });
    const before = walFrames(db);
    const data = await call('baseline.execute', {
      runId: 'w1',
      kind: 'sequence',
      steps: W1,
      input: { i: 1 },
    });
    expect(data).toEqual({ i: 1, a: true, b: true, c: true });
    const events = types(db, 'w1');
    expect(events).toEqual([
      'RunStarted',
      ...['a', 'b', 'c'].flatMap(() => ['StepScheduled', 'StepCompleted']),
      'RunCompleted',
    ]);
    // One commit per event: at least one WAL frame each (one transaction for all would write ~2).
    expect(walFrames(db) - before).toBeGreaterThanOrEqual(events.length);
  });

  it('maps over the items with the worker and joins the outputs in order; completes a parked run on its signal', async () => {
    const { db, output } = await startEngine('off');
    expect(output).toMatch(/synchronous=0/);
    const items = Array.from({ length: 50 }, (_, i) => i);
    expect(
      await call('baseline.execute', { runId: 'map', kind: 'map', items, concurrency: 7 }),
    ).toEqual(items);
    expect(types(db, 'map')).toHaveLength(2 + 2 * items.length);

    expect(await call('baseline.start', { runId: 'parked' })).toEqual({
      runId: 'parked',
      status: 'running',
    });
    const completed = new Promise<unknown>((resolve) => {
      nc.subscribe('baseline.runs.parked.events', {
        max: 1,
        callback: (_, msg) => resolve(msg.json()),
      });
    });
    await nc.flush();
    await call('baseline.runs.parked.signal.go', { ok: true });
    expect(await completed).toEqual({ type: 'RunCompleted' });
    expect(types(db, 'parked')).toEqual(['RunStarted', 'SignalReceived', 'RunCompleted']);
  });
});
