import * as Effect from 'effect/Effect';
import type { AppendResult, EventStoreShape, RecordedEvent, StoreLimits } from './EventStore.ts';
import { StoreRefused, StoreUnavailable, VersionConflict } from './errors.ts';
import {
  checkAppend,
  checkRead,
  firstRevision,
  isRetriedAppend,
  limitsOf,
  parseJson,
  serialiseWithin,
  type SerialisedEvent,
} from './shared.ts';

export interface MemoryStoreOptions {
  /** Smaller limits than `GENEROUS_LIMITS` (shared.ts), for tests of what happens at a store's limit. */
  readonly limits?: Partial<StoreLimits>;
}

/**
 * An event store held in this process's memory, for unit tests and `memory:` mode. Same contract
 * as the durable adapters (see test/contract); nothing survives `close` or the process. Each call
 * makes an independent store. Data is copied through JSON on append, so what a reader gets back is
 * what the SQLite and KurrentDB adapters would return.
 */
export const makeMemoryStore = (options: MemoryStoreOptions = {}): EventStoreShape => {
  const limits = limitsOf(options.limits);
  const streams = new Map<string, RecordedEvent[]>();
  // log[i] has position i + 1, as in SQLite where positions start at 1.
  const log: RecordedEvent[] = [];
  const ids = new Set<string>();
  let open = true;

  const ifOpen = <A>(f: () => A): Effect.Effect<A, StoreUnavailable> =>
    Effect.suspend(() =>
      open
        ? Effect.succeed(f())
        : Effect.fail(new StoreUnavailable({ message: 'memory store is closed' })),
    );

  const head = (stream: string): number | 'no_stream' => {
    const events = streams.get(stream);
    return events === undefined || events.length === 0 ? 'no_stream' : events.length - 1;
  };

  const write = (
    stream: string,
    events: readonly SerialisedEvent[],
    expected: number | 'no_stream',
  ): Effect.Effect<AppendResult, VersionConflict | StoreUnavailable | StoreRefused> =>
    Effect.suspend(
      (): Effect.Effect<AppendResult, VersionConflict | StoreUnavailable | StoreRefused> => {
        if (!open) return Effect.fail(new StoreUnavailable({ message: 'memory store is closed' }));
        const existing = streams.get(stream) ?? [];
        const actual = head(stream);
        const first = firstRevision(expected);
        if (actual !== expected) {
          const found = existing.slice(first, first + events.length);
          const last = found.at(-1);
          if (last !== undefined && isRetriedAppend(found, events)) {
            return Effect.succeed({
              revision: last.revision,
              position: last.position,
              at: last.at,
            });
          }
          return Effect.fail(new VersionConflict({ stream, expected, actual }));
        }
        const clash = events.find((e) => ids.has(e.id));
        if (clash !== undefined)
          return Effect.die(new Error(`append to ${stream}: event id ${clash.id} already used`));
        const at = new Date().toISOString();
        const recorded = events.map((e, i): RecordedEvent => ({
          stream,
          id: e.id,
          type: e.type,
          data: parseJson(e.data),
          revision: first + i,
          position: log.length + i + 1,
          at,
        }));
        // Appended in place: `read` hands out copies, so no reader sees the array change.
        const list = streams.get(stream);
        if (list === undefined) streams.set(stream, recorded);
        else list.push(...recorded);
        log.push(...recorded);
        for (const e of recorded) ids.add(e.id);
        return Effect.succeed({ revision: first + events.length - 1, position: log.length, at });
      },
    );

  return {
    limits,
    append: (stream, events, expected) =>
      checkAppend(stream, events, expected).pipe(
        Effect.andThen(serialiseWithin('memory', stream, events, limits)),
        Effect.flatMap((serialised) => write(stream, serialised.events, expected)),
      ),

    read: (stream, options = {}) =>
      Effect.andThen(
        checkRead(options),
        ifOpen(() => {
          const from = options.from ?? 0;
          const events = streams.get(stream) ?? [];
          return options.limit === undefined
            ? events.slice(from)
            : events.slice(from, from + options.limit);
        }),
      ),

    revision: (stream) => ifOpen(() => head(stream)),

    readAll: (options = {}) =>
      Effect.andThen(
        checkRead(options),
        ifOpen(() => {
          const { streamPrefix, limit } = options;
          const out: RecordedEvent[] = [];
          for (
            let i = options.after ?? 0;
            i < log.length && (limit === undefined || out.length < limit);
            i++
          ) {
            const event = log[i];
            if (
              event !== undefined &&
              (streamPrefix === undefined || event.stream.startsWith(streamPrefix))
            ) {
              out.push(event);
            }
          }
          return out;
        }),
      ),

    close: () =>
      Effect.sync(() => {
        open = false;
      }),
  };
};
