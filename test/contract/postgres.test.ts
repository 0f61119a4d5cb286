import { randomUUID } from 'node:crypto';
import { Effect } from 'effect';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventStoreShape, NewEvent, RecordedEvent } from '../../src/store/EventStore.ts';
import { StoreRefused, VersionConflict, type StoreUnavailable } from '../../src/store/errors.ts';
import { storeLayer } from '../../src/store/layers.ts';
import { makePostgresStore } from '../../src/store/postgres.ts';
import { migrations } from '../../src/store/postgresSchema.ts';
import { makePostgresSummaries } from '../../src/store/postgresSummaries.ts';
import { startPostgres, type PostgresHandle } from '../support/postgres.ts';
import { waitFor } from '../support/wait.ts';
import { eventStoreContract } from './eventStore.contract.ts';

// A real PostgreSQL: a private cluster started for this file, or WEFT_TEST_POSTGRES.
let server: PostgresHandle;
beforeAll(async () => {
  server = await startPostgres();
}, 60_000);
afterAll(async () => {
  await server.stop();
});

const run = <A, E>(effect: Effect.Effect<A, E>): Promise<A> => Effect.runPromise(effect);
const event = (type: string, i = 0): NewEvent => ({ id: randomUUID(), type, data: { i } });
/** The schema version this weft migrates to. */
const LATEST = migrations('weft').length;
const schemaOf = (url: string): string => new URL(url).searchParams.get('schema') ?? 'weft';

/** Opens stores for a test and closes them after it, even when it fails. */
const withStores = async <A>(
  urls: readonly string[],
  f: (stores: readonly EventStoreShape[]) => Promise<A>,
): Promise<A> => {
  const stores = await Promise.all(urls.map((url) => makePostgresStore(url)));
  try {
    return await f(stores);
  } finally {
    await Promise.all(stores.map((s) => run(s.close())));
  }
};

describe('postgres', () => {
  // Every test gets a schema of its own, created by the adapter on first use.
  eventStoreContract('postgres', () => makePostgresStore(server.freshSchemaUrl()), {
    timeout: 60_000,
  });

  describe('PostgreSQL specifics', { timeout: 60_000 }, () => {
    it('two runtimes (separate pools) racing on one stream: exactly one append wins each revision', async () => {
      const url = server.freshSchemaUrl();
      await withStores([url, url], async ([a, b]) => {
        if (a === undefined || b === undefined) throw new Error('no stores');
        const s = 'run-race';
        await run(a.append(s, [event('Start')], 'no_stream'));
        const winners: string[] = [];
        for (let revision = 0; revision < 40; revision++) {
          const left = event('Left', revision);
          const right = event('Right', revision);
          const outcomes = await Promise.all([
            run(Effect.result(a.append(s, [left], revision))),
            run(Effect.result(b.append(s, [right], revision))),
          ]);
          const won = outcomes.flatMap((o, i) => (o._tag === 'Success' ? [i] : []));
          expect(won).toHaveLength(1);
          const lost = outcomes.flatMap((o) => (o._tag === 'Failure' ? [o.failure] : []));
          expect(lost).toEqual([
            expect.objectContaining({
              _tag: 'VersionConflict',
              expected: revision,
              actual: revision + 1,
            }),
          ]);
          winners.push(won[0] === 0 ? left.id : right.id);
        }
        const read = await run(b.read(s));
        expect(read.map((e) => e.revision)).toEqual(Array.from({ length: 41 }, (_, i) => i));
        expect(read.slice(1).map((e) => e.id)).toEqual(winners);
      });
    });

    it('a write that bypasses the append lock and takes the revision first makes the append a VersionConflict (unique key)', async () => {
      const url = server.freshSchemaUrl();
      const schema = schemaOf(url);
      await withStores([url], async ([store]) => {
        if (store === undefined) throw new Error('no store');
        const s = 'run-unique';
        await run(store.append(s, [event('Start')], 'no_stream'));
        const raw = new pg.Client({ connectionString: server.url, application_name: 'raw' });
        await raw.connect();
        try {
          await raw.query('BEGIN');
          await raw.query(
            `INSERT INTO ${schema}.events (stream, revision, id, type, data, at) VALUES ($1, 1, $2, 'Raw', '{}', now())`,
            [s, randomUUID()],
          );
          // The head check cannot see the uncommitted row; the insert waits on the unique key.
          const pending = run(Effect.result(store.append(s, [event('Mine')], 0)));
          await waitFor(
            async () =>
              (
                await raw.query(
                  `SELECT 1 FROM pg_stat_activity WHERE application_name = 'weft' AND wait_event_type = 'Lock'`,
                )
              ).rowCount === 1,
            { message: 'the append waiting on the uncommitted row' },
          );
          await raw.query('COMMIT');
          const outcome = await pending;
          expect(outcome._tag).toBe('Failure');
          if (outcome._tag === 'Failure') {
            expect(outcome.failure).toBeInstanceOf(VersionConflict);
            expect(outcome.failure).toMatchObject({ expected: 0, actual: 1 });
          }
          expect((await run(store.read(s))).map((e) => e.type)).toEqual(['Start', 'Raw']);
        } finally {
          await raw.end();
        }
      });
    });

    it('appends made in one tick share one transaction, and a conflict among them rolls back alone', async () => {
      const url = server.freshSchemaUrl();
      await withStores([url], async ([store]) => {
        if (store === undefined) throw new Error('no store');
        await run(store.append('run-b', [event('B0')], 'no_stream'));
        const outcomes = await Promise.all([
          run(Effect.result(store.append('run-a', [event('A0'), event('A1')], 'no_stream'))),
          run(Effect.result(store.append('run-b', [event('B1')], 5))),
          run(Effect.result(store.append('run-c', [event('C0')], 'no_stream'))),
        ]);
        expect(outcomes.map((o) => o._tag)).toEqual(['Success', 'Failure', 'Success']);
        // One batch, one server time stamp.
        const ats = outcomes.flatMap((o) => (o._tag === 'Success' ? [o.success.at] : []));
        expect(new Set(ats).size).toBe(1);
        expect((await run(store.readAll())).map((e) => e.type)).toEqual(['B0', 'A0', 'A1', 'C0']);
      });
    });

    it('a batch the server refuses for one append in it is sent again one append at a time: only that one is refused (StoreRefused invalid), the others are committed', async () => {
      const url = server.freshSchemaUrl();
      await withStores([url], async ([store]) => {
        if (store === undefined) throw new Error('no store');
        // PostgreSQL text cannot hold U+0000: the server refuses the type with SQLSTATE 22P05.
        const outcomes = await Promise.all([
          run(Effect.result(store.append('run-ok-1', [event('A')], 'no_stream'))),
          run(Effect.result(store.append('run-bad', [event('Bad\u0000Type')], 'no_stream'))),
          run(Effect.result(store.append('run-ok-2', [event('B')], 'no_stream'))),
        ]);
        expect(outcomes.map((o) => o._tag)).toEqual(['Success', 'Failure', 'Success']);
        const refused = outcomes[1]._tag === 'Failure' ? outcomes[1].failure : undefined;
        expect(refused).toBeInstanceOf(StoreRefused);
        expect(refused).toMatchObject({ reason: 'invalid' });
        expect((await run(store.readAll())).map((e) => e.type)).toEqual(['A', 'B']);
      });
    });

    it('a burst of 1,200 appends in one tick (more than one statement takes) is all committed, each answered with its own position', async () => {
      const url = server.freshSchemaUrl();
      await withStores([url], async ([store]) => {
        if (store === undefined) throw new Error('no store');
        const results = await Promise.all(
          Array.from({ length: 1_200 }, (_, i) =>
            run(
              store.append(
                `run-burst-${i % 300}`,
                [event('E', i)],
                i < 300 ? 'no_stream' : Math.floor(i / 300) - 1,
              ),
            ),
          ),
        );
        expect(new Set(results.map((r) => r.position)).size).toBe(1_200);
        expect(results.map((r) => r.revision)).toEqual(
          Array.from({ length: 1_200 }, (_, i) => Math.floor(i / 300)),
        );
        const all = await run(store.readAll());
        expect(all.map((e) => e.position)).toEqual(results.map((r) => r.position));
      });
    });

    it('a reader following readAll with `after` while three runtimes append concurrently never misses an event', async () => {
      const url = server.freshSchemaUrl();
      await withStores([url, url, url, url], async ([reader, ...writers]) => {
        if (reader === undefined) throw new Error('no reader');
        const written: string[] = [];
        const seen: RecordedEvent[] = [];
        let writing = true;
        const follow = async (): Promise<void> => {
          let after = 0;
          for (;;) {
            const last = !writing;
            const page = await run(reader.readAll({ after, limit: 50 }));
            seen.push(...page);
            after = page.at(-1)?.position ?? after;
            if (last && page.length === 0) return;
          }
        };
        const follower = follow();
        await Promise.all(
          writers.map(async (w, k) => {
            for (let round = 0; round < 40; round++) {
              // Ten streams per round, all in one tick: batches of several appends that overlap
              // with the other writers' batches.
              await Promise.all(
                Array.from({ length: 10 }, async (_, j) => {
                  const e = event('E', round);
                  written.push(e.id);
                  await run(w.append(`run-${k}-${j}-${round}`, [e], 'no_stream'));
                }),
              );
            }
          }),
        );
        writing = false;
        await follower;
        const positions = seen.map((e) => e.position);
        expect(positions).toEqual([...positions].sort((x, y) => x - y));
        expect(new Set(positions).size).toBe(positions.length);
        expect(seen).toHaveLength(written.length);
        expect(new Set(seen.map((e) => e.id))).toEqual(new Set(written));
      });
    });

    it('creates its schema once when several adapters start at once, and opens it again unchanged', async () => {
      for (let round = 0; round < 3; round++) {
        const url = server.freshSchemaUrl();
        await withStores([url, url, url], async (stores) => {
          await Promise.all(
            stores.map((s, i) => run(s.append(`run-${i}`, [event('Started')], 'no_stream'))),
          );
        });
        await withStores([url], async ([store]) => {
          if (store === undefined) throw new Error('no store');
          expect(await run(store.readAll())).toHaveLength(3);
        });
        const client = new pg.Client({ connectionString: server.url });
        await client.connect();
        try {
          const { rows } = await client.query<{ version: number }>(
            `SELECT version FROM ${schemaOf(url)}.schema_migrations ORDER BY version`,
          );
          expect(rows.map((r) => r.version)).toEqual(
            Array.from({ length: LATEST }, (_, i) => i + 1),
          );
        } finally {
          await client.end();
        }
      }
    });

    it('refuses a schema migrated by a newer weft, naming both versions', async () => {
      const url = server.freshSchemaUrl();
      await withStores([url], () => Promise.resolve());
      const client = new pg.Client({ connectionString: server.url });
      await client.connect();
      try {
        await client.query(`INSERT INTO ${schemaOf(url)}.schema_migrations (version) VALUES (99)`);
      } finally {
        await client.end();
      }
      await expect(makePostgresStore(url)).rejects.toThrow(
        new RegExp(
          `^postgres 127\\.0\\.0\\.1:\\d+/weft_test: schema t_\\w+ is at version 99, newer than this weft knows \\(${LATEST}\\)`,
        ),
      );
    });

    it.skipIf(process.env['WEFT_TEST_POSTGRES'] !== undefined)(
      'opens a schema an administrator prepared for a user who may not create schemas',
      async () => {
        const url = server.freshSchemaUrl();
        const schema = schemaOf(url);
        await withStores([url], () => Promise.resolve());
        const role = `app_${schema}`;
        const client = new pg.Client({ connectionString: server.url });
        await client.connect();
        try {
          await client.query(`CREATE ROLE ${role} LOGIN PASSWORD 'app-pass'`);
          await client.query(`GRANT USAGE ON SCHEMA ${schema} TO ${role}`);
          await client.query(`GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA ${schema} TO ${role}`);
          await client.query(
            `GRANT UPDATE ON ${schema}.run_summaries, ${schema}.read_model_checkpoints TO ${role}`,
          );
          const app = new URL(url);
          app.username = role;
          app.password = 'app-pass';
          await withStores([app.toString()], async ([store]) => {
            if (store === undefined) throw new Error('no store');
            await run(store.append('run-app', [event('ByApp')], 'no_stream'));
            expect((await run(store.read('run-app'))).map((e) => e.type)).toEqual(['ByApp']);
          });
          // The read model's table, with the grants the README names.
          const summaries = makePostgresSummaries(app.toString());
          try {
            const summary = {
              runId: 'app',
              status: 'running' as const,
              blueprint: { name: 'b', version: 1 },
              input: null,
              startedAt: '2030-01-01T00:00:00.000Z',
            };
            await run(summaries.commit([{ summary, revision: 0 }], 1));
            await run(summaries.commit([{ summary, revision: 1 }], 2));
            expect(await run(summaries.checkpoint())).toBe(2);
            expect(await run(summaries.running())).toEqual(['app']);
          } finally {
            await run(summaries.close());
          }
          // The same user cannot create a schema of its own: the check above is what let it open.
          const fresh = new URL(server.freshSchemaUrl());
          fresh.username = role;
          fresh.password = 'app-pass';
          await expect(makePostgresStore(fresh.toString())).rejects.toThrow(/permission denied/);
        } finally {
          await client.end();
        }
      },
    );

    it.skipIf(process.env['WEFT_TEST_POSTGRES'] !== undefined)(
      'refuses for good (StoreRefused access_denied, not StoreUnavailable) what a role has no privilege for, naming the operation and the server, and writes nothing',
      async () => {
        const url = server.freshSchemaUrl();
        const schema = schemaOf(url);
        await withStores([url], async ([store]) => {
          if (store === undefined) throw new Error('no store');
          await run(store.append('run-owned', [event('ByOwner')], 'no_stream'));
        });
        const reader = `reader_${schema}`;
        const nobody = `nobody_${schema}`;
        const client = new pg.Client({ connectionString: server.url });
        await client.connect();
        try {
          await client.query(`CREATE ROLE ${reader} LOGIN PASSWORD 'reader-pass'`);
          await client.query(`CREATE ROLE ${nobody} LOGIN PASSWORD 'nobody-pass'`);
          for (const role of [reader, nobody])
            await client.query(`GRANT USAGE ON SCHEMA ${schema} TO ${role}`);
          await client.query(`GRANT SELECT ON ALL TABLES IN SCHEMA ${schema} TO ${reader}`);
          // Enough to open the store (its schema version), not to read events.
          await client.query(`GRANT SELECT ON ${schema}.schema_migrations TO ${nobody}`);
          const as = (role: string, password: string): string => {
            const u = new URL(url);
            u.username = role;
            u.password = password;
            return u.toString();
          };
          const target = `postgres ${server.host}:${server.port}/`;
          await withStores(
            [as(reader, 'reader-pass'), as(nobody, 'nobody-pass')],
            async ([readOnly, none]) => {
              if (readOnly === undefined || none === undefined) throw new Error('no stores');
              const refused = await run(
                Effect.flip(readOnly.append('run-reader', [event('ByReader')], 'no_stream')),
              );
              expect(refused).toBeInstanceOf(StoreRefused);
              expect(refused).toMatchObject({ reason: 'access_denied' });
              expect(refused.message).toContain(target);
              expect(refused.message).toMatch(/append: permission denied/);
              expect(refused.message).not.toContain('reader-pass');
              expect(await run(readOnly.revision('run-reader'))).toBe('no_stream');
              expect((await run(readOnly.read('run-owned'))).map((e) => e.type)).toEqual([
                'ByOwner',
              ]);
              const denials: Effect.Effect<unknown, StoreUnavailable | StoreRefused>[] = [
                none.read('run-owned'),
                none.revision('run-owned'),
                none.readAll(),
              ];
              for (const denied of denials) {
                const error = await run(Effect.flip(denied));
                expect(error).toBeInstanceOf(StoreRefused);
                expect(error).toMatchObject({ reason: 'access_denied' });
                expect(error.message).toMatch(/(read|revision|readAll): permission denied/);
              }
            },
          );
        } finally {
          await client.end();
        }
      },
    );

    it('is durable: what was appended is read back by a store opened after closing', async () => {
      const url = server.freshSchemaUrl();
      const appended = await withStores([url], async ([store]) => {
        if (store === undefined) throw new Error('no store');
        await run(store.append('run-d', [event('A'), event('B')], 'no_stream'));
        await run(store.append('run-d', [event('C')], 1));
        return run(store.read('run-d'));
      });
      const reread = await withStores([url], async ([store]) => {
        if (store === undefined) throw new Error('no store');
        return run(store.read('run-d'));
      });
      expect(reread).toEqual(appended);
      expect(reread.map((e) => e.type)).toEqual(['A', 'B', 'C']);
    });

    it.skipIf(process.env['WEFT_TEST_POSTGRES'] !== undefined)(
      'survives a server crash: acknowledged appends are kept, appends fail as StoreUnavailable while it is down, and succeed once it is back',
      async () => {
        const url = server.freshSchemaUrl();
        await withStores([url], async ([store]) => {
          if (store === undefined) throw new Error('no store');
          const before = Array.from({ length: 20 }, (_, i) => event('Before', i));
          // Acknowledged one by one and in batches, then the server dies without a checkpoint.
          await run(store.append('run-crash', before.slice(0, 1), 'no_stream'));
          await Promise.all(
            before.slice(1).map((e, i) => run(store.append(`run-crash-${i}`, [e], 'no_stream'))),
          );
          const pid = server.pid;
          await server.crash();
          const down = await run(Effect.flip(store.append('run-crash', [event('Down')], 0)));
          expect(down._tag).toBe('StoreUnavailable');
          await server.restart();
          expect(server.pid).not.toBe(pid);
          // A runtime retries with the same events (same ids): recorded once, whatever attempt lands.
          const after = [event('After')];
          await waitFor(
            async () =>
              (await run(Effect.result(store.append('run-crash', after, 0))))._tag === 'Success',
            { timeoutMs: 15_000, message: 'an append after the restart' },
          );
          await withStores([url], async ([reopened]) => {
            if (reopened === undefined) throw new Error('no store');
            const all = await run(reopened.readAll());
            expect(all.map((e) => e.id).sort()).toEqual(
              [...before, ...after].map((e) => e.id).sort(),
            );
            expect((await run(reopened.read('run-crash'))).map((e) => e.type)).toEqual([
              'Before',
              'After',
            ]);
          });
        });
      },
    );

    it.skipIf(process.env['WEFT_TEST_POSTGRES'] !== undefined)(
      'loses the server mid-append: every append is answered (done or StoreUnavailable), and retried with the same events after the restart each is recorded once',
      async () => {
        const url = server.freshSchemaUrl();
        await withStores([url], async ([store]) => {
          if (store === undefined) throw new Error('no store');
          const batches = Array.from({ length: 1_500 }, (_, i) => ({
            stream: `run-lost-${i}`,
            events: [event('A', i), event('B', i)],
          }));
          const attempt = (b: (typeof batches)[number]) =>
            run(Effect.result(store.append(b.stream, b.events, 'no_stream')));
          // The server goes down as soon as the first statement has committed: the next one is in
          // flight (sent, its outcome unknown to us), the rest still queued.
          let crashed: Promise<void> | undefined;
          const first = await Promise.all(
            batches.map((b) =>
              attempt(b).then((o) => {
                if (o._tag === 'Success') crashed ??= server.crash();
                return o;
              }),
            ),
          );
          await crashed;
          for (const o of first) {
            if (o._tag === 'Failure') expect(o.failure._tag).toBe('StoreUnavailable');
          }
          await server.restart();
          // Retried as a runtime would (same ids, same expected revision) until the pool reconnects.
          await waitFor(
            async () =>
              (await Promise.all(batches.map(attempt))).every((o) => o._tag === 'Success'),
            { timeoutMs: 20_000, message: 'every append retried after the restart' },
          );
          const all = await run(store.readAll());
          expect(all).toHaveLength(3_000);
          expect(all.map((e) => e.id).sort()).toEqual(
            batches.flatMap((b) => b.events.map((e) => e.id)).sort(),
          );
          const lost = first.filter((o) => o._tag === 'Failure').length;
          expect(lost).toBeGreaterThan(0);
          expect(lost).toBeLessThan(1_500);
          process.stderr.write(
            `server lost mid-append: ${1_500 - lost} appends done, ${lost} unavailable\n`,
          );
        });
      },
    );

    it('fails at start with one line naming the host and the cause: wrong password, refused port, missing database', async () => {
      const good = new URL(server.url);
      const variants: [string, RegExp][] = [];
      if (server.pid !== undefined) {
        const wrong = new URL(good);
        wrong.password = 'not-the-password';
        variants.push([wrong.toString(), /password authentication failed/]);
      }
      const missing = new URL(good);
      missing.pathname = '/no_such_db';
      variants.push([missing.toString(), /database "no_such_db" does not exist/]);
      variants.push(['postgres://weft:secret@127.0.0.1:1/weft', /ECONNREFUSED/]);
      for (const [url, cause] of variants) {
        const error = await makePostgresStore(url).then(
          () => {
            throw new Error(`opened ${url}`);
          },
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(Error);
        const message = error instanceof Error ? error.message : '';
        const host = new URL(url);
        expect(message).toMatch(cause);
        expect(message).toContain(`postgres ${host.hostname}:${host.port}${host.pathname}:`);
        expect(message).not.toContain('\n');
        expect(message).not.toContain(decodeURIComponent(host.password));
      }
      // Through the layer (what `weft serve` uses): StoreUnavailable, URL redacted.
      const exit = await Effect.runPromiseExit(
        Effect.scoped(
          Effect.asVoid(
            Effect.provide(Effect.void, storeLayer('postgres://weft:secret@127.0.0.1:1/weft')),
          ),
        ),
      );
      expect(JSON.stringify(exit)).toContain('postgres://weft:***@127.0.0.1:1/weft');
      expect(JSON.stringify(exit)).not.toContain('secret');
    });
  });
});
