import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Effect } from 'effect';
import { makeMemorySummaries } from '../../src/store/memorySummaries.ts';
import type { RunSummaryStoreShape } from '../../src/store/RunSummaryStore.ts';
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
