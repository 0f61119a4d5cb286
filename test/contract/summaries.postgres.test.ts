import { randomUUID } from 'node:crypto';
import { Effect } from 'effect';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunSummary } from '../../src/projections/runSummary.ts';
import type { EventStoreShape, NewEvent } from '../../src/store/EventStore.ts';
import { makePostgresStore } from '../../src/store/postgres.ts';
import { bootstrap, migrations } from '../../src/store/postgresSchema.ts';
import { makePostgresSummaries } from '../../src/store/postgresSummaries.ts';
import type { RunSummaryStoreShape } from '../../src/store/RunSummaryStore.ts';
import { startPostgres, type PostgresHandle } from '../support/postgres.ts';
import { monotonicMs, sleep, waitFor } from '../support/wait.ts';
import { summaryStoreContract } from './summaryStore.contract.ts';

// A real PostgreSQL: a private cluster started for this file, or WEFT_TEST_POSTGRES.
let server: PostgresHandle;
beforeAll(async () => {
  server = await startPostgres();
}, 60_000);
afterAll(async () => {
  await server.stop();
});

const run = <A, E>(effect: Effect.Effect<A, E>): Promise<A> => Effect.runPromise(effect);
const event = (type: string): NewEvent => ({ id: randomUUID(), type, data: {} });
/** A running run's summary. */
const aSummary = (runId: string): RunSummary => ({
  runId,
  status: 'running',
  blueprint: { name: 'bp', version: 1 },
  input: null,
  startedAt: '2026-01-01T00:00:00.000Z',
});
/** How long a wake that is not expected is given to show up (after one that is has). */
const QUIET_MS = 400;

/** A fresh schema: the event store opens it first (it runs the migrations that create the table). */
const freshBacking = async (url = server.freshSchemaUrl()) => {
  const events = await makePostgresStore(url);
  const opened: RunSummaryStoreShape[] = [];
  return {
    url,
    events,
    open: () => {
      const table = makePostgresSummaries(url);
      opened.push(table);
      return Promise.resolve(table);
    },
    dispose: async () => {
      for (const table of opened.splice(0)) await run(table.close());
      await run(events.close());
    },
  };
};

/** What a change-feed listener was told, in order. */
const listener = (table: RunSummaryStoreShape) => {
  const seen = { wakes: 0, feeds: [] as boolean[], logs: [] as string[] };
  if (table.changes === undefined) throw new Error('the PostgreSQL table has a change feed');
  const stop = table.changes(
    () => seen.wakes++,
    (message) => seen.logs.push(message),
    (up) => seen.feeds.push(up),
  );
  return { seen, stop };
};

const wakesReach = (seen: { wakes: number }, n: number, message: string, timeoutMs = 5_000) =>
  waitFor(() => seen.wakes >= n, { timeoutMs, message });

describe('postgres run summaries', () => {
  summaryStoreContract('postgres', () => freshBacking(), { propertyRuns: 20, timeout: 120_000 });

  // The table must page in byte order (as listSummaries compares) whatever the database's default
  // collation: here one where 'a' < 'B' and '-', '_' weigh little (ICU 'en'), unlike the C locale
  // of the test cluster. Private server only: it creates a database.
  describe.skipIf(process.env['WEFT_TEST_POSTGRES'] !== undefined)(
    'on a database whose default collation is ICU en',
    () => {
      const DATABASE = 'weft_test_icu';
      beforeAll(async () => {
        const admin = new pg.Client({ connectionString: server.url });
        await admin.connect();
        try {
          await admin.query(
            `CREATE DATABASE ${DATABASE} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en' LOCALE 'C'`,
          );
        } finally {
          await admin.end();
        }
      });
      const icuUrl = () => {
        const url = new URL(server.freshSchemaUrl());
        url.pathname = `/${DATABASE}`;
        return url.toString();
      };
      summaryStoreContract('postgres (ICU en)', () => freshBacking(icuUrl()), {
        propertyRuns: 15,
        timeout: 120_000,
      });
    },
  );

  it('a schema an older weft left at version 1, with events in it, is migrated when the store opens: the table, the change feed and appends then work', async () => {
    const url = server.freshSchemaUrl();
    const schema = new URL(url).searchParams.get('schema') ?? '';
    const admin = new pg.Client({ connectionString: server.url });
    await admin.connect();
    try {
      await admin.query(bootstrap(schema));
      await admin.query(migrations(schema)[0] ?? '');
      await admin.query(`INSERT INTO ${schema}.schema_migrations (version) VALUES (1)`);
      await admin.query(`SELECT ${schema}.append_batch($1::json)`, [
        JSON.stringify([
          {
            stream: 'run-old',
            expected: null,
            events: [{ id: randomUUID(), type: 'RunStarted', data: '{}' }],
          },
        ]),
      ]);
      const backing = await freshBacking(url);
      try {
        const { rows } = await admin.query<{ version: number }>(
          `SELECT version FROM ${schema}.schema_migrations ORDER BY version`,
        );
        expect(rows.map((r) => r.version)).toEqual(
          Array.from({ length: migrations(schema).length }, (_, i) => i + 1),
        );
        expect((await run(backing.events.read('run-old'))).map((e) => e.type)).toEqual([
          'RunStarted',
        ]);
        const table = await backing.open();
        expect(await run(table.checkpoint())).toBeUndefined();
        const summary = aSummary('old');
        await run(table.commit([{ summary, revision: 0 }], 1));
        expect(await run(table.list({ limit: 5 }))).toEqual({ runs: [summary] });
        const { seen, stop } = listener(table);
        try {
          await wakesReach(seen, 1, 'the wake on connect');
          await run(backing.events.append('run-new', [event('RunStarted')], 'no_stream'));
          await wakesReach(seen, 2, 'a wake after an append to the migrated schema');
        } finally {
          stop();
        }
      } finally {
        await backing.dispose();
      }
    } finally {
      await admin.end();
    }
  });

  describe('change feed', { timeout: 60_000 }, () => {
    /** Runs `f` with a fresh schema, a table on it and a second pool's event store writing to it. */
    const withFeed = async (
      f: (ctx: {
        readonly table: RunSummaryStoreShape;
        readonly writer: EventStoreShape;
        readonly url: string;
      }) => Promise<void>,
    ) => {
      const backing = await freshBacking();
      const writer = await makePostgresStore(backing.url);
      try {
        await f({ table: await backing.open(), writer, url: backing.url });
      } finally {
        await run(writer.close());
        await backing.dispose();
      }
    };

    it('reports the feed up and wakes once on connect, then soon after another pool appends; not for an append in another schema', async () => {
      await withFeed(async ({ table, writer }) => {
        const { seen, stop } = listener(table);
        try {
          await wakesReach(seen, 1, 'the wake on connect');
          expect(seen.feeds).toEqual([true]);

          // Positive control: an append by another pool (another runtime) wakes it.
          const started = monotonicMs();
          await run(writer.append(`run-${randomUUID()}`, [event('RunStarted')], 'no_stream'));
          await wakesReach(seen, 2, 'a wake after an append by another pool');
          const latency = monotonicMs() - started;
          expect(latency).toBeLessThan(2_000);
          process.stderr.write(`change feed: woken ${latency.toFixed(1)} ms after the append\n`);
          await sleep(QUIET_MS);
          expect(seen.wakes).toBe(2);

          // Another schema of the same server: the same channel, another payload.
          const elsewhere = await makePostgresStore(server.freshSchemaUrl());
          try {
            await run(elsewhere.append('run-elsewhere', [event('RunStarted')], 'no_stream'));
            await sleep(QUIET_MS);
            expect(seen.wakes).toBe(2);
            // Notifications arrive in commit order: once this one has, the other one would have.
            await run(elsewhere.append('run-elsewhere-2', [event('RunStarted')], 'no_stream'));
            await run(writer.append(`run-${randomUUID()}`, [event('RunStarted')], 'no_stream'));
            await wakesReach(seen, 3, 'a wake after the second own append');
            await sleep(QUIET_MS);
            expect(seen.wakes).toBe(3);
          } finally {
            await run(elsewhere.close());
          }
          expect(seen.feeds).toEqual([true]);
          expect(seen.logs).toEqual([]);
        } finally {
          stop();
        }
      });
    });

    it('stops: reports the feed down and wakes no more, even for an append whose notification is on its way, while another listener on the same table still does', async () => {
      await withFeed(async ({ table, writer }) => {
        // Several listeners, each stopped right after an append returns, while its notification
        // is still on its way to some of them: the race a single try would rarely hit.
        const STOPPED = 6;
        const stopped = Array.from({ length: STOPPED }, () => listener(table));
        const control = listener(table);
        try {
          for (const [i, l] of [...stopped, control].entries())
            await wakesReach(l.seen, 1, `the wake on connect of listener ${i}`);
          const atStop: number[] = [];
          for (const l of stopped) {
            await run(writer.append(`run-${randomUUID()}`, [event('RunStarted')], 'no_stream'));
            l.stop();
            atStop.push(l.seen.wakes);
            expect(l.seen.feeds).toEqual([true, false]);
          }
          await run(writer.append(`run-${randomUUID()}`, [event('RunStarted')], 'no_stream'));
          await wakesReach(control.seen, STOPPED + 2, 'the control listener woken by every append');
          await sleep(QUIET_MS);
          expect(stopped.map((l) => l.seen.wakes)).toEqual(atStop);
          expect(stopped.map((l) => l.seen.feeds)).toEqual(stopped.map(() => [true, false]));
        } finally {
          for (const l of stopped) l.stop();
          control.stop();
        }
      });
    });

    it('closing the table stops its feeds (down, no more wakes); a feed of another table on the schema still wakes', async () => {
      await withFeed(async ({ table, url }) => {
        const closing = makePostgresSummaries(url);
        const gone = listener(closing);
        const control = listener(table);
        try {
          await wakesReach(gone.seen, 1, 'the wake on connect of the closing table');
          await wakesReach(control.seen, 1, 'the wake on connect of the other table');
          await run(closing.close());
          expect(gone.seen.feeds).toEqual([true, false]);
          const writer = await makePostgresStore(url);
          try {
            await run(writer.append(`run-${randomUUID()}`, [event('RunStarted')], 'no_stream'));
          } finally {
            await run(writer.close());
          }
          await wakesReach(control.seen, 2, 'the other table woken');
          await sleep(QUIET_MS);
          expect(gone.seen.wakes).toBe(1);
        } finally {
          gone.stop();
          control.stop();
          await run(closing.close());
        }
      });
    });

    it.skipIf(process.env['WEFT_TEST_POSTGRES'] !== undefined)(
      'started while the server is down: logs it, commits fail as StoreUnavailable; once the server is back the feed comes up by itself and commits succeed; one stopped while down stays stopped',
      async () => {
        await withFeed(async ({ table }) => {
          await server.crash();
          const late = listener(table);
          const stopped = listener(table);
          try {
            await waitFor(() => late.seen.logs.length > 0, {
              timeoutMs: 10_000,
              message: 'the failed first connection logged',
            });
            expect(late.seen.logs[0]).toMatch(/^change feed: .*; polling until it is back$/);
            expect(late.seen.feeds).toEqual([]);
            stopped.stop();
            const summary = aSummary('run-down');
            const down = await run(Effect.flip(table.commit([{ summary, revision: 0 }], 1)));
            expect(down._tag).toBe('StoreUnavailable');
            await server.restart();
            await waitFor(() => late.seen.feeds.at(-1) === true && late.seen.wakes >= 1, {
              timeoutMs: 20_000,
              message: 'the feed up and a wake after the server came back',
            });
            expect(late.seen.feeds).toEqual([true]);
            await waitFor(
              async () =>
                (await run(Effect.result(table.commit([{ summary, revision: 0 }], 1))))._tag ===
                'Success',
              { timeoutMs: 15_000, message: 'a commit after the restart' },
            );
            expect(await run(table.checkpoint())).toBe(1);
            await sleep(QUIET_MS);
            expect(stopped.seen.wakes).toBe(0);
            expect(stopped.seen.feeds).toEqual([false]);
          } finally {
            late.stop();
            stopped.stop();
          }
        });
      },
    );

    it.skipIf(process.env['WEFT_TEST_POSTGRES'] !== undefined)(
      'after a server crash: logs the loss, reports the feed down, reconnects by itself, reports it up and wakes again for a new append',
      async () => {
        await withFeed(async ({ table, writer }) => {
          const { seen, stop } = listener(table);
          try {
            await wakesReach(seen, 1, 'the wake on connect');
            await server.crash();
            await waitFor(() => seen.feeds.at(-1) === false, {
              timeoutMs: 10_000,
              message: 'the feed reported down',
            });
            expect(seen.logs.some((m) => /change feed lost/.test(m))).toBe(true);
            const down = seen.wakes;
            await server.restart();
            // Back by itself: up again, and one wake for what was appended while it was down.
            await waitFor(() => seen.feeds.at(-1) === true, {
              timeoutMs: 20_000,
              message: 'the feed reported up again',
            });
            expect(seen.feeds).toEqual([true, false, true]);
            await wakesReach(seen, down + 1, 'the wake on reconnect');
            // A new append (retried, same event, until the writer's pool is back) wakes it.
            const again = [event('RunStarted')];
            const stream = `run-${randomUUID()}`;
            await waitFor(
              async () =>
                (await run(Effect.result(writer.append(stream, again, 'no_stream'))))._tag ===
                'Success',
              { timeoutMs: 15_000, message: 'an append after the restart' },
            );
            await wakesReach(seen, down + 2, 'a wake for the append after the restart');
          } finally {
            stop();
          }
        });
      },
    );
  });
});
