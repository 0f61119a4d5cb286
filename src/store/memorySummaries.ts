import * as Effect from 'effect/Effect';
import { listSummaries } from '../projections/runSummary.ts';
import type { RunSummaryStoreShape, StoredSummary } from './RunSummaryStore.ts';

/**
 * The run-summary table in memory: for the `memory:` and KurrentDB stores and for unit tests. It
 * does not outlive the process, so a runtime on it folds the whole store at boot.
 */
export const makeMemorySummaries = (): RunSummaryStoreShape => {
  const table = new Map<string, StoredSummary>();
  let checkpoint: number | undefined;
  return {
    checkpoint: () => Effect.sync(() => checkpoint),
    commit: (updates, position) =>
      Effect.sync(() => {
        for (const update of updates) {
          const known = table.get(update.summary.runId);
          if (known === undefined || known.revision < update.revision)
            table.set(update.summary.runId, update);
        }
        checkpoint = Math.max(checkpoint ?? 0, position);
      }),
    get: (runIds) =>
      Effect.sync(() => {
        const found = new Map<string, StoredSummary>();
        for (const runId of runIds) {
          const stored = table.get(runId);
          if (stored !== undefined) found.set(runId, stored);
        }
        return found;
      }),
    list: (filter) =>
      Effect.sync(() =>
        listSummaries(
          [...table.values()].map((s) => s.summary),
          filter,
        ),
      ),
    running: () =>
      Effect.sync(() =>
        [...table.values()]
          .filter((s) => s.summary.status === 'running')
          .map((s) => s.summary.runId),
      ),
    close: () => Effect.void,
  };
};
