import { jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { partitionOf } from '../../src/actors/partitions.ts';
import { startNatsCluster, type NatsClusterHandle } from '../support/natsServer.ts';
import { monotonicMs, waitFor } from '../support/wait.ts';
import { testClient, type TestClient } from '../support/weft.ts';
import {
  checkCompletions,
  countStepCompleted,
  expectScheduledOnce,
  expectStartedAndCompletedOnce,
  FAULT_WORKER,
  historyOf,
  listAll,
  pool,
  seconds,
  startHarness,
  type Harness,
  allCompleted,
} from './harness.ts';
import {
  BUCKET,
  openLeaseView,
  PARTITIONS,
  showCounts,
  startRuntimes,
  type LeaseView,
  type Runtimes,
} from './cluster.ts';

/**
 * Three runtimes (rn-a, rn-b, rn-c) on a 3-node NATS cluster, each given all three nodes' URLs,
 * on one sqlite store, with one worker. 150 five-step runs in flight; the node leading the
 * partition leases' bucket (its stream `KV_WEFT_PARTITIONS`, 3 replicas) is killed with SIGKILL,
 * runs go on with two nodes while JetStream elects another leader and the runtimes connected to the
 * dead node reconnect, then the node is restarted. Every run completes with the right output, each
 * step scheduled once and completed once.
 */

const RUNS = 150;
const STEPS = ['s1', 's2', 's3', 's4', 's5'];
const IDS = ['rn-a', 'rn-b', 'rn-c'];
const blueprint = {
  name: 'cluster_nats',
  defaults: { timeout: '5s' },
  steps: STEPS.map((id) => ({ id, type: 'activity', activity: 'work' })),
};

let cluster: NatsClusterHandle;
let h: Harness;
let runtimes: Runtimes;
let client: TestClient;
let view: LeaseView;

beforeAll(async () => {
  cluster = await startNatsCluster(3);
  h = await startHarness('cluster-nats', { cluster });
  // JetStream is usable once the cluster has elected its meta leader, as every node sees it (a
  // runtime connects to any of them, and one that finds no JetStream at start exits).
  for (const node of cluster.nodes) {
    const probe = await testClient(node.url);
    try {
      await waitFor(
        async () => {
          await (await jetstreamManager(probe.nc)).getAccountInfo();
          return true;
        },
        { timeoutMs: 30_000, intervalMs: 250, message: `JetStream ready on ${node.name}` },
      );
    } finally {
      await probe.close();
    }
  }
  client = await h.client();
  const env = { WEFT_RECONCILE_GRACE_MS: '2000' };
  // One after the other: runtimes started together on a fresh cluster may find the bucket's or a
  // stream's replicas still electing their leader (no responders), and exit.
  runtimes = await startRuntimes(h, IDS, { env, oneByOne: true });
  await h.worker(FAULT_WORKER, 64, env);
  view = await openLeaseView(client.nc);
}, 90_000);

afterAll(async () => {
  try {
    view.close();
    await h.close();
  } finally {
    await cluster.stop();
  }
});

it('completes 150 five-step runs of three runtimes across a SIGKILL of the NATS node leading the lease bucket', async () => {
  await runtimes.allUp(view);
  const jsm = await jetstreamManager(client.nc);
  const leasesStream = `KV_${BUCKET}`;
  expect((await jsm.streams.info(leasesStream)).config.num_replicas, leasesStream).toBe(3);

  const stepCompletedSeen = countStepCompleted(client);
  await client.call('weft.blueprints.put', { blueprint });
  const t0 = monotonicMs();
  const ids = Array.from({ length: RUNS }, (_, i) => `cn-${String(i)}`);
  await pool(ids, 50, (runId, i) =>
    client.call('weft.runs.start', {
      blueprint: 'cluster_nats',
      runId,
      input: { n: i, trail: [] },
    }),
  );
  await waitFor(() => stepCompletedSeen() >= 150, {
    timeoutMs: 60_000,
    message: 'progress before the kill',
  });

  const leader = (await jsm.streams.info(leasesStream)).cluster?.leader;
  const victim = cluster.nodes.find((n) => n.name === leader);
  if (victim === undefined) throw new Error(`no node leads ${leasesStream} (${String(leader)})`);
  const before = showCounts(view.counts());
  victim.kill9();
  const atKill = stepCompletedSeen();
  const killedAt = monotonicMs();
  // Two nodes of three carry on: more steps complete than the worker held at the kill.
  await waitFor(() => stepCompletedSeen() >= atKill + 200, {
    timeoutMs: 60_000,
    message: 'progress with one node down',
  });
  const resumedMs = monotonicMs() - killedAt;
  await victim.restart();

  const completed = await allCompleted(client, 'cluster_nats', RUNS, {
    timeoutMs: 60_000,
    pageTimeoutMs: 5000,
  }).catch(async (error: unknown) => {
    // What is stuck: the unfinished runs' last events, and who owns their partitions.
    const done = new Set(
      (await listAll(client, { blueprint: 'cluster_nats', status: 'completed' }, 5000)).map(
        (r) => r.runId,
      ),
    );
    const stuck = ids.filter((runId) => !done.has(runId));
    const owners = view.owners();
    for (const runId of stuck.slice(0, 5)) {
      const events = await historyOf(client, runId);
      const p = partitionOf(runId, PARTITIONS);
      console.log(
        `[stuck] ${runId} (partition ${String(p)}, owner ${String(owners.get(p))}): ${events
          .slice(-4)
          .map((e) => `${e.type} ${JSON.stringify(e.data).slice(0, 160)} @${e.at}`)
          .join(' | ')}`,
      );
    }
    throw new Error(`${String(stuck.length)} runs unfinished: ${stuck.join(', ')}`, {
      cause: error,
    });
  });
  const elapsed = monotonicMs() - t0;
  for (const run of completed) {
    const n = Number(run.runId.slice(3));
    expect(run.output, run.runId).toEqual({ n, trail: STEPS });
  }
  // An attempt whose result waited out its 5 s timeout during the failover may have been retried.
  let retries = 0;
  const { stepCompleted, duplicates } = await checkCompletions(
    client,
    ids,
    STEPS,
    (events, runId) => {
      expectStartedAndCompletedOnce(events, runId);
      retries += expectScheduledOnce(events, runId, STEPS, { retries: true });
    },
  );
  // The three runtimes are still the cluster: the partitions are spread over all of them.
  await runtimes.allUp(view);
  // While the bucket had no leader, renewals failed: leases lapsed and were taken again.
  const lapsed = IDS.map(
    (id) =>
      runtimes
        .get(id)
        .output()
        .match(/partition \d+ lost \(/g)?.length ?? 0,
  );
  console.log(
    `[fault] cluster-nats (3 runtimes on 3 NATS nodes, sqlite): ${String(RUNS)} five-step runs complete in ${seconds(elapsed)} s; ` +
      `node ${victim.name} (leader of ${leasesStream}) SIGKILLed at ${String(atKill)} StepCompleted, 200 more within ${seconds(resumedMs)} s on two nodes, then restarted; ` +
      `${String(lapsed.reduce((a, b) => a + b, 0))} leases lapsed during the election (${lapsed.join('/')}) and were taken again; ` +
      `owners ${before} → ${showCounts(view.counts())}; ${String(stepCompleted)} StepCompleted, ${String(duplicates)} duplicates, ${String(retries)} attempts retried after a recorded failure`,
  );
  expect(stepCompleted).toBe(RUNS * STEPS.length);
  expect(duplicates).toBe(0);
}, 180_000);
