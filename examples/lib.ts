import { setTimeout as delay } from 'node:timers/promises';

/**
 * Small helpers shared by the example activities. Activities receive untrusted JSON: these read it
 * without casts that could lie. Not activities themselves (`examples/worker.ts` does not export
 * this module).
 */

export type Row = Record<string, unknown>;

export const asObject = (value: unknown): Row =>
  value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Row) : {};

export const asArray = (value: unknown): unknown[] =>
  Array.isArray(value) ? (value as unknown[]) : [];

export const asNumber = (value: unknown, fallback = 0): number =>
  typeof value === 'number' && Number.isFinite(value) ? value : fallback;

export const asString = (value: unknown, fallback = ''): string =>
  typeof value === 'string' ? value : fallback;

/** Waits `ms` (simulated work), or until the attempt is aborted. Never rejects. */
export const pause = async (ms: number, signal?: AbortSignal): Promise<void> => {
  if (ms <= 0) return;
  await delay(ms, undefined, signal === undefined ? {} : { signal }).catch(() => undefined);
};
