import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import {
  startNatsServer,
  type NatsClusterHandle,
  type NatsServerHandle,
} from '../support/natsServer.ts';
import { freshTestStore } from '../support/stores.ts';
import { sleep, waitFor, type WaitForOptions } from '../support/wait.ts';
import {
  spawnWeft,
  testClient,
  type HistoryEvent,
  type Summary,
  type TestClient,
  type WeftProcess,
} from '../support/weft.ts';

/**
 * Shared plumbing of the fault scenarios (`test/faults/*.fault.ts`, run by `npm run test:faults`):
 * a real nats-server, a temp store (sqlite, or a schema of a PostgreSQL server), weft processes
 * started like a user starts them, and a cleanup that stops every one of them — also when the
 * scenario failed half way. The store is read back through its adapter (test/support/stores.ts),
 * so a scenario's checks of what is stored hold on every store.
 */

export type { HistoryEvent, Summary } from '../support/weft.ts';
export { countStoredEvents } from '../support/stores.ts';

export const FAULT_WORKER = 'test/faults/activities.ts';
export const SUPPORT_WORKER = 'test/support/activities.ts';

/** Every weft child process of this test file, killed when the test process exits whatever happens. */
const children = new Set<WeftProcess>();
let exitHook = false;
const track = (p: WeftProcess): WeftProcess => {
  children.add(p);
  p.child.once('exit', () => children.delete(p));
  if (!exitHook) {
    exitHook = true;
    process.once('exit', () => {
      for (const c of children)
        if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
    });
  }
  return p;
};

const alive = (p: WeftProcess): boolean => p.child.exitCode === null && p.child.signalCode === null;

/** How a process ended: its exit code or the signal that ended it; `forced` when SIGKILL was needed. */
export interface Ended {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly forced: boolean;
}

/**
 * SIGTERM, and SIGKILL when the process has not exited within `graceMs`. Resolves with how it
 * ended (a graceful stop is `{code: 0, signal: null, forced: false}`); undefined for no process.
 */
export const stopProcess = async (
  p: WeftProcess | undefined,
  graceMs = 8_000,
): Promise<Ended | undefined> => {
  if (p === undefined) return undefined;
  let forced = false;
  if (alive(p)) {
    const grace = new AbortController();
    const stopped = p.stop().then(() => true);
    const late = sleep(graceMs, grace.signal).then(() => false);
    forced = !(await Promise.race([stopped, late]));
    grace.abort();
    if (forced) await p.kill9();
  }
  return { code: p.child.exitCode, signal: p.child.signalCode, forced };
};

/**
 * A TCP relay in front of the NATS server that counts the messages on `subject` (that subject, or
 * any subject the pattern matches) the server delivers through it (the protocol's MSG/HMSG frames;
 * payloads are skipped, not searched). A
 * process given its `url` talks to NATS as before, and `delivered()` is what NATS handed to that
 * process alone — e.g. its share of a queue group.
 */
export interface NatsTap {
  readonly url: string;
  delivered(): number;
  close(): Promise<void>;
}

const startNatsTap = async (port: number, subject: string | RegExp): Promise<NatsTap> => {
  const counts = (s: string | undefined): boolean =>
    typeof subject === 'string' ? s === subject : s !== undefined && subject.test(s);
  let delivered = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(port, '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.once('close', () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
      socket.on('error', () => socket.destroy());
    }
    client.pipe(upstream);
    upstream.pipe(client);
    let pending: Buffer = Buffer.alloc(0);
    let skip = 0;
    upstream.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      for (;;) {
        if (skip > 0) {
          const n = Math.min(skip, pending.length);
          pending = pending.subarray(n);
          skip -= n;
          if (skip > 0) return;
        }
        const eol = pending.indexOf('\r\n');
        if (eol < 0) return;
        const [op, frameSubject, ...rest] = pending.subarray(0, eol).toString('latin1').split(' ');
        pending = pending.subarray(eol + 2);
        if (op === 'MSG' || op === 'HMSG') {
          if (counts(frameSubject)) delivered++;
          // The last field is the frame's payload size (headers included); then CRLF.
          skip = Number(rest.at(-1)) + 2;
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `nats://127.0.0.1:${(server.address() as AddressInfo).port}`,
    delivered: () => delivered,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
};

export interface Harness {
  /** The harness's own NATS server (throws on a harness started on a `cluster`). */
  readonly nats: NatsServerHandle;
  /** The NATS URL(s) its processes and clients are given (comma-separated on a cluster). */
  readonly natsUrl: string;
  readonly dir: string;
  /** The runtime's `--store`: `sqlite:<dir>/events.db`, or the PostgreSQL schema URL given. */
  readonly store: string;
  /** `<dir>/events.db`, the sqlite file (unused when the store is PostgreSQL). */
  readonly dbPath: string;
  /** `weft serve` on this harness's NATS (or `natsUrl`, e.g. a tap's) and store, with extra environment. */
  serve(env?: NodeJS.ProcessEnv, natsUrl?: string): Promise<WeftProcess>;
  /** A tap on this harness's NATS counting deliveries of `subject`; closed by `close()`. Not on a cluster. */
  tap(subject: string | RegExp): Promise<NatsTap>;
  /** `weft worker <module>`; `concurrency` → `--concurrency`. */
  worker(module?: string, concurrency?: number, env?: NodeJS.ProcessEnv): Promise<WeftProcess>;
  client(): Promise<TestClient>;
  /** Stops every process and client this harness started, the NATS server, and removes the temp dir. Never throws. */
  close(): Promise<void>;
}

/**
 * Starts the NATS server of a scenario; its store is a sqlite file in the temp dir, or, given
 * `postgres` (a server's URL), a fresh schema of that server, dropped by `close()`. Given a
 * `cluster` (started and stopped by the caller), its processes and clients use all its nodes'
 * URLs instead, and no server of its own is started.
 */
export const startHarness = async (
  name: string,
  options: {
    readonly postgres?: string | undefined;
    readonly cluster?: NatsClusterHandle | undefined;
  } = {},
): Promise<Harness> => {
  const dir = mkdtempSync(join(tmpdir(), `weft-fault-${name}-`));
  const dbPath = join(dir, 'events.db');
  const fresh = await freshTestStore(dir, options);
  const store = fresh.url;
  let nats: NatsServerHandle | undefined;
  try {
    if (options.cluster === undefined) nats = await startNatsServer();
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const processes: WeftProcess[] = [];
  const runtimeIds = new Map<WeftProcess, string>();
  const clients: TestClient[] = [];
  const taps: NatsTap[] = [];
  const own = (): NatsServerHandle => {
    if (nats === undefined)
      throw new Error(`harness ${name} runs on a NATS cluster, not a server of its own`);
    return nats;
  };
  const natsUrl = options.cluster?.urls ?? own().url;
  return {
    get nats() {
      return own();
    },
    natsUrl,
    dir,
    store,
    dbPath,
    async serve(env = {}, url = natsUrl) {
      // The lowest id no live runtime of this harness has: a runtime started again after one was
      // killed is that runtime restarted, and takes its leases back at once, as a user's would
      // under a fixed WEFT_RUNTIME_ID (README "Running a cluster").
      const taken = new Set(processes.filter(alive).map((p) => runtimeIds.get(p)));
      let id = 0;
      while (taken.has(`runtime-${String(id)}`)) id++;
      const runtimeId = env.WEFT_RUNTIME_ID ?? `runtime-${String(id)}`;
      const p = track(
        await spawnWeft(['serve', '--nats', url, '--store', store], /runtime serving/, {
          WEFT_RUNTIME_ID: runtimeId,
          ...env,
        }),
      );
      runtimeIds.set(p, runtimeId);
      processes.push(p);
      return p;
    },
    async tap(subject) {
      const t = await startNatsTap(own().port, subject);
      taps.push(t);
      return t;
    },
    async worker(module = FAULT_WORKER, concurrency, env = {}) {
      const args = [
        'worker',
        module,
        '--nats',
        natsUrl,
        ...(concurrency === undefined ? [] : ['--concurrency', String(concurrency)]),
      ];
      const p = track(await spawnWeft(args, /worker serving/, env));
      processes.push(p);
      return p;
    },
    async client() {
      const c = await testClient(natsUrl);
      clients.push(c);
      return c;
    },
    async close() {
      for (const c of clients) await c.close().catch(() => undefined);
      await Promise.all(processes.map((p) => stopProcess(p).catch(() => undefined)));
      for (const t of taps) await t.close().catch(() => undefined);
      await nats?.stop().catch(() => undefined);
      await fresh.drop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
};

/** `waitFor` for a callback that answers `undefined` (or another falsy value) until it has the value. */
export const waitForValue = async <T>(
  fn: () => Promise<T | undefined> | T | undefined,
  options: WaitForOptions,
): Promise<NonNullable<T>> => {
  const value = await waitFor(fn, options);
  if (value === undefined || value === null)
    throw new Error(`waitForValue: ${options.message ?? 'condition'} gave no value`);
  return value;
};

/**
 * Counts the StepCompleted events the runtime publishes on `weft.runs.*.events` (after their
 * append): a scenario's measure of progress, e.g. to kill a process mid-load. Returns the count so far.
 */
export const countStepCompleted = (client: TestClient): (() => number) => {
  let seen = 0;
  client.nc.subscribe('weft.runs.*.events', {
    callback: (error, msg) => {
      if (error === null && msg.json<{ type: string }>().type === 'StepCompleted') seen++;
    },
  });
  return () => seen;
};

/** The whole history of a run (one request: a few hundred events at most here). */
export const historyOf = async (client: TestClient, runId: string): Promise<HistoryEvent[]> =>
  (
    await client.call<{ events: HistoryEvent[] }>(
      `weft.runs.${runId}.history`,
      { limit: 10_000 },
      30_000,
    )
  ).events;

/**
 * Waits until all `count` runs of `blueprint` are listed `completed`, and returns them (each page
 * asked with `pageTimeoutMs`, see `listAll`).
 */
export const allCompleted = (
  client: TestClient,
  blueprint: string,
  count: number,
  options: { readonly timeoutMs?: number; readonly pageTimeoutMs?: number } = {},
): Promise<Summary[]> =>
  waitForValue(
    async () => {
      const runs = await listAll(client, { blueprint, status: 'completed' }, options.pageTimeoutMs);
      return runs.length === count ? runs : undefined;
    },
    {
      timeoutMs: options.timeoutMs ?? 120_000,
      intervalMs: 500,
      message: `all ${String(count)} runs completed`,
    },
  );

/**
 * Every run summary the runtime knows with this status (all pages). Pollers pass a short
 * `timeoutMs`: a core NATS request sent while the connection is being re-established is lost, and
 * should cost a retry, not the default 30 s.
 */
export const listAll = async (
  client: TestClient,
  filter: { status?: string; blueprint?: string } = {},
  timeoutMs = 30_000,
): Promise<Summary[]> => {
  const runs: Summary[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await client.call<{ runs: Summary[]; cursor?: string }>(
      'weft.runs.list',
      { ...filter, limit: 1000, ...(cursor === undefined ? {} : { cursor }) },
      timeoutMs,
    );
    runs.push(...page.runs);
    if (page.cursor === undefined) return runs;
    cursor = page.cursor;
  }
};

/** Runs `fn` over `items` with at most `limit` calls in flight; results in item order. */
export const pool = async <T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> => {
  const results = new Array<R>(items.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
};

/** Resident set size of a process in KiB (from /proc), or undefined when it is gone. */
export const rssKiB = (pid: number): number | undefined => {
  try {
    const match = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match?.[1] === undefined ? undefined : Number(match[1]);
  } catch {
    return undefined;
  }
};

/** Same-seeded pseudo-random numbers (mulberry32), so a failing scenario can be re-run identically. */
export const rng = (seed: number): (() => number) => {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
};

export const seconds = (ms: number): string => (ms / 1000).toFixed(1);

/** A completed run's history holds one RunStarted, one RunCompleted (its last event), revisions 0..n. */
export const expectStartedAndCompletedOnce = (
  events: readonly HistoryEvent[],
  runId: string,
): void => {
  expect(
    events.filter((e) => e.type === 'RunStarted'),
    `RunStarted of ${runId}`,
  ).toHaveLength(1);
  expect(
    events.filter((e) => e.type === 'RunCompleted'),
    `RunCompleted of ${runId}`,
  ).toHaveLength(1);
  expect(events.at(-1)?.type, `last event of ${runId}`).toBe('RunCompleted');
  expect(
    events.map((e) => e.revision),
    `revisions of ${runId}`,
  ).toEqual(events.map((_, r) => r));
};

/**
 * Reads every run's history and checks exactly one StepCompleted per step (`steps`, sorted);
 * `more` adds a scenario's own checks. Returns the totals a scenario prints.
 */
export const checkCompletions = async (
  client: TestClient,
  ids: readonly string[],
  steps: readonly string[],
  more: (events: readonly HistoryEvent[], runId: string) => void = () => undefined,
): Promise<{ readonly stepCompleted: number; readonly duplicates: number }> => {
  let stepCompleted = 0;
  let duplicates = 0;
  const histories = await pool(ids, 20, (runId) => historyOf(client, runId));
  histories.forEach((events, i) => {
    const runId = ids[i] ?? '';
    const done = events
      .filter((e) => e.type === 'StepCompleted')
      .map((e) => String(e.data['stepId']));
    stepCompleted += done.length;
    duplicates += done.length - new Set(done).size;
    expect([...done].sort(), `StepCompleted of ${runId}`).toEqual(steps);
    more(events, runId);
  });
  return { stepCompleted, duplicates };
};

/**
 * A run's activity steps were each scheduled once with attempt 1 (a restart or a takeover
 * re-dispatches the open task with its taskId and attempt, it never schedules it again) and
 * completed once by that task. With `retries`, a step may also have been scheduled again with the
 * next attempt — only after a StepFailed of the one before (a retry recorded as such, e.g. an
 * attempt that timed out while NATS was failing over); returns how many such retries there were.
 */
export const expectScheduledOnce = (
  events: readonly HistoryEvent[],
  runId: string,
  steps: readonly string[],
  options: { readonly retries?: boolean } = {},
): number => {
  const scheduled = events.filter((e) => e.type === 'StepScheduled');
  const failed = events.filter((e) => e.type === 'StepFailed');
  const first = scheduled.filter((e) => e.data['attempt'] === 1);
  const again = scheduled.filter((e) => e.data['attempt'] !== 1);
  if (options.retries !== true) expect(again, `StepScheduled again in ${runId}`).toEqual([]);
  expect(
    first.map((e) => e.data['stepId']),
    `StepScheduled of ${runId}`,
  ).toEqual(steps);
  for (const retry of again) {
    const attempt = Number(retry.data['attempt']);
    const failure = failed.find(
      (f) =>
        f.data['stepId'] === retry.data['stepId'] &&
        f.data['attempt'] === attempt - 1 &&
        f.revision < retry.revision,
    );
    expect(
      failure,
      `StepFailed before attempt ${String(attempt)} of ${String(retry.data['stepId'])} in ${runId}`,
    ).toBeDefined();
  }
  for (const done of events.filter((e) => e.type === 'StepCompleted')) {
    const last = scheduled.filter((e) => e.data['stepId'] === done.data['stepId']).at(-1);
    expect(
      [done.data['taskId'], done.data['attempt']],
      `StepCompleted of ${String(done.data['stepId'])} in ${runId}`,
    ).toEqual([last?.data['taskId'], last?.data['attempt']]);
  }
  // One taskId per step: a retry keeps it (the attempt tells them apart).
  expect(new Set(scheduled.map((e) => e.data['taskId'])).size, `taskIds of ${runId}`).toBe(
    steps.length,
  );
  return again.length;
};
