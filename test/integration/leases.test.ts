import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PartitionLeases, type LeaseOptions } from '../../src/actors/leases.ts';
import { fairShare, partitionOf } from '../../src/actors/partitions.ts';
import { startNatsServer, type NatsServerHandle } from '../support/natsServer.ts';
import { monotonicMs, waitFor } from '../support/wait.ts';

/**
 * Partition leases in a real JetStream key-value bucket (building block of the cluster, issue 13):
 * runtimes split the partitions fairly, a crashed runtime's partitions are taken over once its
 * leases lapse, a handover is taken at once, a lease someone else overwrote is given up, and at no
 * moment do two runtimes both count a partition as theirs.
 */

const PARTITIONS = 8;
const LEASE_MS = 2000;

let nats: NatsServerHandle;
let nc: NatsConnection;
beforeAll(async () => {
  nats = await startNatsServer();
  nc = await connect({ servers: nats.url });
}, 30_000);
afterAll(async () => {
  await nc.close();
  await nats.stop();
});

let buckets = 0;

/** A runtime's lease keeper with every acquisition and loss recorded on the monotonic clock. */
const keeper = async (bucket: string, owner: string, extra: Partial<LeaseOptions> = {}) => {
  const acquired: { partition: number; at: number }[] = [];
  const lost: { partition: number; reason: string }[] = [];
  const released: number[] = [];
  const logs: string[] = [];
  const leases = await PartitionLeases.start(nc, {
    bucket,
    owner,
    partitions: PARTITIONS,
    leaseMs: LEASE_MS,
    acquired: (partition) => acquired.push({ partition, at: monotonicMs() }),
    lost: (partition, reason) => lost.push({ partition, reason }),
    release: (partition) => {
      released.push(partition);
      return Promise.resolve();
    },
    log: (message) => logs.push(message),
    ...extra,
  });
  return { leases, acquired, lost, released, logs };
};

const freshBucket = () => `LEASES_${String(++buckets)}`;

describe('partitions', () => {
  it('hash a run id to the same partition every time, spread over all of them', () => {
    expect(partitionOf('order-1', 64)).toBe(partitionOf('order-1', 64));
    const seen = new Set(
      Array.from({ length: 2000 }, (_, i) => partitionOf(`run-${String(i)}`, 64)),
    );
    expect(seen.size).toBe(64);
    expect(fairShare(64, 3)).toBe(22);
    expect(fairShare(64, 0)).toBe(64);
  });
});

describe('partition leases', { timeout: 30_000 }, () => {
  it('one runtime takes every partition; a second joins and they split them fairly and disjointly', async () => {
    const bucket = freshBucket();
    const a = await keeper(bucket, 'a');
    expect(a.leases.owned()).toHaveLength(PARTITIONS);
    const b = await keeper(bucket, 'b');
    try {
      await waitFor(
        () =>
          a.leases.owned().length === PARTITIONS / 2 && b.leases.owned().length === PARTITIONS / 2,
        { timeoutMs: 10_000, message: 'an even split' },
      );
      const all = [...a.leases.owned(), ...b.leases.owned()].sort((x, y) => x - y);
      expect(all).toEqual([...Array(PARTITIONS).keys()]);
      // What A handed over it drained first.
      expect(a.released.sort()).toEqual(b.leases.owned().slice().sort());
      expect(a.lost).toEqual([]);
      // Each knows who holds every partition (what requests are forwarded by).
      await waitFor(
        () =>
          [...Array(PARTITIONS).keys()].every(
            (p) => a.leases.ownerOf(p) === b.leases.ownerOf(p) && a.leases.ownerOf(p) !== undefined,
          ),
        { message: 'both name the same owner for every partition' },
      );
      for (const p of b.leases.owned()) expect(a.leases.ownerOf(p)).toBe('b');
    } finally {
      a.leases.close();
      b.leases.close();
    }
  });

  it("takes a crashed runtime's partitions over only after its leases lapsed, and a handed-over one at once", async () => {
    const bucket = freshBucket();
    const a = await keeper(bucket, 'a');
    const b = await keeper(bucket, 'b');
    try {
      await waitFor(() => b.leases.owned().length === PARTITIONS / 2, {
        message: 'B has its share',
      });
      const fromA = a.leases.owned();
      // A crash: A stops renewing and says nothing. Its last valid moment is at most a lease away.
      const crashedAt = monotonicMs();
      a.leases.close();
      await waitFor(() => b.leases.owned().length === PARTITIONS, {
        timeoutMs: 10_000,
        message: 'B owns everything',
      });
      for (const partition of fromA) {
        const taken = b.acquired.find((x) => x.partition === partition);
        expect(taken, `partition ${String(partition)}`).toBeDefined();
        // Not before the server expired A's last renewal (sent at most a third of a lease before the crash).
        expect((taken?.at ?? 0) - crashedAt).toBeGreaterThan(LEASE_MS - LEASE_MS / 3 - 50);
      }

      // A graceful handover: C joins, takes its share; then C hands over and B takes it back at once.
      const c = await keeper(bucket, 'c');
      await waitFor(() => c.leases.owned().length === PARTITIONS / 2, {
        message: 'C has its share',
      });
      const handedAt = monotonicMs();
      await c.leases.handOver();
      await waitFor(() => b.leases.owned().length === PARTITIONS, {
        message: 'B owns everything again',
      });
      expect(monotonicMs() - handedAt).toBeLessThan(LEASE_MS);
      // Every lease was given back (none left to lapse), renewals going on meanwhile.
      expect(c.logs.filter((m) => /handover failed/.test(m))).toEqual([]);
    } finally {
      a.leases.close();
      b.leases.close();
    }
  });

  it('takes its own leases back at once when it restarts under the same id', async () => {
    const bucket = freshBucket();
    const before = await keeper(bucket, 'same');
    expect(before.leases.owned()).toHaveLength(PARTITIONS);
    before.leases.close(); // a crash: nothing handed over
    const restartedAt = monotonicMs();
    const after = await keeper(bucket, 'same');
    try {
      // The first round took everything back, long before the old leases could lapse.
      expect(after.leases.owned()).toHaveLength(PARTITIONS);
      expect(monotonicMs() - restartedAt).toBeLessThan(LEASE_MS / 2);
      // A runtime with another id still waits for them.
      const other = await keeper(bucket, 'other');
      expect(other.leases.owned()).toEqual([]);
      other.leases.close();
    } finally {
      after.leases.close();
    }
  });

  it('gives a lease up when someone else wrote it', async () => {
    const bucket = freshBucket();
    const a = await keeper(bucket, 'a');
    try {
      const kv = await new Kvm(nc).open(bucket);
      await kv.put('partition.3', JSON.stringify({ owner: 'intruder' }));
      await waitFor(() => !a.leases.owned().includes(3), { message: 'A lets partition 3 go' });
      expect(a.lost.map((l) => l.partition)).toEqual([3]);
      expect(a.lost[0]?.reason).toMatch(/renewal failed/);
    } finally {
      a.leases.close();
    }
  });

  it('never lets two runtimes count one partition as theirs at the same moment, through joins, crashes and handovers', async () => {
    const bucket = freshBucket();
    const live = [await keeper(bucket, 'k0'), await keeper(bucket, 'k1')];
    // Also the ones that left: a crashed (cut-off) runtime still counts its leases until they lapse.
    const ever = [...live];
    let overlaps = 0;
    let samples = 0;
    const sampler = setInterval(() => {
      samples++;
      for (let p = 0; p < PARTITIONS; p++)
        if (ever.filter((k) => k.leases.owns(p)).length > 1) overlaps++;
    }, 5);
    try {
      for (let step = 2; step < 6; step++) {
        const joining = await keeper(bucket, `k${String(step)}`);
        live.push(joining);
        ever.push(joining);
        await waitFor(() => live.every((k) => k.leases.owned().length > 0), {
          message: 'every runtime has some',
        });
        const leaving = live.shift();
        if (step % 2 === 0) leaving?.leases.close();
        else await leaving?.leases.handOver();
      }
      await waitFor(() => live.reduce((n, k) => n + k.leases.owned().length, 0) === PARTITIONS, {
        timeoutMs: 10_000,
        message: 'all partitions owned again',
      });
    } finally {
      clearInterval(sampler);
      for (const k of ever) k.leases.close();
    }
    expect(samples).toBeGreaterThan(100);
    expect(overlaps).toBe(0);
  });
});
