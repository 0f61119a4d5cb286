// What the SQL adapters of the run-summary table share: the paging query and the row codec.
import { summaryCursor, type ListFilter, type RunSummary } from '../projections/runSummary.ts';
import type { StoredSummary, SummaryPage } from './RunSummaryStore.ts';
import { parseJson } from './shared.ts';

/** The checkpoint row's name in `read_model_checkpoints`. */
export const CHECKPOINT_NAME = 'run_summaries';

/** Columns of a stored summary, in the order `rowOf` gives their values. */
export const SUMMARY_COLUMNS = [
  'run_id',
  'status',
  'blueprint',
  'started_at',
  'revision',
  'summary',
];

export const rowOf = (stored: StoredSummary): readonly (string | number)[] => [
  stored.summary.runId,
  stored.summary.status,
  stored.summary.blueprint.name,
  stored.summary.startedAt,
  stored.revision,
  JSON.stringify(stored.summary),
];

/** A summary row back; the JSON was written by `rowOf`, so its shape is the stored one. */
export const storedOf = (row: Record<string, unknown>): StoredSummary => ({
  revision: Number(row['revision']),
  summary: parseJson(String(row['summary'])) as unknown as RunSummary,
});

/**
 * The `list` query over `table`, ordered and paged exactly as `listSummaries`: newest `started_at`
 * first, then `run_id` ascending; after the cursor's run; one row more than the page to tell whether
 * a next page exists. `placeholder(i)` writes the i-th parameter (1-based).
 */
export const listQuery = (
  table: string,
  filter: ListFilter,
  placeholder: (i: number) => string,
): { readonly text: string; readonly values: readonly (string | number)[] } => {
  const where: string[] = [];
  const values: (string | number)[] = [];
  const param = (value: string | number): string => {
    values.push(value);
    return placeholder(values.length);
  };
  if (filter.status !== undefined) where.push(`status = ${param(filter.status)}`);
  if (filter.blueprint !== undefined) where.push(`blueprint = ${param(filter.blueprint)}`);
  const at = filter.cursor?.lastIndexOf('|') ?? -1;
  if (filter.cursor !== undefined && at !== -1) {
    const startedAt = filter.cursor.slice(0, at);
    const runId = filter.cursor.slice(at + 1);
    where.push(
      `(started_at < ${param(startedAt)} OR (started_at = ${param(startedAt)} AND run_id > ${param(runId)}))`,
    );
  }
  const text = `SELECT revision, summary FROM ${table}${
    where.length === 0 ? '' : ` WHERE ${where.join(' AND ')}`
  } ORDER BY started_at DESC, run_id ASC LIMIT ${param(filter.limit + 1)}`;
  return { text, values };
};

/** The page from `listQuery`'s rows (at most `limit + 1`). */
export const pageOf = (rows: readonly Record<string, unknown>[], limit: number): SummaryPage => {
  const runs = rows.slice(0, limit).map((row) => storedOf(row).summary);
  const last = runs[runs.length - 1];
  return rows.length > limit && last !== undefined
    ? { runs, cursor: summaryCursor(last) }
    : { runs };
};
