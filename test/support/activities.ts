import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TerminalError, type ActivityContext } from '../../src/index.ts';

/** Activities of the integration tests' worker process (`weft worker test/support/activities.ts`). */

const obj = (v: unknown): Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};

/** Returns its input with `field` = `value` added (from the input's `add` or a default). */
export const add_field = (input: unknown, ctx: ActivityContext) => ({
  ...obj(input),
  [ctx.stepId]: true,
});

export const echo = (input: unknown, ctx: ActivityContext) => ({ step: ctx.stepId, got: input });

/** Fails on its first two attempts, succeeds on the third. */
export const flaky = (input: unknown, ctx: ActivityContext) => {
  if (ctx.attempt < 3) throw new Error(`flaky failure on attempt ${ctx.attempt}`);
  return { attempt: ctx.attempt, taskId: ctx.taskId, input };
};

export const declined = () => {
  throw new TerminalError('card declined');
};

/**
 * Fails with the input's `code`: a `TerminalError` with that code when `terminal`, else an Error
 * with a `code` property (retryable, as Node's own errors are).
 */
export const coded = (input: unknown) => {
  const { code, terminal } = obj(input) as { code?: string; terminal?: boolean };
  if (terminal === true) throw new TerminalError(`terminal ${String(code)}`, { code });
  throw Object.assign(new Error(`failed with ${String(code)}`), { code });
};

export const sum = (input: unknown) =>
  Object.values(obj(input)).reduce<number>(
    (acc, v) => acc + (typeof v === 'number' ? v : Number(obj(v).value ?? 0)),
    0,
  );

export const value = (input: unknown, ctx: ActivityContext) => ({
  value: Number(obj(input).base ?? 0) + ctx.stepId.length,
});

/**
 * Waits `ms` (default: until aborted). On abort it leaves a marker file `<dir>/<taskId>.aborted`
 * when the input names a directory, so a test can see the AbortSignal reached the activity.
 */
export const slow = async (input: unknown, ctx: ActivityContext) => {
  const { ms, dir } = obj(input) as { ms?: number; dir?: string };
  await new Promise<void>((resolve, reject) => {
    const timer = ms === undefined ? undefined : setTimeout(resolve, ms);
    ctx.signal.addEventListener('abort', () => {
      clearTimeout(timer);
      if (dir !== undefined)
        writeFileSync(
          join(dir, `${ctx.taskId.replace(/[^A-Za-z0-9_-]/g, '_')}.aborted`),
          String(ctx.signal.reason),
        );
      reject(new Error('aborted'));
    });
  });
  return { slept: ms ?? null };
};

/** Waits `ms` (none when absent), rejecting when the attempt is aborted. */
const pause = (ms: number | undefined, signal: AbortSignal) =>
  ms === undefined || ms <= 0
    ? Promise.resolve()
    : new Promise<void>((resolve, reject) => {
        const timer = setTimeout(resolve, ms);
        signal.addEventListener('abort', () => {
          clearTimeout(timer);
          reject(new Error('aborted'));
        });
      });

/** Throws an error with the code `fail`: a `TerminalError` when `terminal`, else a retryable one. */
const failWith = (fail: string, message: string, terminal: boolean | undefined): never => {
  if (terminal === true) throw new TerminalError(message, { code: fail });
  throw Object.assign(new Error(message), { code: fail });
};

/**
 * A price quote of the corpus test: after `ms` (abortable), `{vendor, price}`; with a string `fail`,
 * the attempt fails with that code instead (`"<vendor>: <fail>"`; a `TerminalError` when `terminal`).
 */
export const quote = async (input: unknown, ctx: ActivityContext) => {
  const { vendor, price, ms, fail, terminal } = obj(input) as {
    vendor?: string;
    price?: number;
    ms?: number;
    fail?: unknown;
    terminal?: boolean;
  };
  await pause(ms, ctx.signal);
  if (typeof fail === 'string') failWith(fail, `${String(vendor)}: ${fail}`, terminal);
  return { vendor: vendor ?? null, price: price ?? null };
};

/**
 * A booking of the corpus test: `{item, ref: "BK-<item>", attempt}`. With a string `fail`, attempts
 * below `okFrom` (every attempt without it) fail with that code (`"<item>: <fail>"`; a
 * `TerminalError` when `terminal`).
 */
export const book = (input: unknown, ctx: ActivityContext) => {
  const { item, fail, okFrom, terminal } = obj(input) as {
    item?: unknown;
    fail?: unknown;
    okFrom?: number;
    terminal?: boolean;
  };
  if (typeof fail === 'string' && (okFrom === undefined || ctx.attempt < okFrom))
    failWith(fail, `${String(item)}: ${fail}`, terminal);
  return { item: item ?? null, ref: `BK-${String(item)}`, attempt: ctx.attempt };
};

/**
 * One page of `items` from `cursor` (default 0), `size` (default 2) long:
 * `{items, next}`, `next` the cursor of the page after it or null on the last page.
 */
export const page = (input: unknown) => {
  const { items, size, cursor } = obj(input) as { items?: unknown; size?: number; cursor?: number };
  const all = Array.isArray(items) ? items : [];
  const from = cursor ?? 0;
  const to = from + (size ?? 2);
  return { items: all.slice(from, to), next: to < all.length ? to : null };
};

/** Calls so far per key, in this worker process (for `fails_first`). */
const callsByKey = new Map<string, number>();

/**
 * Fails (retryable, code `not_yet`) on its first `times` calls with this `key` in this worker
 * process, whatever the attempt: a step retried as a new execution sees the count go on.
 */
export const fails_first = (input: unknown) => {
  const { key, times } = obj(input) as { key?: string; times?: number };
  const calls = (callsByKey.get(String(key)) ?? 0) + 1;
  callsByKey.set(String(key), calls);
  if (calls <= (times ?? 1))
    throw Object.assign(new Error(`call ${calls} of ${String(key)}`), { code: 'not_yet' });
  return { key, calls };
};
