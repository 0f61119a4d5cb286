// Revision rules every adapter shares. Pure and free of imports: the sqlite writer thread loads it.

/** The revision the first appended event gets when `expected` holds. */
export const firstRevision = (expected: number | 'no_stream'): number =>
  expected === 'no_stream' ? 0 : expected + 1;

/**
 * True when `found` (the stream's events from `firstRevision(expected)` on, at most `events.length`
 * of them) are exactly the events being appended: the append already happened and its reply was
 * lost. Matching is by id only, because ids are derived from stream, revision, type and data.
 */
export const isRetriedAppend = (
  found: readonly { readonly id: string }[],
  events: readonly { readonly id: string }[],
): boolean => found.length === events.length && found.every((e, i) => e.id === events[i]?.id);
