import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import * as Effect from 'effect/Effect';
import pg from 'pg';
import type { EventStoreShape, RecordedEvent } from '../../src/store/EventStore.ts';
import { makeStore, parseStoreUrl } from '../../src/store/layers.ts';
import { parsePostgresUrl } from '../../src/store/postgresConfig.ts';
import { runStream } from '../../src/store/streams.ts';

/**
 * The store a test stack's runtime runs on, and reading it from a test whatever it is: through the
 * store adapter (`makeStore`), as the runtime reads it. `WEFT_TEST_STORE=postgres` (set by the
 * `integration-postgres` vitest project) puts each stack in a fresh schema of the PostgreSQL server
 * the project's globalSetup started (test/support/postgresSetup.ts) or `WEFT_TEST_POSTGRES` names;
 * otherwise a stack gets a fresh sqlite file in its temp dir.
 */

export type TestStoreKind = 'sqlite' | 'postgres';

/** Which store stacks run on in this test process: `WEFT_TEST_STORE`, default sqlite. */
export const testStoreKind = (): TestStoreKind => {
  const kind = process.env['WEFT_TEST_STORE'] ?? 'sqlite';
  if (kind !== 'sqlite' && kind !== 'postgres')
    throw new Error(`WEFT_TEST_STORE=${kind}: expected sqlite or postgres`);
  return kind;
};

/**
 * The PostgreSQL server for `WEFT_TEST_STORE=postgres`: the globalSetup's, else
 * `WEFT_TEST_POSTGRES`. vitest is imported here only, so that the bench can import test/support.
 */
const postgresServer = async (): Promise<string> => {
  let provided: string | undefined;
  try {
    provided = (await import('vitest')).inject('weftTestPostgres');
  } catch {
    provided = undefined; // not running under vitest's runner
  }
  const url = provided ?? process.env['WEFT_TEST_POSTGRES'];
  if (url === undefined || url === '')
    throw new Error(
      'WEFT_TEST_STORE=postgres needs a server: run the integration-postgres vitest project ' +
        '(its globalSetup starts one) or set WEFT_TEST_POSTGRES=postgres://user:pass@host:port/db',
    );
  return url;
};

/** `url` with `?schema=` set to a fresh name; the adapter creates the schema on first open. */
export const withFreshSchema = (url: string): string => {
  const next = new URL(url);
  next.searchParams.set('schema', `t_${randomUUID().replaceAll('-', '').slice(0, 16)}`);
  return next.toString();
};

/** A store URL of its own for one stack, and how to remove what it left on a shared server. */
export interface TestStore {
  readonly url: string;
  /** Drops the PostgreSQL schema (a sqlite file goes with its temp dir). Never throws. */
  drop(): Promise<void>;
}

/**
 * A fresh store for a stack whose temp dir is `dir`: a schema of its own on the PostgreSQL server
 * `postgres` (a URL), else of `testStoreKind()`.
 */
export const freshTestStore = async (
  dir: string,
  options: { readonly postgres?: string | undefined } = {},
): Promise<TestStore> => {
  if (options.postgres === undefined && testStoreKind() === 'sqlite')
    return { url: `sqlite:${join(dir, 'events.db')}`, drop: () => Promise.resolve() };
  const url = withFreshSchema(options.postgres ?? (await postgresServer()));
  return { url, drop: () => dropSchema(url).catch(() => undefined) };
};

/** Drops the schema a PostgreSQL store URL names, with everything in it. */
export const dropSchema = async (url: string): Promise<void> => {
  const { connectionString, schema } = parsePostgresUrl(url);
  const client = new pg.Client({ connectionString });
  client.on('error', () => undefined);
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await client.end().catch(() => undefined);
  }
};

/** Opens the store `url` names with its adapter, runs `f`, closes it (also when `f` throws). */
export const withStore = async <A>(
  url: string,
  f: (store: EventStoreShape) => Promise<A>,
): Promise<A> => {
  const store = await makeStore(url);
  try {
    return await f(store);
  } finally {
    await Effect.runPromise(store.close());
  }
};

/** Every event in the store, in global order, read a page at a time. */
export const storedEvents = (url: string): Promise<RecordedEvent[]> =>
  withStore(url, async (store) => {
    const all: RecordedEvent[] = [];
    for (;;) {
      const page = await Effect.runPromise(
        store.readAll({ after: all.at(-1)?.position ?? 0, limit: 5_000 }),
      );
      if (page.length === 0) return all;
      all.push(...page);
    }
  });

/** The event types of a run's stream in revision order; `[]` when the stream does not exist. */
export const storedTypes = (url: string, runId: string): Promise<string[]> =>
  withStore(url, async (store) =>
    (await Effect.runPromise(store.read(runStream(runId)))).map((e) => e.type),
  );

/** Number of events in the store, in all and per stream. */
export const countStoredEvents = async (
  url: string,
): Promise<{ total: number; byStream: Map<string, number> }> => {
  const byStream = new Map<string, number>();
  const events = await storedEvents(url);
  for (const e of events) byStream.set(e.stream, (byStream.get(e.stream) ?? 0) + 1);
  return { total: events.length, byStream };
};

/**
 * Removes a run's stream and its summary, as a lost first append would have left the store: with
 * SQL on the store's own tables, since the port (append-only) has no delete. Only while no runtime
 * is up.
 */
export const deleteStream = async (url: string, runId: string): Promise<void> => {
  const config = parseStoreUrl(url);
  switch (config.kind) {
    case 'sqlite': {
      const db = new DatabaseSync(config.path);
      try {
        db.prepare('DELETE FROM events WHERE stream = ?').run(runStream(runId));
        // And what the read model derived from it, as if the run had never started.
        db.prepare('DELETE FROM run_summaries WHERE run_id = ?').run(runId);
      } finally {
        db.close();
      }
      return;
    }
    case 'postgres': {
      const { connectionString, schema } = parsePostgresUrl(config.url);
      const client = new pg.Client({ connectionString });
      client.on('error', () => undefined);
      await client.connect();
      try {
        await client.query(`DELETE FROM ${schema}.events WHERE stream = $1`, [runStream(runId)]);
        await client.query(`DELETE FROM ${schema}.run_summaries WHERE run_id = $1`, [runId]);
      } finally {
        await client.end().catch(() => undefined);
      }
      return;
    }
    case 'memory':
    case 'kurrentdb':
      throw new Error(`deleteStream: not supported on ${config.kind}`);
  }
};
