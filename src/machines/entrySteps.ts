import { assign } from 'xstate';
import { isRecord } from '../blueprints/diagnostics.ts';
import type { Json } from '../blueprints/json.ts';
import { itemsOf, type MapState, type OpenTask } from './context.ts';
import type { RunEvent } from './events.ts';
import { noItemOutputs, noItemTasks } from './itemTasks.ts';
import type { Plan, PlannedStep } from './plan.ts';
import {
  forStep,
  recordEntered,
  type Args,
  type Config,
  type StepCompiler,
} from './transitions.ts';

/**
 * What a step's `StepEntered` decides at once, before its body: a `fail` step fails the run, a
 * `succeed` step completes it, a `set` step stores its values, a `wait` whose `when` already
 * holds is done, a map or graph over no items is done, and a map or graph gets its items. Pure.
 */

/**
 * `checkWaits` after `$signals` or `$data` changed, when some `wait` step waits on a `when`
 * (the decider checks those that wait right now).
 */
export const checkWaits = (plan: Plan): readonly { readonly type: 'checkWaits' }[] =>
  [...plan.steps.values()].some(({ step }) => step.type === 'wait' && step.when !== undefined)
    ? [{ type: 'checkWaits' }]
    : [];

/** Transitions taken on `StepEntered` before the generic one (e.g. a map over no items). */
export const enteredTransitions = (compiler: StepCompiler, step: PlannedStep): Config[] => {
  const id = step.id;
  const enteredValue = (event: RunEvent): Json =>
    event.type === 'StepEntered' ? event.value : null;
  if (step.type === 'fail') {
    // The run fails with the step's error; whatever else is running is stopped by its end.
    return [
      {
        guard: forStep(id),
        target: '#run.failing',
        actions: [
          recordEntered(id),
          assign(({ event }: Args) => {
            const value = enteredValue(event) as {
              error?: { code?: string; message?: string };
              output?: Json;
            } | null;
            return {
              failure: {
                code: value?.error?.code ?? 'failed',
                message: value?.error?.message ?? `step '${id}' failed the run`,
                stepId: id,
              },
              ...(value !== null && value.output !== undefined ? { output: value.output } : {}),
            };
          }),
        ],
      },
    ];
  }
  if (step.type === 'succeed') {
    // The run completes now: `endRun` takes the output this step recorded, if it has one.
    return [{ guard: forStep(id), target: '#run.completing', actions: recordEntered(id) }];
  }
  if (step.type === 'set') {
    return [
      {
        guard: forStep(id),
        target: compiler.doneTarget(id),
        actions: [
          ...checkWaits(compiler.plan),
          recordEntered(id),
          compiler.finish(
            id,
            ({ event }) => enteredValue(event),
            ({ context, event }) => ({
              data: { ...context.data, ...(enteredValue(event) as Record<string, Json>) },
            }),
          ),
        ],
      },
    ];
  }
  if (step.type === 'wait' && step.when !== undefined) {
    // Its `when` held at once: done with its value.
    return [
      {
        guard: (args: Args) => {
          const value = args.event.type === 'StepEntered' ? args.event.value : null;
          return forStep(id)(args) && isRecord(value) && value['met'] === true;
        },
        target: compiler.doneTarget(id),
        actions: [
          recordEntered(id),
          compiler.finish(id, ({ event }) => {
            const value = enteredValue(event);
            return isRecord(value) ? ((value['value'] as Json | undefined) ?? null) : null;
          }),
        ],
      },
    ];
  }
  if (step.type === 'map' || step.type === 'graph') {
    return [
      {
        guard: (args: Args) =>
          forStep(id)(args) &&
          args.event.type === 'StepEntered' &&
          itemsOf(args.event.value).length === 0,
        target: compiler.doneTarget(id),
        actions: [recordEntered(id), compiler.finish(id, () => (step.type === 'graph' ? {} : []))],
      },
      {
        guard: forStep(id),
        target: 'body',
        actions: [
          recordEntered(id),
          assign(({ context, event }: Args) => {
            if (event.type !== 'StepEntered') return {};
            const items = itemsOf(event.value);
            const state: MapState = {
              items,
              outputs: noItemOutputs,
              next: 0,
              completed: 0,
              failed: 0,
              retry: [],
              inflight: noItemTasks<OpenTask>(),
            };
            return { maps: { ...context.maps, [id]: state } };
          }),
        ],
      },
    ];
  }
  return [];
};
