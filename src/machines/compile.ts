import { assign, type SnapshotFrom } from 'xstate';
import type { Json } from '../blueprints/json.ts';
import { errorRoutes } from '../blueprints/onError.ts';
import type { Blueprint } from '../blueprints/schema.ts';
import { activityStates } from './activityStep.ts';
import { branchStates, loopStates } from './branchSteps.ts';
import { omit, type OpenTask, type Routing, type RunContext } from './context.ts';
import { enteredTransitions } from './entrySteps.ts';
import { childStates, sleepStates, waitStates } from './waitSteps.ts';
import { CURRENT_LANGUAGE, type StepError } from './events.ts';
import { noItemTasks } from './itemTasks.ts';
import { mapStep } from './mapStep.ts';
import { parallelStates } from './parallelStep.ts';
import { buildPlan, compensationOf, type Plan, type PlannedStep, type StepPlan } from './plan.ts';
import { CONTAINERS, drop, dropInside, scoped, Scopes } from './scopes.ts';
import { createRunMachine } from './runMachine.ts';
import {
  command,
  errorOf,
  forStep,
  ifSkipped,
  recordEntered,
  resetSteps,
  skipCommand,
  type Args,
  type Config,
  type StepCompiler,
} from './transitions.ts';

export { backoffDelay, DEFAULT_POLICY, resolvePolicy, type StepPolicy } from './plan.ts';
export {
  COMMAND_TYPES,
  itemsOf,
  openTaskById,
  openTasks,
  taskKey,
  type Command,
  type Loops,
  type MapState,
  type OpenChild,
  type OpenTask,
  type ReceivedSignal,
  type Routing,
  type RunContext,
} from './context.ts';
export { UnsupportedStep } from './transitions.ts';

/**
 * Blueprint → XState machine, pure. The run's states mirror the blueprint: every list of steps is
 * a parallel state with one region per step; a region leaves `blocked` once the steps it depends
 * on are done, so sequences and `dependsOn` DAGs are one mechanism. Nested lists (branches, cases,
 * loop bodies) are nested parallel states; a loop body is re-entered per iteration; a map's items
 * are data (an array in the context), since their number is known only at run time.
 *
 * The machine never evaluates an expression and never performs an effect. Its actions are
 * commands that `xstate.transition` returns without running; the decider (`decide.ts`) turns each
 * into the events that record it.
 */

export interface CompileOptions {
  /**
   * Containers own their inside (language 2): `onError` on a container catches the failures of
   * the steps inside it, and its `timeout` bounds all of them. Off for runs recorded before
   * (`RunStarted` without `language`), which ran without, so that they replay as they ran.
   */
  readonly scopes: boolean;
  /**
   * An error handler's inside sees its error (language 3): `$error` is bound in every step nested
   * in the step an `onError` route jumped to, not in that step alone. Off for runs recorded
   * before, whose later decisions keep binding it as they did.
   */
  readonly handlerScope: boolean;
}

class Compiler implements StepCompiler {
  readonly plan: Plan;
  readonly blueprint: Blueprint;
  readonly options: CompileOptions;
  /** Where a failure inside a container goes (`scopes.ts`). */
  readonly scopes: Scopes;

  constructor(blueprint: Blueprint, plan: Plan, options: CompileOptions) {
    this.blueprint = blueprint;
    this.plan = plan;
    this.options = options;
    this.scopes = new Scopes(plan, options.scopes);
  }

  info(id: string): StepPlan {
    const info = this.plan.steps.get(id);
    if (info === undefined) throw new Error(`defect: no step '${id}' in the plan`);
    return info;
  }

  finish(
    id: string,
    output: (args: Args) => Json,
    extra: (args: Args) => Partial<RunContext> = () => ({}),
  ) {
    if (compensationOf(this.info(id).step) === undefined) return this.settle(id, output, extra);
    return this.settle(id, output, (args) => {
      const more = extra(args);
      const routing = more.routing ?? args.context.routing;
      return { ...more, routing: { ...routing, undo: [...routing.undo, id] } };
    });
  }

  /** Marks a step done with `output`, clearing what it held. */
  settle(
    id: string,
    output: (args: Args) => Json,
    extra: (args: Args) => Partial<RunContext> = () => ({}),
  ) {
    return assign((args: Args) => {
      const { context } = args;
      return {
        steps: { ...context.steps, [id]: output(args) },
        done: { ...context.done, [id]: true as const },
        tasks: omit(context.tasks, id),
        ...(context.maps[id] === undefined || context.maps[id].inflight.size === 0
          ? {}
          : {
              maps: {
                ...context.maps,
                [id]: { ...context.maps[id], inflight: noItemTasks<OpenTask>() },
              },
            }),
        timers: Object.fromEntries(
          Object.entries(context.timers).filter(([, timer]) => timer.stepId !== id),
        ),
        children: Object.fromEntries(
          Object.entries(context.children).filter(([, child]) => child.stepId !== id),
        ),
        ...extra(args),
      };
    });
  }

  doneTarget(id: string): string {
    return `#done_${id}`;
  }

  /**
   * Retries spent or the error is terminal: route by `onError` (fail the run, continue, or jump;
   * by the error's code when `onError` is a map). The transitions taken on an event `guard` accepts.
   */
  failure(
    id: string,
    guard: (args: Args) => boolean,
    errorFrom: (args: Args) => StepError = ({ event }) => errorOf(event),
  ): Config[] {
    const routes = errorRoutes(this.info(id).step.onError);
    return [
      ...this.retry(id, guard, errorFrom),
      ...[...routes.byCode].map(([code, route]) => ({
        guard: (args: Args) => guard(args) && errorFrom(args).code === code,
        ...this.route(id, route, errorFrom),
      })),
      { guard, ...this.route(id, routes.fallback, errorFrom) },
    ];
  }

  /**
   * A container with `maxAttempts` (with scopes) that fails with a retryable error and has
   * attempts left runs again from its start, at once: what runs inside it is dropped and its
   * steps start afresh. No transition otherwise.
   */
  retry(
    id: string,
    guard: (args: Args) => boolean,
    errorFrom: (args: Args) => StepError,
  ): Config[] {
    const { step, descendants } = this.info(id);
    const max = step.maxAttempts ?? 1;
    if (!this.options.scopes || !CONTAINERS.has(step.type) || max <= 1) return [];
    const attempt = ({ context }: Args) => context.routing.attempts[id] ?? 1;
    return [
      {
        guard: (args: Args) => guard(args) && errorFrom(args).retryable && attempt(args) < max,
        target: `#enter_${id}`,
        actions: [
          // Its own timer, map items and child runs too: the next attempt starts its own.
          drop([id, ...descendants]),
          assign((args: Args) => {
            const reset = resetSteps(args.context, descendants);
            return {
              ...reset,
              routing: {
                ...reset.routing,
                lastError: omit(reset.routing.lastError, id),
                attempts: { ...reset.routing.attempts, [id]: attempt(args) + 1 },
              },
            };
          }),
        ],
      },
    ];
  }

  /** One `onError` route of a failed step. */
  route(id: string, onError: string, errorFrom: (args: Args) => StepError): Config {
    // A container left early leaves nothing of its inside running.
    const drop =
      this.options.scopes && this.info(id).descendants.length > 0 ? [dropInside(this, id)] : [];
    /** The step done with `{error}` as its output, the routing changed by `routing`. */
    const settled = (
      routing: (args: Args, error: StepError) => Routing = (args) => args.context.routing,
    ): Config => ({
      target: this.doneTarget(id),
      actions: [
        ...drop,
        this.settle(
          id,
          (args) => ({ error: errorFrom(args) }),
          (args) => ({ routing: routing(args, errorFrom(args)) }),
        ),
      ],
    });
    if (onError === 'continue') return settled();
    if (onError !== 'fail') {
      return settled(({ context: { routing } }, error) => ({
        ...routing,
        abandoned: { ...routing.abandoned, [id]: true as const },
        jumped: { ...routing.jumped, [onError]: error },
        lastError: { ...routing.lastError, [id]: error },
      }));
    }
    const catcher = this.scopes.catcherOf(id);
    if (catcher !== undefined) {
      // Fails the container that catches it (its own onError decides, with this error), or the
      // branch of a quorum parallel it is in.
      return {
        target: catcher.target,
        actions: assign((args: Args) => {
          const error = errorFrom(args);
          const { routing } = args.context;
          return {
            routing: {
              ...routing,
              lastError: { ...routing.lastError, [id]: error, [catcher.key]: error },
            },
          };
        }),
      };
    }
    if (this.plan.cleanup.has(id)) {
      // A compensation or finally step that nothing inside its list catches: its failure is
      // recorded for the run's end, and the others go on.
      return settled(({ context: { routing } }, error) => ({
        ...routing,
        unwinding:
          routing.unwinding === null
            ? null
            : {
                ...routing.unwinding,
                errors: [...routing.unwinding.errors, { stepId: id, error }],
              },
      }));
    }
    return {
      target: '#run.failing',
      actions: assign((args: Args) => {
        const error = errorFrom(args);
        const { context } = args;
        return {
          failure: {
            code: 'step_failed',
            message: `step '${id}' failed: ${error.message}`,
            stepId: id,
            details: { error },
          },
          routing: { ...context.routing, lastError: { ...context.routing.lastError, [id]: error } },
        };
      }),
    };
  }

  /** `blocked`: waits for dependencies (or, for an error handler, for a jump or for its sources to pass). */
  blocked(id: string, start: string): Config {
    const info = this.info(id);
    const skip = (reason: 'dependency_failed' | 'handler_unused') => [
      this.settle(
        id,
        () => null,
        ({ context }) =>
          reason === 'dependency_failed'
            ? {
                routing: {
                  ...context.routing,
                  abandoned: { ...context.routing.abandoned, [id]: true as const },
                },
              }
            : {},
      ),
      skipCommand(id, reason),
    ];
    const depsDone = ({ context }: Args) => info.deps.every((d) => context.done[d] === true);
    const depAbandoned = ({ context }: Args) =>
      info.deps.some((d) => context.routing.abandoned[d] === true);
    if (info.handlerFor.length > 0) {
      return {
        always: [
          {
            guard: ({ context }: Args) => context.routing.jumped[id] !== undefined,
            target: start,
          },
          {
            guard: (args: Args) =>
              info.handlerFor.every((s) => args.context.done[s] === true) &&
              (depsDone(args) || depAbandoned(args)),
            target: this.doneTarget(id),
            actions: skip('handler_unused'),
          },
        ],
      };
    }
    return {
      always: [
        {
          guard: (args: Args) => depsDone(args) && depAbandoned(args),
          target: this.doneTarget(id),
          actions: skip('dependency_failed'),
        },
        { guard: depsDone, target: start },
      ],
    };
  }

  /** A list of steps as a parallel state, done when every step is; `then` runs on done. */
  list(key: string, onDone: Config): Config {
    const ids = this.plan.lists.get(key) ?? [];
    if (ids.length === 0) return { always: onDone };
    return {
      type: 'parallel',
      states: Object.fromEntries(ids.map((id) => [id, this.region(id)])),
      onDone,
    };
  }

  lastOutput(key: string): (args: Args) => Json {
    const ids = this.plan.lists.get(key) ?? [];
    const last = ids[ids.length - 1];
    return ({ context }) => (last === undefined ? null : (context.steps[last] ?? null));
  }

  region(id: string): Config {
    const { step } = this.info(id);
    const done = { type: 'final', id: `done_${id}` };
    if (step.type === 'activity') {
      return {
        initial: 'blocked',
        states: { blocked: this.blocked(id, 'scheduling'), ...activityStates(this, id), done },
      };
    }
    return {
      initial: 'blocked',
      states: {
        blocked: this.blocked(id, 'entering'),
        entering: {
          id: `enter_${id}`,
          entry: command('enterStep', id),
          on: {
            StepEntered: [
              ...enteredTransitions(this, step),
              { guard: forStep(id), target: 'body', actions: recordEntered(id) },
            ],
            StepSkipped: {
              guard: ifSkipped(id),
              target: this.doneTarget(id),
              actions: this.settle(id, () => null),
            },
            StepFailed: this.failure(id, forStep(id)),
          },
        },
        body: scoped(this, step, this.body(step), this.options.scopes),
        ...(this.scopes.isCatcher(id)
          ? {
              caught: {
                id: `caught_${id}`,
                always: this.failure(
                  id,
                  () => true,
                  ({ context }) =>
                    context.routing.lastError[id] ?? {
                      code: 'internal',
                      message: `step '${id}' was failed without an error`,
                      retryable: false,
                    },
                ),
              },
            }
          : {}),
        done,
      },
    };
  }

  toDone(id: string): (output: (args: Args) => Json) => Config {
    return (output) => ({ target: this.doneTarget(id), actions: this.finish(id, output) });
  }

  body(step: PlannedStep): Config {
    const id = step.id;
    const toDone = this.toDone(id);
    switch (step.type) {
      case 'activity':
        throw new Error('defect: activity has no body');
      case 'parallel':
        return parallelStates(this, step, toDone);
      case 'condition':
        return branchStates(
          this,
          id,
          [
            ['then', 'then'],
            ['else', 'else'],
          ].filter(([, key]) => key === 'then' || step.else !== undefined) as [string, string][],
        );
      case 'switch':
        return branchStates(this, id, [
          ...Object.keys(step.cases).map((_, i) => [i, `c${i}`] as [number, string]),
          ...(step.default ? [['default', 'default'] as [string, string]] : []),
        ]);
      case 'loop':
        return loopStates(this, id);
      case 'map':
      case 'graph':
        return mapStep(this, id);
      case 'child':
        return childStates(this, id);
      case 'wait':
        return waitStates(this, step);
      case 'sleep':
        return sleepStates(this, id);
      case 'fail':
      case 'succeed':
      case 'set':
        // Never entered: `entered` leaves the step on its StepEntered.
        return {};
    }
  }
}

export interface CompiledRun {
  readonly blueprint: Blueprint;
  readonly plan: Plan;
  readonly machine: ReturnType<typeof createRunMachine>;
  /** The language revision's switches it was compiled under (the decider reads them too). */
  readonly options: CompileOptions;
}

/**
 * Compiles a valid blueprint. Pure and deterministic: the same blueprint gives an equivalent
 * machine, so callers may cache by content hash. Throws `UnsupportedStep` for a shape this
 * runtime cannot execute (a map whose inner step is not an activity or a child).
 */
export const compileBlueprint = (
  blueprint: Blueprint,
  parseDuration: (value: string | number) => number | undefined,
  options: CompileOptions = CURRENT_LANGUAGE,
): CompiledRun => {
  const plan = buildPlan(blueprint, parseDuration);
  const compiler = new Compiler(blueprint, plan, options);
  return { blueprint, plan, machine: createRunMachine(compiler), options };
};

export type RunMachine = CompiledRun['machine'];
export type RunSnapshot = SnapshotFrom<RunMachine>;
