import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { findNatsServerBinary, startNatsServer, type NatsServerHandle } from '../test/support/natsServer.ts';
import { sleep } from '../test/support/wait.ts';
import { testClient, type TestClient, type WeftProcess } from '../test/support/weft.ts';

/**
 * The processes of one bench: a real nats-server (JetStream), the runtime (`weft serve`) and a
 * worker (`weft worker bench/activities.ts`), each its own process, started the way a user starts
 * them, and one client connection. Everything lives in one temp dir; `stop()` removes it all.
 */

export type StoreKind = 'sqlite' | 'memory';

const STOP_GRACE_MS = 10_000;

/** weft processes still running: SIGKILLed if the bench exits without stopping them. */
const live = new Set<WeftProcess>();
let exitHook = false;
const track = (p: WeftProcess): WeftProcess => {
  live.add(p);
  if (!exitHook) {
    exitHook = true;
    process.once('exit', () => {
      for (const q of live) if (q.child.exitCode === null && q.child.signalCode === null) q.child.kill('SIGKILL');
    });
  }
  return p;
};

/** SIGTERM, then SIGKILL if it has not exited within the grace period. */
const stopProcess = async (p: WeftProcess): Promise<void> => {
  const timer = new AbortController();
  const exited = await Promise.race([
    p.stop().then(() => true),
    sleep(STOP_GRACE_MS, timer.signal).then(() => false),
  ]);
  timer.abort();
  if (!exited) await p.kill9();
  live.delete(p);
};

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const BIN = fileURLToPath(new URL('../bin/weft.js', import.meta.url));
/** A runtime restarted on a big store replays every run stream into its projections first. */
const READY_TIMEOUT_MS = 60_000;

/**
 * `node bin/weft.js <args>` as test/support's `spawnWeft` starts it, except that a process that
 * does not become ready is killed rather than left behind, and, with a profile dir, it runs under
 * V8's CPU profiler (`--cpu-prof`; the profile is written when it exits).
 */
const launch = async (args: readonly string[], ready: RegExp, profileDir: string | undefined): Promise<WeftProcess> => {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    env: {
      ...process.env,
      ...(profileDir === undefined
        ? {}
        : { NODE_OPTIONS: `${process.env['NODE_OPTIONS'] ?? ''} --cpu-prof --cpu-prof-dir=${profileDir}`.trim() }),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  const append = (chunk: Buffer): void => {
    text = (text + chunk.toString()).slice(-64_000);
  };
  child.stdout.on('data', append);
  child.stderr.on('data', append);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const p: WeftProcess = {
    child,
    output: () => text,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
    async kill9() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
  track(p);
  const deadline = performance.now() + READY_TIMEOUT_MS;
  while (!ready.test(text)) {
    if (child.exitCode !== null || child.signalCode !== null) {
      live.delete(p);
      throw new Error(`weft ${args.join(' ')} exited early:\n${text}`);
    }
    if (performance.now() > deadline) {
      await stopProcess(p);
      throw new Error(`weft ${args.join(' ')} was not ready within ${READY_TIMEOUT_MS / 1000} s:\n${text}`);
    }
    await sleep(20);
  }
  return p;
};

const serve = (nats: string, store: string, profileDir: string | undefined): Promise<WeftProcess> =>
  launch(['serve', '--nats', nats, '--store', store], /runtime serving/, profileDir);
const work = (nats: string, profileDir: string | undefined): Promise<WeftProcess> =>
  launch(['worker', 'bench/activities.ts', '--nats', nats], /worker serving/, profileDir);

/** Resident memory (VmRSS) of a process and its descendants, in KiB; 0 once it is gone. */
export const rssKiB = async (pid: number): Promise<number> => {
  let total = 0;
  const pending = [pid];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    try {
      const status = await readFile(`/proc/${next}/status`, 'utf8');
      total += Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1] ?? 0);
      const children = await readFile(`/proc/${next}/task/${next}/children`, 'utf8');
      for (const c of children.split(/\s+/)) if (c !== '') pending.push(Number(c));
    } catch {
      // the process exited meanwhile
    }
  }
  return total;
};

export const natsVersion = (): string => {
  const out = spawnSync(findNatsServerBinary(), ['--version'], { encoding: 'utf8' });
  return /v?(\d+\.\d+\.\d+\S*)/.exec(`${out.stdout}${out.stderr}`)?.[1] ?? 'unknown';
};

export class Cluster {
  readonly store: StoreKind;
  readonly dir: string;
  readonly nats: NatsServerHandle;
  runtime: WeftProcess;
  readonly worker: WeftProcess;
  readonly client: TestClient;
  readonly #profileDir: string | undefined;
  #storeUrl: string;
  #generation = 0;
  #stopped = false;
  #stopping: Promise<void> | undefined;

  private constructor(parts: {
    store: StoreKind;
    dir: string;
    nats: NatsServerHandle;
    runtime: WeftProcess;
    worker: WeftProcess;
    client: TestClient;
    storeUrl: string;
    profileDir: string | undefined;
  }) {
    this.store = parts.store;
    this.dir = parts.dir;
    this.nats = parts.nats;
    this.runtime = parts.runtime;
    this.worker = parts.worker;
    this.client = parts.client;
    this.#storeUrl = parts.storeUrl;
    this.#profileDir = parts.profileDir;
  }

  /** Starts everything; on a failure part way, stops what was started and rethrows. */
  static async start(store: StoreKind, profileDir?: string): Promise<Cluster> {
    const dir = await mkdtemp(join(tmpdir(), 'weft-bench-'));
    let nats: NatsServerHandle | undefined;
    let runtime: WeftProcess | undefined;
    let worker: WeftProcess | undefined;
    try {
      nats = await startNatsServer();
      const storeUrl = store === 'sqlite' ? `sqlite:${join(dir, 'events-0.db')}` : 'memory:';
      runtime = await serve(nats.url, storeUrl, profileDir);
      worker = await work(nats.url, profileDir);
      const client = await testClient(nats.url);
      return new Cluster({ store, dir, nats, runtime, worker, client, storeUrl, profileDir });
    } catch (error) {
      if (worker !== undefined) await stopProcess(worker);
      if (runtime !== undefined) await stopProcess(runtime);
      await nats?.stop();
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
  }

  /** Pid of the runtime process (what `rssKiB` measures). */
  get runtimePid(): number {
    return this.runtime.child.pid ?? -1;
  }

  /**
   * Stops the runtime and starts a new one: on the same store (`fresh` false; a memory store
   * starts empty anyway), or on a new, empty one. Blueprints live in the store: put them again
   * after a fresh start.
   */
  async restartRuntime(fresh: boolean): Promise<void> {
    if (this.#stopped) throw new Error('the bench is stopping');
    await stopProcess(this.runtime);
    if (fresh && this.store === 'sqlite') {
      const old = this.#storeUrl.slice('sqlite:'.length);
      this.#generation += 1;
      this.#storeUrl = `sqlite:${join(this.dir, `events-${this.#generation}.db`)}`;
      for (const suffix of ['', '-wal', '-shm']) await rm(`${old}${suffix}`, { force: true });
    }
    const runtime = await serve(this.nats.url, this.#storeUrl, this.#profileDir);
    // stop() may have begun while the new runtime was starting.
    if (this.#isStopped()) {
      await stopProcess(runtime);
      throw new Error('the bench is stopping');
    }
    this.runtime = runtime;
  }

  /** Stops every process and removes every temp dir (once; later calls wait for it). Never rejects. */
  #isStopped(): boolean {
    return this.#stopped;
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    this.#stopped = true;
    const step = async (what: string, f: () => Promise<unknown>): Promise<void> => {
      try {
        await f();
      } catch (error) {
        process.stderr.write(`bench: stopping ${what} failed: ${String(error)}\n`);
      }
    };
    await step('client', () => this.client.close());
    await step('worker', () => stopProcess(this.worker));
    await step('runtime', () => stopProcess(this.runtime));
    await step('nats-server', () => this.nats.stop());
    await step('temp dir', () => rm(this.dir, { recursive: true, force: true }));
  }
}
