import { TerminalError, type ActivityContext } from '../actors/worker.ts';

/**
 * The demo worker's activities (used by `weft dev` and `examples/demo-worker.ts`). Each is looked
 * up by name from a blueprint — the pipeline's configuration decides which run and in what order.
 */

type Row = Record<string, unknown>;
type Rule = { field: string; required?: boolean; type?: string; min?: number };
type Transformation = {
  op: 'uppercase' | 'lowercase' | 'multiply' | 'rename';
  field: string;
  by?: number;
  to?: string;
};

const asObject = (value: unknown): Row =>
  value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Row) : {};
const asArray = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);

/** Checks every record against the rules; throws a TerminalError (no retry) when any record is invalid. */
export const validate_data = (input: unknown): { data: Row[]; checked: number } => {
  const { data, rules } = asObject(input);
  const records = asArray(data).map(asObject);
  const problems: string[] = [];
  for (const [i, record] of records.entries()) {
    for (const rule of asArray(rules) as Rule[]) {
      const value = record[rule.field];
      if (rule.required === true && value === undefined)
        problems.push(`record ${i}: '${rule.field}' is required`);
      if (value !== undefined && rule.type !== undefined && typeof value !== rule.type)
        problems.push(`record ${i}: '${rule.field}' must be a ${rule.type}`);
      if (typeof value === 'number' && rule.min !== undefined && value < rule.min)
        problems.push(`record ${i}: '${rule.field}' must be at least ${rule.min}`);
    }
  }
  if (problems.length > 0) throw new TerminalError(`validation failed: ${problems.join('; ')}`);
  return { data: records, checked: records.length };
};

/** Applies the configured transformations in order. */
export const transform_data = (input: unknown): Row[] => {
  const { data, transformations } = asObject(input);
  return asArray(data).map((raw) => {
    let record = { ...asObject(raw) };
    for (const t of asArray(transformations) as Transformation[]) {
      const value = record[t.field];
      if (t.op === 'uppercase' && typeof value === 'string') record[t.field] = value.toUpperCase();
      if (t.op === 'lowercase' && typeof value === 'string') record[t.field] = value.toLowerCase();
      if (t.op === 'multiply' && typeof value === 'number') record[t.field] = value * (t.by ?? 1);
      if (t.op === 'rename' && t.to !== undefined && t.field in record) {
        const { [t.field]: moved, ...rest } = record;
        record = { ...rest, [t.to]: moved };
      }
    }
    return record;
  });
};

/** Adds derived fields; deterministic so that a retried task gives the same output. */
export const enrich_data = (input: unknown, ctx: ActivityContext): Row[] =>
  asArray(input).map((raw, index) => ({
    ...asObject(raw),
    enriched: true,
    rank: index + 1,
    source: ctx.stepId,
  }));

/** Returns `count` items (default 100): 1, 2, … */
export const fetch_data = (input: unknown): number[] => {
  const count = Number(asObject(input).count ?? 100);
  return Array.from({ length: Math.max(0, Math.min(100_000, count)) }, (_, i) => i + 1);
};

export const double = (input: unknown): { processed: number } => {
  const item = asObject(input).item ?? input;
  if (typeof item !== 'number')
    throw new TerminalError(`double needs a number, got ${JSON.stringify(item)}`);
  return { processed: item * 2 };
};

export const sum = (input: unknown): { total: number } => ({
  total: asArray(input).reduce<number>(
    (acc, x) => acc + (typeof x === 'number' ? x : Number(asObject(x).processed ?? 0)),
    0,
  ),
});

export const save_results = (
  input: unknown,
  ctx: ActivityContext,
): { saved: number; key: string } => ({
  saved: asArray(input).length,
  key: ctx.taskId,
});

export const activities = {
  validate_data,
  transform_data,
  enrich_data,
  fetch_data,
  double,
  sum,
  save_results,
};
