import type * as Effect from 'effect/Effect';
import type { ListFilter, RunSummary } from '../projections/runSummary.ts';
import type { StoreUnavailable } from './errors.ts';

/** A run's summary with the revision of the last event folded into it. */
export interface StoredSummary {
  readonly summary: RunSummary;
  readonly revision: number;
}

export interface SummaryPage {
  readonly runs: readonly RunSummary[];
  readonly cursor?: string;
}

/**
 * Where the run-summary read model is kept, beside the events it is folded from: a table of
 * summaries and the position of the store the fold has reached (its checkpoint). Several runtimes
 * may share one: every write is idempotent and commutative, so two followers committing the same
 * or overlapping pages, in any order, leave the same table.
 */
export interface RunSummaryStoreShape {
  /** The position every event up to which is folded into the table; undefined before the first commit. */
  readonly checkpoint: () => Effect.Effect<number | undefined, StoreUnavailable>;
  /**
   * In one transaction: stores each summary unless the table holds one of the same run at an equal
   * or higher revision, and raises the checkpoint to `position` (never lowers it). Idempotent.
   */
  readonly commit: (
    updates: readonly StoredSummary[],
    position: number,
  ) => Effect.Effect<void, StoreUnavailable>;
  /** The stored summaries of these runs (missing ones are absent from the map). */
  readonly get: (
    runIds: readonly string[],
  ) => Effect.Effect<ReadonlyMap<string, StoredSummary>, StoreUnavailable>;
  /** Newest first, as `listSummaries` (projections/runSummary.ts) orders and pages. */
  readonly list: (filter: ListFilter) => Effect.Effect<SummaryPage, StoreUnavailable>;
  /** Ids of the runs whose stored status is `running`. */
  readonly running: () => Effect.Effect<readonly string[], StoreUnavailable>;
  /**
   * Calls `wake` soon after any process appended to the event store (PostgreSQL: `LISTEN/NOTIFY`),
   * and once each time the feed (re)connects; `feed(up)` tells whether it is connected, so that the
   * follower polls often only while it is not. Absent where the store cannot tell; followers then
   * poll. Returns a function that stops it.
   */
  readonly changes?: (
    wake: () => void,
    log: (message: string) => void,
    feed: (up: boolean) => void,
  ) => () => void;
  readonly close: () => Effect.Effect<void>;
}
