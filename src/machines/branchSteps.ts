import { assign } from 'xstate';
import {
  command,
  forStep,
  resetSteps,
  skipCommand,
  type Args,
  type Config,
  type StepCompiler,
} from './transitions.ts';

/**
 * The steps that hold nested lists and choose among them or repeat them: condition and switch
 * (one nested list per branch, the one taken chosen by the recorded `StepEntered` value; the steps
 * of the others recorded as not taken) and loop (its body re-entered per iteration).
 */

/** Condition and switch: one nested list per branch, chosen by the recorded `StepEntered` value. */
export const branchStates = (
  compiler: StepCompiler,
  id: string,
  choices: readonly (readonly [string | number, string])[],
): Config => {
  const chosen = ({ context }: Args) => context.entered[id];
  /** The steps of every branch but `taken`, recorded as not taken (their own steps are covered). */
  const notTaken = (taken: string | undefined) =>
    choices
      .filter(([, state]) => state !== taken)
      .flatMap(([, state]) => compiler.plan.lists.get(`${id}.${state}`) ?? [])
      .map((stepId) => skipCommand(stepId, 'not_taken'));
  return {
    initial: 'choose',
    states: {
      choose: {
        always: [
          ...choices.map(([value, state]) => ({
            guard: (args: Args) => chosen(args) === value,
            target: state,
            actions: notTaken(state),
          })),
          {
            target: compiler.doneTarget(id),
            actions: [compiler.finish(id, () => null), ...notTaken(undefined)],
          },
        ],
      },
      ...Object.fromEntries(
        choices.map(([, state]) => {
          const key = `${id}.${state}`;
          return [
            state,
            compiler.list(key, {
              target: compiler.doneTarget(id),
              actions: compiler.finish(id, compiler.lastOutput(key)),
            }),
          ];
        }),
      ),
    },
  };
};

export const loopStates = (compiler: StepCompiler, id: string): Config => {
  const key = `${id}.body`;
  const descendants = compiler.info(id).descendants;
  return {
    initial: 'check',
    states: {
      check: {
        entry: command('checkLoop', id),
        on: {
          LoopChecked: [
            {
              guard: (args: Args) =>
                forStep(id)(args) && args.event.type === 'LoopChecked' && args.event.proceed,
              target: 'iteration',
              actions: assign(({ context, event }: Args) => {
                const reset = resetSteps(context, descendants);
                const iteration = event.type === 'LoopChecked' ? event.iteration : 0;
                return {
                  ...reset,
                  loops: {
                    ...reset.loops,
                    iterations: { ...reset.loops.iterations, [id]: iteration },
                  },
                };
              }),
            },
            {
              guard: forStep(id),
              target: compiler.doneTarget(id),
              actions: compiler.finish(id, ({ context }) => [...(context.loops.outputs[id] ?? [])]),
            },
          ],
          StepFailed: compiler.failure(id, forStep(id)),
        },
      },
      iteration: compiler.list(key, {
        target: 'check',
        actions: assign((args: Args) => ({
          loops: {
            ...args.context.loops,
            outputs: {
              ...args.context.loops.outputs,
              [id]: [...(args.context.loops.outputs[id] ?? []), compiler.lastOutput(key)(args)],
            },
          },
        })),
      }),
    },
  };
};
