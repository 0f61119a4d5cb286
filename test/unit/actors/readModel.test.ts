import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as Effect from 'effect/Effect';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventStoreShape } from '../../../src/store/EventStore.ts';
import { makeStore } from '../../../src/store/layers.ts';
import type { RunSummaryStoreShape } from '../../../src/store/RunSummaryStore.ts';
import { makeSummaryStore } from '../../../src/store/summaries.ts';
import { startPostgres, type PostgresHandle } from '../../support/postgres.ts';
import { completed, testRuntime, type TestRuntime } from './runtimes.ts';

/**
 * README "Stores", the run-summary read model: kept in a table beside the events with the
 * position it has reached, so a runtime restarting on a store full of finished runs resumes there
 * instead of folding every stream; runtimes sharing a store share the table; on PostgreSQL a
 * runtime waiting for a run another runtime finishes is woken by the change feed, not a poll.
 */

const BLUEPRINT = { name: 'one', steps: [{ id: 'a', type: 'activity', activity: 'work' }] };

/** One backing store (a sqlite file or a PostgreSQL schema) that runtimes open separately. */
interface Backing {
  readonly url: string;
  dispose(): Promise<void>;
}

let postgres: PostgresHandle | undefined;
beforeAll(async () => {
  postgres = await startPostgres();
}, 60_000);
afterAll(async () => {
  await postgres?.stop();
});

const BACKINGS: readonly { readonly name: string; readonly open: () => Backing }[] = [
  {
    name: 'sqlite',
    open: () => {
      const dir = mkdtempSync(join(tmpdir(), 'weft-read-model-'));
      return {
        url: `sqlite:${join(dir, 'events.db')}`,
        dispose: () => {
          rmSync(dir, { recursive: true, force: true });
          return Promise.resolve();
        },
      };
    },
  },
  {
    name: 'postgres',
    open: () => {
      if (postgres === undefined) throw new Error('no PostgreSQL');
      return { url: postgres.freshSchemaUrl(), dispose: () => Promise.resolve() };
    },
  },
];

/** A runtime as main.ts opens one: its own store connection and its own handle on the summary table. */
interface Opened {
  readonly runtime: TestRuntime;
  readonly store: EventStoreShape;
  /** Events the runtime's `readAll` calls returned so far. */
  readonly readAllEvents: () => number;
  close(): Promise<void>;
}

const openRuntime = async (
  url: string,
  table: 'persistent' | 'memory' = 'persistent',
): Promise<Opened> => {
  const store = await makeStore(url);
  let read = 0;
  const counted: EventStoreShape = {
    ...store,
    readAll: (options) =>
      store.readAll(options).pipe(Effect.tap((page) => Effect.sync(() => (read += page.length)))),
  };
  const summaries: RunSummaryStoreShape | undefined =
    table === 'persistent' ? await makeSummaryStore(url) : undefined;
  const runtime = testRuntime(counted, summaries === undefined ? {} : { summaries });
  return {
    runtime,
    store,
    readAllEvents: () => read,
    async close() {
      runtime.supervisor.close();
      if (summaries !== undefined) await Effect.runPromise(summaries.close());
      await Effect.runPromise(store.close());
    },
  };
};

/** Starts `count` runs; completes all but the ones named in `leaveOpen`. */
const runMany = async (runtime: TestRuntime, prefix: string, count: number, leaveOpen = 0) => {
  const { supervisor, dispatched } = runtime;
  for (let i = 0; i < count; i++)
    await supervisor.start({ blueprint: BLUEPRINT, runId: `${prefix}-${String(i)}`, input: { i } });
  const tasks = dispatched.filter((t) => t.runId.startsWith(`${prefix}-`));
  expect(tasks).toHaveLength(count);
  for (const task of tasks.slice(leaveOpen)) await supervisor.onResult(completed(task, 'done'));
  return tasks.slice(0, leaveOpen);
};

describe.each(BACKINGS)('the run-summary read model on $name', { timeout: 60_000 }, ({ open }) => {
  it('a restart resumes at the checkpoint: no stream is re-read, finished runs are listed, the unfinished one is carried on', async () => {
    const backing = open();
    try {
      const first = await openRuntime(backing.url);
      await first.runtime.supervisor.recover();
      const [open1] = await runMany(first.runtime, 'r', 40, 1);
      // Listing commits what the runtime folded (it includes every run started before the call).
      const listed = await first.runtime.supervisor.list({ limit: 100 });
      expect(listed.runs).toHaveLength(40);
      await first.close();

      const second = await openRuntime(backing.url);
      await second.runtime.supervisor.recover();
      expect(second.readAllEvents()).toBe(0);
      const after = await second.runtime.supervisor.list({ limit: 100 });
      expect(after.runs.filter((r) => r.status === 'completed')).toHaveLength(39);
      expect(after.runs.filter((r) => r.status === 'running').map((r) => r.runId)).toEqual([
        open1?.runId,
      ]);
      // The unfinished run was found without a scan and its open task dispatched again.
      expect(second.runtime.dispatched.map((t) => t.taskId)).toEqual([open1?.taskId]);
      await second.close();

      // The control: a runtime whose table lives in memory folds every stream at boot.
      const control = await openRuntime(backing.url, 'memory');
      await control.runtime.supervisor.recover();
      expect(control.readAllEvents()).toBeGreaterThanOrEqual(39 * 4);
      expect(control.runtime.dispatched.map((t) => t.taskId)).toEqual([open1?.taskId]);
      await control.close();
    } finally {
      await backing.dispose();
    }
  });

  it('runtimes sharing a store share the table: each lists and gets the runs the other ran', async () => {
    const backing = open();
    const a = await openRuntime(backing.url);
    const b = await openRuntime(backing.url);
    try {
      await a.runtime.supervisor.recover();
      await b.runtime.supervisor.recover();
      await runMany(a.runtime, 'a', 5);
      await runMany(b.runtime, 'b', 5, 2);
      for (const side of [a, b]) {
        const page = await side.runtime.supervisor.list({ limit: 100 });
        expect(page.runs.map((r) => r.runId).sort()).toEqual(
          [...['a', 'b'].flatMap((p) => [0, 1, 2, 3, 4].map((i) => `${p}-${String(i)}`))].sort(),
        );
        expect(page.runs.filter((r) => r.status === 'running').map((r) => r.runId)).toEqual(
          expect.arrayContaining(['b-0', 'b-1']),
        );
        expect(await side.runtime.supervisor.get('a-3')).toMatchObject({ status: 'completed' });
        // Filtering and paging run in the table, newest first.
        const running = await side.runtime.supervisor.list({ limit: 1, status: 'running' });
        expect(running.runs).toHaveLength(1);
        expect(running.cursor).toBeDefined();
      }
    } finally {
      await a.close();
      await b.close();
      await backing.dispose();
    }
  });
});

describe('the PostgreSQL change feed', { timeout: 60_000 }, () => {
  it('wakes a runtime waiting for a run another runtime finishes, long before its poll would', async () => {
    if (postgres === undefined) throw new Error('no PostgreSQL');
    const url = postgres.freshSchemaUrl();
    const a = await openRuntime(url);
    const b = await openRuntime(url);
    try {
      await a.runtime.supervisor.recover();
      await b.runtime.supervisor.recover();
      // B polls once a minute: only the feed can wake it within the wait below.
      b.runtime.supervisor.follow(60_000);
      const [task] = await runMany(a.runtime, 'fed', 1, 1);
      if (task === undefined) throw new Error('no task');
      expect(await b.runtime.supervisor.get('fed-0')).toMatchObject({ status: 'running' });
      const waited = b.runtime.supervisor.waitForEnd('fed-0', 15_000);
      await a.runtime.supervisor.onResult(completed(task, 'late'));
      expect(await waited).toMatchObject({ runId: 'fed-0', status: 'completed', output: 'late' });
    } finally {
      await a.close();
      await b.close();
    }
  });
});
