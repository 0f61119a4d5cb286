// Rules every adapter shares, so the adapters agree on what an append or a read may be.
import * as Effect from 'effect/Effect';
import type { Json } from '../blueprints/json.ts';
import type { AppendResult, ExpectedRevision, NewEvent } from './EventStore.ts';
import { StoreUnavailable, VersionConflict } from './errors.ts';

/** `JSON.parse` can only produce JSON values, so this typing is exact. Throws on malformed text. */
export const parseJson: (text: string) => Json = JSON.parse;

const isRevision = (n: number): boolean => Number.isSafeInteger(n) && n >= 0;

/**
 * Rejects appends no adapter can honour: no events, a malformed expected revision, or the same id
 * twice in one append. These are bugs in the caller, so they are defects, not typed errors.
 */
export const checkAppend = (
  stream: string,
  events: readonly NewEvent[],
  expected: ExpectedRevision,
): Effect.Effect<void> => {
  if (stream.length === 0) return Effect.die(new Error('append: empty stream name'));
  if (events.length === 0) return Effect.die(new Error(`append to ${stream}: no events`));
  if (expected !== 'no_stream' && !isRevision(expected)) {
    return Effect.die(
      new Error(`append to ${stream}: invalid expected revision ${String(expected)}`),
    );
  }
  if (new Set(events.map((e) => e.id)).size !== events.length) {
    return Effect.die(new Error(`append to ${stream}: duplicate event ids in one append`));
  }
  return Effect.void;
};

/** `from`, `after` and `limit` must be non-negative integers when given; anything else is a caller bug. */
export const checkRead = (options: {
  readonly from?: number | undefined;
  readonly after?: number | undefined;
  readonly limit?: number | undefined;
}): Effect.Effect<void> => {
  for (const key of ['from', 'after', 'limit'] as const) {
    const value = options[key];
    if (value !== undefined && !isRevision(value)) {
      return Effect.die(
        new Error(`read: ${key} must be a non-negative integer, got ${String(value)}`),
      );
    }
  }
  return Effect.void;
};

export { firstRevision, isRetriedAppend } from './revisions.ts';

/** What an adapter's write path answers for one append (SQL adapters; plain data, so it crosses threads). */
export type AppendOutcome =
  | {
      readonly _tag: 'Appended';
      readonly revision: number;
      readonly position: number;
      readonly at: string;
    }
  | { readonly _tag: 'Conflict'; readonly actual: number | 'no_stream' }
  /** `message` is the whole defect message. */
  | { readonly _tag: 'IdTaken'; readonly message: string }
  | { readonly _tag: 'Failed'; readonly message: string };

/**
 * The port's answer to an outcome: the result, `VersionConflict`, `StoreUnavailable` (made by the
 * adapter's `unavailable`, which names the store), or a defect for an event id used elsewhere.
 */
export const settleAppend = (
  stream: string,
  expected: ExpectedRevision,
  outcome: AppendOutcome,
  unavailable: (cause: Error) => StoreUnavailable,
): Effect.Effect<AppendResult, VersionConflict | StoreUnavailable> => {
  switch (outcome._tag) {
    case 'Appended':
      return Effect.succeed({
        revision: outcome.revision,
        position: outcome.position,
        at: outcome.at,
      });
    case 'Conflict':
      return Effect.fail(new VersionConflict({ stream, expected, actual: outcome.actual }));
    case 'IdTaken':
      return Effect.die(new Error(outcome.message));
    case 'Failed':
      return Effect.fail(unavailable(new Error(outcome.message)));
  }
};
