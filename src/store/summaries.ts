import type { RunSummaryStoreShape } from './RunSummaryStore.ts';
import { parseStoreUrl } from './layers.ts';
import { makeMemorySummaries } from './memorySummaries.ts';
import { makeSqliteSummaries } from './sqliteSummaries.ts';

/**
 * Opens the run-summary table that goes with the event store a URL names: in the same sqlite file
 * or PostgreSQL schema (persistent), or in memory for `memory:`, `sqlite::memory:` and KurrentDB
 * (which has no tables: a runtime on it folds every run stream at boot). Open the event store
 * first: it creates the file or runs the schema's migrations. Throws as `makeStore` does.
 */
export const makeSummaryStore = async (url: string): Promise<RunSummaryStoreShape> => {
  const config = parseStoreUrl(url);
  switch (config.kind) {
    case 'memory':
    case 'kurrentdb':
      return makeMemorySummaries();
    case 'sqlite':
      return config.path === ':memory:' ? makeMemorySummaries() : makeSqliteSummaries(config.path);
    case 'postgres':
      return (await import('./postgresSummaries.ts')).makePostgresSummaries(url);
  }
};
