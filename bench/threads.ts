import { readFileSync, readdirSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Cluster } from './harness.ts';
import { weftEngine } from './engines.ts';
import { putBlueprints } from './workloads.ts';

/**
 * `node bench/threads.ts [RUNS] [PROFILE_DIR]`: W1 with one run in flight (sqlite), and the
 * runtime's CPU per run split by thread (main, V8's GC workers, the sqlite writer), user and
 * system, from /proc (Linux only). With PROFILE_DIR the runtime and worker write V8 CPU profiles
 * there (summarise with `node bench/profile.ts FILE`). Answers where a lone run's CPU goes, which
 * the bench's per-run figure (all threads together) cannot.
 */

const runs = Number(process.argv[2] ?? 800);
const profileDir = process.argv[3];
if (!Number.isInteger(runs) || runs < 1)
  throw new Error(`RUNS must be a positive whole number, not ${process.argv[2]}`);

const cluster = await Cluster.start('sqlite', { runtimes: 1, profileDir, log: () => {} });
try {
  await putBlueprints(cluster);
  const engine = weftEngine(cluster);
  const pid = cluster.runtimePids[0];
  /** CPU ms (user, system) by thread name, summed over threads of one name. */
  const threads = (): Map<string, [number, number]> => {
    const out = new Map<string, [number, number]>();
    const tick = 1000 / 100; // USER_HZ is 100 on Linux
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      const name = readFileSync(`/proc/${pid}/task/${task}/comm`, 'utf8').trim();
      const fields = (
        readFileSync(`/proc/${pid}/task/${task}/stat`, 'utf8').split(') ')[1] ?? ''
      ).split(' ');
      const [user, system] = out.get(name) ?? [0, 0];
      out.set(name, [user + Number(fields[11]) * tick, system + Number(fields[12]) * tick]);
    }
    return out;
  };
  for (let i = 0; i < 50; i++) await engine.w1({ i }, 30_000);
  const start = performance.now();
  const before = threads();
  for (let i = 0; i < runs; i++) await engine.w1({ i }, 30_000);
  const after = threads();
  process.stdout.write(
    `W1, one in flight, ${runs} runs: ${((performance.now() - start) / runs).toFixed(2)} ms per run\n`,
  );
  for (const [name, [user, system]] of after) {
    const [u0, s0] = before.get(name) ?? [0, 0];
    if (user + system - u0 - s0 === 0) continue;
    process.stdout.write(
      `  ${name.padEnd(16)} user ${((user - u0) / runs).toFixed(3)} ms/run, system ${((system - s0) / runs).toFixed(3)} ms/run\n`,
    );
  }
} finally {
  await cluster.stop();
}
