import { assign } from 'xstate';
import type { Json } from '../blueprints/json.ts';
import { graphOf, omit, taskKey, type MapState, type RunContext } from './context.ts';
import type { RunEvent } from './events.ts';
import { errorRoutes, routeFor } from '../blueprints/onError.ts';
import { retries } from './plan.ts';
import { outputList, removeItemTask, setItemOutput, setItemTask } from './itemTasks.ts';
import {
  command,
  errorOf,
  forStep,
  isCurrent,
  recordChild,
  toOpenTask,
  type Args,
  type Config,
  type StepCompiler,
  UnsupportedStep,
} from './transitions.ts';

/**
 * A map step's state: its items are data (their number is known only at run time), started up to
 * its concurrency, retried under the inner step's policy, settled into outputs in item order.
 */

export const mapStep = (compiler: StepCompiler, id: string): Config => {
  const step = compiler.info(id).step;
  if (step.type !== 'map' && step.type !== 'graph') throw new Error('defect: not a map');
  const innerId =
    [...compiler.plan.steps.values()].find((s) => s.mapOf === id)?.step.id ?? `${id}_item`;
  const inner = compiler.info(innerId);
  if (inner.step.type !== 'activity' && inner.step.type !== 'child') {
    throw new UnsupportedStep(
      id,
      'map',
      `the inner step of a map must be an activity or a child, not '${inner.step.type}'`,
    );
  }
  /** A graph's node ids, in item order, as its `StepEntered` recorded them. */
  const nodeIds = (context: RunContext): readonly string[] =>
    graphOf(context.entered[id] ?? null).nodes;
  // The inner step's onError settles a failed item: "continue" (for its code) keeps the error as
  // the item's output; any other route fails the map, whose own onError then applies.
  const innerRoutes = errorRoutes(inner.step.onError);
  const mayContinue = [...innerRoutes.byCode.values(), innerRoutes.fallback].includes('continue');
  const continues = ({ event }: Args) => routeFor(innerRoutes, errorOf(event).code) === 'continue';
  /** Records one item's final outcome. */
  const settle = (
    context: RunContext,
    item: number,
    output: Json,
    key: string,
    failed: boolean,
  ): Partial<RunContext> => {
    const state = context.maps[id];
    if (state === undefined) return {};
    const outputs = setItemOutput(state.outputs, item, output);
    return {
      maps: {
        ...context.maps,
        [id]: {
          ...state,
          outputs,
          ...(step.type === 'graph'
            ? { settled: { ...state.settled, [item]: true as const } }
            : {}),
          completed: state.completed + 1,
          failed: state.failed + (failed ? 1 : 0),
          inflight: removeItemTask(state.inflight, item),
        },
      },
      children: omit(context.children, key),
    };
  };
  const itemOf = (event: RunEvent): number => ('item' in event ? event.item : -1);
  const resultGuard = (args: Args) =>
    forStep(id, true)(args) &&
    (args.event.type === 'ChildCompleted' || args.event.type === 'ChildFailed'
      ? args.context.children[taskKey(id, itemOf(args.event))]?.childRunId === args.event.childRunId
      : isCurrent(args.context, args.event));
  const lastItem = ({ context }: Args) => {
    const state = context.maps[id];
    return state !== undefined && state.completed + 1 === state.items.length;
  };
  const completeItem = (
    outputOf: (event: RunEvent) => Json,
    also: (args: Args) => boolean = () => true,
    failed = false,
  ) => {
    const settleItem = assign((args: Args) =>
      settle(
        args.context,
        itemOf(args.event),
        outputOf(args.event),
        taskKey(id, itemOf(args.event)),
        failed,
      ),
    );
    return [
      {
        guard: (args: Args) => resultGuard(args) && also(args) && lastItem(args),
        target: compiler.doneTarget(id),
        actions: [
          settleItem,
          compiler.finish(id, ({ context }) => {
            const state = context.maps[id];
            const outputs =
              state === undefined ? [] : outputList(state.outputs, state.items.length);
            // A graph's output is keyed by node id.
            return step.type === 'graph'
              ? Object.fromEntries(nodeIds(context).map((node, i) => [node, outputs[i] ?? null]))
              : outputs;
          }),
        ],
      },
      {
        // No re-entry of the map's state: the next items are asked for by the command itself (a
        // re-entry costs an exit and an entry per item).
        guard: (args: Args) => resultGuard(args) && also(args),
        actions: [settleItem, command('scheduleItems', id)],
      },
    ];
  };
  const failItem = [
    ...(mayContinue ? completeItem((event) => ({ error: errorOf(event) }), continues, true) : []),
    ...compiler.failure(id, resultGuard),
  ];
  // The map's body is its one `mapping` state (no nesting: one level less on every item's event).
  return {
    entry: command('scheduleItems', id),
    on: {
      StepScheduled: {
        guard: forStep(id, true),
        actions: assign(({ context, event }: Args) => {
          if (event.type !== 'StepScheduled' || event.item === undefined) return {};
          const state = context.maps[id];
          if (state === undefined) return {};
          const item = event.item;
          const next: MapState = {
            ...state,
            ...(state.retry.includes(item)
              ? { retry: state.retry.filter((i) => i !== item) }
              : { next: Math.max(state.next, item + 1) }),
            inflight: setItemTask(state.inflight, item, toOpenTask(event)),
          };
          return { maps: { ...context.maps, [id]: next } };
        }),
      },
      ChildRequested: {
        guard: forStep(id, true),
        actions: [
          recordChild,
          assign(({ context, event }: Args) => {
            const state = context.maps[id];
            if (state === undefined || event.type !== 'ChildRequested' || event.item === undefined)
              return {};
            return {
              maps: {
                ...context.maps,
                [id]: { ...state, next: Math.max(state.next, event.item + 1) },
              },
            };
          }),
        ],
      },
      StepCompleted: completeItem((event) =>
        event.type === 'StepCompleted' ? event.output : null,
      ),
      ChildCompleted: completeItem((event) =>
        event.type === 'ChildCompleted' ? event.output : null,
      ),
      StepFailed: [
        {
          guard: (args: Args) =>
            resultGuard(args) &&
            args.event.type === 'StepFailed' &&
            retries(inner.policy, args.event.error, args.event.attempt),
          actions: [
            assign(({ context, event }: Args) => {
              const state = context.maps[id];
              if (state === undefined || event.type !== 'StepFailed' || event.item === undefined)
                return {};
              return {
                maps: {
                  ...context.maps,
                  [id]: { ...state, retry: [...state.retry, event.item] },
                },
              };
            }),
            command('scheduleItems', id),
          ],
        },
        ...failItem,
        // An item that never got scheduled (its input expression failed): a failure of the map.
        ...compiler.failure(id, forStep(id, true)),
      ],
      ChildFailed: failItem,
    },
  };
};
