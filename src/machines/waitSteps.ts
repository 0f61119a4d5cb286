import type { PlannedStep } from './plan.ts';
import {
  childMatches,
  command,
  firstUnconsumed,
  forStep,
  recordChild,
  recordTimer,
  timerOf,
  type Args,
  type Config,
  type StepCompiler,
} from './transitions.ts';

/**
 * The steps that wait on something outside the run: a child run, a signal (or a condition over
 * signals and data), a durable timer. Pure.
 */

/** Requests its child run, then waits for its end; the child's failure is the step's. */
export const childStates = (compiler: StepCompiler, id: string): Config => {
  const toDone = compiler.toDone(id);
  return {
    initial: 'requesting',
    states: {
      requesting: {
        entry: command('requestChild', id),
        on: {
          ChildRequested: { guard: forStep(id), target: 'awaiting', actions: recordChild },
          StepFailed: compiler.failure(id, forStep(id)),
        },
      },
      awaiting: {
        on: {
          ChildCompleted: {
            guard: (args: Args) => forStep(id)(args) && childMatches(args),
            ...toDone(({ event }) => (event.type === 'ChildCompleted' ? event.output : null)),
          },
          ChildFailed: compiler.failure(
            id,
            (args: Args) => forStep(id)(args) && childMatches(args),
          ),
        },
      },
    },
  };
};

/** Waits for its signal (one that arrived earlier counts), or until its `when` holds; `timeout` fails it. */
export const waitStates = (
  compiler: StepCompiler,
  step: PlannedStep & { readonly type: 'wait' },
): Config => {
  const id = step.id;
  const signal = step.signal;
  if (signal === undefined) {
    // `when`: done when the decider finds it holds (at entry, see `entered`, or on a
    // `checkWaits` after a signal or a set step); an error in it fails the step.
    return {
      entry: command('startTimer', id),
      on: {
        TimerScheduled: { guard: forStep(id), actions: recordTimer },
        TimerFired: compiler.failure(
          id,
          (args: Args) => timerOf(args) === id,
          () => ({
            code: 'timeout',
            message: `the condition of wait step '${id}' did not hold within its timeout`,
            retryable: false,
          }),
        ),
        WaitSatisfied: {
          guard: forStep(id),
          target: compiler.doneTarget(id),
          actions: compiler.finish(id, ({ event }) =>
            event.type === 'WaitSatisfied' ? event.value : null,
          ),
        },
        StepFailed: compiler.failure(id, forStep(id)),
      },
    };
  }
  const waiting = ({ context }: Args) => firstUnconsumed(context, signal);
  return {
    entry: command('startTimer', id),
    on: {
      TimerScheduled: { guard: forStep(id), actions: recordTimer },
      TimerFired: compiler.failure(id, (args: Args) => timerOf(args) === id),
    },
    always: {
      guard: (args: Args) => waiting(args) !== undefined,
      target: compiler.doneTarget(id),
      actions: compiler.finish(
        id,
        (args) => args.context.signals[waiting(args) ?? -1]?.payload ?? null,
        (args) => ({
          consumed: { ...args.context.consumed, [waiting(args) ?? -1]: true as const },
        }),
      ),
    },
  };
};

/** A durable timer: done, with output null, when it fires. */
export const sleepStates = (compiler: StepCompiler, id: string): Config => {
  const toDone = compiler.toDone(id);
  return {
    entry: command('startTimer', id),
    on: {
      TimerScheduled: { guard: forStep(id), actions: recordTimer },
      TimerFired: { guard: (args: Args) => timerOf(args) === id, ...toDone(() => null) },
    },
  };
};
