import type { DatabaseSync } from 'node:sqlite';
import { Worker } from 'node:worker_threads';
import * as Effect from 'effect/Effect';
import type { Json } from '../blueprints/json.ts';
import type {
  EventStoreShape,
  ExpectedRevision,
  RecordedEvent,
  StoreLimits,
} from './EventStore.ts';
import type { RefusalReason } from './errors.ts';
import {
  causeMessage,
  checkAppend,
  checkRead,
  limitsOf,
  parseJson,
  serialiseWithin,
  settleAppend,
  storeError,
  takeBatch,
  type SerialisedEvent,
} from './shared.ts';
import { classifySqliteError } from './sqliteErrors.ts';
import {
  BatchWriter,
  type ConnectionSettings,
  headOf,
  integer,
  text,
  type FromWriter,
  type Row,
  type ToWriter,
  openDatabase,
  type AppendOutcome,
  type AppendRequest,
} from './sqliteBatch.ts';

/*
 * Appends are group-committed by a `BatchWriter` (sqliteBatch.ts, where the guarantees are written
 * down): what is appended within one tick shares one transaction and one fsync.
 * When appends pile up, batches go to a writer thread instead (see `committer`).
 */

const COLUMNS = 'position, stream, revision, id, type, data, at';

/**
 * `data` is parsed on first read: the read-model follower pages through every new event and most
 * of them it has projected already (they were appended here), so it never looks at their data.
 */
const toRecorded = (row: Row): RecordedEvent => {
  const json = text(row, 'data');
  let data: { readonly value: Json } | undefined;
  return {
    stream: text(row, 'stream'),
    id: text(row, 'id'),
    type: text(row, 'type'),
    get data(): Json {
      data ??= { value: parseJson(json) };
      return data.value;
    },
    revision: integer(row, 'revision'),
    position: integer(row, 'position'),
    at: text(row, 'at'),
  };
};

/** The port's error for a failed operation: refused or unavailable as sqliteErrors.ts classifies it. */
const failure =
  (path: string, what: string) =>
  (cause: unknown, refused: RefusalReason | undefined = classifySqliteError(cause)) =>
    storeError(`sqlite ${path} ${what}: ${causeMessage(cause)}`, cause, refused);

/** One committed batch, as told to `SqliteStoreOptions.onCommit`. */
export interface SqliteCommit {
  /** `runtime`: inline on the store's own connection; `writer`: on the writer thread's. */
  readonly thread: 'runtime' | 'writer';
  /** How many appends shared the batch's transaction. */
  readonly appends: number;
  /** The settings of the connection that committed it. */
  readonly settings: ConnectionSettings;
}

export interface SqliteStoreOptions {
  /** Told after each batch is committed and answered (for tests and metrics); must not throw. */
  readonly onCommit?: (commit: SqliteCommit) => void;
  /** Smaller limits than `GENEROUS_LIMITS` (shared.ts), for tests of what happens at a store's limit. */
  readonly limits?: Partial<StoreLimits>;
}

interface Committer {
  /** `bytes`: the request's data size, which caps a batch (`takeBatch`). */
  readonly submit: (request: AppendRequest, bytes: number) => Promise<AppendOutcome>;
  readonly close: () => Promise<void>;
}

/** A lone append commits inline only if the previous batch was at least this long ago (not under load). */
const QUIET_MS = 1;

const WRITER_URL = new URL(
  import.meta.url.endsWith('.ts') ? './sqliteBatch.ts' : './sqliteBatch.js',
  import.meta.url,
);

/**
 * Batches what is submitted within one tick and commits it as one transaction: on this thread
 * when the batch is a single append, nothing is being committed and the previous batch was over a
 * millisecond ago (the lowest latency: no thread hop); otherwise on a writer thread with its own
 * connection, so that under load the fsyncs do not stall this event loop. Never both at once: a
 * commit here happens only while the thread has nothing, so the two connections never wait on each
 * other's lock. The thread starts on first need. If it dies, its appends in flight fail (none is
 * answered as done without its COMMIT) and commits stay on this thread.
 */
const committer = (
  db: DatabaseSync,
  path: string,
  onCommit: SqliteStoreOptions['onCommit'],
): Committer => {
  const writer = new BatchWriter(db);
  type Waiting = {
    readonly request: AppendRequest;
    readonly bytes: number;
    readonly done: (outcome: AppendOutcome) => void;
  };
  let queue: Waiting[] = [];
  let thread: Worker | undefined;
  let threadSettings: ConnectionSettings | undefined;
  let threadBroken = path === ':memory:';
  let nextBatch = 0;
  const sent = new Map<number, readonly Waiting[]>();
  let drained: (() => void) | undefined;
  let lastFlush = -Infinity;

  const answer = (batch: readonly Waiting[], outcomes: readonly AppendOutcome[]) =>
    batch.forEach((p, i) => p.done(outcomes[i] ?? { _tag: 'Failed', message: 'no outcome' }));

  const threadFailed = (message: string) => {
    threadBroken = true;
    for (const batch of sent.values())
      answer(
        batch,
        batch.map(() => ({ _tag: 'Failed', message })),
      );
    sent.clear();
    drained?.();
    // What waited for the thread is committed here from now on.
    if (queue.length > 0) setImmediate(flush);
  };

  const startThread = (): Worker => {
    const worker = new Worker(WRITER_URL, { workerData: { weftSqliteWriter: path } });
    worker.on('message', (message: FromWriter) => {
      if (message.kind === 'open-failed') threadFailed(`sqlite writer: ${message.message}`);
      if (message.kind === 'ready') threadSettings = message.settings;
      if (message.kind !== 'outcomes') return;
      const batch = sent.get(message.batch) ?? [];
      sent.delete(message.batch);
      answer(batch, message.outcomes);
      // 'ready' precedes every 'outcomes' on the port, so the settings are known here.
      if (threadSettings !== undefined)
        onCommit?.({ thread: 'writer', appends: batch.length, settings: threadSettings });
      if (sent.size === 0) {
        worker.unref();
        drained?.();
        if (queue.length > 0) flush();
      }
    });
    worker.on('error', (error: Error) => threadFailed(`sqlite writer thread: ${error.message}`));
    worker.on('exit', () => threadFailed('sqlite writer thread exited'));
    return worker;
  };

  const flush = () => {
    // Group commit: while the thread commits a batch, what is submitted meanwhile waits and goes
    // as one batch once it has answered (one fsync for all of it, not one per tick).
    if (!threadBroken && sent.size > 0) return;
    const { batch, rest } = takeBatch(queue, Infinity);
    queue = rest;
    // Whenever the queue holds appends a flush is due: `submit` schedules one for an empty queue.
    if (queue.length > 0) setImmediate(flush);
    if (batch.length === 0) return;
    const now = performance.now();
    const quiet = now - lastFlush >= QUIET_MS;
    lastFlush = now;
    if (threadBroken || (quiet && batch.length === 1 && sent.size === 0)) {
      answer(batch, writer.commit(batch.map((p) => p.request)));
      onCommit?.({ thread: 'runtime', appends: batch.length, settings: writer.settings });
      return;
    }
    thread ??= startThread();
    thread.ref();
    nextBatch += 1;
    sent.set(nextBatch, batch);
    // One string clones far faster than a tree of small objects.
    thread.postMessage({
      kind: 'append',
      batch: nextBatch,
      requests: JSON.stringify(batch.map((p) => p.request)),
    } satisfies ToWriter);
  };

  return {
    submit: (request, bytes) =>
      new Promise((resolve) => {
        if (queue.length === 0) setImmediate(flush);
        queue.push({ request, bytes, done: resolve });
      }),
    close: async () => {
      // Everything submitted is committed (or failed) before the thread stops.
      while (queue.length > 0 || sent.size > 0) {
        if (sent.size === 0) {
          flush();
          continue;
        }
        await new Promise<void>((resolve) => (drained = resolve));
        drained = undefined;
      }
      threadBroken = true;
      await thread?.terminate();
    },
  };
};

/**
 * An event store in one SQLite file (node:sqlite), created with its parent directory if missing.
 * Opening is synchronous and throws if the file cannot be opened. Operations after `close` fail
 * with `StoreUnavailable`; `close` is idempotent.
 */
export const makeSqliteStore = (
  path: string,
  options: SqliteStoreOptions = {},
): EventStoreShape => {
  const limits = limitsOf(options.limits);
  const db = openDatabase(path);
  const commits = committer(db, path, options.onCommit);
  let closing: Promise<void> | undefined;

  const sql = {
    head: db.prepare('SELECT MAX(revision) AS revision FROM events WHERE stream = ?'),
    range: db.prepare(
      `SELECT ${COLUMNS} FROM events WHERE stream = ? AND revision >= ? ORDER BY revision LIMIT ?`,
    ),
    all: db.prepare(`SELECT ${COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ?`),
    allPrefixed: db.prepare(
      `SELECT ${COLUMNS} FROM events WHERE position > ?1 AND substr(stream, 1, length(?2)) = ?2 ORDER BY position LIMIT ?3`,
    ),
  };

  const head = (stream: string): number | 'no_stream' => headOf(sql.head.get(stream));

  // SQLite reads LIMIT -1 as "no limit".
  const limitOf = (limit: number | undefined): number => limit ?? -1;

  const enqueue = (
    stream: string,
    serialised: { readonly events: readonly SerialisedEvent[]; readonly bytes: number },
    expected: ExpectedRevision,
  ) =>
    Effect.callback<AppendOutcome>((resume) => {
      if (!db.isOpen || closing !== undefined) {
        resume(Effect.succeed({ _tag: 'Failed', message: 'the store is closed' }));
        return;
      }
      const request: AppendRequest = { stream, events: serialised.events, expected };
      void commits
        .submit(request, serialised.bytes)
        .then((outcome) => resume(Effect.succeed(outcome)));
    });

  const attempt = <A>(what: string, f: () => A) =>
    Effect.try({ try: f, catch: failure(path, what) });

  return {
    limits,
    append: (stream, events, expected) =>
      checkAppend(stream, events, expected).pipe(
        Effect.andThen(serialiseWithin('sqlite', stream, events, limits)),
        Effect.flatMap((serialised) => enqueue(stream, serialised, expected)),
        Effect.flatMap((outcome) =>
          settleAppend(stream, expected, outcome, failure(path, 'append')),
        ),
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
      Effect.promise(() => {
        closing ??= commits.close().then(() => {
          if (db.isOpen) db.close();
        });
        return closing;
      }),
  };
};
