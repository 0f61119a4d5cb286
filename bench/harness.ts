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

/**
 * The processes of one bench: a real nats-server (JetStream), the runtime (`weft serve`) and a
 * worker (`weft worker bench/activities.ts`), each its own process, started the way a user starts
 * them, and one client connection; with `postgres`, a private PostgreSQL cluster too (the tests'
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
const cpuMsOf = (pid: number | undefined): number | undefined => {
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
const launch = async (args: readonly string[], ready: RegExp, profileDir: string | undefined): Promise<Launched> => {
  const spawnedAt = performance.now();
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
      throw new Error(`weft ${args.join(' ')} exited early:\n${text}`);
    }
    if (performance.now() > deadline) {
      await stopProcess(p);
      throw new Error(`weft ${args.join(' ')} was not ready within ${READY_TIMEOUT_MS / 1000} s:\n${text}`);
    }
    await sleep(20);
  }
  return { process: p, readyMs: readyAt - spawnedAt, cpuMs };
};

const serve = (nats: string, store: string, profileDir: string | undefined): Promise<Launched> =>
  launch(['serve', '--nats', nats, '--store', store], /runtime serving/, profileDir);
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
    postgres: PostgresHandle | undefined;
    runtime: WeftProcess;
    worker: WeftProcess;
    client: TestClient;
    storeUrl: string;
    profileDir: string | undefined;
  }) {
    this.store = parts.store;
    this.dir = parts.dir;
    this.nats = parts.nats;
    this.postgres = parts.postgres;
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
    let postgres: PostgresHandle | undefined;
    let runtime: WeftProcess | undefined;
    let worker: WeftProcess | undefined;
    try {
      nats = await startNatsServer();
      if (store === 'postgres') postgres = await startPostgres();
      const storeUrl = storeUrlOf(store, dir, 0, postgres);
      runtime = (await serve(nats.url, storeUrl, profileDir)).process;
      worker = await work(nats.url, profileDir);
      const client = await testClient(nats.url);
      return new Cluster({ store, dir, nats, postgres, runtime, worker, client, storeUrl, profileDir });
    } catch (error) {
      if (worker !== undefined) await stopProcess(worker);
      if (runtime !== undefined) await stopProcess(runtime);
      await nats?.stop();
      await postgres?.stop();
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
  }

  /** Pid of the runtime process (what `rssKiB` measures). */
  get runtimePid(): number {
    return this.runtime.child.pid ?? -1;
  }

  /** The URL of the store the runtime runs on (a secret with postgres: it holds the password). */
  get storeUrl(): string {
    return this.#storeUrl;
  }

  /**
   * Stops the runtime and starts a new one: on the same store (`fresh` false; a memory store
   * starts empty anyway), or on a new, empty one. Blueprints live in the store: put them again
   * after a fresh start. Resolves with how long the new runtime took to become ready.
   */
  async restartRuntime(fresh: boolean): Promise<Started> {
    await this.stopRuntime();
    if (fresh) await this.#freshStore();
    return this.startRuntime();
  }

  /** Stops the runtime (SIGTERM, SIGKILL after a grace period); `startRuntime` starts it again. */
  async stopRuntime(): Promise<void> {
    if (this.#stopped) throw new Error('the bench is stopping');
    await stopProcess(this.runtime);
  }

  /** Starts a runtime on the current store; resolves with how long it took to print "runtime serving". */
  async startRuntime(): Promise<Started> {
    if (this.#stopped) throw new Error('the bench is stopping');
    const { process: runtime, readyMs, cpuMs } = await serve(this.nats.url, this.#storeUrl, this.#profileDir);
    // stop() may have begun while the new runtime was starting.
    if (this.#isStopped()) {
      await stopProcess(runtime);
      throw new Error('the bench is stopping');
    }
    this.runtime = runtime;
    return { readyMs, cpuMs };
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
