import { assign } from 'xstate';
import { retries } from './plan.ts';
import {
  command,
  errorOf,
  forStep,
  ifSkipped,
  isCurrent,
  toOpenTask,
  type Args,
  type Config,
  type StepCompiler,
} from './transitions.ts';

/**
 * An activity step's states after `blocked`: `scheduling` (its `scheduleStep` command decided),
 * `active` (an attempt in flight), `retrying` (the next attempt after a retryable failure).
 */

export const activityStates = (compiler: StepCompiler, id: string): Record<string, Config> => {
  const policy = compiler.info(id).policy;
  const recordTask = assign(({ context, event }: Args) => {
    if (event.type !== 'StepScheduled') return {};
    return {
      tasks: { ...context.tasks, [id]: toOpenTask(event) },
      executions:
        event.attempt === 1
          ? { ...context.executions, [id]: (context.executions[id] ?? 0) + 1 }
          : context.executions,
    };
  });
  return {
    scheduling: {
      entry: command('scheduleStep', id),
      on: {
        StepScheduled: { guard: forStep(id), target: 'active', actions: recordTask },
        StepSkipped: {
          guard: ifSkipped(id),
          target: compiler.doneTarget(id),
          actions: compiler.settle(id, () => null),
        },
        StepFailed: compiler.failure(id, forStep(id)),
      },
    },
    active: {
      on: {
        StepCompleted: {
          guard: ({ context, event }: Args) =>
            forStep(id)({ context, event }) && isCurrent(context, event),
          target: compiler.doneTarget(id),
          actions: compiler.finish(id, ({ event }) =>
            event.type === 'StepCompleted' ? event.output : null,
          ),
        },
        StepFailed: [
          {
            guard: ({ context, event }: Args) =>
              forStep(id)({ context, event }) &&
              isCurrent(context, event) &&
              event.type === 'StepFailed' &&
              retries(policy, event.error, event.attempt),
            target: 'retrying',
            actions: assign(({ context, event }: Args) => ({
              routing: {
                ...context.routing,
                lastError: { ...context.routing.lastError, [id]: errorOf(event) },
              },
            })),
          },
          ...compiler.failure(
            id,
            ({ context, event }: Args) =>
              forStep(id)({ context, event }) && isCurrent(context, event),
          ),
        ],
      },
    },
    retrying: {
      entry: command('retryStep', id),
      on: { StepScheduled: { guard: forStep(id), target: 'active', actions: recordTask } },
    },
  };
};
