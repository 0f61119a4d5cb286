import { assign } from 'xstate';
import type { RunContext, Unwinding } from './context.ts';
import { compensationOf, FINALLY } from './plan.ts';
import { resetSteps, type Args, type Config, type StepCompiler } from './transitions.ts';

/**
 * A run's unwinding (language 2): when it fails, is cancelled or times out, the compensations of
 * the steps it completed run, last completed first, then its `finally` steps; a completed run runs
 * its `finally` steps. Then its end is recorded. Pure.
 */

/** Whether the run has compensations or finally steps to run and has not begun to run them. */
export const mayUnwind = ({ context }: Args): boolean =>
  context.routing.undo.length > 0 && context.routing.unwinding === null;

/**
 * The run begins to unwind: whatever still runs is dropped (the runtime aborts and cancels it on
 * seeing it gone); a completed run runs its `finally` steps only.
 */
export const beginUnwinding = (why: Unwinding['cause'] | 'as recorded') =>
  assign(({ context, event }: Args): Partial<RunContext> => {
    const cause = why === 'as recorded' && event.type === 'RunUnwinding' ? event.cause : why;
    if (cause === 'as recorded') throw new Error(`defect: ${event.type} does not unwind a run`);
    return {
      tasks: {},
      maps: {},
      timers: {},
      children: {},
      routing: {
        ...context.routing,
        undo: cause === 'completed' ? [FINALLY] : context.routing.undo,
        unwinding: {
          cause,
          ...(event.type === 'RunUnwinding' && event.reason !== undefined
            ? { reason: event.reason }
            : {}),
          ...(event.type === 'RunUnwinding' && event.timeoutMs !== undefined
            ? { timeoutMs: event.timeoutMs }
            : {}),
          errors: [],
        },
      },
    };
  });

/**
 * Unwinding: the compensations owed (`routing.undo`), last completed first, then the `finally`
 * steps; each list starts afresh (a step compensated twice runs its compensation twice). Then
 * the run's end is recorded (`endRun`).
 */
export const unwindingStates = (compiler: StepCompiler): Config => {
  const owing = [...compiler.plan.steps.values()]
    .filter((info) => compensationOf(info.step) !== undefined)
    .map((info) => info.step.id);
  const next = ({ context }: Args) => context.routing.undo.at(-1);
  const pop = assign(({ context }: Args) => ({
    routing: { ...context.routing, undo: context.routing.undo.slice(0, -1) },
  }));
  const fresh = (key: string) => {
    const ids = (compiler.plan.lists.get(key) ?? []).flatMap((s) => [
      s,
      ...compiler.info(s).descendants,
    ]);
    return assign(({ context }: Args) => resetSteps(context, ids));
  };
  const run = (key: string): Config => ({
    entry: fresh(key),
    ...compiler.list(key, { target: 'next', actions: pop }),
  });
  return {
    initial: 'next',
    states: {
      next: {
        always: [
          ...owing.map((id) => ({
            guard: (args: Args) => next(args) === id,
            target: `undo_${id}`,
          })),
          ...(compiler.plan.lists.has(FINALLY)
            ? [{ guard: (args: Args) => next(args) === FINALLY, target: 'finally' }]
            : []),
          { target: '#run.ending' },
        ],
      },
      ...Object.fromEntries(owing.map((id) => [`undo_${id}`, run(`${id}.compensate`)])),
      ...(compiler.plan.lists.has(FINALLY) ? { finally: run(FINALLY) } : {}),
    },
  };
};
