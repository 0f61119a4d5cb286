import { existsSync, watch, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ActivityContext } from '../../src/index.ts';

/**
 * Activities of the fault scenarios' worker processes (`weft worker test/faults/activities.ts`).
 * Only functions are exported: every exported function is an activity.
 */

const obj = (v: unknown): Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};

/** A stable number in [0, 1) from a string (FNV-1a), so an attempt's duration is the same wherever it runs. */
const unit = (text: string): number => {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) / 4294967296;
};

const pause = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(new Error('aborted'));
      },
      { once: true },
    );
  });

/**
 * Takes 50–200 ms (fixed per task), then returns its input with this step appended to `trail`.
 * The output depends only on the input and the step: a re-run gives the same value.
 */
export const work = async (input: unknown, ctx: ActivityContext) => {
  const { min = 50, max = 200 } = obj(obj(input).timing) as { min?: number; max?: number };
  await pause(min + Math.floor(unit(ctx.taskId) * (max - min)), ctx.signal);
  const trail = Array.isArray(obj(input).trail) ? (obj(input).trail as unknown[]) : [];
  return { ...obj(input), trail: [...trail, ctx.stepId] };
};

/**
 * A long activity: writes `<dir>/started-<pid>-<attempt>` as soon as it begins (so a test can see which
 * worker holds it), then waits `ms`, and returns which process finished it.
 */
export const long = async (input: unknown, ctx: ActivityContext) => {
  const { ms = 1000, dir } = obj(input) as { ms?: number; dir?: string };
  // The worker answered "taken" just before calling this; one turn of the event loop lets that
  // answer leave the process before a test that SIGKILLs on the mark below can kill it (else the
  // runtime never hears the take and rightly sends attempt 1 to the stream for another worker).
  await new Promise((resolve) => setImmediate(resolve));
  if (dir !== undefined)
    writeFileSync(join(dir, `started-${process.pid}-${ctx.attempt}`), ctx.taskId);
  await pause(ms, ctx.signal);
  return { finishedBy: process.pid, attempt: ctx.attempt };
};

/**
 * Holds its task until the file `<dir>/open` exists, then returns `{ opened: true }`: a test keeps
 * runs — and the requests waiting for their end — open until it creates that file. Waits on
 * fs.watch, not a poll; fails with `aborted` when the task is aborted.
 */
export const gate = async (input: unknown, ctx: ActivityContext) => {
  const { dir } = obj(input) as { dir?: unknown };
  if (typeof dir !== 'string') throw new Error('gate: input.dir (a directory) is required');
  const open = join(dir, 'open');
  await new Promise<void>((resolve, reject) => {
    const watcher = watch(dir);
    const finish = (error?: Error): void => {
      watcher.close();
      ctx.signal.removeEventListener('abort', onAbort);
      if (error === undefined) resolve();
      else reject(error);
    };
    const onAbort = (): void => finish(new Error('aborted'));
    watcher.on('change', () => {
      if (existsSync(open)) finish();
    });
    watcher.on('error', (error) => finish(error));
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    // Created before the watch began.
    if (existsSync(open)) finish();
  });
  return { opened: true };
};
