import { capFields, EventPage, fitFields, jsonBytes, type WireEvent } from './fit.ts';

/**
 * The read replies that carry run data, shaped to fit a byte budget (the connection's
 * max_payload less the reply envelope): `runs.<id>.get`, `runs.<id>.history`, `runs.list`.
 * Pure apart from the injected `read`.
 */

/** Bytes kept free in every reply for its envelope (`{"ok":true,"data":…}`, `next`, `cursor`). */
export const REPLY_RESERVE_BYTES = 1024;
/** In `runs.list`, a summary's `input`, `output` or `error` larger than this is truncated. */
export const LIST_VALUE_BYTES = 1024;
/** Events read from the store at once while filling a history page. */
const READ_BATCH = 64;

/** The fields of a run summary that hold caller or activity data, in the order they are truncated. */
const SUMMARY_VALUES = ['input', 'output', 'error'] as const;

/** A summary for `runs.<id>.get`: whole when it fits `budget`, else its largest values truncated. */
export const fitSummary = <T extends object>(summary: T, budget: number): T =>
  fitFields(summary, SUMMARY_VALUES, budget).value;

/**
 * A page of `runs.list`: every summary's values capped at {@link LIST_VALUE_BYTES}, and as many
 * summaries as fit `budget`. When the page is cut short, `cursor` names its last run (the next
 * page starts after it); otherwise the list's own cursor is kept.
 */
export const fitList = <T extends object>(
  list: { readonly runs: readonly T[]; readonly cursor?: string },
  cursorOf: (summary: T) => string,
  budget: number,
): { readonly runs: readonly T[]; readonly cursor?: string } => {
  const runs: T[] = [];
  let used = 2;
  for (const summary of list.runs) {
    const capped = capFields(summary, SUMMARY_VALUES, LIST_VALUE_BYTES);
    const bytes = jsonBytes(capped) + (runs.length === 0 ? 0 : 1);
    const last = runs[runs.length - 1];
    if (used + bytes > budget && last !== undefined) return { runs, cursor: cursorOf(last) };
    runs.push(capped);
    used += bytes;
  }
  return list.cursor === undefined ? { runs } : { runs, cursor: list.cursor };
};

/**
 * One page of a run's history from revision `from`: at most `limit` events and at most `budget`
 * bytes. `next` is the revision to ask for next, present whenever the page did not reach the end
 * of the stream. Only an event too large for a page on its own is truncated (see `EventPage`).
 * `read(from, limit)` returns consecutive events from `from`, fewer than `limit` at the end.
 */
export const historyPage = async (
  read: (from: number, limit: number) => Promise<readonly WireEvent[]>,
  from: number,
  limit: number,
  budget: number,
): Promise<{ readonly events: readonly WireEvent[]; readonly next?: number }> => {
  const page = new EventPage(budget);
  let at = from;
  while (page.events.length < limit) {
    const want = Math.min(limit - page.events.length, READ_BATCH);
    const batch = await read(at, want);
    for (const event of batch) {
      if (!page.add(event)) return { events: page.events, next: event.revision };
      at = event.revision + 1;
    }
    if (batch.length < want) return { events: page.events };
  }
  const more = await read(at, 1);
  const following = more[0];
  return following === undefined
    ? { events: page.events }
    : { events: page.events, next: following.revision };
};
