import { assign } from 'xstate';
import { emptyContext, ITEM } from './context.ts';
import { checkWaits } from './entrySteps.ts';
import { FINALLY } from './plan.ts';
import { failureFrom, runSetup, signalReceived, type StepCompiler } from './transitions.ts';
import { beginUnwinding, mayUnwind, unwindingStates } from './unwinding.ts';

/**
 * The run machine around a blueprint's steps: idle until `RunStarted`, running its top-level list,
 * then completing or failing — through unwinding (compensations, `finally`) when it has any — to
 * its end (`endRun`); a cancel or the run's timeout ends it at once, or unwinds it first
 * (`RunUnwinding`). Pure: its actions are commands, never run.
 */
export const createRunMachine = (compiler: StepCompiler) =>
  runSetup.createMachine({
    id: 'run',
    context: emptyContext,
    initial: 'idle',
    states: {
      idle: {
        on: {
          RunStarted: {
            target: 'running',
            actions: assign(({ context, event }) => ({
              runId: event.runId,
              input: event.input,
              ...(event.bindsItem === true
                ? {
                    entered: {
                      ...context.entered,
                      [ITEM]: { value: event.input, index: event.parent?.item ?? 0 },
                    },
                  }
                : {}),
              // The `finally` steps run at the end, however the run ends.
              ...(compiler.plan.lists.has(FINALLY)
                ? { routing: { ...context.routing, undo: [FINALLY] } }
                : {}),
            })),
          },
        },
      },
      running: {
        ...(compiler.list('$', { target: 'completing' }) as object),
        on: {
          RunCancelled: '#run.cancelled',
          RunTimedOut: '#run.timed_out',
          RunUnwinding: {
            target: '#run.unwinding',
            actions: beginUnwinding('as recorded'),
          },
          SignalReceived: { actions: [signalReceived, ...checkWaits(compiler.plan)] },
        },
      } as never,
      // The run's steps are done (or a `succeed` step ended it): its `finally` steps, if any, then its output.
      completing: {
        always: [
          { guard: mayUnwind, target: 'unwinding', actions: beginUnwinding('completed') as never },
          { target: 'ending' },
        ],
      },
      // A step failed the run: its compensations and `finally` steps, if any, then `RunFailed`.
      failing: {
        always: [
          { guard: mayUnwind, target: 'unwinding', actions: beginUnwinding('failed') as never },
          { target: 'ending' },
        ],
      },
      unwinding: {
        ...(unwindingStates(compiler) as object),
        on: {
          RunCancelled: '#run.cancelled',
          RunTimedOut: '#run.timed_out',
          SignalReceived: { actions: [signalReceived, ...checkWaits(compiler.plan)] },
        },
      } as never,
      ending: {
        entry: { type: 'endRun' },
        on: {
          RunCompleted: {
            target: 'completed',
            actions: assign(({ event }) => ({ output: event.output })),
          },
          RunFailed: { target: 'failed', actions: assign(failureFrom) },
          RunCancelled: 'cancelled',
          RunTimedOut: 'timed_out',
        },
      },
      completed: { type: 'final' },
      failed: { type: 'final' },
      cancelled: { type: 'final' },
      timed_out: { type: 'final' },
    },
  });
