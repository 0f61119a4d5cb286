import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Effect } from 'effect';
import { describe, expect, it } from 'vitest';
import { makeMemorySummaries } from '../../src/store/memorySummaries.ts';
import type { RunSummaryStoreShape } from '../../src/store/RunSummaryStore.ts';
import { makeSqliteStore } from '../../src/store/sqlite.ts';
import { makeSqliteSummaries } from '../../src/store/sqliteSummaries.ts';
import { summaryStoreContract } from './summaryStore.contract.ts';

// The memory table: one instance is the whole backing, so "two instances" are the same one.
summaryStoreContract('memory', () => {
  const table = makeMemorySummaries();
  return Promise.resolve({
    open: () => Promise.resolve(table),
    dispose: () => Effect.runPromise(table.close()),
  });
});

// The sqlite table: a fresh file in a temp dir; every instance is a connection of its own on it.
summaryStoreContract(
  'sqlite',
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'weft-summaries-'));
    const path = join(dir, 'events.db');
    const opened: RunSummaryStoreShape[] = [];
    return Promise.resolve({
      open: () => {
        const table = makeSqliteSummaries(path);
        opened.push(table);
        return Promise.resolve(table);
      },
      dispose: async () => {
        for (const table of opened.splice(0)) await Effect.runPromise(table.close());
        rmSync(dir, { recursive: true, force: true });
      },
    });
  },
  { propertyRuns: 30 },
);

describe('sqlite run summaries beside the events', () => {
  it('commits on the runtime thread while the events writer thread appends to the same file: every commit and append succeeds (a commit waits for the write lock)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'weft-summaries-'));
    const path = join(dir, 'events.db');
    const events = makeSqliteStore(path);
    const table = makeSqliteSummaries(path);
    let appends: Promise<void> | undefined;
    try {
      const state: { appending: boolean } = { appending: true };
      // Bursts of appends in one tick: batches large enough to go to the writer thread.
      appends = (async () => {
        for (let burst = 0; burst < 15; burst++)
          await Promise.all(
            Array.from({ length: 300 }, (_, i) =>
              Effect.runPromise(
                events.append(
                  `run-${burst}-${i}`,
                  [{ id: randomUUID(), type: 'RunStarted', data: { burst, i } }],
                  'no_stream',
                ),
              ),
            ),
          );
      })().finally(() => (state.appending = false));
      let commits = 0;
      while (state.appending) {
        commits++;
        const summary = {
          runId: `run-${commits}`,
          status: 'running' as const,
          blueprint: { name: 'bp', version: 1 },
          input: null,
          startedAt: '2026-01-01T00:00:00.000Z',
        };
        await Effect.runPromise(table.commit([{ summary, revision: 0 }], commits));
        await new Promise((resolve) => setImmediate(resolve));
      }
      await appends;
      expect(commits).toBeGreaterThan(1);
      expect(await Effect.runPromise(table.checkpoint())).toBe(commits);
      expect((await Effect.runPromise(table.list({ limit: 100_000 }))).runs).toHaveLength(commits);
      expect(await Effect.runPromise(events.readAll({ limit: 10_000 }))).toHaveLength(4_500);
    } finally {
      // A failed commit ends the loop early: let the appends settle before closing under them.
      await appends?.catch(() => undefined);
      await Effect.runPromise(table.close());
      await Effect.runPromise(events.close());
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
