import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type SQLOutputValue } from 'node:sqlite';
import * as Effect from 'effect/Effect';
import type {
  AppendResult,
  EventStoreShape,
  ExpectedRevision,
  NewEvent,
  RecordedEvent,
} from './EventStore.ts';
import { StoreUnavailable, VersionConflict } from './errors.ts';
import { checkAppend, checkRead, firstRevision, isRetriedAppend, parseJson } from './shared.ts';

/*
 * Guarantees:
 * - Durable on commit: WAL with synchronous=FULL fsyncs the log before an append returns.
 * - One writer at a time, also across processes: BEGIN IMMEDIATE takes the write lock before the
 *   revision check, so check and insert see the same head; busy_timeout makes a second writer wait.
 * - `position` is the AUTOINCREMENT rowid. Positions are assigned inside the write lock, so they
 *   become visible in increasing order and a reader tailing `readAll({after})` never skips one.
 *
 * - Group commit: the appends that arrive within one tick (many runs at once) share one
 *   BEGIN IMMEDIATE … COMMIT and so one fsync. Each has its own SAVEPOINT, so a conflicting or
 *   failing append rolls back alone; every caller is answered only after the COMMIT, so an append
 *   that succeeded is durable. Appends to one stream within a batch see each other, in order.
 */

const SCHEMA = `
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

const COLUMNS = 'position, stream, revision, id, type, data, at';
const BUSY_TIMEOUT_MS = 5_000;

type Row = Record<string, SQLOutputValue>;

const text = (row: Row, key: string): string => {
  const value = row[key];
  if (typeof value !== 'string')
    throw new Error(`events.${key}: expected text, got ${typeof value}`);
  return value;
};

const integer = (row: Row, key: string): number => {
  const value = row[key];
  if (typeof value !== 'number')
    throw new Error(`events.${key}: expected integer, got ${typeof value}`);
  return value;
};

const toRecorded = (row: Row): RecordedEvent => ({
  stream: text(row, 'stream'),
  id: text(row, 'id'),
  type: text(row, 'type'),
  data: parseJson(text(row, 'data')),
  revision: integer(row, 'revision'),
  position: integer(row, 'position'),
  at: text(row, 'at'),
});

type Outcome =
  | { readonly _tag: 'Appended'; readonly result: AppendResult }
  | { readonly _tag: 'Conflict'; readonly actual: number | 'no_stream' }
  | { readonly _tag: 'IdTaken'; readonly message: string };

const unavailable = (what: string) => (cause: unknown) =>
  new StoreUnavailable({
    message: `sqlite ${what}: ${cause instanceof Error ? cause.message : String(cause)}`,
    cause,
  });

const isUniqueIdViolation = (error: unknown): boolean =>
  error instanceof Error && /UNIQUE constraint failed: events\.id/.test(error.message);

/**
 * An event store in one SQLite file (node:sqlite), created with its parent directory if missing.
 * Opening is synchronous and throws if the file cannot be opened. Operations after `close` fail
 * with `StoreUnavailable`; `close` is idempotent.
 */
export const makeSqliteStore = (path: string): EventStoreShape => {
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

  const sql = {
    begin: db.prepare('BEGIN IMMEDIATE'),
    commit: db.prepare('COMMIT'),
    rollback: db.prepare('ROLLBACK'),
    savepoint: db.prepare('SAVEPOINT one_append'),
    rollbackTo: db.prepare('ROLLBACK TO one_append'),
    release: db.prepare('RELEASE one_append'),
    head: db.prepare('SELECT MAX(revision) AS revision FROM events WHERE stream = ?'),
    range: db.prepare(
      `SELECT ${COLUMNS} FROM events WHERE stream = ? AND revision >= ? ORDER BY revision LIMIT ?`,
    ),
    insert: db.prepare(
      'INSERT INTO events (stream, revision, id, type, data, at) VALUES (?, ?, ?, ?, ?, ?) RETURNING position',
    ),
    all: db.prepare(`SELECT ${COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ?`),
    allPrefixed: db.prepare(
      `SELECT ${COLUMNS} FROM events WHERE position > ?1 AND substr(stream, 1, length(?2)) = ?2 ORDER BY position LIMIT ?3`,
    ),
  };

  const head = (stream: string): number | 'no_stream' => {
    const revision = sql.head.get(stream)?.['revision'];
    return typeof revision === 'number' ? revision : 'no_stream';
  };

  // SQLite reads LIMIT -1 as "no limit".
  const limitOf = (limit: number | undefined): number => limit ?? -1;

  /** One append inside the batch's transaction; the caller owns the savepoint. */
  const appendInTx = (stream: string, events: readonly NewEvent[], expected: ExpectedRevision): Outcome => {
    const actual = head(stream);
    const first = firstRevision(expected);
    if (actual !== expected) {
      const found = sql.range.all(stream, first, events.length).map(toRecorded);
      const last = found.at(-1);
      return last !== undefined && isRetriedAppend(found, events)
        ? { _tag: 'Appended', result: { revision: last.revision, position: last.position, at: last.at } }
        : { _tag: 'Conflict', actual };
    }
    const at = new Date().toISOString();
    let position = 0;
    for (const [i, e] of events.entries()) {
      const row = sql.insert.get(stream, first + i, e.id, e.type, JSON.stringify(e.data), at);
      if (row !== undefined) position = integer(row, 'position');
    }
    return { _tag: 'Appended', result: { revision: first + events.length - 1, position, at } };
  };

  interface Pending {
    readonly stream: string;
    readonly events: readonly NewEvent[];
    readonly expected: ExpectedRevision;
    readonly done: (outcome: Outcome | { readonly _tag: 'Failed'; readonly error: unknown }) => void;
  }
  let queue: Pending[] = [];

  /** Commits every queued append in one transaction; answers each caller after the COMMIT. */
  const flush = () => {
    const batch = queue;
    queue = [];
    if (batch.length === 0) return;
    const outcomes: (Outcome | { readonly _tag: 'Failed'; readonly error: unknown })[] = [];
    try {
      sql.begin.run();
      for (const p of batch) {
        sql.savepoint.run();
        try {
          const outcome = appendInTx(p.stream, p.events, p.expected);
          if (outcome._tag !== 'Appended') sql.rollbackTo.run();
          sql.release.run();
          outcomes.push(outcome);
        } catch (error) {
          sql.rollbackTo.run();
          sql.release.run();
          outcomes.push(
            isUniqueIdViolation(error)
              ? { _tag: 'IdTaken', message: `append to ${p.stream}: an event id is already used (${String(error)})` }
              : { _tag: 'Failed', error },
          );
        }
      }
      sql.commit.run();
    } catch (error) {
      if (db.isOpen && db.isTransaction) sql.rollback.run();
      for (const p of batch) p.done({ _tag: 'Failed', error });
      return;
    }
    batch.forEach((p, i) => p.done(outcomes[i] ?? { _tag: 'Failed', error: new Error('no outcome') }));
  };

  const enqueue = (stream: string, events: readonly NewEvent[], expected: ExpectedRevision) =>
    Effect.callback<Outcome, StoreUnavailable>((resume) => {
      if (!db.isOpen) {
        resume(Effect.fail(unavailable('append')(new Error('the store is closed'))));
        return;
      }
      if (queue.length === 0) setImmediate(flush);
      queue.push({
        stream,
        events,
        expected,
        done: (outcome) =>
          resume(outcome._tag === 'Failed' ? Effect.fail(unavailable('append')(outcome.error)) : Effect.succeed(outcome)),
      });
    });

  const attempt = <A>(what: string, f: () => A): Effect.Effect<A, StoreUnavailable> =>
    Effect.try({ try: f, catch: unavailable(what) });

  return {
    append: (stream, events, expected) =>
      checkAppend(stream, events, expected).pipe(
        Effect.andThen(enqueue(stream, events, expected)),
        Effect.flatMap((outcome) => {
          switch (outcome._tag) {
            case 'Appended':
              return Effect.succeed(outcome.result);
            case 'Conflict':
              return Effect.fail(new VersionConflict({ stream, expected, actual: outcome.actual }));
            case 'IdTaken':
              return Effect.die(new Error(outcome.message));
          }
        }),
      ),

    read: (stream, options = {}) =>
      Effect.andThen(
        checkRead(options),
        attempt('read', () =>
          sql.range.all(stream, options.from ?? 0, limitOf(options.limit)).map(toRecorded),
        ),
      ),

    revision: (stream) => attempt('revision', () => head(stream)),

    readAll: (options = {}) =>
      Effect.andThen(
        checkRead(options),
        attempt('readAll', () => {
          const after = options.after ?? 0;
          const limit = limitOf(options.limit);
          const prefix = options.streamPrefix;
          const rows =
            prefix === undefined
              ? sql.all.all(after, limit)
              : sql.allPrefixed.all(after, prefix, limit);
          return rows.map(toRecorded);
        }),
      ),

    close: () =>
      Effect.sync(() => {
        flush();
        if (db.isOpen) db.close();
      }),
  };
};
