import * as Effect from 'effect/Effect';
import type { Json } from '../src/blueprints/json.ts';
import type { EventStoreShape, NewEvent, RecordedEvent } from '../src/store/EventStore.ts';
import { eventId } from '../src/store/eventId.ts';
import { makeStore } from '../src/store/layers.ts';
import { runStream } from '../src/store/streams.ts';
import { sleep } from '../test/support/wait.ts';
import { rssKiB, type Cluster, type Started } from './harness.ts';
import { median } from './report.ts';
import { BLUEPRINTS, execute, pool, putBlueprints, type Context } from './workloads.ts';

/**
 * Boot: how long a runtime takes to start on a store that already holds many finished runs, and
 * its resident memory once started. The store is filled with real runs: a few W1 runs go through
 * the runtime and the worker; their streams are then copied, event for event, to new run ids
 * through the store adapter, with the run id rewritten wherever the data holds it and each event
 * id recomputed for its new stream (as the runtime computes it), so every copy is a stream the
 * runtime could have written itself. The fill is checked: the seeds' ids must recompute to what
 * the runtime wrote, and the runtime must report a copied run completed, in its run summaries and
 * when it replays the run's stream for a query.
 */

/** Real runs made through the runtime; every other run of the store is a copy of one of them. */
const SEEDS = 20;
/** Appends in flight while copying (the adapters group concurrent appends into one commit). */
const FILL_IN_FLIGHT = 64;
const FILL_BUDGET_MS = 600_000;

/** `value` with every occurrence of `from` inside its strings replaced by `to`; key order kept. */
const rewrite = (value: Json, from: string, to: string): Json => {
  if (typeof value === 'string') return value.replaceAll(from, to);
  if (Array.isArray(value)) return (value as readonly Json[]).map((v) => rewrite(v, from, to));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, rewrite(v, from, to)]));
  }
  return value;
};

/** The events of run `from`'s stream as run `to`'s, with ids as the runtime would give them there. */
const copyOf = (events: readonly RecordedEvent[], from: string, to: string): NewEvent[] => {
  const stream = runStream(to);
  return events.map((event, revision) => {
    const data = rewrite(event.data, from, to);
    return { id: eventId(stream, revision, event.type, data), type: event.type, data };
  });
};

/** Reads a seed's stream and checks that it is whole, finished, and that its ids recompute. */
const readSeed = async (store: EventStoreShape, runId: string): Promise<readonly RecordedEvent[]> => {
  const stream = runStream(runId);
  const events = await Effect.runPromise(store.read(stream));
  if (events[0]?.type !== 'RunStarted' || events.at(-1)?.type !== 'RunCompleted') {
    throw new Error(`boot: seed ${runId} is not a whole, completed run (${events.map((e) => e.type).join(', ')})`);
  }
  events.forEach((event, revision) => {
    if (event.revision !== revision || event.id !== eventId(stream, revision, event.type, event.data)) {
      throw new Error(`boot: seed ${runId} event ${revision} does not recompute to its id: cannot copy it faithfully`);
    }
  });
  return events;
};

/** Fills the store with `total` finished runs (the runtime stopped meanwhile); returns the copies' ids. */
const fill = async ({ cluster, sizes, log }: Context, total: number): Promise<string[]> => {
  const seeds = Math.min(SEEDS, total);
  log(`Boot: ${seeds} real W1 runs`);
  const seedIds: string[] = [];
  for (let i = 0; i < seeds; i++) seedIds.push((await execute(cluster, BLUEPRINTS.w1.name, { i }, 30_000)).runId);
  await cluster.stopRuntimes();
  const store = await makeStore(cluster.storeUrl);
  const copies: string[] = [];
  try {
    const streams = await Promise.all(seedIds.map((id) => readSeed(store, id)));
    const stamp = Date.now().toString(36);
    const count = total - seeds;
    log(`Boot: copying them to ${count} more runs through the store adapter, ${FILL_IN_FLIGHT} appends in flight`);
    const loop = await pool(count, FILL_IN_FLIGHT, FILL_BUDGET_MS, async (i) => {
      const k = i % seeds;
      const from = seedIds[k];
      const events = streams[k];
      if (from === undefined || events === undefined) throw new Error('boot: no seed');
      const to = `boot-${stamp}-${i}`;
      await Effect.runPromise(store.append(runStream(to), copyOf(events, from, to), 'no_stream'));
      copies.push(to);
    });
    if (loop.cut) throw new Error(`boot: the fill took longer than ${FILL_BUDGET_MS / 1000} s (${loop.done} of ${count})`);
    log(`Boot: ${count} runs copied in ${(loop.ms / 1000).toFixed(1)} s (${Math.round((count / loop.ms) * 1000)} runs/s); ${sizes.bootRuns} finished runs in the store`);
  } finally {
    await Effect.runPromise(store.close());
  }
  return copies;
};

/** The one runtime's start (Boot runs with one runtime only). */
const only = async (starting: Promise<readonly Started[]>): Promise<Started> => {
  const [started, ...others] = await starting;
  if (started === undefined || others.length > 0) throw new Error('boot: expected exactly one runtime');
  return started;
};

const pidOf = (cluster: Cluster): number => cluster.runtimePids[0] ?? -1;

/**
 * Boot: `bootStarts` starts on a fresh, empty store (what a start costs without runs: node, modules,
 * store, NATS); then the store filled with `bootRuns` finished runs; one start that is not counted (a
 * runtime that persists a read model may build it there), then `bootStarts` starts, each timed from
 * spawning `weft serve` to its "runtime serving" line, with the CPU time the runtime had used by
 * then and its RSS 1 s after.
 */
export const boot = async (ctx: Context): Promise<void> => {
  const { cluster, sizes, log, emit } = ctx;
  if (cluster.store === 'memory') {
    log('Boot: skipped: a memory store does not outlive the runtime');
    return;
  }
  if (cluster.runtimes.length > 1) {
    // Several runtimes started together share the 2 cores and wait for each other's leases, one
    // joining a live cluster measures a lease handover: neither is what this figure measures.
    log(`Boot: skipped with ${cluster.runtimes.length} runtimes: it times the start of one runtime on a filled store; run it with --runtimes 1`);
    return;
  }
  const show = (s: Started): string => `${Math.round(s.readyMs)} ms (CPU ${s.cpuMs === undefined ? '?' : Math.round(s.cpuMs)} ms)`;
  const cpu = (starts: readonly Started[]): number[] => starts.flatMap((s) => (s.cpuMs === undefined ? [] : [s.cpuMs]));
  log('Boot: fresh runtime and store');
  const empty = [await only(cluster.restartRuntimes(true))];
  while (empty.length < sizes.bootStarts) empty.push(await only(cluster.restartRuntimes(false)));
  log(`Boot: starts on the empty store: ${empty.map(show).join(', ')}`);
  emit({ workload: 'Boot', metric: 'start_empty_store', value: median(empty.map((s) => s.readyMs)), unit: 'ms', n: empty.length });
  emit({ workload: 'Boot', metric: 'start_empty_store_cpu', value: median(cpu(empty)), unit: 'ms', n: cpu(empty).length });
  await putBlueprints(cluster);
  const copies = await fill(ctx, sizes.bootRuns);

  const first = await only(cluster.startRuntimes());
  log(`Boot: first start ${show(first)} (runtime pid ${pidOf(cluster)})`);
  const probe = copies.at(-1);
  if (probe !== undefined) {
    // The summary (read model) and the run itself (its stream read and folded by a query).
    const summary = await cluster.client.call<{ status: string }>(`weft.runs.${probe}.get`);
    const folded = await cluster.client.call<{ status: string }>(`weft.runs.${probe}.query.get_status`, {}, 30_000);
    if (summary.status !== 'completed' || folded.status !== 'completed') {
      throw new Error(`boot: copied run ${probe} is ${summary.status} (summary), ${folded.status} (replayed), not completed`);
    }
  }
  const runs = `${sizes.bootRuns} finished runs`;
  emit({ workload: 'Boot', metric: 'first_start', value: first.readyMs, unit: 'ms', n: 1, note: `${runs}; not in start_to_serving` });
  if (first.cpuMs !== undefined) emit({ workload: 'Boot', metric: 'first_start_cpu', value: first.cpuMs, unit: 'ms', n: 1, note: runs });

  const starts: Started[] = [];
  const rss: number[] = [];
  for (let i = 0; i < sizes.bootStarts; i++) {
    await cluster.stopRuntimes();
    const started = await only(cluster.startRuntimes());
    starts.push(started);
    await sleep(1000);
    rss.push(await rssKiB(pidOf(cluster)));
    log(`Boot: start ${i + 1}: ${show(started)}, ${Math.round((rss.at(-1) ?? 0) / 1024)} MB (runtime pid ${pidOf(cluster)})`);
  }
  const ms = starts.map((s) => s.readyMs);
  emit({ workload: 'Boot', metric: 'start_to_serving', value: median(ms), unit: 'ms', n: ms.length, note: runs });
  emit({ workload: 'Boot', metric: 'start_to_serving_max', value: Math.max(...ms), unit: 'ms', n: ms.length, note: runs });
  emit({ workload: 'Boot', metric: 'start_cpu', value: median(cpu(starts)), unit: 'ms', n: cpu(starts).length, note: runs });
  emit({ workload: 'Boot', metric: 'rss_after_start', value: median(rss) / 1024, unit: 'MB', n: rss.length, note: runs });
};
