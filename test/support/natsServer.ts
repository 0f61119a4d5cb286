import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { monotonicMs, sleep } from './wait.ts';
import { isExecutable } from './executable.ts';

export interface StartNatsServerOptions {
  /** Start with JetStream (`-js -sd <storeDir>`). Default true. */
  readonly jetstream?: boolean;
  /**
   * A nats-server configuration (its own syntax: `authorization { … }`, `tls { … }`), written to
   * the handle's temp dir and given with `-c`. The address, port, ports file and JetStream flags
   * still come from the command line, which wins over the file.
   */
  readonly config?: string;
  /** More command-line arguments, after the ones above. */
  readonly args?: readonly string[];
}

/**
 * A real `nats-server` child process on a random loopback port. Each handle owns its temporary
 * directory (ports file and JetStream store); `stop()` removes it.
 */
export interface NatsServerHandle {
  /** `nats://127.0.0.1:<port>`; unchanged by `restart()`. */
  readonly url: string;
  readonly port: number;
  /** Pid of the current process; changes on `restart()`. */
  readonly pid: number;
  /** The JetStream store directory (`-sd`); kept across `restart()`. */
  readonly storeDir: string;
  /** SIGTERM, wait for exit (SIGKILL after a deadline), remove the temp dirs. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL without waiting or cleaning up: a crash. Follow with `restart()` or `stop()`. */
  kill9(): void;
  /**
   * Stop the process if it still runs, then start a new one on the same port and store dir.
   * `wipe: true` empties the store dir in between: the new server has lost every stream, consumer
   * and message, as a JetStream whose storage was lost.
   */
  restart(options?: RestartNatsServerOptions): Promise<void>;
}

export interface RestartNatsServerOptions {
  /** Empty the JetStream store directory while no server runs. Default false. */
  readonly wipe?: boolean;
}

const READY_TIMEOUT_MS = 10_000;
const TERM_GRACE_MS = 5_000;
const KILL_GRACE_MS = 5_000;
const WELL_KNOWN = ['/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server'];

/** Servers still running, killed if the test process exits without stopping them. */
const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/**
 * The `nats-server` binary: first on PATH, else a well-known install location (Debian puts it
 * in /usr/sbin, which is not on a normal user's PATH). Throws with the install command if absent.
 */
export function findNatsServerBinary(): string {
  const onPath = (process.env['PATH'] ?? '')
    .split(delimiter)
    .filter((dir) => dir !== '')
    .map((dir) => join(dir, 'nats-server'));
  const found = [...onPath, ...WELL_KNOWN].find(isExecutable);
  if (found === undefined) {
    throw new Error(
      'nats-server not found on PATH or in /usr/sbin, /usr/bin, /usr/local/bin. ' +
        'Run `node scripts/ensure-nats.mjs` or `sudo apt-get install -y nats-server`.',
    );
  }
  return found;
}

interface RunningServer {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Resolves once the process has exited (or failed to spawn); never rejects. */
  readonly exited: Promise<void>;
  /** The last few KB of the server's log (stderr), for error messages. */
  readonly log: () => string;
}

function launch(binary: string, args: readonly string[]): RunningServer {
  const child = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let logTail = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    logTail = (logTail + chunk).slice(-8_192);
  });
  let spawnError: Error | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      resolve();
    });
    child.once('error', (error) => {
      spawnError = error;
      resolve();
    });
  });
  live.add(child);
  void exited.then(() => live.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const server of live) server.kill('SIGKILL');
    });
  }
  return {
    child,
    pid: child.pid ?? -1,
    exited,
    log: () => (spawnError ? `spawn failed: ${spawnError.message}\n` : '') + logTail,
  };
}

const hasExited = (child: ChildProcess): boolean =>
  child.exitCode !== null || child.signalCode !== null || child.pid === undefined;

/** Resolves true if `exited` settles within `ms`, false otherwise. */
async function exitsWithin(exited: Promise<void>, ms: number): Promise<boolean> {
  const timer = new AbortController();
  try {
    return await Promise.race([exited.then(() => true), sleep(ms, timer.signal).then(() => false)]);
  } finally {
    timer.abort();
  }
}

/** SIGTERM, then SIGKILL after a grace period; resolves when the process is gone. */
async function terminate(server: RunningServer): Promise<void> {
  if (hasExited(server.child)) return;
  server.child.kill('SIGTERM');
  if (await exitsWithin(server.exited, TERM_GRACE_MS)) return;
  server.child.kill('SIGKILL');
  if (await exitsWithin(server.exited, KILL_GRACE_MS)) return;
  throw new Error(`nats-server pid ${server.pid} did not exit after SIGKILL`);
}

/**
 * Polls the ports file that nats-server writes once its client listener is up, and returns
 * the client port. Fails fast if the process exits; after the deadline it kills the process.
 */
async function readClientPort(server: RunningServer, portsDir: string): Promise<number> {
  const suffix = `_${server.pid}.ports`;
  const deadline = monotonicMs() + READY_TIMEOUT_MS;
  for (;;) {
    if (hasExited(server.child)) {
      throw new Error(`nats-server exited before it was ready:\n${server.log()}`);
    }
    const file = (await readdir(portsDir)).find((name) => name.endsWith(suffix));
    if (file !== undefined) {
      const port = parseClientPort(await readFile(join(portsDir, file), 'utf8'));
      if (port !== undefined) return port;
    }
    if (monotonicMs() >= deadline) {
      await terminate(server).catch(() => undefined);
      throw new Error(
        `nats-server pid ${server.pid} wrote no ports file in ${portsDir} within ` +
          `${READY_TIMEOUT_MS} ms:\n${server.log()}`,
      );
    }
    await sleep(10);
  }
}

/** `{"nats":["nats://127.0.0.1:4222"], ...}` -> 4222; undefined while the file is incomplete. */
function parseClientPort(text: string): number | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || !('nats' in parsed)) return undefined;
  const urls = parsed.nats;
  const first: unknown = Array.isArray(urls) ? urls[0] : undefined;
  if (typeof first !== 'string') return undefined;
  const port = Number(new URL(first).port);
  return Number.isInteger(port) && port > 0 ? port : undefined;
}

/**
 * Starts `nats-server` on 127.0.0.1 with a random port (`-p -1`) and, by default, JetStream in
 * a fresh temp directory. Resolves once the server has written its ports file (it accepts
 * clients from then on); rejects after 10 s with the server's log.
 */
export async function startNatsServer(
  options: StartNatsServerOptions = {},
): Promise<NatsServerHandle> {
  const jetstream = options.jetstream ?? true;
  const binary = findNatsServerBinary();
  const root = await mkdtemp(join(tmpdir(), 'weft-nats-'));
  const portsDir = join(root, 'ports');
  const storeDir = join(root, 'store');
  await mkdir(portsDir);
  await mkdir(storeDir);
  const configFile = join(root, 'nats-server.conf');
  if (options.config !== undefined) await writeFile(configFile, options.config);

  const argsFor = (port: number): string[] => [
    ...(options.config === undefined ? [] : ['-c', configFile]),
    '-a',
    '127.0.0.1',
    '-p',
    String(port),
    '--ports_file_dir',
    portsDir,
    ...(jetstream ? ['-js', '-sd', storeDir] : []),
    ...(options.args ?? []),
  ];

  let current = launch(binary, argsFor(-1));
  let port: number;
  try {
    port = await readClientPort(current, portsDir);
  } catch (error) {
    await rm(root, { recursive: true, force: true });
    throw error;
  }
  let stopped = false;

  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    get pid() {
      return current.pid;
    },
    storeDir,
    async stop() {
      if (stopped) return;
      stopped = true;
      await terminate(current);
      await rm(root, { recursive: true, force: true });
    },
    kill9() {
      if (!hasExited(current.child)) current.child.kill('SIGKILL');
    },
    async restart(options = {}) {
      if (stopped) throw new Error('restart() after stop()');
      await terminate(current);
      if (options.wipe === true) {
        await rm(storeDir, { recursive: true, force: true });
        await mkdir(storeDir);
      }
      current = launch(binary, argsFor(port));
      const newPort = await readClientPort(current, portsDir);
      if (newPort !== port) throw new Error(`restarted on port ${newPort}, expected ${port}`);
    },
  };
}

/** One node of a cluster started by `startNatsCluster`. */
export interface NatsClusterNode {
  /** `--server_name`: `n0`, `n1`, … (JetStream names stream leaders by it). */
  readonly name: string;
  /** `nats://127.0.0.1:<client port>`; unchanged by `restart()`. */
  readonly url: string;
  readonly pid: number;
  /** SIGKILL without waiting: a crash of this node. Follow with `restart()`. */
  kill9(): void;
  /** Starts the node again on the same ports and JetStream directory (stopping it first if it runs). */
  restart(): Promise<void>;
}

export interface NatsClusterHandle {
  /** Every node's client URL, comma-separated (what `--nats` takes). */
  readonly urls: string;
  readonly nodes: readonly NatsClusterNode[];
  /** Stops every node (SIGTERM, SIGKILL after a deadline) and removes the temp dirs. Idempotent. */
  stop(): Promise<void>;
}

/** A free loopback TCP port, as the kernel hands one out (free when it is read, not reserved). */
const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });

/**
 * A JetStream cluster of `size` real `nats-server` processes on loopback (random client ports,
 * routes between all of them, cluster name `weft`, a JetStream directory each). Resolves once every
 * node accepts clients; JetStream's meta leader may still be in election (callers wait for their
 * first JetStream request to succeed).
 */
export async function startNatsCluster(size = 3): Promise<NatsClusterHandle> {
  const binary = findNatsServerBinary();
  const root = await mkdtemp(join(tmpdir(), 'weft-nats-cluster-'));
  const routePorts = await Promise.all(Array.from({ length: size }, () => freePort()));
  const routes = routePorts.map((p) => `nats://127.0.0.1:${String(p)}`).join(',');
  const nodes: {
    name: string;
    current: RunningServer;
    port: number;
    args: (p: number) => string[];
  }[] = [];
  try {
    for (let i = 0; i < size; i++) {
      const dir = join(root, `n${String(i)}`);
      await mkdir(join(dir, 'ports'), { recursive: true });
      await mkdir(join(dir, 'store'), { recursive: true });
      const args = (port: number): string[] => [
        '-a',
        '127.0.0.1',
        '-p',
        String(port),
        '--ports_file_dir',
        join(dir, 'ports'),
        '-js',
        '-sd',
        join(dir, 'store'),
        '--server_name',
        `n${String(i)}`,
        '--cluster_name',
        'weft',
        '--cluster',
        `nats://127.0.0.1:${String(routePorts[i])}`,
        '--routes',
        routes,
      ];
      const current = launch(binary, args(-1));
      nodes.push({ name: `n${String(i)}`, current, port: -1, args });
    }
    for (const [i, node] of nodes.entries())
      node.port = await readClientPort(node.current, join(root, `n${String(i)}`, 'ports'));
  } catch (error) {
    await Promise.all(nodes.map((n) => terminate(n.current).catch(() => undefined)));
    await rm(root, { recursive: true, force: true });
    throw error;
  }
  let stopped = false;
  return {
    urls: nodes.map((n) => `nats://127.0.0.1:${String(n.port)}`).join(','),
    nodes: nodes.map((node, i) => ({
      name: node.name,
      url: `nats://127.0.0.1:${String(node.port)}`,
      get pid() {
        return node.current.pid;
      },
      kill9() {
        if (!hasExited(node.current.child)) node.current.child.kill('SIGKILL');
      },
      async restart() {
        if (stopped) throw new Error('restart() after stop()');
        await terminate(node.current);
        node.current = launch(binary, node.args(node.port));
        const port = await readClientPort(node.current, join(root, `n${String(i)}`, 'ports'));
        if (port !== node.port) throw new Error(`${node.name} restarted on port ${String(port)}`);
      },
    })),
    async stop() {
      if (stopped) return;
      stopped = true;
      await Promise.all(nodes.map((n) => terminate(n.current)));
      await rm(root, { recursive: true, force: true });
    },
  };
}
