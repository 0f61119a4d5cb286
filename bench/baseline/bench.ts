import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { startNatsServer, type NatsServerHandle } from '../../test/support/natsServer.ts';
import { w1, w2, w3 } from '../engineWorkloads.ts';
import type { Engine } from '../engines.ts';
import { cpuMsOf, launchNode, stopProcess } from '../harness.ts';
import type { BaselineVariant, Figure } from '../report.ts';
import { BLUEPRINTS, type Context, type Sizes } from '../workloads.ts';
import type { WeftProcess } from '../../test/support/weft.ts';
import type { Plan } from './pairing.ts';

/**
 * The baseline's processes and its run of W1–W3 (bench/README.md, "Baseline"): a nats-server of
 * its own (the same binary and flags as weft's, started before weft's and stopped before weft
 * starts, so neither's traffic or CPU is in the other's figures), the worker process
 * (bench/baseline/worker.ts), and per variant a fresh engine process (bench/baseline/engine.ts) on
 * a fresh sqlite file in a temp dir. The client loops are weft's own (bench/engineWorkloads.ts).
 */

const ENGINE = 'bench/baseline/engine.ts';
const WORKER = 'bench/baseline/worker.ts';

interface Reply {
  readonly ok: boolean;
  readonly data?: unknown;
  readonly error?: { readonly message: string };
}

const call = async (nc: NatsConnection, subject: string, body: unknown, timeoutMs: number): Promise<unknown> => {
  const reply = (await nc.request(subject, JSON.stringify(body), { timeout: timeoutMs + 5_000 })).json<Reply>();
  if (!reply.ok) throw new Error(`${subject} failed: ${reply.error?.message ?? 'no reason given'}`);
  return reply.data;
};

const stamp = Date.now().toString(36);
let counter = 0;

const engineOf = (nc: NatsConnection, pids: { engine: number; worker: number; nats: () => number }): Engine => {
  const sum = (...ms: (number | undefined)[]): number | undefined =>
    ms.some((m) => m === undefined) ? undefined : ms.reduce<number>((a, m) => a + (m ?? 0), 0);
  return {
    nc,
    w1: async (input, timeoutMs) => {
      const runId = `bl-${stamp}-${counter++}`;
      const steps = BLUEPRINTS.w1.steps.map(({ id, activity }) => ({ id, activity }));
      return { runId, output: await call(nc, 'baseline.execute', { runId, kind: 'sequence', steps, input }, timeoutMs) };
    },
    map: (items, timeoutMs) => {
      const runId = `bl-${stamp}-${counter++}`;
      const { concurrency } = BLUEPRINTS.map.steps[0];
      return call(nc, 'baseline.execute', { runId, kind: 'map', items, concurrency }, timeoutMs);
    },
    startWaiting: async (runId) => {
      await call(nc, 'baseline.start', { runId }, 10_000);
    },
    signal: async (runId) => {
      await call(nc, `baseline.runs.${runId}.signal.go`, { ok: true }, 10_000);
    },
    eventsSubject: (runId) => `baseline.runs.${runId}.events`,
    cpuMs: () => cpuMsOf(pids.engine),
    stackCpuMs: () => sum(cpuMsOf(pids.engine), cpuMsOf(pids.worker), cpuMsOf(pids.nats())),
  };
};

export class BaselineBench {
  readonly #dir: string;
  readonly #nats: NatsServerHandle;
  readonly #worker: WeftProcess;
  readonly #nc: NatsConnection;
  #engine: WeftProcess | undefined;
  #stopping: Promise<void> | undefined;

  private constructor(dir: string, nats: NatsServerHandle, worker: WeftProcess, nc: NatsConnection) {
    this.#dir = dir;
    this.#nats = nats;
    this.#worker = worker;
    this.#nc = nc;
  }

  /** Starts nats-server, the worker and the client connection; on a failure part way, stops what was started. */
  static async start(): Promise<BaselineBench> {
    const dir = await mkdtemp(join(tmpdir(), 'weft-baseline-'));
    let nats: NatsServerHandle | undefined;
    let worker: WeftProcess | undefined;
    try {
      nats = await startNatsServer();
      worker = (await launchNode([WORKER, '--nats', nats.url], /baseline worker serving/, undefined)).process;
      return new BaselineBench(dir, nats, worker, await connect({ servers: nats.url }));
    } catch (error) {
      if (worker !== undefined) await stopProcess(worker);
      await nats?.stop();
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
  }

  /** Runs what `plan` says against a fresh engine of its variant; each figure goes to `emit` under its own name. */
  async measure(plan: Plan, sizes: Sizes, log: Context['log'], emit: (figure: Figure) => void): Promise<void> {
    const sync = plan.variant === 'fsync' ? 'full' : 'off';
    const db = join(this.#dir, `baseline-${plan.variant}.db`);
    const launched = await launchNode([ENGINE, '--nats', this.#nats.url, '--db', db, '--sync', sync], /baseline engine serving.*\n/, undefined);
    this.#engine = launched.process;
    const settings = /baseline engine serving \(([^)]*)\)/.exec(launched.process.output())?.[1] ?? '';
    log(`baseline ${plan.variant}: engine pid ${launched.process.child.pid ?? -1} (${settings}), worker pid ${this.#worker.child.pid ?? -1}, nats-server pid ${this.#nats.pid}`);
    const engine = engineOf(this.#nc, {
      engine: launched.process.child.pid ?? -1,
      worker: this.#worker.child.pid ?? -1,
      nats: () => this.#nats.pid,
    });
    const ctx = { engine, sizes, log: (m: string) => log(`baseline ${plan.variant}: ${m}`), emit, throughput: plan.throughput };
    try {
      if (plan.w1) await w1(ctx);
      if (plan.w2) await w2(ctx);
      if (plan.w3) await w3(ctx);
    } catch (error) {
      throw new Error(`baseline ${plan.variant} failed: ${error instanceof Error ? error.message : String(error)}\nengine output:\n${launched.process.output().slice(-2000)}`, { cause: error });
    } finally {
      await stopProcess(launched.process);
      this.#engine = undefined;
      await rm(db, { force: true });
      await rm(`${db}-wal`, { force: true });
      await rm(`${db}-shm`, { force: true });
    }
  }

  /** Stops every process and removes the temp dir (once; later calls wait for it). Never rejects. */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    const step = async (f: () => Promise<unknown>): Promise<void> => {
      try {
        await f();
      } catch (error) {
        process.stderr.write(`bench: stopping the baseline failed: ${String(error)}\n`);
      }
    };
    await step(() => this.#nc.close());
    if (this.#engine !== undefined) {
      const engine = this.#engine;
      await step(() => stopProcess(engine));
    }
    await step(() => stopProcess(this.#worker));
    await step(() => this.#nats.stop());
    await step(() => rm(this.#dir, { recursive: true, force: true }));
  }
}

/**
 * Runs each plan in turn, each figure to `emit` with its variant; stops every process at the end,
 * also on SIGINT or SIGTERM meanwhile (then exits 130). Resolves false, after logging why, if the
 * baseline failed (the figures emitted so far stand).
 */
export const runBaseline = async (
  plans: readonly Plan[],
  sizes: Sizes,
  log: Context['log'],
  emit: (variant: BaselineVariant, figure: Figure) => void,
): Promise<boolean> => {
  let bench: BaselineBench | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    log(`${signal}: stopping`);
    void (bench?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    bench = await BaselineBench.start();
    for (const plan of plans) await bench.measure(plan, sizes, log, (figure) => emit(plan.variant, figure));
    return true;
  } catch (error) {
    log(`baseline failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    return false;
  } finally {
    await bench?.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
};
