import { appendFileSync } from 'node:fs';
import type { ActivityContext } from '../../src/index.ts';

/**
 * Activities that write down every execution (`weft worker test/support/executions.ts`), for
 * counting how often each attempt ran. Only activities are exported: every exported function is one.
 */

const logOf = (input: unknown): string => {
  const log = (input as { log?: unknown } | null)?.log;
  if (typeof log !== 'string') throw new Error('input.log (a file path) is required');
  return log;
};

/** Appends `<taskId>/<attempt>` to the file `input.log`, then returns the attempt. */
export const recorded = (input: unknown, ctx: ActivityContext) => {
  appendFileSync(logOf(input), `${ctx.taskId}/${ctx.attempt}\n`);
  return { taskId: ctx.taskId, attempt: ctx.attempt };
};

/**
 * As `recorded`, then hangs until aborted (by the worker's timeout, a cancel or the run's timeout),
 * which it writes down as `<taskId>/<attempt>` in `<input.log>.aborted`.
 */
export const recorded_hang = async (input: unknown, ctx: ActivityContext) => {
  appendFileSync(logOf(input), `${ctx.taskId}/${ctx.attempt}\n`);
  await new Promise((_, reject) =>
    ctx.signal.addEventListener(
      'abort',
      () => {
        appendFileSync(`${logOf(input)}.aborted`, `${ctx.taskId}/${ctx.attempt}\n`);
        reject(new Error('aborted'));
      },
      { once: true },
    ),
  );
};

/**
 * As `recorded`; on attempt 1 it then blocks its worker's event loop for `input.blockMs` (a hung
 * worker: no heartbeat, no timeout of its own, no result), after a short pause that lets the
 * worker's start message go out.
 */
export const recorded_block = async (input: unknown, ctx: ActivityContext) => {
  appendFileSync(logOf(input), `${ctx.taskId}/${ctx.attempt}\n`);
  if (ctx.attempt === 1) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    const { blockMs = 0 } = input as { blockMs?: number };
    const until = Date.now() + blockMs;
    while (Date.now() < until) {
      // Busy: nothing else runs in this worker meanwhile.
    }
  }
  return { taskId: ctx.taskId, attempt: ctx.attempt };
};
