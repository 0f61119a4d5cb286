import { TerminalError } from 'weft/worker';
import { asArray, asNumber, asObject, asString } from '../lib.ts';

/** Activities of the `runtime_built` blueprint (see build.ts). Deterministic. */

const valuesOf = (input: unknown): number[] =>
  asArray(asObject(input).values).map((v) => asNumber(v));

/** `{source, count}` → `{source, values: [1, 2, …, count]}`. */
export const rt_fetch = (input: unknown): { source: string; values: number[] } => {
  const { source, count } = asObject(input);
  const n = asNumber(count, -1);
  if (!Number.isInteger(n) || n < 0 || n > 10_000)
    throw new TerminalError(
      `count must be a whole number from 0 to 10000, got ${JSON.stringify(count)}`,
    );
  return {
    source: asString(source, 'unknown'),
    values: Array.from({ length: n }, (_, i) => i + 1),
  };
};

/** `{values}` → their total. */
export const rt_transform = (input: unknown): { total: number } => ({
  total: valuesOf(input).reduce((a, b) => a + b, 0),
});

/** `{source, values}` → a label per value. */
export const rt_enrich = (input: unknown): { count: number; labels: string[] } => {
  const source = asString(asObject(input).source, 'unknown');
  const values = valuesOf(input);
  return { count: values.length, labels: values.map((v) => `${source}:${v}`) };
};

/** `{iteration, value}` → the value doubled. */
export const rt_refine = (input: unknown): { iteration: number; value: number } => {
  const { iteration, value } = asObject(input);
  return { iteration: asNumber(iteration), value: asNumber(value) * 2 };
};

export const rt_publish = (input: unknown): { published: true; value: number; labels: number } => {
  const { value, labels } = asObject(input);
  return { published: true, value: asNumber(value), labels: asArray(labels).length };
};

export const rt_hold = (input: unknown): { published: false; value: number } => ({
  published: false,
  value: asNumber(asObject(input).value),
});
