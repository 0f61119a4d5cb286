import { sleep } from '../test/support/wait.ts';
import { BLUEPRINTS, cutNote, notes, pool, putBlueprints, runtimeCpu, summed, type Context } from './workloads.ts';

/**
 * Idle runs: N runs parked in `wait` on fresh runtimes and a fresh store; the runtimes' resident
 * memory, summed over all of them (the 300 MB target is for one runtime, so with several it is
 * left off the sum and the largest runtime is reported too).
 */
export const idle = async ({ cluster, sizes, log, emit }: Context): Promise<void> => {
  log('Idle: fresh runtimes and store');
  await cluster.restartRuntimes(true);
  log(`Idle: runtime pid ${cluster.runtimePids.join(', ')}`);
  await putBlueprints(cluster);
  await sleep(1000);
  const sum = (kib: readonly number[]): number => kib.reduce((a, b) => a + b, 0);
  const several = cluster.runtimes.length > 1;
  const before = sum(await cluster.runtimeRssKiB());
  emit({ workload: 'Idle', metric: 'rss_before', value: before / 1024, unit: 'MB', ...notes(summed(cluster)) });
  const stamp = Date.now().toString(36);
  log(`Idle: starting ${sizes.idleRuns} runs, ${sizes.idleInFlight} in flight`);
  const budget = 120_000;
  const cpu = runtimeCpu(cluster, emit);
  const loop = await pool(sizes.idleRuns, sizes.idleInFlight, budget, async (i) => {
    await cluster.client.call('weft.runs.start', { blueprint: BLUEPRINTS.wait.name, runId: `idle-${stamp}-${i}`, input: { i } }, 30_000);
  });
  const note = cutNote(loop, sizes.idleRuns, budget);
  cpu('Idle', 'runtime_cpu_per_start', loop.done, note.note);
  for (const i of [0, loop.done - 1]) {
    const summary = await cluster.client.call<{ status: string }>(`weft.runs.idle-${stamp}-${i}.get`);
    if (summary.status !== 'running') throw new Error(`idle run ${i} is ${summary.status}, not running`);
  }
  await sleep(1000);
  const each = await cluster.runtimeRssKiB();
  const after = sum(each);
  emit({
    workload: 'Idle',
    metric: 'rss_runs_waiting',
    value: after / 1024,
    unit: 'MB',
    ...(several ? {} : { target: { value: 300, cmp: '<=' } as const }),
    n: loop.done,
    ...notes(note.note, summed(cluster), several ? 'the 300 MB target is for one runtime' : undefined),
  });
  if (several) {
    emit({ workload: 'Idle', metric: 'rss_runs_waiting_max_runtime', value: Math.max(...each) / 1024, unit: 'MB', n: loop.done, ...note });
  }
  emit({ workload: 'Idle', metric: 'rss_per_run', value: (after - before) / Math.max(1, loop.done), unit: 'KB', n: loop.done, ...notes(note.note, summed(cluster)) });
  emit({ workload: 'Idle', metric: 'start_rate', value: (loop.done / loop.ms) * 1000, unit: 'runs/s', n: loop.done, ...note });
};
