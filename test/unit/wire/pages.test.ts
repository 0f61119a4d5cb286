import { describe, expect, it } from 'vitest';
import { isTruncated, jsonBytes, type WireEvent } from '../../../src/wire/fit.ts';
import { fitList, fitSummary, historyPage, LIST_VALUE_BYTES } from '../../../src/wire/pages.ts';

const stream = (sizes: readonly number[]): WireEvent[] =>
  sizes.map((size, revision) => ({
    revision,
    type: 'StepCompleted',
    data: { output: 'v'.repeat(size) },
    at: '2026-01-01T00:00:00.000Z',
  }));

/** A store read over `events`, counting reads. */
const reader = (events: readonly WireEvent[]) => {
  const reads: [number, number][] = [];
  return {
    reads,
    read: (from: number, limit: number) => {
      reads.push([from, limit]);
      return Promise.resolve(events.slice(from, from + limit));
    },
  };
};

/** Every page from 0, following `next`. */
const allPages = async (events: readonly WireEvent[], limit: number, budget: number) => {
  const { read } = reader(events);
  const pages: { events: readonly WireEvent[]; next?: number }[] = [];
  let from: number | undefined = 0;
  while (from !== undefined && pages.length < 1000) {
    const page = await historyPage(read, from, limit, budget);
    pages.push(page);
    from = page.next;
  }
  return pages;
};

describe('historyPage', () => {
  it('answers the v1 request whole when it fits: every event, no next', async () => {
    const events = stream([10, 20, 30]);
    const page = await historyPage(reader(events).read, 0, 1000, 1_000_000);
    expect(page).toEqual({ events });
  });

  it('gives next when the limit stops the page before the end, and none at the exact end', async () => {
    const events = stream([1, 1, 1, 1, 1]);
    expect(await historyPage(reader(events).read, 1, 2, 1_000_000)).toEqual({
      events: events.slice(1, 3),
      next: 3,
    });
    expect(await historyPage(reader(events).read, 3, 2, 1_000_000)).toEqual({
      events: events.slice(3),
    });
  });

  it('cuts pages by bytes; following next yields every event once, in order, all whole', async () => {
    const events = stream([500, 3000, 10, 2500, 2500, 2500, 7, 900]);
    const pages = await allPages(events, 1000, 6000);
    expect(pages.flatMap((p) => p.events)).toEqual(events);
    for (const page of pages) expect(jsonBytes(page.events)).toBeLessThanOrEqual(6000);
    expect(pages.length).toBeGreaterThan(1);
  });

  it('truncates an event larger than a page alone and carries on after it', async () => {
    const events = stream([100, 20_000, 100]);
    const pages = await allPages(events, 1000, 4000);
    const got = pages.flatMap((p) => p.events);
    expect(got.map((e) => e.revision)).toEqual([0, 1, 2]);
    expect(isTruncated((got[1]?.data as { output: unknown }).output)).toBe(true);
    expect(got[0]).toEqual(events[0]);
    expect(got[2]).toEqual(events[2]);
  });

  it('reads the store in bounded batches, not the whole limit at once', async () => {
    const events = stream(Array.from({ length: 300 }, () => 5));
    const r = reader(events);
    const page = await historyPage(r.read, 0, 10_000, 1_000_000);
    expect(page.events.length).toBe(300);
    expect(Math.max(...r.reads.map(([, limit]) => limit))).toBeLessThanOrEqual(64);
  });
});

describe('fitSummary', () => {
  it('keeps a summary that fits and truncates output before a smaller input', () => {
    const summary = {
      runId: 'r',
      status: 'completed',
      input: 'i'.repeat(600),
      output: 'o'.repeat(900),
    };
    expect(fitSummary(summary, 10_000)).toBe(summary);
    const fitted = fitSummary(summary, 1200);
    expect(isTruncated(fitted.output)).toBe(true);
    expect(fitted.input).toBe(summary.input);
  });
});

describe('fitList', () => {
  const summary = (i: number, size: number) => ({
    runId: `r${i}`,
    startedAt: `2026-01-01T00:00:${String(i).padStart(2, '0')}.000Z`,
    input: 'x'.repeat(size),
  });
  const cursorOf = (s: { runId: string; startedAt: string }) => `${s.startedAt}|${s.runId}`;

  it('caps every value at LIST_VALUE_BYTES so no run can break a list', () => {
    const { runs } = fitList({ runs: [summary(0, 10), summary(1, 700_000)] }, cursorOf, 1_000_000);
    expect(runs[0]).toEqual(summary(0, 10));
    expect(isTruncated(runs[1]?.input)).toBe(true);
    expect(jsonBytes(runs[1])).toBeLessThan(LIST_VALUE_BYTES + 200);
  });

  it('cuts the page by bytes with a cursor at its last run, else keeps the list cursor', () => {
    const runs = Array.from({ length: 10 }, (_, i) => summary(i, 900));
    const cut = fitList({ runs, cursor: 'later' }, cursorOf, 5000);
    expect(cut.runs.length).toBeGreaterThan(0);
    expect(cut.runs.length).toBeLessThan(10);
    expect(jsonBytes(cut.runs)).toBeLessThanOrEqual(5000);
    expect(cut.cursor).toBe(cursorOf(runs[cut.runs.length - 1] ?? { runId: '', startedAt: '' }));
    expect(fitList({ runs, cursor: 'later' }, cursorOf, 1_000_000).cursor).toBe('later');
    expect(fitList({ runs }, cursorOf, 1_000_000)).toEqual({ runs });
  });
});
