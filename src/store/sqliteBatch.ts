import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type SQLOutputValue } from 'node:sqlite';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { firstRevision, isRetriedAppend } from './revisions.ts';
import { classifySqliteError } from './sqliteErrors.ts';

/*
 * The write side of the sqlite store: group commit.
 *
 * Guarantees:
 * - Durable on commit: WAL with synchronous=FULL fsyncs the log before an append is answered.
 * - One writer at a time, also across processes: BEGIN IMMEDIATE takes the write lock before the
 *   revision check, so check and insert see the same head; busy_timeout makes a second writer wait.
 * - `position` is the AUTOINCREMENT rowid, assigned inside the write lock, so
 *   positions become visible in increasing order and a reader tailing them never skips one.
 * - Group commit: the appends of one batch (those made within one tick) share one transaction,
 *   one fsync for all. Each has its own SAVEPOINT, so a conflicting or failing append
 *   rolls back alone; every caller is answered only after the COMMIT. Appends to one stream within
 *   a batch see each other, in order.
 */

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  position INTEGER PRIMARY KEY AUTOINCREMENT,
  stream   TEXT    NOT NULL,
  revision INTEGER NOT NULL,
  id       TEXT    NOT NULL UNIQUE,
  type     TEXT    NOT NULL,
  data     TEXT    NOT NULL,
  at       TEXT    NOT NULL,
  UNIQUE (stream, revision)
) STRICT;
`;

const BUSY_TIMEOUT_MS = 5_000;

/** Opens (creating if needed) the file in WAL mode with fsync on commit, and the table. Throws if it cannot. */
export const openDatabase = (path: string): DatabaseSync => {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new DatabaseSync(path, { timeout: BUSY_TIMEOUT_MS });
  try {
    db.exec('PRAGMA journal_mode = WAL');
    db.exec('PRAGMA synchronous = FULL');
    db.exec(SCHEMA);
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
};

/** What a connection commits with, as SQLite reports it (not merely what was asked for). */
export interface ConnectionSettings {
  readonly journalMode: string;
  /** 2 is FULL: the WAL is fsynced before a commit returns. */
  readonly synchronous: number;
}

const settingsOf = (db: DatabaseSync): ConnectionSettings => ({
  journalMode: text(db.prepare('PRAGMA journal_mode').get() ?? {}, 'journal_mode'),
  synchronous: integer(db.prepare('PRAGMA synchronous').get() ?? {}, 'synchronous'),
});

/** One append as the writer receives it: the data already serialised. */
export interface AppendRequest {
  readonly stream: string;
  readonly events: readonly { readonly id: string; readonly type: string; readonly data: string }[];
  readonly expected: number | 'no_stream';
}

import type { AppendOutcome } from './shared.ts';

export type { AppendOutcome };

export type Row = Record<string, SQLOutputValue>;

export const text = (row: Row, key: string): string => {
  const value = row[key];
  if (typeof value !== 'string')
    throw new Error(`events.${key}: expected text, got ${typeof value}`);
  return value;
};

export const integer = (row: Row, key: string): number => {
  const value = row[key];
  if (typeof value !== 'number')
    throw new Error(`events.${key}: expected integer, got ${typeof value}`);
  return value;
};

/** The stream's last revision from a `SELECT MAX(revision) AS revision` row. */
export const headOf = (row: Row | undefined): number | 'no_stream' => {
  const revision = row?.['revision'];
  return typeof revision === 'number' ? revision : 'no_stream';
};

const messageOf = (error: unknown): string =>
  error instanceof Error ? error.message : String(error);

/** A failed outcome, refused for good when the error's class says so (sqliteErrors.ts). */
const failedOutcome = (error: unknown): AppendOutcome => {
  const refused = classifySqliteError(error);
  return refused === undefined
    ? { _tag: 'Failed', message: messageOf(error) }
    : { _tag: 'Failed', message: messageOf(error), refused };
};

/** Commits batches of appends, one transaction (one fsync) per batch. Synchronous. */
export class BatchWriter {
  /** The settings of the connection this writer commits on, read once when it is made. */
  readonly settings: ConnectionSettings;
  readonly #db: DatabaseSync;
  readonly #sql;

  constructor(db: DatabaseSync) {
    this.#db = db;
    this.settings = settingsOf(db);
    this.#sql = {
      begin: db.prepare('BEGIN IMMEDIATE'),
      commit: db.prepare('COMMIT'),
      rollback: db.prepare('ROLLBACK'),
      savepoint: db.prepare('SAVEPOINT one_append'),
      rollbackTo: db.prepare('ROLLBACK TO one_append'),
      release: db.prepare('RELEASE one_append'),
      head: db.prepare('SELECT MAX(revision) AS revision FROM events WHERE stream = ?'),
      found: db.prepare(
        'SELECT id, revision, position, at FROM events WHERE stream = ? AND revision >= ? ORDER BY revision LIMIT ?',
      ),
      insert: db.prepare(
        'INSERT INTO events (stream, revision, id, type, data, at) VALUES (?, ?, ?, ?, ?, ?) RETURNING position',
      ),
    };
  }

  /** Answers in the order of `batch`; on a failure of the transaction itself, every append failed. */
  commit(batch: readonly AppendRequest[]): AppendOutcome[] {
    const sql = this.#sql;
    const outcomes: AppendOutcome[] = [];
    try {
      sql.begin.run();
      for (const request of batch) {
        sql.savepoint.run();
        try {
          const outcome = this.#appendInTx(request);
          if (outcome._tag !== 'Appended') sql.rollbackTo.run();
          sql.release.run();
          outcomes.push(outcome);
        } catch (error) {
          sql.rollbackTo.run();
          sql.release.run();
          outcomes.push(
            /UNIQUE constraint failed: events\.id/.test(messageOf(error))
              ? {
                  _tag: 'IdTaken',
                  message: `append to ${request.stream}: an event id is already used (${messageOf(error)})`,
                }
              : failedOutcome(error),
          );
        }
      }
      sql.commit.run();
    } catch (error) {
      if (this.#db.isOpen && this.#db.isTransaction) sql.rollback.run();
      const failed = failedOutcome(error);
      return batch.map(() => failed);
    }
    return outcomes;
  }

  #appendInTx({ stream, events, expected }: AppendRequest): AppendOutcome {
    const sql = this.#sql;
    const actual = headOf(sql.head.get(stream));
    const first = firstRevision(expected);
    if (actual !== expected) {
      const found = sql.found.all(stream, first, events.length).map((row) => ({
        id: text(row, 'id'),
        revision: integer(row, 'revision'),
        position: integer(row, 'position'),
        at: text(row, 'at'),
      }));
      const last = found.at(-1);
      return last !== undefined && isRetriedAppend(found, events)
        ? { _tag: 'Appended', revision: last.revision, position: last.position, at: last.at }
        : { _tag: 'Conflict', actual };
    }
    const at = new Date().toISOString();
    let position = 0;
    for (const [i, e] of events.entries()) {
      const row = sql.insert.get(stream, first + i, e.id, e.type, e.data, at);
      if (row !== undefined) position = integer(row, 'position');
    }
    return { _tag: 'Appended', revision: first + events.length - 1, position, at };
  }
}

/** What the store posts to its writer thread, and what the thread answers. */
export interface ToWriter {
  readonly kind: 'append';
  readonly batch: number;
  /** The batch's `AppendRequest[]` as JSON. */
  readonly requests: string;
}
export type FromWriter =
  | { readonly kind: 'ready'; readonly settings: ConnectionSettings }
  | { readonly kind: 'open-failed'; readonly message: string }
  | {
      readonly kind: 'outcomes';
      readonly batch: number;
      readonly outcomes: readonly AppendOutcome[];
    };

/** The writer thread's loop: commits each batch it is sent, in order, on its own connection. */
const serve = (path: string): void => {
  const port = parentPort;
  if (port === null) return;
  let writer: BatchWriter;
  try {
    writer = new BatchWriter(openDatabase(path));
  } catch (error) {
    port.postMessage({ kind: 'open-failed', message: messageOf(error) } satisfies FromWriter);
    return;
  }
  port.on('message', (message: ToWriter) => {
    port.postMessage({
      kind: 'outcomes',
      batch: message.batch,
      outcomes: writer.commit(JSON.parse(message.requests) as AppendRequest[]),
    } satisfies FromWriter);
  });
  port.postMessage({ kind: 'ready', settings: writer.settings } satisfies FromWriter);
};

const data: unknown = workerData;
if (!isMainThread && typeof data === 'object' && data !== null && 'weftSqliteWriter' in data) {
  serve(String((data as { weftSqliteWriter: unknown }).weftSqliteWriter));
}
