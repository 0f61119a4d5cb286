import { TerminalError } from 'weft/worker';
import { asArray, asNumber, asObject, asString, type Row } from '../lib.ts';

/**
 * Activities of `etl`: extract rows from CSV text, validate each row (a bad row is a TerminalError,
 * which the map's `onError: "continue"` turns into `{"error": …}`), separate good from bad, load.
 * Deterministic.
 */

/** `{csv}` → one object per data line, keyed by the header, with its 1-based line number. */
export const etl_extract = (input: unknown): Row[] => {
  const lines = asString(asObject(input).csv)
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  const [header, ...data] = lines;
  if (header === undefined) throw new TerminalError('the CSV has no header line');
  const columns = header.split(',').map((c) => c.trim());
  return data.map((line, i) => {
    const cells = line.split(',');
    return Object.fromEntries([
      ['line', i + 2],
      ...columns.map((c, j) => [c, (cells[j] ?? '').trim()]),
    ]) as Row;
  });
};

/** One raw row → `{id, name, amount}`; throws a TerminalError naming the line and the problem. */
export const etl_validate_row = (input: unknown): { id: number; name: string; amount: number } => {
  const row = asObject(input);
  const line = asNumber(row.line);
  const id = Number(asString(row.id));
  const name = asString(row.name);
  const amount = Number(asString(row.amount));
  if (!Number.isInteger(id) || id <= 0)
    throw new TerminalError(
      `line ${line}: id ${JSON.stringify(row.id ?? null)} is not a positive integer`,
    );
  if (name === '') throw new TerminalError(`line ${line}: name is empty`);
  if (asString(row.amount) === '' || !Number.isFinite(amount))
    throw new TerminalError(
      `line ${line}: amount ${JSON.stringify(row.amount ?? null)} is not a number`,
    );
  return { id, name, amount };
};

/**
 * `{rows, results}` (the raw rows and the map's outputs, in the same order) → `{good, bad}`; a
 * result `{"error": {message, …}}` is a bad row.
 */
export const etl_separate = (
  input: unknown,
): { good: Row[]; bad: { line: number; reason: string }[] } => {
  const { rows, results } = asObject(input);
  const raw = asArray(rows).map(asObject);
  const good: Row[] = [];
  const bad: { line: number; reason: string }[] = [];
  asArray(results).forEach((result, i) => {
    const r = asObject(result);
    if ('error' in r) {
      const error = r.error;
      const reason = asString(
        asObject(error).message,
        typeof error === 'string' ? error : JSON.stringify(error ?? null),
      );
      bad.push({ line: asNumber(raw[i]?.line), reason });
    } else good.push(r);
  });
  return { good, bad };
};

/** `{good}` → how many rows were loaded and the sum of their amounts. */
export const etl_load = (input: unknown): { loaded: number; ids: number[]; amount: number } => {
  const good = asArray(asObject(input).good).map(asObject);
  return {
    loaded: good.length,
    ids: good.map((r) => asNumber(r.id)),
    amount: Math.round(good.reduce((sum, r) => sum + asNumber(r.amount), 0) * 100) / 100,
  };
};
