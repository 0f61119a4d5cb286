import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { findNatsServerBinary, startNatsServer, type NatsServerHandle } from '../test/support/natsServer.ts';
import { findPostgresBinDir, startPostgres, type PostgresHandle } from '../test/support/postgres.ts';
import { sleep } from '../test/support/wait.ts';
import { testClient, type TestClient, type WeftProcess } from '../test/support/weft.ts';
import { awaitSpread } from './spread.ts';

/**
 * The processes of one bench: a real nats-server (JetStream), N runtimes (`weft serve`, one by
 * default, each with `WEFT_RUNTIME_ID=bench-<i>`) on that NATS and one shared store, and a worker
 * (`weft worker bench/activities.ts`), each its own process, started the way a user starts them,
 * and one client connection; with `postgres`, a private PostgreSQL cluster too (the tests'
 * launcher, test/support/postgres.ts). Everything lives in temp dirs; `stop()` removes it all.
 */

export type StoreKind = 'sqlite' | 'memory' | 'postgres';
export const STORE_KINDS: readonly StoreKind[] = ['sqlite', 'memory', 'postgres'];

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
export const stopProcess = async (p: WeftProcess): Promise<void> => {
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

/** How long a weft process took to become ready. */
export interface Started {
  /** ms from just before `spawn` to the output chunk that completed the ready line. */
  readonly readyMs: number;
  /**
   * CPU time (user + system, all its threads) the process had used when that chunk arrived, in
   * ms at the kernel's tick (10 ms); undefined where /proc is not readable. Less sensitive than
   * `readyMs` to other processes competing for the cores.
   */
  readonly cpuMs: number | undefined;
}

/** A weft process and how long it took to become ready. */
export interface Launched extends Started {
  readonly process: WeftProcess;
}

let ticksPerSecond: number | undefined;
/** utime + stime of a process from /proc/<pid>/stat, in ms; undefined if unreadable. */
export const cpuMsOf = (pid: number | undefined): number | undefined => {
  if (pid === undefined) return undefined;
  try {
    ticksPerSecond ??= Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
    // Fields after the command name, which is in parentheses and may hold spaces: state is
    // field 3, utime field 14, stime field 15.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? (ticks * 1000) / ticksPerSecond : undefined;
  } catch {
    return undefined;
  }
};

/**
 * `node bin/weft.js <args>` as test/support's `spawnWeft` starts it, except that a process that
 * does not become ready is killed rather than left behind, and, with a profile dir, it runs under
 * V8's CPU profiler (`--cpu-prof`; the profile is written when it exits).
 */
const launch = (
  args: readonly string[],
  ready: RegExp,
  profileDir: string | undefined,
  env: Readonly<Record<string, string>> = {},
): Promise<Launched> => launchNode([BIN, ...args], ready, profileDir, env);

/** `node <script> <args>` (`argv`) from the repository's root, started, watched and stopped as `launch` does. */
export const launchNode = async (
  argv: readonly string[],
  ready: RegExp,
  profileDir: string | undefined,
  env: Readonly<Record<string, string>> = {},
): Promise<Launched> => {
  const label = argv[0] === BIN ? `weft ${argv.slice(1).join(' ')}` : argv.join(' ');
  const spawnedAt = performance.now();
  const child = spawn(process.execPath, argv, {
    cwd: ROOT,
    env: {
      ...process.env,
      ...env,
      ...(profileDir === undefined
        ? {}
        : { NODE_OPTIONS: `${process.env['NODE_OPTIONS'] ?? ''} --cpu-prof --cpu-prof-dir=${profileDir}`.trim() }),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  let readyAt: number | undefined;
  let cpuMs: number | undefined;
  const append = (chunk: Buffer): void => {
    text = (text + chunk.toString()).slice(-64_000);
    if (readyAt === undefined && ready.test(text)) {
      readyAt = performance.now();
      cpuMs = cpuMsOf(child.pid);
    }
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
  while (readyAt === undefined) {
    if (child.exitCode !== null || child.signalCode !== null) {
      live.delete(p);
      throw new Error(`${label} exited early:\n${text}`);
    }
    if (performance.now() > deadline) {
      await stopProcess(p);
      throw new Error(`${label} was not ready within ${READY_TIMEOUT_MS / 1000} s:\n${text}`);
    }
    await sleep(20);
  }
  return { process: p, readyMs: readyAt - spawnedAt, cpuMs };
};

/** The id runtime `i` of the bench gets (`WEFT_RUNTIME_ID`): it names it in its logs and leases. */
export const runtimeId = (i: number): string => `bench-${i}`;

const serve = (nats: string, store: string, profileDir: string | undefined, i: number): Promise<Launched> =>
  launch(['serve', '--nats', nats, '--store', store], /runtime serving/, profileDir, { WEFT_RUNTIME_ID: runtimeId(i) });
const work = async (nats: string, profileDir: string | undefined): Promise<WeftProcess> =>
  (await launch(['worker', 'bench/activities.ts', '--nats', nats], /worker serving/, profileDir)).process;

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

const versionOf = (binary: string): string => {
  const out = spawnSync(binary, ['--version'], { encoding: 'utf8' });
  return /v?(\d+\.\d+(\.\d+)?\S*)/.exec(`${out.stdout}${out.stderr}`)?.[1] ?? 'unknown';
};

export const natsVersion = (): string => versionOf(findNatsServerBinary());

/** The version of the PostgreSQL server the bench starts (`postgres --version`). */
export const postgresVersion = (): string => versionOf(join(findPostgresBinDir(), 'postgres'));

export class Cluster {
  readonly store: StoreKind;
  readonly dir: string;
  readonly nats: NatsServerHandle;
  /** The private PostgreSQL server with `--store postgres`. */
  readonly postgres: PostgresHandle | undefined;
  /** The runtimes, runtime `i` with id `bench-<i>`; all on the same NATS and the same store. */
  runtimes: readonly WeftProcess[];
  readonly worker: WeftProcess;
  readonly client: TestClient;
  readonly #profileDir: string | undefined;
  readonly #log: (message: string) => void;
  #storeUrl: string;
  #generation = 0;
  #stopped = false;
  #stopping: Promise<void> | undefined;

  private constructor(parts: {
    store: StoreKind;
    dir: string;
    nats: NatsServerHandle;
    postgres: PostgresHandle | undefined;
    runtimes: readonly WeftProcess[];
    worker: WeftProcess;
    client: TestClient;
    storeUrl: string;
    profileDir: string | undefined;
    log: (message: string) => void;
  }) {
    this.store = parts.store;
    this.dir = parts.dir;
    this.nats = parts.nats;
    this.postgres = parts.postgres;
    this.runtimes = parts.runtimes;
    this.worker = parts.worker;
    this.client = parts.client;
    this.#storeUrl = parts.storeUrl;
    this.#profileDir = parts.profileDir;
    this.#log = parts.log;
  }

  /**
   * Starts everything, with `runtimes` runtimes on one store (a memory store is refused for more
   * than one: it lives inside its runtime); on a failure part way, stops what was started and
   * rethrows.
   */
  static async start(
    store: StoreKind,
    options: { runtimes: number; profileDir: string | undefined; log: (message: string) => void },
  ): Promise<Cluster> {
    if (options.runtimes > 1 && store === 'memory') throw new Error('a memory store cannot be shared by several runtimes');
    const dir = await mkdtemp(join(tmpdir(), 'weft-bench-'));
    let nats: NatsServerHandle | undefined;
    let postgres: PostgresHandle | undefined;
    const runtimes: WeftProcess[] = [];
    let worker: WeftProcess | undefined;
    try {
      nats = await startNatsServer();
      if (store === 'postgres') postgres = await startPostgres();
      const storeUrl = storeUrlOf(store, dir, 0, postgres);
      // One after another: each start migrates the store if needed, and a sqlite file takes one
      // migrating connection at a time.
      for (let i = 0; i < options.runtimes; i++) runtimes.push((await serve(nats.url, storeUrl, options.profileDir, i)).process);
      worker = await work(nats.url, options.profileDir);
      const client = await testClient(nats.url);
      const { profileDir, log } = options;
      const cluster = new Cluster({ store, dir, nats, postgres, runtimes, worker, client, storeUrl, profileDir, log });
      await cluster.#settle();
      return cluster;
    } catch (error) {
      if (worker !== undefined) await stopProcess(worker);
      await Promise.all(runtimes.map(stopProcess));
      await nats?.stop();
      await postgres?.stop();
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
  }

  /** Pids of the runtime processes, runtime `i` at index `i` (what `rssKiB` and `runtimeCpuMs` measure). */
  get runtimePids(): number[] {
    return this.runtimes.map((r) => r.child.pid ?? -1);
  }

  /**
   * CPU time (user + system, all threads) the runtime processes have used since they started,
   * summed over all of them, in ms at the kernel's tick; undefined if any is unreadable. Leaves
   * out the worker, nats-server and the store's server.
   */
  runtimeCpuMs(): number | undefined {
    let sum = 0;
    for (const pid of this.runtimePids) {
      const ms = cpuMsOf(pid);
      if (ms === undefined) return undefined;
      sum += ms;
    }
    return sum;
  }

  /**
   * CPU time of the runtimes (summed, as `runtimeCpuMs`), the worker and nats-server together, in
   * ms; undefined if any is unreadable. Leaves out the store's server (PostgreSQL) and the client.
   */
  stackCpuMs(): number | undefined {
    const runtimes = this.runtimeCpuMs();
    const worker = cpuMsOf(this.worker.child.pid);
    const nats = cpuMsOf(this.nats.pid);
    return runtimes === undefined || worker === undefined || nats === undefined ? undefined : runtimes + worker + nats;
  }

  /** VmRSS of each runtime process (with any children), in KiB, runtime `i` at index `i`. */
  runtimeRssKiB(): Promise<number[]> {
    return Promise.all(this.runtimePids.map(rssKiB));
  }

  /** The URL of the store the runtimes run on (a secret with postgres: it holds the password). */
  get storeUrl(): string {
    return this.#storeUrl;
  }

  /**
   * Stops every runtime and starts as many new ones: on the same store (`fresh` false; a memory
   * store starts empty anyway), or on a new, empty one. Blueprints live in the store: put them
   * again after a fresh start. Resolves with how long each new runtime took to become ready.
   */
  async restartRuntimes(fresh: boolean): Promise<Started[]> {
    await this.stopRuntimes();
    if (fresh) await this.#freshStore();
    return this.startRuntimes();
  }

  /** Stops every runtime, all at once (SIGTERM, SIGKILL after a grace period); `startRuntimes` starts them again. */
  async stopRuntimes(): Promise<void> {
    if (this.#stopped) throw new Error('the bench is stopping');
    await Promise.all(this.runtimes.map(stopProcess));
  }

  /**
   * Starts as many runtimes as before on the current store, one after another; resolves, once the
   * partitions are spread over them (when there are several), with how long each took to print
   * "runtime serving".
   */
  async startRuntimes(): Promise<Started[]> {
    const started: Launched[] = [];
    try {
      for (let i = 0; i < this.runtimes.length; i++) {
        if (this.#stopped) throw new Error('the bench is stopping');
        started.push(await serve(this.nats.url, this.#storeUrl, this.#profileDir, i));
      }
    } catch (error) {
      await Promise.all(started.map((s) => stopProcess(s.process)));
      throw error;
    }
    // stop() may have begun while the new runtimes were starting.
    if (this.#isStopped()) {
      await Promise.all(started.map((s) => stopProcess(s.process)));
      throw new Error('the bench is stopping');
    }
    this.runtimes = started.map((s) => s.process);
    await this.#settle();
    return started.map(({ readyMs, cpuMs }) => ({ readyMs, cpuMs }));
  }

  /** With several runtimes: waits (bounded) until the partitions are spread over all of them. */
  async #settle(): Promise<void> {
    if (this.runtimes.length > 1) {
      await awaitSpread(this.client.nc, this.runtimes.map((_, i) => runtimeId(i)), this.#log);
    }
  }

  /** Points the store URL at a new, empty store (a new sqlite file, a new postgres schema); the old sqlite file is removed. */
  async #freshStore(): Promise<void> {
    this.#generation += 1;
    const old = this.#storeUrl;
    this.#storeUrl = storeUrlOf(this.store, this.dir, this.#generation, this.postgres);
    if (this.store === 'sqlite') {
      for (const suffix of ['', '-wal', '-shm']) await rm(`${old.slice('sqlite:'.length)}${suffix}`, { force: true });
    }
  }

  #isStopped(): boolean {
    return this.#stopped;
  }

  /** Stops every process and removes every temp dir (once; later calls wait for it). Never rejects. */
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
    await step('runtimes', () => Promise.all(this.runtimes.map(stopProcess)));
    await step('nats-server', () => this.nats.stop());
    if (this.postgres !== undefined) {
      const postgres = this.postgres;
      await step('postgres', () => postgres.stop());
    }
    await step('temp dir', () => rm(this.dir, { recursive: true, force: true }));
  }
}

/** The store URL of generation `n`: a sqlite file in the bench dir, a fresh postgres schema, or `memory:`. */
const storeUrlOf = (store: StoreKind, dir: string, n: number, postgres: PostgresHandle | undefined): string => {
  switch (store) {
    case 'sqlite':
      return `sqlite:${join(dir, `events-${n}.db`)}`;
    case 'memory':
      return 'memory:';
    case 'postgres':
      if (postgres === undefined) throw new Error('--store postgres: no PostgreSQL server');
      return postgres.freshSchemaUrl();
  }
};
