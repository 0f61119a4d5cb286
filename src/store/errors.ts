import * as Data from 'effect/Data';

/** The stream's last revision is not the one the append expected: reload, re-decide, retry. */
export class VersionConflict extends Data.TaggedError('VersionConflict')<{
  readonly stream: string;
  readonly expected: number | 'no_stream';
  readonly actual: number | 'no_stream';
}> {}

/**
 * The store could not be reached or failed in a way that may pass (connection lost, server
 * restarting, lock timeout, disk full): the same operation may be retried. Carries no vendor type;
 * `message` names the operation, the store (without its password) and the cause.
 */
export class StoreUnavailable extends Data.TaggedError('StoreUnavailable')<{
  readonly message: string;
  readonly cause?: unknown;
}> {}

/**
 * Why a store refused an operation for good:
 * - `too_large`: the events (or one of them) are bigger than the store's `limits`;
 * - `access_denied`: the store's user may not do this (credentials, grants, a read-only file);
 * - `invalid`: the store found the request malformed (a vendor check weft does not make itself);
 * - `stream_deleted`: the stream was deleted or tombstoned outside weft;
 * - `damaged`: the store's files are corrupt or not a store at all.
 */
export type RefusalReason = 'too_large' | 'access_denied' | 'invalid' | 'stream_deleted' | 'damaged';

/**
 * The store refused the operation and would refuse it again: retrying the same operation cannot
 * succeed, so callers fail it clearly instead. Nothing was written. Carries no vendor type.
 */
export class StoreRefused extends Data.TaggedError('StoreRefused')<{
  readonly message: string;
  readonly reason: RefusalReason;
  readonly cause?: unknown;
}> {}

/** Every failure the store port reports, other than a conflict. */
export type StoreError = StoreUnavailable | StoreRefused;
