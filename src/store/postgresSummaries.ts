import * as Effect from 'effect/Effect';
import pg from 'pg';
import type { RunSummaryStoreShape, StoredSummary } from './RunSummaryStore.ts';
import { StoreUnavailable } from './errors.ts';
import { parsePostgresUrl } from './postgresConfig.ts';
import { APPENDED_CHANNEL } from './postgresSchema.ts';
import {
  CHECKPOINT_NAME,
  SUMMARY_COLUMNS,
  listQuery,
  pageOf,
  rowOf,
  storedOf,
} from './summarySql.ts';

/*
 * The run-summary table in the store's PostgreSQL schema (created by migration 2, postgresSchema.ts,
 * which the event store runs when it opens: open that first). Several runtimes share it: upserts
 * only raise a run's revision and the checkpoint only rises, so two followers committing
 * overlapping pages never undo each other (of several summaries of one run in one commit, the
 * highest revision is the one upserted). Commits of all runtimes take turns: each updates the one
 * checkpoint row, whose lock it holds to its end, so they cannot deadlock either. The
 * table is rebuilt from the events if lost, so it commits without waiting for its WAL flush
 * (`synchronous_commit = off`: a crash may lose the last commits, never reorder them).
 *
 * The change feed is `LISTEN` on a connection of its own, re-opened with a backoff when it drops;
 * every (re)connection wakes the follower once, for what was appended while nobody listened.
 */

const RECONNECT_MS = [250, 1000, 5000] as const;

const messageOf = (cause: unknown): string =>
  cause instanceof Error ? (cause.message === '' ? cause.name : cause.message) : String(cause);

export const makePostgresSummaries = (url: string): RunSummaryStoreShape => {
  const config = parsePostgresUrl(url);
  const { schema } = config;
  const pool = new pg.Pool({
    connectionString: config.connectionString,
    max: 2,
    connectionTimeoutMillis: 10_000,
    options: '-c synchronous_commit=off',
    application_name: 'weft-read-model',
  });
  pool.on('error', () => undefined);
  let closed = false;
  const stops = new Set<() => void>();

  const query = <A>(
    what: string,
    text: string,
    values: readonly unknown[],
    f: (rows: readonly Record<string, unknown>[]) => A,
  ): Effect.Effect<A, StoreUnavailable> =>
    Effect.tryPromise({
      try: async () => {
        if (closed) throw new Error('the store is closed');
        return f((await pool.query(text, [...values])).rows);
      },
      catch: (cause) =>
        new StoreUnavailable({
          message: `postgres ${config.target} run summaries ${what}: ${messageOf(cause)}`,
          cause,
        }),
    });

  const table = `${schema}.run_summaries`;
  const commitText = `
WITH input AS (
  SELECT * FROM json_to_recordset($1::json)
    AS x(run_id text, status text, blueprint text, started_at text, revision bigint, summary text)
), upserted AS (
  INSERT INTO ${table} (${SUMMARY_COLUMNS.join(', ')})
  SELECT DISTINCT ON (run_id) ${SUMMARY_COLUMNS.join(', ')} FROM input
  ORDER BY run_id, revision DESC
  ON CONFLICT (run_id) DO UPDATE SET status = excluded.status, blueprint = excluded.blueprint,
    started_at = excluded.started_at, revision = excluded.revision, summary = excluded.summary
  WHERE ${table}.revision < excluded.revision
)
INSERT INTO ${schema}.read_model_checkpoints (name, position) VALUES ($2, $3)
ON CONFLICT (name) DO UPDATE
  SET position = greatest(${schema}.read_model_checkpoints.position, excluded.position)`;

  const toJson = (updates: readonly StoredSummary[]): string =>
    JSON.stringify(
      updates.map((update) =>
        Object.fromEntries(SUMMARY_COLUMNS.map((c, i) => [c, rowOf(update)[i]])),
      ),
    );

  /** LISTENs until stopped; a dropped connection is re-opened after a backoff. */
  const listen = (
    wake: () => void,
    log: (message: string) => void,
    feed: (up: boolean) => void,
  ): (() => void) => {
    let stopped = false;
    let client: pg.Client | undefined;
    let retry: NodeJS.Timeout | undefined;
    let failures = 0;
    const reconnect = () => {
      if (stopped || retry !== undefined) return;
      const delay = RECONNECT_MS[Math.min(failures, RECONNECT_MS.length - 1)] ?? 5000;
      failures++;
      retry = setTimeout(() => {
        retry = undefined;
        void open();
      }, delay);
    };
    const open = async () => {
      const next = new pg.Client({
        connectionString: config.connectionString,
        connectionTimeoutMillis: 10_000,
        application_name: 'weft-change-feed',
      });
      next.on('notification', (n) => {
        // A notification already on its way when stopped is dropped: no wake after `stop`.
        if (!stopped && n.channel === APPENDED_CHANNEL && n.payload === schema) wake();
      });
      next.on('error', (error) => {
        if (client === next) {
          log(`change feed lost (${messageOf(error)}); polling until it is back`);
          feed(false);
        }
        client = undefined;
        void next.end().catch(() => undefined);
        reconnect();
      });
      try {
        await next.connect();
        await next.query(`LISTEN ${APPENDED_CHANNEL}`);
      } catch (error) {
        if (failures === 0) log(`change feed: ${messageOf(error)}; polling until it is back`);
        void next.end().catch(() => undefined);
        reconnect();
        return;
      }
      if (stopped) {
        void next.end().catch(() => undefined);
        return;
      }
      failures = 0;
      client = next;
      feed(true);
      wake();
    };
    void open();
    const stop = () => {
      stopped = true;
      clearTimeout(retry);
      feed(false);
      void client?.end().catch(() => undefined);
      client = undefined;
      stops.delete(stop);
    };
    stops.add(stop);
    return stop;
  };

  return {
    checkpoint: () =>
      query(
        'checkpoint',
        `SELECT position FROM ${schema}.read_model_checkpoints WHERE name = $1`,
        [CHECKPOINT_NAME],
        (rows) => (rows[0] === undefined ? undefined : Number(rows[0]['position'])),
      ),
    commit: (updates, position) =>
      query('commit', commitText, [toJson(updates), CHECKPOINT_NAME, position], () => undefined),
    get: (runIds) =>
      query(
        'get',
        `SELECT revision, summary FROM ${table} WHERE run_id = ANY($1::text[])`,
        [runIds],
        (rows) => new Map(rows.map(storedOf).map((stored) => [stored.summary.runId, stored])),
      ),
    list: (filter) => {
      const { text, values } = listQuery(table, filter, (i) => `$${i}`);
      return query('list', text, values, (rows) => pageOf(rows, filter.limit));
    },
    running: () =>
      query('running', `SELECT run_id FROM ${table} WHERE status = 'running'`, [], (rows) =>
        rows.map((row) => String(row['run_id'])),
      ),
    changes: listen,
    close: () =>
      Effect.promise(async () => {
        if (closed) return;
        closed = true;
        for (const stop of [...stops]) stop();
        await pool.end().catch(() => undefined);
      }),
  };
};
