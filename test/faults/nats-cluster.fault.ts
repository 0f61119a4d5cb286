import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Subjects } from '../../src/wire/subjects.ts';
import { startNatsCluster, type NatsClusterHandle } from '../support/natsServer.ts';
import { monotonicMs, waitFor } from '../support/wait.ts';
import { spawnWeft, testClient, type TestClient, type WeftProcess } from '../support/weft.ts';
import {
  checkCompletions,
  countStepCompleted,
  expectStartedAndCompletedOnce,
  FAULT_WORKER,
  pool,
  seconds,
  stopProcess,
  allCompleted,
} from './harness.ts';

/**
 * weft on a 3-node NATS cluster (issue 13, "A NATS cluster"), unchanged: the runtime, a worker and
 * a client are given all three servers; the tasks and results streams are created with 3 replicas
 * (README "Configuration"). 150 five-step runs in flight; the node leading the tasks stream is
 * killed with SIGKILL, runs go on with two nodes (JetStream elects another leader), the node is
 * restarted. Every run completes with the right output, one StepCompleted per step, no duplicate.
 */

const RUNS = 150;
const STEPS = ['s1', 's2', 's3', 's4', 's5'];
const blueprint = {
  name: 'clustered',
  defaults: { timeout: '5s' },
  steps: STEPS.map((id) => ({ id, type: 'activity', activity: 'work' })),
};

let cluster: NatsClusterHandle;
let dir: string;
const processes: WeftProcess[] = [];
let client: TestClient;

beforeAll(async () => {
  cluster = await startNatsCluster(3);
  dir = mkdtempSync(join(tmpdir(), 'weft-fault-nats-cluster-'));
  // JetStream is usable once the cluster has elected its meta leader.
  client = await testClient(cluster.urls);
  await waitFor(
    async () => {
      await (await jetstreamManager(client.nc)).getAccountInfo();
      return true;
    },
    {
      timeoutMs: 30_000,
      intervalMs: 250,
      message: 'JetStream of the cluster ready',
    },
  );
  const env = { WEFT_RECONCILE_GRACE_MS: '2000' };
  processes.push(
    await spawnWeft(
      ['serve', '--nats', cluster.urls, '--store', `sqlite:${join(dir, 'events.db')}`],
      /runtime serving/,
      env,
    ),
  );
  processes.push(
    await spawnWeft(
      ['worker', FAULT_WORKER, '--nats', cluster.urls, '--concurrency', '64'],
      /worker serving/,
      env,
    ),
  );
}, 60_000);

afterAll(async () => {
  await client.close().catch(() => undefined);
  await Promise.all(processes.map((p) => stopProcess(p).catch(() => undefined)));
  await cluster.stop();
  rmSync(dir, { recursive: true, force: true });
});

it('completes 150 five-step runs on a 3-node cluster across a SIGKILL of the tasks stream leader', async () => {
  const subjects = new Subjects('weft');
  const jsm = await jetstreamManager(client.nc);
  for (const stream of [subjects.tasksStream, subjects.resultsStream])
    expect((await jsm.streams.info(stream)).config.num_replicas, stream).toBe(3);

  const stepCompletedSeen = countStepCompleted(client);
  await client.call('weft.blueprints.put', { blueprint });
  const t0 = monotonicMs();
  const ids = Array.from({ length: RUNS }, (_, i) => `nc-${String(i)}`);
  await pool(ids, 50, (runId, i) =>
    client.call('weft.runs.start', { blueprint: 'clustered', runId, input: { n: i, trail: [] } }),
  );

  await waitFor(() => stepCompletedSeen() >= 150, {
    timeoutMs: 60_000,
    message: 'progress before the kill',
  });
  const leader = (await jsm.streams.info(subjects.tasksStream)).cluster?.leader;
  const victim = cluster.nodes.find((n) => n.name === leader);
  if (victim === undefined)
    throw new Error(`no node leads ${subjects.tasksStream} (${String(leader)})`);
  victim.kill9();
  const atKill = stepCompletedSeen();
  const killedAt = monotonicMs();

  // Two nodes of three carry on: JetStream elects a new leader and steps keep completing, more
  // than the worker held at the kill (64 running, 64 taken), so tasks went through the new leader.
  await waitFor(() => stepCompletedSeen() >= atKill + 300, {
    timeoutMs: 60_000,
    message: 'progress with one node down',
  });
  const resumedMs = monotonicMs() - killedAt;
  await victim.restart();

  const completed = await allCompleted(client, 'clustered', RUNS, { timeoutMs: 120_000 });
  const elapsed = monotonicMs() - t0;
  for (const run of completed) {
    const n = Number(run.runId.slice(3));
    expect(run.output, run.runId).toEqual({ n, trail: STEPS });
  }
  const { stepCompleted, duplicates } = await checkCompletions(
    client,
    ids,
    STEPS,
    expectStartedAndCompletedOnce,
  );
  console.log(
    `[fault] nats-cluster: ${String(RUNS)} runs complete in ${seconds(elapsed)} s; node ${victim.name} (tasks stream leader) killed at ${String(atKill)} StepCompleted, 300 more within ${seconds(resumedMs)} s on two nodes; ${String(stepCompleted)} StepCompleted, ${String(duplicates)} duplicates`,
  );
  expect(stepCompleted).toBe(RUNS * STEPS.length);
  expect(duplicates).toBe(0);
}, 240_000);
