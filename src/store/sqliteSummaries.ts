import { DatabaseSync } from 'node:sqlite';
import * as Effect from 'effect/Effect';
import type { RunSummaryStoreShape } from './RunSummaryStore.ts';
import { StoreUnavailable } from './errors.ts';
import { openDatabase } from './sqliteBatch.ts';
import {
  CHECKPOINT_NAME,
  SUMMARY_COLUMNS,
  listQuery,
  pageOf,
  rowOf,
  storedOf,
} from './summarySql.ts';

/*
 * The run-summary table in the sqlite file beside the events, on a connection of its own, on the
 * runtime's thread: a commit waits (blocking, at most `BUSY_MS`) while the events' writer thread
 * holds the write lock, which it does for one batch's transaction at a time. The table is rebuilt
 * from the events if lost, so it commits without an fsync of its own
 * (`synchronous = NORMAL`: a crash may lose the last commits, never corrupt them); the checkpoint
 * and the summaries are written in one transaction, so they never disagree.
 */

const SCHEMA = `
CREATE TABLE IF NOT EXISTS run_summaries (
  run_id     TEXT    PRIMARY KEY,
  status     TEXT    NOT NULL,
  blueprint  TEXT    NOT NULL,
  started_at TEXT    NOT NULL,
  revision   INTEGER NOT NULL,
  summary    TEXT    NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS run_summaries_newest ON run_summaries (started_at DESC, run_id);
CREATE INDEX IF NOT EXISTS run_summaries_running ON run_summaries (run_id) WHERE status = 'running';
CREATE TABLE IF NOT EXISTS read_model_checkpoints (
  name     TEXT    PRIMARY KEY,
  position INTEGER NOT NULL
) STRICT;
`;

const UPSERT = `INSERT INTO run_summaries (${SUMMARY_COLUMNS.join(', ')}) VALUES (?, ?, ?, ?, ?, ?)
  ON CONFLICT (run_id) DO UPDATE SET status = excluded.status, blueprint = excluded.blueprint,
    started_at = excluded.started_at, revision = excluded.revision, summary = excluded.summary
  WHERE run_summaries.revision < excluded.revision`;

const RAISE_CHECKPOINT = `INSERT INTO read_model_checkpoints (name, position) VALUES (?, ?)
  ON CONFLICT (name) DO UPDATE SET position = max(position, excluded.position)`;

const BUSY_MS = 2000;

/** The summary table of the sqlite store at `path` (not `:memory:`, which has no second connection). */
export const makeSqliteSummaries = (path: string): RunSummaryStoreShape => {
  // The events' own opener first: it creates the file, WAL mode and the events table if missing.
  openDatabase(path).close();
  const db = new DatabaseSync(path, { timeout: BUSY_MS });
  db.exec('PRAGMA synchronous = NORMAL');
  db.exec(SCHEMA);
  const upsert = db.prepare(UPSERT);
  const raise = db.prepare(RAISE_CHECKPOINT);
  const checkpoint = db.prepare('SELECT position FROM read_model_checkpoints WHERE name = ?');
  const running = db.prepare(`SELECT run_id FROM run_summaries WHERE status = 'running'`);
  const getOne = db.prepare('SELECT revision, summary FROM run_summaries WHERE run_id = ?');

  const run = <A>(what: string, f: () => A): Effect.Effect<A, StoreUnavailable> =>
    Effect.try({
      try: () => {
        if (!db.isOpen) throw new Error('the store is closed');
        return f();
      },
      catch: (cause) =>
        new StoreUnavailable({
          message: `sqlite run summaries ${what}: ${cause instanceof Error ? cause.message : String(cause)}`,
          cause,
        }),
    });

  return {
    checkpoint: () =>
      run('checkpoint', () => {
        const row = checkpoint.get(CHECKPOINT_NAME);
        return row === undefined ? undefined : Number(row['position']);
      }),
    commit: (updates, position) =>
      run('commit', () => {
        db.exec('BEGIN IMMEDIATE');
        try {
          for (const update of updates) upsert.run(...rowOf(update));
          raise.run(CHECKPOINT_NAME, position);
          db.exec('COMMIT');
        } catch (error) {
          if (db.isTransaction) db.exec('ROLLBACK');
          throw error;
        }
      }),
    get: (runIds) =>
      run('get', () => {
        const found = new Map<string, ReturnType<typeof storedOf>>();
        for (let i = 0; i < runIds.length; i += 500) {
          const slice = runIds.slice(i, i + 500);
          // One run (a start's "does it exist?"): a statement prepared once, not per call.
          const rows = (
            slice.length === 1
              ? getOne
              : db.prepare(
                  `SELECT revision, summary FROM run_summaries WHERE run_id IN (${slice.map(() => '?').join(', ')})`,
                )
          ).all(...slice);
          for (const row of rows) {
            const stored = storedOf(row);
            found.set(stored.summary.runId, stored);
          }
        }
        return found;
      }),
    list: (filter) =>
      run('list', () => {
        const query = listQuery('run_summaries', filter, () => '?');
        return pageOf(db.prepare(query.text).all(...query.values), filter.limit);
      }),
    running: () => run('running', () => running.all().map((row) => String(row['run_id']))),
    close: () =>
      Effect.sync(() => {
        if (db.isOpen) db.close();
      }),
  };
};
