import { TerminalError, type ActivityContext } from 'weft/worker';
import { asArray, asNumber, asObject, pause } from '../lib.ts';

/** Activities of `ai_data_pipeline` (pgflow's fetch → map → save). Deterministic. */

/** `{count}` (default 100, at most 10 000) → `[1, 2, …, count]`. */
export const ai_fetch_items = (input: unknown): number[] => {
  const count = asNumber(asObject(input).count, 100);
  if (!Number.isInteger(count) || count < 0 || count > 10_000)
    throw new TerminalError(`count must be a whole number from 0 to 10000, got ${count}`);
  return Array.from({ length: count }, (_, i) => i + 1);
};

/** `{item}` → `{processed: 2 × item}`; takes a few milliseconds so that the map's concurrency shows. */
export const ai_double = async (
  input: unknown,
  ctx: ActivityContext,
): Promise<{ processed: number }> => {
  const item = asObject(input).item;
  if (typeof item !== 'number')
    throw new TerminalError(`ai_double needs a number, got ${JSON.stringify(item ?? null)}`);
  await pause(15, ctx.signal);
  return { processed: item * 2 };
};

/** The map's output → how many were saved, their total, and the first and last values (item order). */
export const ai_save_results = (
  input: unknown,
): { saved: number; total: number; first: number | null; last: number | null } => {
  const values = asArray(input).map((x) => asNumber(asObject(x).processed));
  return {
    saved: values.length,
    total: values.reduce((a, b) => a + b, 0),
    first: values[0] ?? null,
    last: values[values.length - 1] ?? null,
  };
};
