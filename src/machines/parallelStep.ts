import { assign } from 'xstate';
import type { Json } from '../blueprints/json.ts';
import { omit } from './context.ts';
import type { PlannedStep } from './plan.ts';
import { drop, dropInside } from './scopes.ts';
import type { Args, Config, StepCompiler } from './transitions.ts';

/**
 * A parallel's body by its `completion`: `all` (every branch, output the array of their
 * outputs); otherwise a branch that fails ends alone (`routing.lastError[<id>.b<i>]`) and —
 * `first` — the first branch to finish wins, with its output, the others stopped, or —
 * `{atLeast: n}` — once every branch has ended the step completes with the array (null for a
 * failed branch) if at least n succeeded. Too few left: it fails with `quorum_not_met`.
 */
export const parallelStates = (
  compiler: StepCompiler,
  step: PlannedStep & { readonly type: 'parallel' },
  toDone: (output: (args: Args) => Json) => Config,
): Config => {
  const id = step.id;
  const keys = step.branches.map((_, i) => `${id}.b${i}`);
  const completion = step.completion ?? 'all';
  if (completion === 'all') {
    return {
      type: 'parallel',
      states: Object.fromEntries(
        keys.map((key, i) => [
          `b${i}`,
          {
            initial: 'list',
            states: { list: compiler.list(key, { target: 'end' }), end: { type: 'final' } },
          },
        ]),
      ),
      onDone: toDone((args) => keys.map((key) => compiler.lastOutput(key)(args))),
    };
  }
  const needed = completion === 'first' ? 1 : completion.atLeast;
  const failedBranch = ({ context }: Args, key: string) =>
    context.routing.lastError[key] !== undefined;
  const succeeded = (args: Args) => keys.filter((key) => !failedBranch(args, key)).length;
  const won: Config =
    completion === 'first'
      ? {
          target: compiler.doneTarget(id),
          actions: [dropInside(compiler, id)],
        }
      : { target: 'end' };
  return {
    type: 'parallel',
    // A pass starts with no branch failed (a loop may run this step again).
    entry: assign(({ context }: Args) => ({
      routing: { ...context.routing, lastError: omit(context.routing.lastError, ...keys) },
    })),
    states: Object.fromEntries(
      keys.map((key, i) => {
        const inside = (compiler.plan.lists.get(key) ?? []).flatMap((s) => [
          s,
          ...compiler.info(s).descendants,
        ]);
        const onDone =
          completion === 'first'
            ? {
                ...won,
                actions: [
                  ...(won['actions'] as unknown[]),
                  compiler.finish(id, compiler.lastOutput(key)),
                ],
              }
            : won;
        return [
          `b${i}`,
          {
            initial: 'list',
            states: {
              list: compiler.list(key, onDone),
              end: { type: 'final' },
              failed: { id: `bfail_${id}_b${i}`, type: 'final', entry: drop(inside) },
            },
          },
        ];
      }),
    ),
    // Every branch ended: for `first`, all of them failed.
    onDone: [
      ...(completion === 'first'
        ? []
        : [
            {
              guard: (args: Args) => succeeded(args) >= needed,
              ...toDone((args) =>
                keys.map((key) =>
                  failedBranch(args, key) ? null : compiler.lastOutput(key)(args),
                ),
              ),
            },
          ]),
      ...compiler.failure(
        id,
        () => true,
        (args) => ({
          code: 'quorum_not_met',
          message: `${succeeded(args)} of ${keys.length} branches of '${id}' succeeded; ${needed} needed`,
          retryable: false,
          details: {
            errors: keys.map((key) => args.context.routing.lastError[key] ?? null),
          } as unknown as Json,
        }),
      ),
    ],
  };
};
