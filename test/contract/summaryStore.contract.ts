import { Effect } from 'effect';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  listSummaries,
  type ListFilter,
  type RunSummary,
} from '../../src/projections/runSummary.ts';
import type {
  RunSummaryStoreShape,
  StoredSummary,
  SummaryPage,
} from '../../src/store/RunSummaryStore.ts';

/** A fresh backing (file, schema, or memory) on which table instances are opened. */
export interface SummaryBacking {
  /** Opens a table instance on this backing (memory: the same instance each time). */
  readonly open: () => Promise<RunSummaryStoreShape>;
  /** Closes every instance `open` made and removes the backing. */
  readonly dispose: () => Promise<void>;
}

export interface SummaryContractOptions {
  /** Runs of the paging property test (each on a fresh backing). */
  readonly propertyRuns?: number;
  /** Per-test timeout in ms. */
  readonly timeout?: number;
}

const run = <A, E>(effect: Effect.Effect<A, E>): Promise<A> => Effect.runPromise(effect);

const STATUSES = ['running', 'completed', 'failed', 'cancelled', 'timed_out'] as const;
/** Few start times, so that ties (ordered by run id) are common. */
const TIMES = [
  '2025-12-31T23:59:59.999Z',
  '2026-01-01T00:00:00.000Z',
  '2026-01-01T00:00:00.001Z',
  '2026-01-02T10:00:00.000Z',
] as const;
const BLUEPRINTS = ['alpha', 'beta', 'Gamma'];

const summaryOf = (runId: string, over: Partial<RunSummary> = {}): RunSummary => ({
  runId,
  status: 'running',
  blueprint: { name: 'bp', version: 1 },
  input: { runId },
  startedAt: '2026-01-01T00:00:00.000Z',
  ...over,
});

const stored = (summary: RunSummary, revision: number): StoredSummary => ({ summary, revision });

/** Every page from the first, following the cursors; bounded so a cursor that loops fails. */
const pages = async (
  next: (filter: ListFilter) => Promise<SummaryPage>,
  filter: ListFilter,
  bound: number,
): Promise<SummaryPage[]> => {
  const all: SummaryPage[] = [];
  let cursor: string | undefined;
  for (let i = 0; i <= bound; i++) {
    const page = await next(cursor === undefined ? filter : { ...filter, cursor });
    all.push(page);
    cursor = page.cursor;
    if (cursor === undefined) return all;
  }
  throw new Error(`more than ${bound} pages: the cursors do not advance`);
};

// Run ids (RUN_ID: [A-Za-z0-9_-]) from a small alphabet: prefixes of one another, and every
// character class, so the order of '-' < digits < upper case < '_' < lower case is exercised.
const runIdArb = fc.string({
  unit: fc.constantFrom('a', 'b', 'A', 'B', '0', '9', '-', '_'),
  minLength: 1,
  maxLength: 5,
});
const summaryArb: fc.Arbitrary<RunSummary> = fc.record({
  runId: runIdArb,
  status: fc.constantFrom(...STATUSES),
  blueprint: fc.record({ name: fc.constantFrom(...BLUEPRINTS), version: fc.nat(3) }),
  input: fc.oneof(fc.constant(null), fc.integer(), fc.string({ maxLength: 8 })),
  startedAt: fc.constantFrom(...TIMES),
});
const filterArb = fc.record(
  {
    status: fc.constantFrom(...STATUSES),
    blueprint: fc.constantFrom(...BLUEPRINTS, 'missing'),
    limit: fc.integer({ min: 1, max: 7 }),
  },
  { requiredKeys: ['limit'] },
);

/**
 * The behaviour every `RunSummaryStoreShape` adapter must have. `fresh` is called once per test
 * (and once per property run); the backing is disposed after it.
 */
export const summaryStoreContract = (
  name: string,
  fresh: () => Promise<SummaryBacking>,
  options: SummaryContractOptions = {},
): void => {
  describe(`RunSummaryStore contract: ${name}`, { timeout: options.timeout ?? 20_000 }, () => {
    let backing: SummaryBacking;
    let table: RunSummaryStoreShape;

    beforeEach(async () => {
      backing = await fresh();
      table = await backing.open();
    });

    afterEach(async () => {
      await backing.dispose();
    });

    it('a fresh table has no checkpoint and no runs', async () => {
      expect(await run(table.checkpoint())).toBeUndefined();
      expect((await run(table.get(['a', 'b']))).size).toBe(0);
      expect(await run(table.list({ limit: 10 }))).toEqual({ runs: [] });
      expect(await run(table.running())).toEqual([]);
    });

    it('commit stores the summaries and the checkpoint; a lower position never lowers it; the same commit twice changes nothing', async () => {
      const a = summaryOf('run-a', { startedAt: TIMES[1] });
      const b = summaryOf('run-b', { status: 'completed', startedAt: TIMES[2], output: 1 });
      await run(table.commit([stored(a, 3), stored(b, 7)], 42));
      expect(await run(table.checkpoint())).toBe(42);
      const got = await run(table.get(['run-a', 'run-b', 'run-c']));
      expect(got).toEqual(
        new Map([
          ['run-a', stored(a, 3)],
          ['run-b', stored(b, 7)],
        ]),
      );
      expect(await run(table.list({ limit: 10 }))).toEqual({ runs: [b, a] });
      expect(await run(table.running())).toEqual(['run-a']);

      // Lower positions (with or without summaries) leave the checkpoint where it is.
      await run(table.commit([], 41));
      await run(table.commit([stored(summaryOf('run-c'), 0)], 1));
      expect(await run(table.checkpoint())).toBe(42);
      expect((await run(table.get(['run-c']))).get('run-c')).toEqual(stored(summaryOf('run-c'), 0));

      const snapshot = async () => ({
        checkpoint: await run(table.checkpoint()),
        got: await run(table.get(['run-a', 'run-b', 'run-c'])),
        list: await run(table.list({ limit: 10 })),
        running: [...(await run(table.running()))].sort(),
      });
      const d = summaryOf('run-d', { status: 'failed', error: { code: 'x', message: 'y' } });
      await run(table.commit([stored(a, 4), stored(d, 2)], 50));
      const once = await snapshot();
      await run(table.commit([stored(a, 4), stored(d, 2)], 50));
      expect(await snapshot()).toEqual(once);
      expect(once.checkpoint).toBe(50);
    });

    it('never replaces a stored summary with one at a lower or equal revision; a higher one does; running() follows the stored status', async () => {
      const v5 = summaryOf('run-g', { input: 'v5' });
      await run(table.commit([stored(v5, 5)], 1));
      expect(await run(table.running())).toEqual(['run-g']);

      const lower = summaryOf('run-g', { status: 'completed', input: 'v3', endedAt: TIMES[3] });
      await run(table.commit([stored(lower, 3)], 2));
      const equal = summaryOf('run-g', { status: 'failed', input: 'v5 again', endedAt: TIMES[3] });
      await run(table.commit([stored(equal, 5)], 3));
      expect((await run(table.get(['run-g']))).get('run-g')).toEqual(stored(v5, 5));
      expect(await run(table.running())).toEqual(['run-g']);
      expect(await run(table.list({ limit: 5, status: 'running' }))).toEqual({ runs: [v5] });
      expect(await run(table.list({ limit: 5, status: 'completed' }))).toEqual({ runs: [] });

      const higher = summaryOf('run-g', { status: 'completed', input: 'v6', endedAt: TIMES[3] });
      await run(table.commit([stored(higher, 6)], 4));
      expect((await run(table.get(['run-g']))).get('run-g')).toEqual(stored(higher, 6));
      expect(await run(table.running())).toEqual([]);
      expect(await run(table.list({ limit: 5, status: 'running' }))).toEqual({ runs: [] });
      expect(await run(table.list({ limit: 5, status: 'completed' }))).toEqual({
        runs: [higher],
      });
      expect(await run(table.checkpoint())).toBe(4);
    });

    it('pages exactly as listSummaries: random summaries (tied start times, mixed-case ids), filters, and arbitrary cursors', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.uniqueArray(summaryArb, { selector: (s) => s.runId, minLength: 1, maxLength: 40 }),
          fc.array(filterArb, { minLength: 1, maxLength: 4 }),
          fc.integer({ min: 1, max: 4 }),
          fc.array(
            fc.oneof(
              // A cursor naming a run that is not in the table (checked below).
              fc
                .tuple(fc.constantFrom(...TIMES, '2026-01-01T12:00:00.000Z', ''), runIdArb)
                .map(([t, id]) => `${t}|${id}`),
              fc.string({ maxLength: 12 }).filter((s) => !s.includes('|')),
              fc.string({ maxLength: 30 }),
            ),
            { maxLength: 3 },
          ),
          async (summaries, filters, chunks, cursors) => {
            const own = await fresh();
            try {
              const t = await own.open();
              // Committed in a few chunks at rising positions, as a follower would.
              const size = Math.ceil(summaries.length / chunks);
              for (let i = 0; i < summaries.length || i === 0; i += Math.max(size, 1))
                await run(
                  t.commit(
                    summaries.slice(i, i + size).map((s) => stored(s, 0)),
                    i + 1,
                  ),
                );
              const bound = summaries.length + 2;
              const ids = new Set(summaries.map((s) => s.runId));
              for (const filter of filters) {
                const expected = await pages(
                  (f) => Promise.resolve(listSummaries(summaries, f)),
                  filter,
                  bound,
                );
                const actual = await pages((f) => run(t.list(f)), filter, bound);
                expect(actual).toEqual(expected);
                for (const raw of cursors) {
                  const at = raw.lastIndexOf('|');
                  // Make a cursor naming a run make it name one the table does not hold.
                  const cursor = at !== -1 && ids.has(raw.slice(at + 1)) ? `${raw}-absent` : raw;
                  const f = { ...filter, cursor };
                  expect(await run(t.list(f))).toEqual(listSummaries(summaries, f));
                }
              }
            } finally {
              await own.dispose();
            }
          },
        ),
        {
          numRuns: options.propertyRuns ?? 50,
          // Always tried first: every character class of a run id, tied on one start time.
          examples: [
            [
              ['a', 'B', '-a', '_b', 'A', '0', 'a-', 'aA', 'b_', '9'].map((runId, i) =>
                summaryOf(runId, {
                  status: i % 2 === 0 ? 'running' : 'completed',
                  startedAt: TIMES[i % 3 === 0 ? 1 : 2],
                }),
              ),
              [{ limit: 3 }, { limit: 7, status: 'running' }, { limit: 1, blueprint: 'bp' }],
              2,
              [`${TIMES[1]}|a_`, 'no-bar', '|', `${TIMES[2]}|`],
            ],
          ],
        },
      );
    });

    it('two instances committing overlapping updates concurrently, in different orders: each run ends at the highest revision committed, the checkpoint at the highest position', async () => {
      const other = await backing.open();
      const RUNS = 200;
      const ROUNDS = 4;
      const CHUNK = 50;
      const runIds = Array.from({ length: RUNS }, (_, i) => `run-${String(i).padStart(3, '0')}`);
      // The summary of a run at a revision: its status and content tell which revision it is.
      const at = (runId: string, revision: number): StoredSummary =>
        stored(
          summaryOf(runId, {
            status: revision % 3 === 0 ? 'running' : 'completed',
            input: { revision },
            startedAt: TIMES[revision % TIMES.length] ?? '',
          }),
          revision,
        );
      // Each instance, each round: every run at a random revision, in a random order, in chunks
      // at random positions. Drawn from a fixed seed, so a failing interleaving can be replayed.
      const roundArb = fc.record({
        order: fc.shuffledSubarray(runIds, { minLength: RUNS, maxLength: RUNS }),
        revisions: fc.array(fc.nat(59), { minLength: RUNS, maxLength: RUNS }),
        positions: fc.array(fc.integer({ min: 1, max: 10_000 }), {
          minLength: RUNS / CHUNK,
          maxLength: RUNS / CHUNK,
        }),
      });
      const rounds = fc.sample(roundArb, { seed: 1000, numRuns: 2 * ROUNDS });
      const highest = new Map<string, number>();
      let top = 0;
      const commits: Promise<void>[] = [];
      rounds.forEach((round, r) => {
        const instance = r % 2 === 0 ? table : other;
        const updates = round.order.map((runId, i) => {
          const revision = round.revisions[i] ?? 0;
          highest.set(runId, Math.max(highest.get(runId) ?? -1, revision));
          return at(runId, revision);
        });
        round.positions.forEach((position, c) => {
          top = Math.max(top, position);
          commits.push(run(instance.commit(updates.slice(c * CHUNK, (c + 1) * CHUNK), position)));
        });
      });
      await Promise.all(commits);

      const expected = new Map(runIds.map((id) => [id, at(id, highest.get(id) ?? -1)]));
      const running = runIds.filter((id) => (highest.get(id) ?? 0) % 3 === 0);
      for (const instance of [table, other]) {
        expect(await run(instance.get(runIds))).toEqual(expected);
        expect(await run(instance.checkpoint())).toBe(top);
        expect([...(await run(instance.running()))].sort()).toEqual(running);
      }
    });

    it('get answers for 1,500 ids at once (stored and missing, some twice) with exactly the stored ones', async () => {
      const storedIds = Array.from({ length: 1_200 }, (_, i) => `run-${i}`);
      await run(
        table.commit(
          storedIds.map((id, i) => stored(summaryOf(id), i)),
          1,
        ),
      );
      const asked = [
        ...storedIds.filter((_, i) => i % 4 !== 0),
        ...Array.from({ length: 300 }, (_, i) => `missing-${i}`),
        ...storedIds.slice(0, 600).filter((_, i) => i % 4 !== 0),
      ];
      const got = await run(table.get(asked));
      expect(got).toEqual(
        new Map(
          storedIds.flatMap((id, i) => (i % 4 === 0 ? [] : [[id, stored(summaryOf(id), i)]])),
        ),
      );
    });

    it('commits several summaries of one run in one commit: the highest revision is kept', async () => {
      const v = (revision: number) =>
        stored(summaryOf('run-dup', { input: revision, status: 'completed' }), revision);
      await run(table.commit([v(2), v(9), v(4)], 5));
      expect((await run(table.get(['run-dup']))).get('run-dup')).toEqual(v(9));
      await run(table.commit([v(10), v(1)], 6));
      expect((await run(table.get(['run-dup']))).get('run-dup')).toEqual(v(10));
      expect(await run(table.checkpoint())).toBe(6);
    });

    it('round-trips a large summary (about 1 MB of JSON) identically', async () => {
      const chunk = 'weft – «quoted» "x" \\ back\nslash\ttab ✓ 𝄞 \u0001 ';
      const input = {
        items: Array.from({ length: 12_000 }, (_, i) => ({ i, text: `${chunk}${i}` })),
        nested: { deep: [[[{ ok: true, none: null, n: -1.5e-7 }]]] },
      };
      const big = summaryOf('run-big', {
        status: 'completed',
        input,
        output: { echoed: input.items.slice(0, 100) },
        endedAt: TIMES[3],
      });
      expect(JSON.stringify(big).length).toBeGreaterThan(900_000);
      await run(table.commit([stored(big, 12)], 99));
      const got = (await run(table.get(['run-big']))).get('run-big');
      expect(got).toStrictEqual(stored(big, 12));
      expect(JSON.stringify(got?.summary)).toBe(JSON.stringify(big));
      const page = await run(table.list({ limit: 1 }));
      expect(page.runs).toHaveLength(1);
      expect(JSON.stringify(page.runs[0])).toBe(JSON.stringify(big));
    });
  });
};
