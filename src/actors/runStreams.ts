import * as Effect from 'effect/Effect';
import * as Result from 'effect/Result';
import type { RunEvent } from '../machines/events.ts';
import type { EventStoreShape, NewEvent, RecordedEvent, StoreLimits } from '../store/EventStore.ts';
import type { StoreRefused } from '../store/errors.ts';
import { eventId } from '../store/eventId.ts';
import { runStream } from '../store/streams.ts';
import { weftError } from '../wire/errors.ts';
import { dataOf } from './storeFit.ts';

/**
 * The actor wing's one port over the event store's run streams, in plain promises: the store's
 * typed failures are translated here, once, into what the actors act on (a conflict, a refusal as
 * too large) or the reply errors they pass on (`unavailable`, `internal`).
 */
export class RunStreams {
  readonly #store: EventStoreShape;
  readonly #log: (message: string) => void;

  constructor(store: EventStoreShape, log: (message: string) => void) {
    this.#store = store;
    this.#log = log;
  }

  /** What one append may hold. */
  get limits(): StoreLimits {
    return this.#store.limits;
  }

  /**
   * The run's events from `from` (default 0); `[]` when it has no stream. Rejects when the store
   * fails.
   */
  read(
    runId: string,
    options?: { readonly from?: number; readonly limit?: number },
  ): Promise<readonly RecordedEvent[]> {
    return Effect.runPromise(this.#store.read(runStream(runId), options));
  }

  /**
   * Appends expecting `expected` (idempotent: event ids are deterministic). A conflict is
   * `'conflict'`; a refusal as too large is returned (nothing was written); the store unavailable
   * rejects with `unavailable` (retry), refusing for another reason with `internal` and a one-line
   * log (retrying cannot help).
   */
  async append(
    runId: string,
    events: readonly RunEvent[],
    expected: number | 'no_stream',
  ): Promise<'conflict' | StoreRefused | readonly RecordedEvent[]> {
    const stream = runStream(runId);
    const first = expected === 'no_stream' ? 0 : expected + 1;
    const newEvents: NewEvent[] = events.map((event, i) => {
      const data = dataOf(event);
      return { id: eventId(stream, first + i, event.type, data), type: event.type, data };
    });
    const result = await Effect.runPromise(
      Effect.result(this.#store.append(stream, newEvents, expected)),
    );
    if (Result.isFailure(result)) {
      const failure = result.failure;
      switch (failure._tag) {
        case 'VersionConflict':
          return 'conflict';
        case 'StoreUnavailable':
          throw weftError('unavailable', `event store: ${failure.message}`);
        case 'StoreRefused':
          if (failure.reason === 'too_large') return failure;
          this.#log(
            `event store refused an append to ${stream} (${failure.reason}): ${failure.message}`,
          );
          throw weftError(
            'internal',
            `event store refused the append (${failure.reason}): ${failure.message}`,
            { reason: failure.reason },
          );
      }
    }
    // Positions within one append only increase; exact ones are not needed by anything downstream.
    const { at, position } = result.success;
    return newEvents.map((e, i) => ({ ...e, stream, revision: first + i, position, at }));
  }
}
