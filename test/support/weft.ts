import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';
import { startNatsServer, type NatsServerHandle } from './natsServer.ts';
import { freshTestStore } from './stores.ts';
import { sleep, waitFor } from './wait.ts';

/** weft processes started the way a user starts them (`node bin/weft.js …`), stopped by pid. */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/weft.js', import.meta.url));

const nodeMajor = (binary: string): number =>
  Number(
    /^v(\d+)\./.exec(execFileSync(binary, ['--version'], { encoding: 'utf8' }).trim())?.[1] ?? 0,
  );

let pinnedNode: string | undefined;
/**
 * The Node 24 that runs weft in tests: the `node` devDependency (node_modules/.bin/node), else the
 * test runner's own node when that is 24 or later. Under an older node `bin/weft.js` re-launches
 * itself as a child, so the pid a test holds would be a wrapper, not the runtime, and a SIGKILL
 * of it would leave the runtime running: that is refused here, loudly, instead.
 */
export const weftNode = (): string => {
  if (pinnedNode !== undefined) return pinnedNode;
  const devDependency = join(ROOT, 'node_modules', '.bin', 'node');
  const candidates = [...(existsSync(devDependency) ? [devDependency] : []), process.execPath];
  const found = candidates.find((binary) => nodeMajor(binary) >= 24);
  if (found === undefined)
    throw new Error(
      `tests need Node 24 to run weft (run \`npm install\`, which provides node@24 in ` +
        `node_modules/.bin/node); found ${candidates.map((c) => `${c} ${String(nodeMajor(c))}`).join(', ')}`,
    );
  pinnedNode = found;
  return found;
};

export interface WeftProcess {
  readonly child: ChildProcess;
  output(): string;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<number | null>;
  kill9(): Promise<void>;
}

export const spawnWeft = async (
  args: readonly string[],
  ready: RegExp,
  env: NodeJS.ProcessEnv = {},
): Promise<WeftProcess> => {
  const child = spawn(weftNode(), [BIN, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  await waitFor(() => ready.test(text) || child.exitCode !== null, {
    timeoutMs: 20_000,
    message: `weft ${args.join(' ')} did not become ready`,
  });
  if (child.exitCode !== null) throw new Error(`weft ${args.join(' ')} exited early:\n${text}`);
  return {
    child,
    output: () => text,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
    async kill9() {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
};

/** How a one-shot `weft` command ended. */
export interface WeftRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Wall time from spawn to exit. */
  readonly ms: number;
}

/** Runs `weft <args>` to its end (from the repository root); kills it after `timeoutMs`. */
export const runWeft = (
  args: readonly string[],
  { env = {}, timeoutMs = 25_000 }: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
) =>
  new Promise<WeftRun>((resolve, reject) => {
    const started = performance.now();
    const child = spawn(weftNode(), [BIN, ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    // decoded as a stream, so a character split across chunks (the diagnostics' "→") stays whole
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => (stdout += chunk));
    child.stderr.on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(
          `weft ${args.join(' ')} did not exit within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`,
        ),
      );
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: performance.now() - started });
    });
  });

/** More for a process the helpers below start: arguments (e.g. `--user`, `--tls-ca`) and environment. */
export interface WeftExtra {
  readonly args?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
}

export const startServe = (
  nats: string,
  store: string,
  prefix = 'weft',
  { args = [], env = {} }: WeftExtra = {},
) =>
  spawnWeft(
    ['serve', '--nats', nats, '--store', store, '--prefix', prefix, ...args],
    /runtime serving/,
    env,
  );

export const startWorker = (
  nats: string,
  module = 'test/support/activities.ts',
  prefix = 'weft',
  { args = [], env = {} }: WeftExtra = {},
) =>
  spawnWeft(['worker', module, '--nats', nats, '--prefix', prefix, ...args], /worker serving/, env);

export interface Reply<T = unknown> {
  readonly ok: boolean;
  readonly data?: T;
  readonly error?: { readonly code: string; readonly message: string; readonly details?: unknown };
  readonly headers?: MsgHdrs | undefined;
}

export interface TestClient {
  readonly nc: NatsConnection;
  request<T = unknown>(subject: string, body?: unknown, timeoutMs?: number): Promise<Reply<T>>;
  /** Request that must succeed; returns `data`. */
  call<T = unknown>(subject: string, body?: unknown, timeoutMs?: number): Promise<T>;
  raw(subject: string, payload: string | Uint8Array): Promise<Reply>;
  close(): Promise<void>;
}

export const testClient = async (url: string): Promise<TestClient> => {
  const nc = await connect({ servers: url.split(',') });
  const raw = async (
    subject: string,
    payload: string | Uint8Array,
    timeoutMs = 10_000,
  ): Promise<Reply> => {
    const msg = await nc.request(subject, payload, { timeout: timeoutMs });
    return { ...msg.json<Reply>(), headers: msg.headers };
  };
  const request = async <T>(subject: string, body: unknown = {}, timeoutMs = 10_000) =>
    (await raw(subject, JSON.stringify(body), timeoutMs)) as Reply<T>;
  return {
    nc,
    request,
    raw: (subject, payload) => raw(subject, payload),
    async call<T>(subject: string, body: unknown = {}, timeoutMs = 10_000) {
      const reply = await request<T>(subject, body, timeoutMs);
      if (!reply.ok) throw new Error(`${subject} failed: ${JSON.stringify(reply.error)}`);
      return reply.data as T;
    },
    close: () => nc.close(),
  };
};

/**
 * One integration stack as a user runs it: a nats-server on a random loopback port, `weft serve`
 * on a fresh store (the one given, else a sqlite file in the stack's temp dir, or a PostgreSQL
 * schema of its own under `WEFT_TEST_STORE=postgres`: test/support/stores.ts), `weft worker
 * <module>`, and a client. `stop()` ends every process, drops that schema and removes the temp dir.
 */
export interface Stack {
  readonly nats: NatsServerHandle;
  readonly dir: string;
  readonly store: string;
  readonly client: TestClient;
  runtime: WeftProcess;
  worker: WeftProcess | undefined;
  /** Stops the runtime gracefully; throws with its output unless it exited with code 0. */
  stopRuntime(): Promise<void>;
  /** Starts a runtime on the same NATS and store (after `stopRuntime`, or when it died). */
  startRuntime(): Promise<void>;
  /** `stopRuntime`, then `startRuntime`. */
  restartRuntime(): Promise<void>;
  stop(): Promise<void>;
}

/** How long a graceful stop of a stack's runtime may take before it counts as hung. */
const STOP_GRACE_MS = 15_000;

export const startStack = async (
  options: {
    readonly workerModule?: string;
    readonly env?: NodeJS.ProcessEnv;
    /** The runtime's `--store`; default a fresh one of `WEFT_TEST_STORE`'s kind (sqlite). */
    readonly store?: string;
  } = {},
): Promise<Stack> => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-it-'));
  const fresh =
    options.store === undefined
      ? await freshTestStore(dir)
      : { url: options.store, drop: () => Promise.resolve() };
  const store = fresh.url;
  const nats = await startNatsServer();
  // One runtime at a time, under one id: restarted, it takes its partitions back at once.
  const serve = () =>
    spawnWeft(['serve', '--nats', nats.url, '--store', store], /runtime serving/, {
      WEFT_RUNTIME_ID: 'stack-runtime',
      ...options.env,
    });
  const stack: Stack = {
    nats,
    dir,
    store,
    runtime: await serve(),
    worker: await startWorker(nats.url, options.workerModule),
    client: await testClient(nats.url),
    async stopRuntime() {
      const { runtime } = stack;
      const grace = new AbortController();
      const code = await Promise.race([
        runtime.stop(),
        sleep(STOP_GRACE_MS, grace.signal).then(() => 'hung'),
      ]);
      grace.abort();
      if (code === 'hung') {
        await runtime.kill9();
        throw new Error(
          `runtime did not exit within ${STOP_GRACE_MS} ms of SIGTERM (killed):\n${runtime.output()}`,
        );
      }
      if (code !== 0) throw new Error(`runtime exited with ${String(code)}:\n${runtime.output()}`);
    },
    async startRuntime() {
      stack.runtime = await serve();
    },
    async restartRuntime() {
      await stack.stopRuntime();
      await stack.startRuntime();
    },
    async stop() {
      await stack.client.close().catch(() => undefined);
      await stack.worker?.stop();
      await stack.runtime.stop();
      await nats.stop();
      await fresh.drop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return stack;
};

/** Waits until the run has ended (any status but `running`) and returns its summary. */
export const runEnded = async (
  client: TestClient,
  runId: string,
  timeoutMs = 20_000,
): Promise<Summary> => {
  const ended = await waitFor(
    async () => {
      const summary = await client.call<Summary>(`weft.runs.${runId}.get`);
      return summary.status === 'running' ? undefined : summary;
    },
    { timeoutMs, message: `run ${runId} ended` },
  );
  if (ended === undefined) throw new Error(`run ${runId} did not end`);
  return ended;
};

/** A run summary as `weft.runs.<id>.get` answers it (CONTRACT §3). */
export interface Summary {
  readonly runId: string;
  readonly status: string;
  readonly blueprint: { readonly name: string; readonly version: number };
  readonly input: unknown;
  readonly output?: unknown;
  readonly error?: {
    readonly code: string;
    readonly message: string;
    readonly stepId?: string;
    readonly details?: unknown;
  };
  readonly startedAt: string;
  readonly compensated?: boolean;
  readonly cleanupErrors?: readonly { readonly stepId: string; readonly error: unknown }[];
  readonly endedAt?: string;
}

/** One event as `weft.runs.<id>.history` answers it. */
export interface HistoryEvent {
  readonly revision: number;
  readonly type: string;
  readonly data: Record<string, unknown>;
  readonly at: string;
}

/** An activity step for inline blueprints. */
export const act = (id: string, activity: string, extra: Record<string, unknown> = {}) => ({
  id,
  type: 'activity',
  activity,
  ...extra,
});

/**
 * One step skipped for every reason there is (`dependency_failed`, `handler_unused`, `if_false`,
 * `not_taken`): with input `{audit: false, express: false}`, `charge` fails onto `refund`.
 * Shared by the history test and the golden stream it is recorded into (test/replay/record.ts).
 */
export const SKIPS_BLUEPRINT = {
  name: 'skips',
  steps: [
    act('charge', 'declined', { onError: 'refund', maxAttempts: 1 }),
    act('ship', 'echo'),
    act('refund', 'echo'),
    act('audit', 'echo', { if: '{% $input.audit %}' }),
    {
      id: 'route',
      type: 'condition',
      when: '{% $input.express %}',
      then: [act('express', 'echo')],
      else: [act('standard', 'echo')],
    },
    act('check', 'echo', { onError: 'fix' }),
    act('finish', 'echo'),
    act('fix', 'echo'),
  ],
};
