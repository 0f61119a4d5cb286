import * as Context from 'effect/Context';
import type * as Effect from 'effect/Effect';
import type { Json } from '../blueprints/json.ts';
import type { StoreRefused, StoreUnavailable, VersionConflict } from './errors.ts';

/** An event about to be appended. `id` is deterministic (see `eventId`) so a retried append is recognised. */
export interface NewEvent {
  readonly id: string;
  readonly type: string;
  readonly data: Json;
}

/** An event as the store holds it. `revision` counts from 0 within its stream; `position` orders all events. */
export interface RecordedEvent {
  readonly stream: string;
  readonly id: string;
  readonly type: string;
  readonly data: Json;
  readonly revision: number;
  readonly position: number;
  /** ISO-8601 time the store recorded the event. */
  readonly at: string;
}

/** `no_stream`: the stream must not exist yet; a number: the revision of the stream's last event. */
export type ExpectedRevision = 'no_stream' | number;

export interface AppendResult {
  /** Revision of the last event appended (or found already appended). */
  readonly revision: number;
  /** Position of that last event. Positions within one append increase but need not be consecutive. */
  readonly position: number;
  /** ISO-8601 time the store recorded that last event, as `read` will return it. */
  readonly at: string;
}

/**
 * The largest appends a store takes. Sizes are bytes of `JSON.stringify(event.data)` encoded as
 * UTF-8 (the event's id and type are not counted: the adapters' margins cover them).
 */
export interface StoreLimits {
  /** The largest one event may be. */
  readonly maxEventBytes: number;
  /** The largest all the events of one append may be together. */
  readonly maxAppendBytes: number;
}

export interface EventStoreShape {
  /** What `append` accepts; anything bigger fails with `StoreRefused('too_large')`. */
  readonly limits: StoreLimits;
  /**
   * Appends all events atomically, or none. Idempotent: when the events with these ids are already
   * in the stream right after `expected`, it succeeds again without writing. Never appends with "any".
   * An empty `events`, a repeated id or a malformed `expected` is a defect, not a typed error.
   * Fails with `VersionConflict` when `expected` is not the stream's revision, `StoreUnavailable`
   * when a retry may succeed, `StoreRefused` when it cannot (over `limits`: refused before anything
   * is sent to the store).
   */
  readonly append: (
    stream: string,
    events: readonly NewEvent[],
    expected: ExpectedRevision,
  ) => Effect.Effect<AppendResult, VersionConflict | StoreUnavailable | StoreRefused>;
  /** Events of one stream from revision `from` (inclusive, default 0); `[]` when the stream does not exist. */
  readonly read: (
    stream: string,
    options?: { readonly from?: number; readonly limit?: number },
  ) => Effect.Effect<readonly RecordedEvent[], StoreUnavailable | StoreRefused>;
  /** The revision of the stream's last event, or `no_stream`. */
  readonly revision: (
    stream: string,
  ) => Effect.Effect<number | 'no_stream', StoreUnavailable | StoreRefused>;
  /** Events of every stream in global order, strictly after `after` (a position), optionally only streams starting with `streamPrefix`. */
  readonly readAll: (options?: {
    readonly after?: number;
    readonly limit?: number;
    readonly streamPrefix?: string;
  }) => Effect.Effect<readonly RecordedEvent[], StoreUnavailable | StoreRefused>;
  readonly close: () => Effect.Effect<void>;
}

/**
 * The event store port. Adapters: `sqlite` (node:sqlite), `memory`, `postgres` (pg), `kurrentdb`.
 * Layers are in `./layers.ts`.
 */
export class EventStore extends Context.Service<EventStore, EventStoreShape>()('weft/EventStore') {}
