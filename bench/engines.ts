import type { NatsConnection } from '@nats-io/transport-node';
import type { Cluster } from './harness.ts';
import { BLUEPRINTS, execute, history, summed } from './workloads.ts';

/**
 * What W1–W3 drive (bench/engineWorkloads.ts): weft through its NATS API, or the baseline's
 * least-work engine (bench/baseline/). The same client code times both, so their figures differ
 * only by the engine.
 */
export interface Engine {
  /** The client's connection (W3 subscribes to a run's events on it). */
  readonly nc: NatsConnection;
  /** One W1 run (three `add_field` steps `a`, `b`, `c` in sequence) to its end. */
  w1(input: unknown, timeoutMs: number): Promise<{ readonly runId: string; readonly output?: unknown }>;
  /** One W2 run: `noop` over `items`, 1000 at a time, joined; its output. */
  map(items: readonly number[], timeoutMs: number): Promise<unknown>;
  /** Starts a run parked in a wait for signal `go`; resolves once it is parked. */
  startWaiting(runId: string): Promise<void>;
  /** Sends signal `go` to the run; resolves with the reply. */
  signal(runId: string): Promise<void>;
  /** The subject on which the run's events (at least `{ type: 'RunCompleted' }`) are published. */
  eventsSubject(runId: string): string;
  /** How many events a finished run's stream holds, where the engine tells. */
  eventsOf?(runId: string): Promise<number>;
  /** CPU ms (user + system, all threads) the engine's own process(es) have used so far. */
  cpuMs(): number | undefined;
  /** The same for the engine, its worker and nats-server together. */
  stackCpuMs(): number | undefined;
  /** What the engine's CPU figures add up, when they need saying (several runtimes). */
  readonly cpuNote?: string;
}

/** weft: the runtimes, the worker and the client of a bench's cluster. */
export const weftEngine = (cluster: Cluster): Engine => ({
  nc: cluster.client.nc,
  w1: (input, timeoutMs) => execute(cluster, BLUEPRINTS.w1.name, input, timeoutMs),
  map: async (items, timeoutMs) => (await execute(cluster, BLUEPRINTS.map.name, items, timeoutMs)).output,
  startWaiting: async (runId) => {
    await cluster.client.call('weft.runs.start', { blueprint: BLUEPRINTS.wait.name, runId, input: {} });
  },
  signal: async (runId) => {
    await cluster.client.call(`weft.runs.${runId}.signal.go`, { ok: true });
  },
  eventsSubject: (runId) => `weft.runs.${runId}.events`,
  eventsOf: async (runId) => (await history(cluster, runId)).length,
  cpuMs: () => cluster.runtimeCpuMs(),
  stackCpuMs: () => cluster.stackCpuMs(),
  ...cpuNoteOf(summed(cluster)),
});

const cpuNoteOf = (note: string | undefined): { cpuNote?: string } => (note === undefined ? {} : { cpuNote: note });
