import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorker, type Worker } from '../../src/actors/worker.ts';
import { partitionOf } from '../../src/actors/partitions.ts';
import { startRuntime, type Runtime } from '../../src/main.ts';
import * as activities from '../support/activities.ts';
import { startNatsServer, type NatsServerHandle } from '../support/natsServer.ts';
import { freshTestStore, testStoreKind, type TestStore } from '../support/stores.ts';
import { monotonicMs, waitFor } from '../support/wait.ts';

/**
 * Three runtimes in one process on one NATS and one store (a sqlite file, or PostgreSQL in the
 * integration-postgres project), as a cluster: the partitions are
 * split between them, any runtime answers a call for any run by asking the run's owner (the
 * forwarded calls are counted on their subject), identical starts sent to all three make one run,
 * and a runtime that drains hands its partitions over at once while its runs carry on. (Crashes
 * are the fault suite's: test/faults/cluster.fault.ts.)
 */

const PARTITIONS = 8;
/** Long enough that a handover "at once" cannot be mistaken for a lease that lapsed. */
const LEASE_MS = 4000;

let nats: NatsServerHandle;
let dir: string;
let store: TestStore;
let runtimes: Runtime[];
let worker: Worker;
let observer: NatsConnection;
let forwarded = 0;

const start = (id: string) =>
  startRuntime({
    nats: nats.url,
    store: store.url,
    prefix: 'weft',
    partitions: PARTITIONS,
    runtimeId: id,
    leaseMs: LEASE_MS,
    log: () => undefined,
  });

const ownerOf = (runId: string): Runtime => {
  const partition = partitionOf(runId, PARTITIONS);
  const owner = runtimes.find((r) => r.ownership.owns(partition));
  if (owner === undefined) throw new Error(`nobody owns partition ${String(partition)}`);
  return owner;
};
const at = (i: number): Runtime => {
  const runtime = runtimes[i];
  if (runtime === undefined) throw new Error(`no runtime ${String(i)}`);
  return runtime;
};
const notOwnerOf = (runId: string): Runtime => {
  const owner = ownerOf(runId);
  const other = runtimes.find((r) => r !== owner);
  if (other === undefined) throw new Error('one runtime only');
  return other;
};

beforeAll(async () => {
  nats = await startNatsServer();
  dir = mkdtempSync(join(tmpdir(), 'weft-cluster-'));
  store = await freshTestStore(dir);
  runtimes = [];
  for (const id of ['r0', 'r1', 'r2']) runtimes.push(await start(id));
  worker = await createWorker({ servers: nats.url, activities, log: () => undefined });
  observer = await connect({ servers: nats.url });
  observer.subscribe('weft.runtime.*.call', {
    callback: () => {
      forwarded++;
    },
  });
  await observer.flush();
  await waitFor(
    () =>
      runtimes.every((r) => r.ownership.owned().length > 0) &&
      runtimes.reduce((n, r) => n + r.ownership.owned().length, 0) === PARTITIONS,
    { timeoutMs: 15_000, message: 'the partitions spread over the three runtimes' },
  );
}, 60_000);

afterAll(async () => {
  await observer.close();
  await worker.close();
  for (const runtime of runtimes) await runtime.close();
  await nats.stop();
  await store.drop();
  rmSync(dir, { recursive: true, force: true });
});

const gated = {
  name: 'gated',
  signals: [{ name: 'note', handler: 'append' }],
  queries: [{ name: 'notes', expr: '{% $data.note %}' }],
  steps: [
    { id: 'gate', type: 'wait', signal: 'go' },
    { id: 'after', type: 'activity', activity: 'echo', input: '{% $data.note %}' },
  ],
  output: '{% $steps.after.got %}',
};

describe(`a cluster of three runtimes on one ${testStoreKind()} store`, { timeout: 60_000 }, () => {
  it('splits the partitions disjointly, each runtime a fair share', () => {
    const owned = runtimes.map((r) => r.ownership.owned());
    expect(owned.flat().sort((a, b) => a - b)).toEqual([...Array(PARTITIONS).keys()]);
    for (const mine of owned) expect(mine.length).toBeLessThanOrEqual(Math.ceil(PARTITIONS / 3));
  });

  it('answers every call for a run at any runtime, from the run owner’s live state', async () => {
    const ids = Array.from({ length: 12 }, (_, i) => `gated-${String(i)}`);
    const before = forwarded;
    // Started, signalled and queried through runtimes that do not own the run.
    for (const runId of ids) await notOwnerOf(runId).runs.start({ blueprint: gated, runId });
    for (const runId of ids) {
      const via = notOwnerOf(runId);
      await via.runs.signal(runId, 'note', `hello ${runId}`);
      // Read at once, from another runtime again: the owner's state, never a stale cache.
      expect(await via.runs.query(runId, 'notes', null)).toEqual([`hello ${runId}`]);
      await via.runs.signal(runId, 'go', null);
    }
    for (const runId of ids) {
      const ended = await notOwnerOf(runId).runs.waitForEnd(runId, 20_000);
      expect(ended, runId).toMatchObject({ status: 'completed', output: [`hello ${runId}`] });
    }
    // Start, 2 signals, a query and the wait at least: every one crossed to the owner.
    expect(forwarded - before).toBeGreaterThanOrEqual(ids.length * 5);
    // The run lives in its owner's memory only.
    for (const runId of ids)
      expect((await ownerOf(runId).runs.get(runId)).status).toBe('completed');

    // Asked of the owner itself, nothing crosses.
    const direct = forwarded;
    for (const runId of ids) await ownerOf(runId).runs.get(runId);
    await observer.flush();
    expect(forwarded).toBe(direct);
  });

  it('makes one run of identical starts sent to all three runtimes at once', async () => {
    const starts = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        at(i % 3).runs.start({ blueprint: gated, runId: 'same-id' }),
      ),
    );
    expect(starts.filter((s) => !s.existing)).toHaveLength(1);
    expect(starts.filter((s) => s.existing)).toHaveLength(29);
    await ownerOf('same-id').runs.cancel('same-id', 'done with it');
  });

  it('hands a draining runtime’s partitions over at once, and its runs carry on', async () => {
    const napping = {
      name: 'napping',
      steps: [
        { id: 'nap', type: 'sleep', duration: '1s' },
        { id: 'after', type: 'activity', activity: 'echo' },
      ],
    };
    const leaving = at(0);
    const ids = Array.from({ length: 24 }, (_, i) => `nap-${String(i)}`);
    for (const runId of ids) await leaving.runs.start({ blueprint: napping, runId });
    const handedOver = leaving.ownership.owned();
    expect(ids.some((id) => handedOver.includes(partitionOf(id, PARTITIONS)))).toBe(true);

    const drainedAt = monotonicMs();
    await leaving.close();
    runtimes = runtimes.slice(1);
    await waitFor(
      () => runtimes.reduce((n, r) => n + r.ownership.owned().length, 0) === PARTITIONS,
      { timeoutMs: 10_000, message: 'the others own every partition' },
    );
    // Taken at once, not after the lease lapsed.
    expect(monotonicMs() - drainedAt).toBeLessThan(LEASE_MS);

    for (const runId of ids) {
      const ended = await ownerOf(runId).runs.waitForEnd(runId, 20_000);
      expect(ended, runId).toMatchObject({ status: 'completed' });
      const history = await ownerOf(runId).runs.history(runId, 0, 100);
      expect(
        history.filter((e) => e.type === 'TimerFired'),
        runId,
      ).toHaveLength(1);
      expect(
        history.filter((e) => e.type === 'StepCompleted'),
        runId,
      ).toHaveLength(1);
    }
  });
});
