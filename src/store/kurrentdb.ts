import {
  BACKWARDS,
  END,
  KurrentDBClient,
  NO_STREAM,
  START,
  StreamNotFoundError,
  WrongExpectedVersionError,
  excludeSystemEvents,
  jsonEvent,
  streamNameFilter,
  type JSONType,
  type Position,
  type ReadPosition,
  type RecordedEvent as KurrentRecordedEvent,
} from '@kurrent/kurrentdb-client';
import * as Effect from 'effect/Effect';
import type { Json } from '../blueprints/json.ts';
import type {
  AppendResult,
  EventStoreShape,
  ExpectedRevision,
  NewEvent,
  RecordedEvent,
} from './EventStore.ts';
import { StoreRefused, StoreUnavailable, VersionConflict } from './errors.ts';
import { parseKurrentConnection } from './kurrentdbConfig.ts';
import { classifyKurrentError, explainKurrentError } from './kurrentdbErrors.ts';
import { checkAppend, checkRead, serialiseWithin, storeError } from './shared.ts';

/*
 * Every KurrentDB type and error stops in this file and kurrentdbErrors.ts: callers see
 * `RecordedEvent`, `VersionConflict`, `StoreUnavailable` and `StoreRefused` only (classified as the
 * table in kurrentdbErrors.ts says; every message names the operation, the server and the cause).
 *
 * - Idempotency is the server's: an append retried with the same event ids at the same expected
 *   revision succeeds without writing again.
 * - An append costs two round trips: the append, then a read of its last event for `at`/`position`.
 * - `position` is the event's commit position in $all. Appends made through gRPC are implicit
 *   transactions, where every event has its own commit position, so positions are unique.
 * - `readAll` skips system (`$`) streams and non-JSON events, which weft never writes. It reads
 *   `$all` in pages of `maxCount` events, so it needs an admin user on a secured server.
 * - Limits: the server refuses an append over its `MaxAppendSize` (1 MiB by default); `limits` is
 *   that less a margin (kurrentdbConfig.ts), and an append over it is refused before it is sent.
 * - The client remembers a failed probe of the server's features until it is made again: after
 *   `RECREATE_AFTER` appends in a row failed other than by a conflict, the client is replaced.
 */

/** Consecutive failed appends (conflicts aside) after which the client is made anew. */
const RECREATE_AFTER = 3;

/** Events per `$all` page: `readAll` asks the server for this many at a time (or `limit`, if smaller). */
const PAGE = 1_000;

const isJson = (value: unknown): value is Json => {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value);
    case 'object':
      if (value === null) return true;
      if (Array.isArray(value)) return value.every(isJson);
      return Object.values(value).every(isJson);
    default:
      return false;
  }
};

const toRecorded = (
  event: KurrentRecordedEvent,
  commitPosition: bigint | undefined,
): RecordedEvent => {
  const position = event.position?.commit ?? commitPosition;
  if (position === undefined) {
    throw new Error('the server reports no event positions (KurrentDB 22.6 or later needed)');
  }
  if (!event.isJson || !isJson(event.data)) {
    throw new Error(`event ${event.id} in ${event.streamId} is not JSON`);
  }
  return {
    stream: event.streamId,
    id: event.id,
    type: event.type,
    data: event.data,
    revision: Number(event.revision),
    position: Number(position),
    at: event.created.toISOString(),
  };
};

// The client types JSON data as object | array | string, but it sends any value through
// JSON.stringify and reads it back with JSON.parse, so every `Json` value round-trips.
const toEventData = (event: NewEvent) =>
  jsonEvent({ id: event.id, type: event.type, data: event.data as JSONType });

const isStreamNotFound = (error: unknown): boolean => error instanceof StreamNotFoundError;

type Settled<A, E> =
  { readonly ok: true; readonly value: A } | { readonly ok: false; readonly error: E };

/**
 * An event store on a KurrentDB server (or cluster) given by a `kurrentdb://` / `kurrentdb+discover://`
 * connection string (weft's own `maxAppendSize=<bytes>` parameter states the server's
 * `MaxAppendSize` when it is not the default). Connecting is lazy: an unreachable server shows up as
 * `StoreUnavailable` on the first operation. Throws at once if the connection string is malformed.
 * Operations after `close` fail with `StoreUnavailable`; `close` is idempotent.
 */
export const makeKurrentStore = (connectionString: string): EventStoreShape => {
  const config = parseKurrentConnection(connectionString);
  const connect = () => KurrentDBClient.connectionString(config.connectionString);
  let client = connect();
  let open = true;
  let failedAppends = 0;

  const call = <A, E = never>(
    what: string,
    run: () => Promise<A>,
    mapError?: (error: unknown) => E | undefined,
  ): Effect.Effect<A, E | StoreUnavailable | StoreRefused> =>
    Effect.suspend(() =>
      open
        ? Effect.flatMap(
            Effect.promise((): Promise<Settled<A, E | StoreUnavailable | StoreRefused>> =>
              run().then(
                (value) => ({ ok: true, value }),
                async (error: unknown) => ({
                  ok: false,
                  error:
                    mapError?.(error) ??
                    storeError(
                      `kurrentdb ${config.redacted} ${what}: ${await explainKurrentError(error, config)}`,
                      error,
                      classifyKurrentError(error),
                    ),
                }),
              ),
            ),
            (settled) => (settled.ok ? Effect.succeed(settled.value) : Effect.fail(settled.error)),
          )
        : Effect.fail(
            new StoreUnavailable({ message: `kurrentdb ${config.redacted}: the store is closed` }),
          ),
    );

  /** Counts a failed append; the `RECREATE_AFTER`th in a row replaces the client. */
  const appendFailed = (): void => {
    failedAppends += 1;
    if (failedAppends < RECREATE_AFTER || !open) return;
    failedAppends = 0;
    const old = client;
    client = connect();
    old.dispose().catch(() => undefined);
  };

  // `requiresLeader` for a read that must see a write just made, even on a cluster follower.
  const readStream = async (
    stream: string,
    from: number,
    limit: number | undefined,
    requiresLeader = false,
  ): Promise<RecordedEvent[]> => {
    const out: RecordedEvent[] = [];
    if (limit === 0) return out;
    try {
      const events = client.readStream(stream, {
        fromRevision: BigInt(from),
        requiresLeader,
        ...(limit === undefined ? {} : { maxCount: limit }),
      });
      for await (const resolved of events) {
        if (resolved.event !== undefined)
          out.push(toRecorded(resolved.event, resolved.commitPosition));
      }
    } catch (error) {
      if (isStreamNotFound(error)) return [];
      throw error;
    }
    return out;
  };

  const lastRevision = async (stream: string): Promise<number | 'no_stream'> => {
    try {
      const events = client.readStream(stream, {
        direction: BACKWARDS,
        fromRevision: END,
        maxCount: 1,
      });
      for await (const resolved of events) {
        if (resolved.event !== undefined) return Number(resolved.event.revision);
      }
    } catch (error) {
      if (isStreamNotFound(error)) return 'no_stream';
      throw error;
    }
    return 'no_stream';
  };

  const append = async (
    stream: string,
    events: readonly NewEvent[],
    expected: ExpectedRevision,
  ): Promise<AppendResult> => {
    let result;
    try {
      result = await client.appendToStream(stream, events.map(toEventData), {
        streamState: expected === 'no_stream' ? NO_STREAM : BigInt(expected),
      });
      failedAppends = 0;
    } catch (error) {
      if (!(error instanceof WrongExpectedVersionError)) appendFailed();
      throw error;
    }
    const revision = Number(result.nextExpectedRevision);
    // The reply has no time and, for an idempotent retry, no position; reading the last event back
    // gives both exactly as later reads will. If that read fails the append still happened, and
    // the caller's retry then succeeds idempotently.
    const [last] = await readStream(stream, revision, 1, true);
    if (last === undefined)
      throw new Error(`${stream}@${revision} not found right after appending it`);
    return { revision, position: last.position, at: last.at };
  };

  const readAll = async (
    after: number | undefined,
    limit: number | undefined,
    prefix: string | undefined,
  ) => {
    const out: RecordedEvent[] = [];
    if (limit === 0) return out;
    const filter =
      prefix === undefined || prefix === ''
        ? excludeSystemEvents()
        : streamNameFilter({ prefixes: [prefix] });
    // One more than asked: each page after the first starts with the event the last one ended on
    // (skipped), so a page of at least two always moves on.
    const maxCount = Math.min(PAGE, (limit ?? PAGE) + 1);
    // $all reads include the event at `fromPosition`; `after` is exclusive, so that one is skipped.
    let from: Position | undefined =
      after === undefined ? undefined : { commit: BigInt(after), prepare: BigInt(after) };
    for (;;) {
      const fromPosition: ReadPosition = from ?? START;
      let read = 0;
      for await (const resolved of client.readAll({ fromPosition, filter, maxCount })) {
        read += 1;
        const event = resolved.event;
        if (event === undefined) continue;
        const skip = from !== undefined && event.position.commit <= from.commit;
        from = event.position;
        if (skip || !event.isJson || event.streamId.startsWith('$')) continue;
        if (prefix !== undefined && !event.streamId.startsWith(prefix)) continue;
        out.push(toRecorded(event, resolved.commitPosition));
        if (limit !== undefined && out.length >= limit) return out;
      }
      // A short page is the end of $all (a filtered read counts the events that match).
      if (read < maxCount) return out;
    }
  };

  return {
    limits: config.limits,
    append: (stream, events, expected) =>
      checkAppend(stream, events, expected).pipe(
        Effect.andThen(serialiseWithin('kurrentdb', stream, events, config.limits)),
        Effect.andThen(
          call(
            'append',
            () => append(stream, events, expected),
            (error) =>
              error instanceof WrongExpectedVersionError
                ? new VersionConflict({
                    stream,
                    expected,
                    actual:
                      error.actualState === NO_STREAM ? 'no_stream' : Number(error.actualState),
                  })
                : undefined,
          ),
        ),
      ),

    read: (stream, options = {}) =>
      Effect.andThen(
        checkRead(options),
        call('read', () => readStream(stream, options.from ?? 0, options.limit)),
      ),

    revision: (stream) => call('revision', () => lastRevision(stream)),

    readAll: (options = {}) =>
      Effect.andThen(
        checkRead(options),
        call('readAll', () => readAll(options.after, options.limit, options.streamPrefix)),
      ),

    close: () =>
      Effect.suspend(() => {
        if (!open) return Effect.void;
        open = false;
        return Effect.ignore(Effect.tryPromise(() => client.dispose()));
      }),
  };
};
