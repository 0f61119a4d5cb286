// Rules every adapter shares, so the adapters agree on what an append or a read may be.
import * as Effect from 'effect/Effect';
import type { Json } from '../blueprints/json.ts';
import type { AppendResult, ExpectedRevision, NewEvent, StoreLimits } from './EventStore.ts';
import { StoreRefused, StoreUnavailable, VersionConflict, type RefusalReason } from './errors.ts';

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

const MIB = 1024 * 1024;

/**
 * The limits of the stores that have no small vendor limit (memory, sqlite, PostgreSQL): 16 MiB
 * per event and per append. Far above what weft's own caps produce (1 MB payloads), and still far
 * below what the SQL stores take in one value (PostgreSQL: 1 GB per field).
 */
export const GENEROUS_LIMITS: StoreLimits = { maxEventBytes: 16 * MIB, maxAppendBytes: 16 * MIB };

/** The size `StoreLimits` counts for one event: its data as JSON text, in UTF-8 bytes. */
export const dataBytes = (text: string): number => Buffer.byteLength(text, 'utf8');

/** An event with its data serialised once, as the SQL adapters store it. */
export interface SerialisedEvent {
  readonly id: string;
  readonly type: string;
  readonly data: string;
}

/**
 * Serialises each event's data and checks the append against `limits`: `StoreRefused('too_large')`
 * naming the sizes when one event or the whole append is over, so nothing is sent to the store.
 * `store` names the store in the message (e.g. `sqlite`).
 */
export const serialiseWithin = (
  store: string,
  stream: string,
  events: readonly NewEvent[],
  limits: StoreLimits,
): Effect.Effect<
  { readonly events: readonly SerialisedEvent[]; readonly bytes: number },
  StoreRefused
> =>
  Effect.suspend(() => {
    let total = 0;
    const out: SerialisedEvent[] = [];
    for (const [i, e] of events.entries()) {
      const data = JSON.stringify(e.data);
      const bytes = dataBytes(data);
      if (bytes > limits.maxEventBytes)
        return Effect.fail(
          new StoreRefused({
            reason: 'too_large',
            message: `${store} append to ${stream}: event ${i} (${e.type}) is ${bytes} bytes, over the largest event the store takes (${limits.maxEventBytes} bytes)`,
          }),
        );
      total += bytes;
      out.push({ id: e.id, type: e.type, data });
    }
    if (total > limits.maxAppendBytes)
      return Effect.fail(
        new StoreRefused({
          reason: 'too_large',
          message: `${store} append to ${stream}: ${events.length} events of ${total} bytes together, over the largest append the store takes (${limits.maxAppendBytes} bytes)`,
        }),
      );
    return Effect.succeed({ events: out, bytes: total });
  });

/**
 * A group-commit batch's combined size at most: appends are taken from the head of a queue until
 * the next would pass it (the first is always taken, whatever its size, as it fits `limits`).
 */
export const MAX_BATCH_BYTES = 32 * MIB;

/**
 * Splits the head off `queue` for one group commit: at most `maxCount` items and, past the first,
 * no more than `MAX_BATCH_BYTES` together. Pure; keeps the order.
 */
export const takeBatch = <T extends { readonly bytes: number }>(
  queue: readonly T[],
  maxCount: number,
): { readonly batch: readonly T[]; readonly rest: T[] } => {
  let bytes = 0;
  let n = 0;
  while (n < queue.length && n < maxCount) {
    const next = queue[n]?.bytes ?? 0;
    if (n > 0 && bytes + next > MAX_BATCH_BYTES) break;
    bytes += next;
    n++;
  }
  return { batch: queue.slice(0, n), rest: queue.slice(n) };
};

/**
 * Limits from an adapter option: `GENEROUS_LIMITS` where not given. A limit that is not a positive
 * integer is a configuration bug: thrown.
 */
export const limitsOf = (given: Partial<StoreLimits> | undefined): StoreLimits => {
  const limits = { ...GENEROUS_LIMITS, ...given };
  for (const [key, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value <= 0)
      throw new Error(`store limits: ${key} must be a positive integer, got ${String(value)}`);
  }
  return limits;
};

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
  /** `refused`: the store refused for good (see the adapter's classification); absent: may pass. */
  | { readonly _tag: 'Failed'; readonly message: string; readonly refused?: RefusalReason };

/**
 * The port's answer to an outcome: the result, `VersionConflict`, `StoreUnavailable` or
 * `StoreRefused` (made by the adapter's `failed`, which names the store), or a defect for an event
 * id used elsewhere.
 */
export const settleAppend = (
  stream: string,
  expected: ExpectedRevision,
  outcome: AppendOutcome,
  failed: (cause: Error, refused: RefusalReason | undefined) => StoreUnavailable | StoreRefused,
): Effect.Effect<AppendResult, VersionConflict | StoreUnavailable | StoreRefused> => {
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
      return Effect.fail(failed(new Error(outcome.message), outcome.refused));
  }
};

/** A cause as one line of text: every error of an `AggregateError` (as `pg` reports a refused dual-stack host), else the message, else the name. */
export const causeMessage = (cause: unknown): string => {
  if (cause instanceof AggregateError && cause.errors.length > 0)
    return cause.errors.map(causeMessage).join('; ');
  if (cause instanceof Error) return cause.message === '' ? cause.name : cause.message;
  return String(cause);
};

/** `StoreRefused` with `refused` as its reason, or `StoreUnavailable` when there is none (may pass). */
export const storeError = (
  message: string,
  cause: unknown,
  refused: RefusalReason | undefined,
): StoreUnavailable | StoreRefused =>
  refused === undefined
    ? new StoreUnavailable({ message, cause })
    : new StoreRefused({ message, reason: refused, cause });
