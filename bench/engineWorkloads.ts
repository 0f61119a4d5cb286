import { performance } from 'node:perf_hooks';
import { sleep } from '../test/support/wait.ts';
import type { Engine } from './engines.ts';
import { median, percentile } from './report.ts';
import { cpuCounter, cutNote, elapsed, pool, range, type Context, type EventMessage } from './workloads.ts';

/**
 * W1, W2 and W3, timed from the client's side against an `Engine` (bench/engines.ts): weft, or
 * the baseline's least-work engine. Every loop is bounded in count and in time; a loop cut short
 * by its time budget says so in a note.
 */

export interface EngineContext {
  readonly engine: Engine;
  readonly sizes: Context['sizes'];
  readonly log: Context['log'];
  readonly emit: Context['emit'];
  /** W1 with many runs in flight too (default true). */
  readonly throughput?: boolean;
}

/** CPU per run of the engine's own processes, and of the engine, its worker and nats-server. */
const cpus = (engine: Engine, emit: Context['emit']) => {
  const own = cpuCounter(() => engine.cpuMs(), emit, engine.cpuNote);
  const stack = cpuCounter(() => engine.stackCpuMs(), emit, engine.cpuNote);
  return (workload: string, suffix: string, runs: number, note?: string): void => {
    own(workload, `runtime_cpu_${suffix}`, runs, note);
    stack(workload, `runtime_worker_nats_cpu_${suffix}`, runs, note);
  };
};

const expectAdded = (output: unknown): void => {
  const o = output as Record<string, unknown> | null;
  if (o?.['a'] !== true || o['b'] !== true || o['c'] !== true) {
    throw new Error(`W1 output lacks the added fields: ${JSON.stringify(output)}`);
  }
};

/** W1: three activities in sequence; latency with one run in flight, throughput with many. */
export const w1 = async ({ engine, sizes, log, emit, throughput = true }: EngineContext): Promise<void> => {
  log(`W1 warm-up: ${sizes.w1Warmup} runs`);
  await pool(sizes.w1Warmup, 1, 30_000, async (i) => expectAdded((await engine.w1({ i }, 30_000)).output));

  log(`W1 latency: ${sizes.w1LatencyRuns} runs, one in flight`);
  const latencies: number[] = [];
  const budget = 45_000;
  const latencyCpu = cpus(engine, emit);
  const latency = await pool(sizes.w1LatencyRuns, 1, budget, async (i) => {
    const start = performance.now();
    const result = await engine.w1({ i }, 30_000);
    latencies.push(elapsed(start));
    expectAdded(result.output);
  });
  const note = cutNote(latency, sizes.w1LatencyRuns, budget);

  emit({ workload: 'W1', metric: 'latency_p50', value: median(latencies), unit: 'ms', target: { value: 2, cmp: '<=' }, n: latency.done, ...note });
  emit({ workload: 'W1', metric: 'latency_p99', value: percentile(latencies, 99), unit: 'ms', n: latency.done, ...note });
  latencyCpu('W1', 'per_run', latency.done, note.note);
  if (engine.eventsOf !== undefined) {
    const last = await engine.w1({ i: -1 }, 30_000);
    emit({ workload: 'W1', metric: 'events_per_run', value: await engine.eventsOf(last.runId), unit: 'events', n: 1 });
  }
  if (!throughput) return;

  log(`W1 throughput: ${sizes.w1ThroughputRuns} runs, ${sizes.w1InFlight} in flight`);
  await pool(sizes.w1InFlight, sizes.w1InFlight, 30_000, async (i) => {
    await engine.w1({ i }, 30_000);
  });
  const loaded: number[] = [];
  const throughputCpu = cpus(engine, emit);
  const loop = await pool(sizes.w1ThroughputRuns, sizes.w1InFlight, budget, async (i) => {
    const start = performance.now();
    const result = await engine.w1({ i }, 60_000);
    loaded.push(elapsed(start));
    expectAdded(result.output);
  });
  const tnote = cutNote(loop, sizes.w1ThroughputRuns, budget);
  emit({
    workload: 'W1',
    metric: `throughput_${sizes.w1InFlight}_in_flight`,
    value: (loop.done / loop.ms) * 1000,
    unit: 'runs/s',
    target: { value: 2000, cmp: '>=' },
    n: loop.done,
    ...tnote,
  });
  emit({ workload: 'W1', metric: `latency_p50_${sizes.w1InFlight}_in_flight`, value: median(loaded), unit: 'ms', n: loop.done, ...tnote });
  emit({ workload: 'W1', metric: `latency_p99_${sizes.w1InFlight}_in_flight`, value: percentile(loaded, 99), unit: 'ms', n: loop.done, ...tnote });
  throughputCpu('W1', `per_run_${sizes.w1InFlight}_in_flight`, loop.done, tnote.note);
};

/** W2: one run whose map step runs `noop` over N items and joins; start → completion, median. */
export const w2 = async ({ engine, sizes, log, emit }: EngineContext): Promise<void> => {
  log('W2 warm-up: 2 runs of 1000 items');
  for (let i = 0; i < 2; i++) await engine.map(range(1000), 60_000);
  for (const { items, reps, budgetMs } of sizes.w2) {
    log(`W2: ${reps} runs of ${items} items`);
    const input = range(items);
    const times: number[] = [];
    const cpu = cpus(engine, emit);
    const loop = await pool(reps, 1, budgetMs, async () => {
      const start = performance.now();
      const output = await engine.map(input, 120_000);
      times.push(elapsed(start));
      if (!Array.isArray(output) || output.length !== items) throw new Error(`W2 output is not the ${items} items`);
    });
    const note = cutNote(loop, reps, budgetMs);
    emit({
      workload: 'W2',
      metric: `map_${items}_items`,
      value: median(times),
      unit: 'ms',
      target: { value: items <= 1000 ? 150 : 1500, cmp: '<=' },
      n: loop.done,
      ...note,
    });
    cpu('W2', `map_${items}_items`, loop.done, note.note);
  }
};

/**
 * W3: a run parked in `wait`; from sending the signal to seeing RunCompleted on the run's events
 * subject (subscribed before the run starts).
 */
export const w3 = async ({ engine, sizes, log, emit }: EngineContext): Promise<void> => {
  const { nc } = engine;
  const stamp = Date.now().toString(36);
  const once = async (runId: string): Promise<number> => {
    let seen: (at: number) => void = () => undefined;
    let failed: (error: Error) => void = () => undefined;
    const completed = new Promise<number>((resolve, reject) => {
      seen = resolve;
      failed = reject;
    });
    const sub = nc.subscribe(engine.eventsSubject(runId), {
      callback: (error, msg) => {
        if (error !== null) {
          failed(error);
          return;
        }
        const event = msg.json<EventMessage>();
        if (event.type === 'RunCompleted') seen(performance.now());
        else if (event.type === 'RunFailed' || event.type === 'RunCancelled') failed(new Error(`run ${runId}: ${event.type}`));
      },
    });
    const timer = new AbortController();
    try {
      await nc.flush();
      await engine.startWaiting(runId);
      const start = performance.now();
      await engine.signal(runId);
      const end = await Promise.race([
        completed,
        sleep(10_000, timer.signal).then(() => {
          throw new Error(`run ${runId}: no RunCompleted within 10 s of the signal`);
        }),
      ]);
      return end - start;
    } finally {
      timer.abort();
      sub.unsubscribe();
    }
  };
  log(`W3 warm-up: ${sizes.w3Warmup} runs`);
  for (let i = 0; i < sizes.w3Warmup; i++) await once(`w3warm-${stamp}-${i}`);
  log(`W3: ${sizes.w3Runs} runs`);
  const times: number[] = [];
  const budget = 40_000;
  const loop = await pool(sizes.w3Runs, 1, budget, async (i) => {
    times.push(await once(`w3-${stamp}-${i}`));
  });
  const note = cutNote(loop, sizes.w3Runs, budget);
  emit({ workload: 'W3', metric: 'signal_to_completed_p50', value: median(times), unit: 'ms', target: { value: 2, cmp: '<=' }, n: loop.done, ...note });
  emit({ workload: 'W3', metric: 'signal_to_completed_p99', value: percentile(times, 99), unit: 'ms', n: loop.done, ...note });
};
