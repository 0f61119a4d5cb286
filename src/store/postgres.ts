import * as Effect from 'effect/Effect';
import pg from 'pg';
import type { Json } from '../blueprints/json.ts';
import type { EventStoreShape, RecordedEvent, StoreLimits } from './EventStore.ts';
import { StoreUnavailable, type RefusalReason } from './errors.ts';
import { parsePostgresUrl } from './postgresConfig.ts';
import { classifyPostgresError } from './postgresErrors.ts';
import { bootstrap, migrationLock, migrations } from './postgresSchema.ts';
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
  type AppendOutcome,
  type SerialisedEvent,
} from './shared.ts';

/*
 * An event store in PostgreSQL. The write side is one server-side function (`append_batch`,
 * postgresSchema.ts, where the ordering and conflict guarantees are written down): what is appended
 * within one tick goes to the server as one statement, one transaction, one WAL flush
 * (`synchronous_commit` is forced on for every connection). While a batch is in flight the next
 * one gathers, so under load batches grow instead of queuing transactions.
 */

const POOL_SIZE = 4;
const CONNECT_TIMEOUT_MS = 10_000;
/** Appends per statement at most: a burst is split so that no one transaction holds the append lock for long. */
const MAX_BATCH = 500;

const messageOf = causeMessage;

type Outcome = AppendOutcome;

interface Request {
  readonly stream: string;
  readonly expected: number | null;
  readonly events: readonly SerialisedEvent[];
}

export interface PostgresStoreOptions {
  /** Smaller limits than `GENEROUS_LIMITS` (shared.ts), for tests of what happens at a store's limit. */
  readonly limits?: Partial<StoreLimits>;
}

/** A failed outcome for every append of a batch, refused when the error's class says so. */
const failedOutcome = (error: unknown): Outcome => {
  const refused = classifyPostgresError(error);
  const message = messageOf(error);
  return refused === undefined ? { _tag: 'Failed', message } : { _tag: 'Failed', message, refused };
};

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null;

const numberOf = (value: unknown, what: string): number => {
  const n = typeof value === 'string' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n))
    throw new Error(`postgres: ${what} is not an integer: ${String(value)}`);
  return n;
};

const isoOf = (value: unknown): string => {
  const date = value instanceof Date ? value : new Date(String(value));
  if (Number.isNaN(date.getTime())) throw new Error(`postgres: bad time ${String(value)}`);
  return date.toISOString();
};

/** One outcome of `append_batch`, checked (it crosses a process boundary). */
const outcomeOf = (value: unknown, stream: string): Outcome => {
  if (!isRecord(value)) throw new Error('postgres append_batch: malformed outcome');
  switch (value['tag']) {
    case 'Appended':
      return {
        _tag: 'Appended',
        revision: numberOf(value['revision'], 'revision'),
        position: numberOf(value['position'], 'position'),
        at: isoOf(value['at']),
      };
    case 'Conflict':
      return {
        _tag: 'Conflict',
        actual: value['actual'] === null ? 'no_stream' : numberOf(value['actual'], 'revision'),
      };
    case 'IdTaken':
      return {
        _tag: 'IdTaken',
        message: `append to ${stream}: an event id is already used (${String(value['message'])})`,
      };
    default:
      throw new Error(`postgres append_batch: unknown outcome ${String(value['tag'])}`);
  }
};

/** `data` is parsed on first read, as in the sqlite adapter: followers skip most of it. */
const toRecorded = (row: Record<string, unknown>): RecordedEvent => {
  const json = String(row['data']);
  let data: { readonly value: Json } | undefined;
  return {
    stream: String(row['stream']),
    id: String(row['id']),
    type: String(row['type']),
    get data(): Json {
      data ??= { value: parseJson(json) };
      return data.value;
    },
    revision: numberOf(row['revision'], 'revision'),
    position: numberOf(row['position'], 'position'),
    at: isoOf(row['at']),
  };
};

/**
 * Creates the schema and runs the migrations it lacks, under a transaction-level advisory lock so
 * that adapters starting at once migrate one after the other. Idempotent. Refuses a schema migrated
 * by a newer weft.
 */
const migrate = async (pool: pg.Pool, schema: string): Promise<void> => {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(migrationLock(schema));
    // Only when missing: CREATE SCHEMA needs the CREATE privilege even with IF NOT EXISTS, and a
    // schema prepared by an administrator must open for a user without it.
    const found = await client.query<{ table: string | null }>(
      'SELECT to_regclass($1)::text AS table',
      [`${schema}.schema_migrations`],
    );
    if ((found.rows[0]?.table ?? null) === null) await client.query(bootstrap(schema));
    const { rows } = await client.query<{ version: number | null }>(
      `SELECT max(version) AS version FROM ${schema}.schema_migrations`,
    );
    const done = rows[0]?.version ?? 0;
    const all = migrations(schema);
    if (done > all.length)
      throw new Error(
        `schema ${schema} is at version ${done}, newer than this weft knows (${all.length}): upgrade weft`,
      );
    for (let version = done + 1; version <= all.length; version++) {
      await client.query(all[version - 1] ?? '');
      await client.query(`INSERT INTO ${schema}.schema_migrations (version) VALUES ($1)`, [
        version,
      ]);
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
};

/**
 * Opens a PostgreSQL event store: connects, checks the server, creates or migrates the schema.
 * Rejects with a one-line Error naming `host:port/db` and the cause (refused, unknown host, bad
 * password, missing database) when it cannot. Operations after `close` fail with
 * `StoreUnavailable`; `close` waits for appends in flight and is idempotent.
 */
export const makePostgresStore = async (
  url: string,
  options: PostgresStoreOptions = {},
): Promise<EventStoreShape> => {
  const limits = limitsOf(options.limits);
  const config = parsePostgresUrl(url);
  const { schema } = config;
  const pool = new pg.Pool({
    connectionString: config.connectionString,
    max: POOL_SIZE,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    // Durable on commit whatever the server's default: an append is answered after its WAL flush.
    // ISO dates whatever the server's DateStyle, as the driver's time parser expects.
    options: '-c synchronous_commit=on -c datestyle=ISO',
    application_name: 'weft',
  });
  // An idle connection the server drops (restart, network) is reported here; without a listener
  // it would crash the process. The next query opens a fresh connection.
  pool.on('error', () => undefined);
  try {
    await migrate(pool, schema);
  } catch (cause) {
    await pool.end().catch(() => undefined);
    throw new Error(`postgres ${config.target}: ${messageOf(cause)}`, { cause });
  }

  let closed = false;
  type Waiting = {
    readonly request: Request;
    readonly bytes: number;
    readonly done: (outcome: Outcome) => void;
  };
  let queue: Waiting[] = [];
  let inFlight: Promise<void> | undefined;
  let scheduled = false;

  /** The port's error for a failed operation: refused or unavailable as postgresErrors.ts classifies it. */
  const failure =
    (what: string) =>
    (cause: unknown, refused: RefusalReason | undefined = classifyPostgresError(cause)) =>
      storeError(`postgres ${config.target} ${what}: ${messageOf(cause)}`, cause, refused);

  /** Commits `batch` as one statement and answers each append; a rejected statement fails them all. */
  const send = (batch: readonly Waiting[]): Promise<void> => {
    // Every event's data in one bytea, the requests naming byte offset and length (migration 3):
    // the JSON the function reads field by field stays small.
    const parts: Buffer[] = [];
    let offset = 1;
    const requests = batch.map(({ request }) => ({
      stream: request.stream,
      expected: request.expected,
      events: request.events.map((e) => {
        const bytes = Buffer.from(e.data, 'utf8');
        parts.push(bytes);
        const at = { id: e.id, type: e.type, o: offset, n: bytes.length };
        offset += bytes.length;
        return at;
      }),
    }));
    return pool
      .query<{ outcomes: unknown }>(
        `SELECT ${schema}.append_batch($1::json, $2::bytea) AS outcomes`,
        [JSON.stringify(requests), Buffer.concat(parts)],
      )
      .then(
        (result) => {
          const raw = result.rows[0]?.outcomes;
          const list = Array.isArray(raw) ? raw : [];
          batch.forEach((w, i) => {
            let outcome: Outcome;
            try {
              outcome = outcomeOf(list[i], w.request.stream);
            } catch (error) {
              outcome = { _tag: 'Failed', message: messageOf(error) };
            }
            w.done(outcome);
          });
        },
        async (error: unknown) => {
          // A refusal of a batch may come from one append in it (a value the server will not
          // take): each is then sent alone, in order, so only that one is refused.
          if (batch.length > 1 && classifyPostgresError(error) !== undefined) {
            for (const w of batch) await send([w]);
            return;
          }
          const outcome = failedOutcome(error);
          for (const w of batch) w.done(outcome);
        },
      );
  };

  /** Sends the head of the queue as one batch; answers each append once the statement has committed. */
  const flush = (): void => {
    scheduled = false;
    if (inFlight !== undefined || queue.length === 0) return;
    const { batch, rest } = takeBatch(queue, MAX_BATCH);
    queue = rest;
    inFlight = send(batch).finally(() => {
      inFlight = undefined;
      if (queue.length > 0) flush();
    });
  };

  const submit = (request: Request, bytes: number): Promise<Outcome> =>
    new Promise((resolve) => {
      queue.push({ request, bytes, done: resolve });
      if (!scheduled && inFlight === undefined) {
        scheduled = true;
        setImmediate(flush);
      }
    });

  const query = <A>(
    what: string,
    text: string,
    values: readonly unknown[],
    f: (rows: readonly Record<string, unknown>[]) => A,
  ) =>
    Effect.suspend(() =>
      closed
        ? Effect.fail(
            new StoreUnavailable({ message: `postgres ${config.target}: the store is closed` }),
          )
        : Effect.tryPromise({
            try: async () => f((await pool.query(text, [...values])).rows),
            catch: failure(what),
          }),
    );

  const COLUMNS = 'position, stream, revision, id, type, data, at';

  return {
    limits,
    append: (stream, events, expected) =>
      checkAppend(stream, events, expected).pipe(
        Effect.andThen(serialiseWithin('postgres', stream, events, limits)),
        Effect.flatMap((serialised) =>
          Effect.promise((): Promise<Outcome> =>
            closed
              ? Promise.resolve({ _tag: 'Failed', message: 'the store is closed' })
              : submit(
                  {
                    stream,
                    expected: expected === 'no_stream' ? null : expected,
                    events: serialised.events,
                  },
                  serialised.bytes,
                ),
          ),
        ),
        Effect.flatMap((outcome) => settleAppend(stream, expected, outcome, failure('append'))),
      ),

    read: (stream, options = {}) =>
      Effect.andThen(
        checkRead(options),
        query(
          'read',
          `SELECT ${COLUMNS} FROM ${schema}.events WHERE stream = $1 AND revision >= $2 ORDER BY revision LIMIT $3`,
          [stream, options.from ?? 0, options.limit ?? null],
          (rows) => rows.map(toRecorded),
        ),
      ),

    revision: (stream) =>
      query(
        'revision',
        `SELECT max(revision) AS revision FROM ${schema}.events WHERE stream = $1`,
        [stream],
        (rows): number | 'no_stream' => {
          const value = rows[0]?.['revision'];
          return value === null || value === undefined ? 'no_stream' : numberOf(value, 'revision');
        },
      ),

    readAll: (options = {}) =>
      Effect.andThen(
        checkRead(options),
        options.streamPrefix === undefined
          ? query(
              'readAll',
              `SELECT ${COLUMNS} FROM ${schema}.events WHERE position > $1 ORDER BY position LIMIT $2`,
              [options.after ?? 0, options.limit ?? null],
              (rows) => rows.map(toRecorded),
            )
          : query(
              'readAll',
              `SELECT ${COLUMNS} FROM ${schema}.events WHERE position > $1 AND starts_with(stream, $2) ORDER BY position LIMIT $3`,
              [options.after ?? 0, options.streamPrefix, options.limit ?? null],
              (rows) => rows.map(toRecorded),
            ),
      ),

    close: () =>
      Effect.promise(async () => {
        if (closed) return;
        closed = true;
        while (inFlight !== undefined || queue.length > 0) {
          flush();
          await inFlight;
        }
        await pool.end().catch(() => undefined);
      }),
  };
};
