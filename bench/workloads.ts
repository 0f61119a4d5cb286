import { performance } from 'node:perf_hooks';
import { Result, Schema } from 'effect';
import { parseDuration } from '../src/blueprints/duration.ts';
import { validateBlueprint } from '../src/blueprints/validate.ts';
import { compileBlueprint } from '../src/machines/compile.ts';
import { RunEvent } from '../src/machines/events.ts';
import { replay, statusOf } from '../src/machines/run.ts';
import type { Cluster } from './harness.ts';
import { median, type Figure } from './report.ts';

/**
 * The workloads of the issue. Each measures from the client's side (a separate process talking
 * NATS to the runtime), except the replay fold, which is the pure fold timed in-process. Every
 * loop is bounded in count and in time; a loop cut short by its time budget says so in a note.
 */

export interface Sizes {
  readonly w1Warmup: number;
  readonly w1LatencyRuns: number;
  readonly w1ThroughputRuns: number;
  readonly w1InFlight: number;
  readonly w2: readonly { readonly items: number; readonly reps: number; readonly budgetMs: number }[];
  readonly w3Warmup: number;
  readonly w3Runs: number;
  readonly replayEvents: number;
  readonly replayReps: number;
  readonly idleRuns: number;
  readonly idleInFlight: number;
  /** Finished runs in the store the Boot workload starts the runtime on. */
  readonly bootRuns: number;
  /** Timed starts of the runtime on it (after one that is not counted). */
  readonly bootStarts: number;
}

export const FULL: Sizes = {
  w1Warmup: 50,
  w1LatencyRuns: 500,
  w1ThroughputRuns: 3000,
  w1InFlight: 64,
  w2: [
    { items: 1000, reps: 5, budgetMs: 30_000 },
    { items: 10_000, reps: 5, budgetMs: 90_000 },
  ],
  w3Warmup: 20,
  w3Runs: 200,
  replayEvents: 10_000,
  replayReps: 5,
  idleRuns: 10_000,
  idleInFlight: 200,
  bootRuns: 10_000,
  bootStarts: 3,
};

export const QUICK: Sizes = {
  w1Warmup: 10,
  w1LatencyRuns: 100,
  w1ThroughputRuns: 500,
  w1InFlight: 64,
  w2: [{ items: 1000, reps: 3, budgetMs: 10_000 }],
  w3Warmup: 5,
  w3Runs: 50,
  replayEvents: 2_000,
  replayReps: 3,
  idleRuns: 1_000,
  idleInFlight: 200,
  bootRuns: 1_000,
  bootStarts: 3,
};

export interface Context {
  readonly cluster: Cluster;
  readonly sizes: Sizes;
  readonly log: (message: string) => void;
  /** Called with each figure as soon as it is known. */
  readonly emit: (figure: Figure) => void;
}

export const BLUEPRINTS = {
  w1: {
    name: 'bench_w1',
    steps: [
      { id: 'a', type: 'activity', activity: 'add_field' },
      { id: 'b', type: 'activity', activity: 'add_field' },
      { id: 'c', type: 'activity', activity: 'add_field' },
    ],
  },
  map: {
    name: 'bench_map',
    steps: [{ id: 'm', type: 'map', concurrency: 1000, step: { type: 'activity', activity: 'noop' } }],
  },
  wait: {
    name: 'bench_wait',
    steps: [{ id: 'w', type: 'wait', signal: 'go' }],
  },
} as const;

export const putBlueprints = async (cluster: Cluster): Promise<void> => {
  for (const blueprint of Object.values(BLUEPRINTS)) {
    await cluster.client.call('weft.blueprints.put', { blueprint });
  }
};

interface Executed {
  readonly runId: string;
  readonly status: string;
  readonly output?: unknown;
  readonly error?: unknown;
}

let runCounter = 0;
const runStamp = Date.now().toString(36);

/**
 * One run through `weft.runs.execute`: the request returns once the run has ended. On a failure
 * (a timeout most likely) the run is cancelled, so it does not go on loading the next figures.
 */
export const execute = async (cluster: Cluster, blueprint: string, input: unknown, timeoutMs: number): Promise<Executed> => {
  const runId = `${blueprint}-${runStamp}-${runCounter++}`;
  try {
    const result = await cluster.client.call<Executed>(
      'weft.runs.execute',
      { blueprint, input, runId, timeoutMs },
      timeoutMs + 5_000,
    );
    if (result.status !== 'completed') {
      throw new Error(`run ${result.runId} of ${blueprint} ended ${result.status}: ${JSON.stringify(result.error)}`);
    }
    return result;
  } catch (error) {
    await cluster.client.request(`weft.runs.${runId}.cancel`, { reason: 'bench: run failed or timed out' }).catch(() => undefined);
    throw error;
  }
};

export const elapsed = (start: number): number => performance.now() - start;

interface Loop {
  readonly done: number;
  readonly ms: number;
  readonly cut: boolean;
}

/**
 * Runs `body(i)` for i = 0..count-1, at most `inFlight` at a time. Starts no new item once the
 * budget is spent or once the next item, at the pace so far, would end after it (so one slow
 * repetition is not followed by another that overruns the budget).
 */
export const pool = async (
  count: number,
  inFlight: number,
  budgetMs: number,
  body: (i: number) => Promise<void>,
): Promise<Loop> => {
  const start = performance.now();
  const lanes = Math.min(inFlight, count);
  let next = 0;
  let done = 0;
  const lane = async (): Promise<void> => {
    while (next < count) {
      const spent = elapsed(start);
      // An item takes a lane about spent × lanes / done: an estimate only once every lane has
      // finished one (before that, a few slow first replies would stop lanes that had time left).
      const pace = done < lanes ? 0 : (spent / done) * lanes;
      if (spent + pace > budgetMs) return;
      const i = next++;
      await body(i);
      done++;
    }
  };
  await Promise.all(Array.from({ length: lanes }, lane));
  return { done, ms: elapsed(start), cut: done < count };
};

export const cutNote = (loop: Loop, count: number, budgetMs: number): { note?: string } =>
  loop.cut ? { note: `time budget ${budgetMs / 1000}s reached after ${loop.done} of ${count}` } : {};

/** The notes given, joined; none if none is given. */
export const notes = (...parts: readonly (string | undefined)[]): { note?: string } => {
  const given = parts.filter((p) => p !== undefined && p !== '');
  return given.length === 0 ? {} : { note: given.join('; ') };
};

/** What a figure of the runtimes' CPU or memory adds up, when there are several. */
export const summed = (cluster: Cluster): string | undefined =>
  cluster.runtimes.length > 1 ? `sum of ${cluster.runtimes.length} runtimes` : undefined;

/**
 * Counts CPU from now on (`read` gives the ms used so far, undefined where /proc is unreadable);
 * the function returned emits, as `metric`, the ms used per run since then, with `always` in its
 * note. The processes read must not be restarted in between.
 */
export const cpuCounter = (read: () => number | undefined, emit: Context['emit'], always?: string) => {
  const before = read();
  return (workload: string, metric: string, runs: number, note?: string): void => {
    const after = read();
    if (before === undefined || after === undefined || runs === 0) return;
    emit({ workload, metric, value: (after - before) / runs, unit: 'ms', n: runs, ...notes(note, always) });
  };
};

/**
 * Starts counting the CPU time of the runtime processes (all of them, summed; not the worker,
 * nats-server or the store's server): `cpuCounter` of the runtimes.
 */
export const runtimeCpu = (cluster: Cluster, emit: Context['emit']) => cpuCounter(() => cluster.runtimeCpuMs(), emit, summed(cluster));

export interface EventMessage {
  readonly revision: number;
  readonly type: string;
  readonly data: unknown;
  readonly at: string;
}

export const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** The whole stream of a run, read through `weft.runs.<id>.history` in pages (each reply < 1 MiB). */
export const history = async (cluster: Cluster, runId: string): Promise<EventMessage[]> => {
  const events: EventMessage[] = [];
  const page = 1000;
  for (let guard = 0; guard < 1000; guard++) {
    const { events: got } = await cluster.client.call<{ events: EventMessage[] }>(
      `weft.runs.${runId}.history`,
      { from: events.length, limit: page },
      30_000,
    );
    events.push(...got);
    if (got.length < page) return events;
  }
  throw new Error(`history of ${runId}: more pages than expected`);
};

const decodeRunEvent = Schema.decodeUnknownResult(RunEvent);

/** As the runtime does on load: the recorded data plus its type, decoded to a RunEvent. */
export const toRunEvent = (recorded: EventMessage): RunEvent => {
  const decoded = decodeRunEvent({ ...(recorded.data as object), type: recorded.type });
  if (Result.isFailure(decoded)) throw new Error(`revision ${recorded.revision}: not a run event (${decoded.failure.message})`);
  return decoded.success;
};

/**
 * Replay: a real run whose stream has ~`replayEvents` events (a map over as many items as that
 * takes, found from two small calibration runs), read back through history, then the pure fold
 * `replay(compiled, events)` timed in-process; and the full load of that run by the runtime.
 */
export const replayWorkload = async ({ cluster, sizes, log, emit }: Context): Promise<void> => {
  const name = BLUEPRINTS.map.name;
  const eventsOf = async (items: number): Promise<{ runId: string; count: number }> => {
    const { runId } = await execute(cluster, name, range(items), 120_000);
    return { runId, count: (await history(cluster, runId)).length };
  };
  const small = await eventsOf(100);
  const large = await eventsOf(200);
  const perItem = (large.count - small.count) / 100;
  const overhead = small.count - 100 * perItem;
  if (!(perItem > 0)) throw new Error(`replay: cannot calibrate events per item (${small.count}, ${large.count})`);
  const items = Math.ceil((sizes.replayEvents - overhead) / perItem);
  log(`Replay: building a run of ${items} map items (${perItem} events per item, ${overhead} more)`);
  const { runId } = await execute(cluster, name, range(items), 120_000);
  const recorded = await history(cluster, runId);

  const decodeStart = performance.now();
  const events = recorded.map(toRunEvent);
  const decodeMs = elapsed(decodeStart);
  const started = events[0];
  if (started?.type !== 'RunStarted') throw new Error(`replay: run ${runId} does not begin with RunStarted`);
  const validated = validateBlueprint(started.blueprint.content, undefined, { recorded: true });
  if (!validated.ok) throw new Error(`replay: pinned blueprint is invalid: ${JSON.stringify(validated.diagnostics)}`);
  const compiled = compileBlueprint(validated.blueprint, parseDuration);

  const first = performance.now();
  const snapshot = replay(compiled, events);
  const firstMs = elapsed(first);
  if (statusOf(snapshot) !== 'completed') throw new Error(`replay: run ${runId} folds to ${statusOf(snapshot)}`);
  const folds: number[] = [];
  const foldLoop = await pool(sizes.replayReps, 1, 30_000, () => {
    const start = performance.now();
    replay(compiled, events);
    folds.push(elapsed(start));
    return Promise.resolve();
  });
  const n = recorded.length;
  emit({ workload: 'Replay', metric: 'stream_events', value: n, unit: 'events' });
  emit({ workload: 'Replay', metric: 'fold', value: median(folds), unit: 'ms', target: { value: 150, cmp: '<=' }, n: folds.length, ...cutNote(foldLoop, sizes.replayReps, 30_000) });
  emit({ workload: 'Replay', metric: 'fold_first', value: firstMs, unit: 'ms', n: 1 });
  emit({ workload: 'Replay', metric: 'decode', value: decodeMs, unit: 'ms', n: 1 });

  // The runtime keeps only running runs in memory, so a query of a completed run reads its
  // stream from the store and replays it (decode + fold) each time.
  const query = async (): Promise<number> => {
    const start = performance.now();
    const status = await cluster.client.call<{ status: string }>(`weft.runs.${runId}.query.get_status`, {}, 30_000);
    const ms = elapsed(start);
    if (status.status !== 'completed') throw new Error(`replay: get_status says ${status.status}`);
    return ms;
  };
  const loads: number[] = [];
  const loadLoop = await pool(sizes.replayReps, 1, 30_000, async () => {
    loads.push(await query());
  });
  emit({ workload: 'Replay', metric: 'load_via_query', value: median(loads), unit: 'ms', n: loads.length, ...cutNote(loadLoop, sizes.replayReps, 30_000) });
  if (cluster.store !== 'memory') {
    log(`Replay: restarting the runtime${cluster.runtimes.length > 1 ? `s (all ${cluster.runtimes.length})` : ''} for a load after restart`);
    await cluster.restartRuntimes(false);
    log(`Replay: runtime pid ${cluster.runtimePids.join(', ')}`);
    emit({ workload: 'Replay', metric: 'load_after_restart', value: await query(), unit: 'ms', n: 1 });
  }
};
