import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import {
  Cluster,
  STORE_KINDS,
  natsVersion,
  postgresVersion,
  runtimeId,
  type StoreKind,
} from './harness.ts';
import { boot } from './boot.ts';
import { runBaseline } from './baseline/bench.ts';
import { Baselines, planFor } from './baseline/pairing.ts';
import { weftEngine } from './engines.ts';
import { w1, w2, w3 } from './engineWorkloads.ts';
import { acrossRounds, jsonLine, table, type Environment, type Figure } from './report.ts';
import { idle } from './idle.ts';
import { FULL, QUICK, putBlueprints, replayWorkload, type Context } from './workloads.ts';

/**
 * `npm run bench [-- --store memory|postgres] [--runtimes N] [--quick] [--only w1,w2,w3,replay,idle,boot] [--[no-]baseline] [--rounds N] [--profile DIR]`
 *
 * First, unless `--no-baseline` (and with `--only`, only if `--baseline`), the baseline's
 * least-work engine (bench/baseline/) runs the selected ones of W1–W3, so that each weft figure
 * with a counterpart is printed with its ratio to it.
 *
 * Starts nats-server (and with `--store postgres` a private PostgreSQL), the runtime (`weft serve`,
 * durable sqlite store by default; `--runtimes N` starts N of them on the same NATS and the same
 * store) and a worker as separate processes, runs the workloads after a warm-up each, and prints one JSON line per
 * figure on stdout as it is measured, then a table. Progress goes to stderr. Every process and
 * temp dir is removed at the end, also on an error or Ctrl-C. `--profile DIR` starts the runtime
 * and the worker with V8's CPU profiler; summarise a profile with `node bench/profile.ts FILE`.
 *
 * `--rounds N` does all of that N times in a row (the baseline, then weft on fresh processes and a
 * fresh store), each JSON line tagged with its `round`, and then prints one table of the medians
 * over the rounds, each ratio the median of the rounds' own ratios: on these shared machines one
 * pass of each cannot show a 10 % change (bench/README.md, "Rounds").
 */

const withWeft =
  (workload: typeof w1) =>
  (ctx: Context): Promise<void> =>
    workload({ ...ctx, engine: weftEngine(ctx.cluster) });

const WORKLOADS = {
  w1: withWeft(w1),
  w2: withWeft(w2),
  w3: withWeft(w3),
  replay: replayWorkload,
  idle,
  boot,
} as const satisfies Record<string, (ctx: Context) => Promise<void>>;
type WorkloadName = keyof typeof WORKLOADS;
const NAMES = Object.keys(WORKLOADS) as WorkloadName[];

const MAX_RUNTIMES = 16;

const usage = `usage: npm run bench -- [--store ${STORE_KINDS.join('|')}] [--runtimes N] [--quick] [--only ${NAMES.join(',')}] [--[no-]baseline] [--rounds N] [--profile DIR]`;

const MAX_ROUNDS = 15;

interface Options {
  readonly store: StoreKind;
  /** How many runtimes share the NATS and the store (`--runtimes`, default 1). */
  readonly runtimes: number;
  readonly quick: boolean;
  readonly only: readonly WorkloadName[];
  /** Run the baseline first (default: yes without `--only`, no with it). */
  readonly baseline: boolean;
  /** How many times the whole bench runs, baseline and weft in turn (`--rounds`, default 1). */
  readonly rounds: number;
  /** Where the runtime and the worker write V8 CPU profiles (`--cpu-prof-dir`), if given. */
  readonly profile: string | undefined;
}

const parse = (): Options => {
  const { values } = parseArgs({
    options: {
      store: { type: 'string', default: 'sqlite' },
      runtimes: { type: 'string', default: '1' },
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      baseline: { type: 'boolean' },
      rounds: { type: 'string', default: '1' },
      profile: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
    allowNegative: true,
  });
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  const store = STORE_KINDS.find((kind) => kind === values.store.replace(/:$/, ''));
  if (store === undefined)
    throw new Error(`--store must be one of ${STORE_KINDS.join(', ')}, not ${values.store}`);
  const runtimes = Number(values.runtimes);
  if (!/^\d+$/.test(values.runtimes) || runtimes < 1 || runtimes > MAX_RUNTIMES) {
    throw new Error(
      `--runtimes must be a whole number from 1 to ${MAX_RUNTIMES}, not ${values.runtimes}`,
    );
  }
  if (runtimes > 1 && store === 'memory') {
    throw new Error(
      `--runtimes ${runtimes} needs a store the runtimes can share (sqlite or postgres): a memory store lives inside one runtime`,
    );
  }
  const rounds = Number(values.rounds);
  if (!/^\d+$/.test(values.rounds) || rounds < 1 || rounds > MAX_ROUNDS) {
    throw new Error(
      `--rounds must be a whole number from 1 to ${MAX_ROUNDS}, not ${values.rounds}`,
    );
  }
  const only = (values.only ?? NAMES.join(','))
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== '');
  for (const name of only) {
    if (!(NAMES as string[]).includes(name))
      throw new Error(`--only: unknown workload ${name} (known: ${NAMES.join(', ')})`);
  }
  return {
    store,
    runtimes,
    quick: values.quick,
    only: NAMES.filter((n) => only.includes(n)),
    baseline: values.baseline ?? values.only === undefined,
    rounds,
    profile: values.profile === undefined ? undefined : resolve(values.profile),
  };
};

const log = (message: string): void => {
  process.stderr.write(`bench: ${message}\n`);
};

/** One pass of the bench: the baseline (unless left out), then weft. Resolves its figures and how many workloads failed. */
const oneRound = async (
  options: Options,
  env: Environment,
  emitLine: (figure: Figure) => void,
): Promise<{ figures: Figure[]; failures: number }> => {
  const sizes = options.quick ? QUICK : FULL;
  const figures: Figure[] = [];
  const baselines = new Baselines(options.store);
  const emit = (figure: Figure): void => {
    const paired = baselines.pair(figure);
    figures.push(paired);
    emitLine(paired);
  };
  let failures = 0;
  const plans = options.baseline
    ? planFor(
        {
          w1: options.only.includes('w1'),
          w2: options.only.includes('w2'),
          w3: options.only.includes('w3'),
        },
        options.store,
      )
    : [];
  if (plans.length > 0) {
    const start = performance.now();
    const ok = await runBaseline(plans, sizes, log, (variant, figure) => {
      baselines.add(variant, figure);
      const { target: _target, ...rest } = figure;
      emit({
        ...rest,
        workload: `${figure.workload} baseline`,
        metric: `${variant}.${figure.metric}`,
      });
    });
    if (!ok) failures++;
    log(`baseline took ${((performance.now() - start) / 1000).toFixed(1)} s`);
  }
  const cluster = await Cluster.start(options.store, {
    runtimes: options.runtimes,
    profileDir: options.profile,
    log,
  });
  if (cluster.postgres !== undefined)
    log(`postgres pid ${cluster.postgres.pid ?? 'external'} on port ${cluster.postgres.port}`);
  const pids = cluster.runtimePids.map((pid, i) => `${runtimeId(i)} ${pid}`).join(', ');
  log(
    `nats-server pid ${cluster.nats.pid}, runtime pid ${pids}, worker pid ${cluster.worker.child.pid ?? -1}`,
  );

  let interrupted = false;
  // A function, so that the checks below are not narrowed away: the handler sets it meanwhile.
  const stopping = (): boolean => interrupted;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupted) return;
    interrupted = true;
    log(`${signal}: stopping`);
    void cluster.stop().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    await putBlueprints(cluster);
    for (const name of options.only) {
      if (stopping()) break;
      const start = performance.now();
      try {
        await WORKLOADS[name]({ cluster, sizes, log, emit });
      } catch (error) {
        if (stopping()) break;
        failures++;
        log(
          `${name} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
        );
        cluster.runtimes.forEach((runtime, i) => {
          log(
            `runtime ${runtimeId(i)} output (tail):\n${runtime.output().slice(-Math.max(1500, 4000 / cluster.runtimes.length))}`,
          );
        });
        log(`worker output (tail):\n${cluster.worker.output().slice(-2000)}`);
      }
      log(`${name} took ${((performance.now() - start) / 1000).toFixed(1)} s`);
    }
  } finally {
    await cluster.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  return { figures, failures };
};

const main = async (): Promise<number> => {
  let options: Options;
  try {
    options = parse();
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n${usage}\n`);
    return 2;
  }
  const env: Environment = {
    node: process.version,
    nats: natsVersion(),
    store: options.store,
    runtimes: options.runtimes,
    ...(options.store === 'postgres' ? { postgres: postgresVersion() } : {}),
  };
  const began = performance.now();
  log(
    `store ${options.store}, ${options.runtimes} runtime(s)${options.quick ? ', quick' : ''}; workloads ${options.only.join(', ')}` +
      (options.rounds > 1 ? `; ${options.rounds} rounds` : ''),
  );
  const rounds: Figure[][] = [];
  let failures = 0;
  for (let round = 1; round <= options.rounds; round++) {
    if (options.rounds > 1) log(`round ${round} of ${options.rounds}`);
    const extra = options.rounds > 1 ? { round } : {};
    const result = await oneRound(options, env, (figure) =>
      process.stdout.write(`${jsonLine(figure, env, extra)}\n`),
    );
    rounds.push(result.figures);
    failures += result.failures;
    if (options.rounds > 1)
      process.stdout.write(
        `\n${table(result.figures, env, `round ${round} of ${options.rounds}`)}\n`,
      );
  }
  const summary = options.rounds > 1 ? acrossRounds(rounds) : (rounds[0] ?? []);
  if (options.rounds > 1) {
    for (const figure of summary)
      process.stdout.write(`${jsonLine(figure, env, { round: 'median' })}\n`);
  }
  process.stdout.write(
    `\n${table(summary, env, options.rounds > 1 ? `medians of ${options.rounds} rounds` : undefined)}\n`,
  );
  log(
    `done in ${((performance.now() - began) / 1000).toFixed(1)} s${failures > 0 ? `, ${failures} workload(s) failed` : ''}`,
  );
  return failures > 0 ? 1 : 0;
};

process.exitCode = await main();
