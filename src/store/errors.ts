import * as Data from 'effect/Data';

/** The stream's last revision is not the one the append expected: reload, re-decide, retry. */
export class VersionConflict extends Data.TaggedError('VersionConflict')<{
  readonly stream: string;
  readonly expected: number | 'no_stream';
  readonly actual: number | 'no_stream';
}> {}

/** The store could not be reached or failed; the operation may be retried. Carries no vendor type. */
export class StoreUnavailable extends Data.TaggedError('StoreUnavailable')<{
  readonly message: string;
  readonly cause?: unknown;
}> {}
