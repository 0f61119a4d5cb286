import type { Json } from '../blueprints/json.ts';
import { NAME } from '../blueprints/names.ts';
import { DEFAULT_BLUEPRINT_LIMITS } from '../blueprints/validate.ts';
import {
  evaluateTemplate,
  type ExpressionBindings,
  type ExpressionCache,
} from '../expressions/sandbox.ts';
import { itemsOf, taskKey, type Command, type CompiledRun, type RunContext } from './compile.ts';
import { graphOf, ITEM, progressOf } from './context.ts';
import type { RunEvent, StepError } from './events.ts';
import { childTarget, entryValue, MAX_LOOP_COUNT, truthy, type EntryScope } from './entry.ts';
import { endRun, unwindingError } from './runEnd.ts';
import { itemTask, outputList } from './itemTasks.ts';
import { childRunIdFor, runBinding, taskIdFor, type RunIdentity } from './identity.ts';
import { backoffDelay, type PlannedStep, type StepPlan, type StepPolicy } from './plan.ts';

/**
 * Commands → the events that record them. Pure: the same context, command and `now` always give
 * the same events (expressions run in the sandbox, which has no clock and no I/O; `now` is the
 * time of the fact being decided, made by the actor). It is async only because JSONata
 * evaluation is. Every decision an expression makes lands in an event, so replay never evaluates
 * an expression again.
 */

/** Items started in parallel by a map without `concurrency`. */
export const DEFAULT_MAP_CONCURRENCY = 1000;

export interface DecideOptions {
  /** Milliseconds since the epoch: when the fact being decided happened. */
  readonly now: number;
  readonly cache?: ExpressionCache;
  readonly parseDuration: (value: string | number) => number | undefined;
  /** Items a map may fan out over (default: the blueprint limit's default). */
  readonly maxMapItems?: number;
}

/** The attempt's `scheduleTimeoutMs` when the step has one (absent otherwise: older streams match). */
const scheduleTimeoutOf = (policy: StepPolicy): { scheduleTimeoutMs?: number } =>
  policy.scheduleTimeoutMs === undefined ? {} : { scheduleTimeoutMs: policy.scheduleTimeoutMs };

class Decider {
  readonly compiled: CompiledRun;
  readonly context: RunContext;
  readonly run: RunIdentity;
  readonly options: DecideOptions;

  constructor(
    compiled: CompiledRun,
    context: RunContext,
    run: RunIdentity,
    options: DecideOptions,
  ) {
    this.compiled = compiled;
    this.context = context;
    this.run = run;
    this.options = options;
  }

  info(stepId: string): StepPlan {
    const info = this.compiled.plan.steps.get(stepId);
    if (info === undefined) throw new Error(`defect: no step '${stepId}' in the plan`);
    return info;
  }

  /** CONTRACT §2 default input. */
  defaultInput(stepId: string): Json {
    const { context } = this;
    const info = this.info(stepId);
    const jumped = context.routing.jumped[stepId];
    if (jumped !== undefined) return { error: jumped };
    if (info.deps.length === 0)
      return info.holder === undefined ? context.input : (context.inputs[info.holder] ?? null);
    if (info.deps.length === 1) return context.steps[info.deps[0] ?? ''] ?? null;
    return Object.fromEntries(info.deps.map((d) => [d, context.steps[d] ?? null]));
  }

  /**
   * The error an `onError` route jumped to `stepId` with; under `handlerScope`, else that of the
   * nearest step holding it that was jumped to (a compensation or finally step looks no further
   * than itself: it sees why the run unwinds).
   */
  routedError(stepId: string): StepError | undefined {
    const { jumped } = this.context.routing;
    const own = jumped[stepId];
    if (own !== undefined || !this.compiled.options.handlerScope) return own;
    if (this.compiled.plan.cleanup.has(stepId)) return undefined;
    for (let id = this.info(stepId).holder; id !== undefined; id = this.info(id).holder) {
      const error = jumped[id];
      if (error !== undefined) return error;
    }
    return undefined;
  }

  bindings(
    stepId: string | undefined,
    extra: Partial<ExpressionBindings> = {},
  ): ExpressionBindings {
    const { context } = this;
    const info = stepId === undefined ? undefined : this.compiled.plan.steps.get(stepId);
    const loop = info?.loop;
    // A run that is one item of a map of `steps` binds `$item` and `$index` throughout.
    const item = context.entered[ITEM] as { value: Json; index: number } | undefined;
    // An error handler sees the error routed to it (language 3: so does every step inside it); a
    // compensation or finally step, the run's.
    const error =
      stepId === undefined ? undefined : (this.routedError(stepId) ?? unwindingError(context));
    return {
      input: context.input,
      steps: context.steps,
      data: context.data,
      signals: context.signals.map((s) => ({ name: s.name, payload: s.payload })),
      run: runBinding(this.run),
      progress: progressOf(context) as unknown as Json,
      now: this.options.now,
      ...(item === undefined ? {} : { item: item.value, index: item.index }),
      ...(loop === undefined ? {} : { iteration: context.loops.iterations[loop] ?? 0 }),
      ...(error === undefined ? {} : { error }),
      ...extra,
    };
  }

  /** What deciding an entry needs (entry.ts). */
  scope(): EntryScope {
    return {
      evaluate: (value, bindings) => this.evaluate(value, bindings),
      parseDuration: this.options.parseDuration,
      now: this.options.now,
      maxMapItems: this.options.maxMapItems ?? DEFAULT_BLUEPRINT_LIMITS.maxMapItems,
    };
  }

  async evaluate(value: Json, bindings: ExpressionBindings) {
    return evaluateTemplate(
      value,
      bindings,
      this.options.cache === undefined ? {} : { cache: this.options.cache },
    );
  }

  failed(stepId: string, code: string, message: string, item?: number): RunEvent {
    const execution = (this.context.executions[stepId] ?? 0) + 1;
    return {
      type: 'StepFailed',
      stepId,
      ...(item === undefined ? {} : { item }),
      taskId: taskIdFor(this.run.id, stepId, execution, item),
      attempt: 1,
      error: { code, message, retryable: false },
    };
  }

  /** Evaluates the step's `if`; a StepSkipped or StepFailed event when it does not run. */
  async guard(step: PlannedStep, bindings: ExpressionBindings): Promise<RunEvent | undefined> {
    if (step.if === undefined) return undefined;
    const when = await this.evaluate(step.if, bindings);
    if (!when.ok)
      return this.failed(
        step.id,
        when.error.code,
        `'if' of step '${step.id}': ${when.error.message}`,
      );
    return truthy(when.value)
      ? undefined
      : { type: 'StepSkipped', stepId: step.id, reason: 'if_false' };
  }

  /** An activity's name and input, evaluated; or the reason they could not be. */
  async activityCall(
    step: PlannedStep & { readonly type: 'activity' },
    bindings: ExpressionBindings,
  ): Promise<
    | { readonly activity: string; readonly input: Json }
    | { readonly code: string; readonly message: string }
  > {
    const activity = await this.evaluate(step.activity, bindings);
    if (!activity.ok)
      return {
        code: activity.error.code,
        message: `activity of step '${step.id}': ${activity.error.message}`,
      };
    if (typeof activity.value !== 'string' || !NAME.test(activity.value)) {
      return {
        code: 'invalid_activity_name',
        message: `step '${step.id}': activity name ${JSON.stringify(activity.value)} is not a valid name`,
      };
    }
    if (step.input === undefined)
      return { activity: activity.value, input: bindings.context ?? null };
    const input = await this.evaluate(step.input, bindings);
    if (!input.ok)
      return {
        code: input.error.code,
        message: `input of step '${step.id}': ${input.error.message}`,
      };
    return { activity: activity.value, input: input.value };
  }

  async scheduleStep(stepId: string): Promise<readonly RunEvent[]> {
    const info = this.info(stepId);
    const step = info.step;
    if (step.type !== 'activity') throw new Error(`defect: '${stepId}' is not an activity`);
    const bindings = this.bindings(stepId, { context: this.defaultInput(stepId) });
    const skipped = await this.guard(step, bindings);
    if (skipped !== undefined) return [skipped];
    const call = await this.activityCall(step, bindings);
    if ('code' in call) return [this.failed(stepId, call.code, call.message)];
    return [
      {
        type: 'StepScheduled',
        stepId,
        taskId: taskIdFor(this.run.id, stepId, (this.context.executions[stepId] ?? 0) + 1),
        attempt: 1,
        activity: call.activity,
        input: call.input,
        delayMs: 0,
        timeoutMs: info.policy.timeoutMs,
        ...scheduleTimeoutOf(info.policy),
      },
    ];
  }

  retryStep(stepId: string): readonly RunEvent[] {
    const task = this.context.tasks[stepId];
    // Left in the same reaction (a container failed, a race won): nothing to retry.
    if (task === undefined) return [];
    const attempt = task.attempt + 1;
    return [
      {
        type: 'StepScheduled',
        ...task,
        attempt,
        delayMs: backoffDelay(this.info(stepId).policy, attempt),
      },
    ];
  }

  async enterStep(stepId: string): Promise<readonly RunEvent[]> {
    const step = this.info(stepId).step;
    const input = this.defaultInput(stepId);
    const bindings = this.bindings(stepId, { context: input });
    const skipped = await this.guard(step, bindings);
    if (skipped !== undefined) return [skipped];
    const entry = await entryValue(step, input, bindings, this.scope());
    return 'code' in entry
      ? [this.failed(stepId, entry.code, entry.message)]
      : [{ type: 'StepEntered', stepId, input, value: entry.value }];
  }

  requestChild(stepId: string): readonly RunEvent[] {
    const target = this.context.entered[stepId] as
      { blueprint: string; version?: number; input: Json } | undefined;
    // Left in the same reaction that entered it (a race won, a container failed): its entry is
    // dropped with it, and no child run is wanted.
    if (target === undefined) return [];
    const execution = this.context.executions[stepId] ?? 1;
    return [
      {
        type: 'ChildRequested',
        stepId,
        childRunId: childRunIdFor(this.run.id, stepId, execution),
        blueprint: target.blueprint,
        ...(target.version === undefined ? {} : { version: target.version }),
        input: target.input,
      },
    ];
  }

  async checkLoop(stepId: string): Promise<readonly RunEvent[]> {
    const step = this.info(stepId).step;
    if (step.type !== 'loop') throw new Error(`defect: '${stepId}' is not a loop`);
    const current = this.context.loops.iterations[stepId];
    const iteration =
      this.context.loops.outputs[stepId] === undefined || current === undefined ? 0 : current + 1;
    const recorded = this.context.entered[stepId] as { count: number | null } | undefined;
    const count = recorded?.count ?? null;
    if (count !== null)
      return [{ type: 'LoopChecked', stepId, iteration, proceed: iteration < count }];
    const bindings = this.bindings(stepId, {
      context: this.context.inputs[stepId] ?? null,
      iteration,
    });
    const condition = await this.evaluate(step.while ?? false, bindings);
    if (!condition.ok)
      return [
        this.failed(
          stepId,
          condition.error.code,
          `'while' of step '${stepId}': ${condition.error.message}`,
        ),
      ];
    const proceed = truthy(condition.value);
    if (proceed && iteration >= (step.maxIterations ?? MAX_LOOP_COUNT)) {
      return [
        this.failed(
          stepId,
          'max_iterations',
          `loop '${stepId}' reached maxIterations (${step.maxIterations ?? MAX_LOOP_COUNT}) with its condition still true`,
        ),
      ];
    }
    return [{ type: 'LoopChecked', stepId, iteration, proceed }];
  }

  /** Retries failed items, then starts new ones up to the map's concurrency. */
  async scheduleItems(mapId: string): Promise<readonly RunEvent[]> {
    const map = this.info(mapId).step;
    const state = this.context.maps[mapId];
    if (map.type !== 'map' && map.type !== 'graph')
      throw new Error(`defect: '${mapId}' is not a map`);
    const inner = [...this.compiled.plan.steps.values()].find((s) => s.mapOf === mapId);
    if (inner === undefined) throw new Error(`defect: map '${mapId}' has no inner step`);
    const items = state?.items ?? itemsOf(this.context.entered[mapId] ?? null);
    const next = state?.next ?? 0;
    const events: RunEvent[] = [];
    for (const item of state?.retry ?? []) {
      const task = state === undefined ? undefined : itemTask(state.inflight, item);
      if (task === undefined) continue;
      const attempt = task.attempt + 1;
      events.push({
        type: 'StepScheduled',
        ...task,
        attempt,
        delayMs: backoffDelay(inner.policy, attempt),
      });
    }
    const inFlight =
      (state?.inflight.size ?? 0) +
      Object.keys(this.context.children).filter((k) => k.startsWith(`${mapId}[`)).length;
    const concurrency = map.concurrency ?? DEFAULT_MAP_CONCURRENCY;
    const execution = this.context.executions[mapId] ?? 1;
    const room = () => inFlight + events.length - (state?.retry.length ?? 0) < concurrency;
    if (map.type === 'graph') {
      // Each node as soon as the nodes it runs after are settled, in item order among the ready.
      const graph = graphOf(this.context.entered[mapId] ?? null);
      const settled = state?.settled ?? {};
      const outputs = state === undefined ? [] : outputList(state.outputs, items.length);
      for (let index = 0; index < items.length && room(); index++) {
        const after = graph.after[index] ?? [];
        const started =
          settled[index] === true ||
          (state !== undefined && itemTask(state.inflight, index) !== undefined) ||
          this.context.children[taskKey(mapId, index)] !== undefined;
        if (started || !after.every((j) => settled[j] === true)) continue;
        const item = items[index] ?? null;
        const bindings = this.bindings(inner.step.id, {
          context: item,
          item,
          index,
          after: Object.fromEntries(after.map((j) => [graph.nodes[j] ?? '', outputs[j] ?? null])),
        });
        const event = await this.startItem(mapId, inner, index, execution, bindings);
        events.push(event);
        if (event.type === 'StepFailed') break;
      }
      return events;
    }
    for (let index = next; index < items.length && room(); index++) {
      const item = items[index] ?? null;
      const bindings = this.bindings(inner.step.id, { context: item, item, index });
      const event = await this.startItem(mapId, inner, index, execution, bindings);
      events.push(event);
      if (event.type === 'StepFailed') break;
    }
    return events;
  }

  async startItem(
    mapId: string,
    inner: StepPlan,
    index: number,
    execution: number,
    bindings: ExpressionBindings,
  ): Promise<RunEvent> {
    const step = inner.step;
    const failed = (code: string, message: string): RunEvent => ({
      ...(this.failed(mapId, code, message, index) as Extract<RunEvent, { type: 'StepFailed' }>),
      taskId: taskIdFor(this.run.id, mapId, execution, index),
    });
    if (step.type === 'child') {
      const target = await childTarget(step, bindings, this.scope());
      if ('code' in target) return failed(target.code, `item ${index}: ${target.message}`);
      return {
        type: 'ChildRequested',
        stepId: mapId,
        item: index,
        childRunId: childRunIdFor(this.run.id, mapId, execution, index),
        blueprint: target.blueprint,
        ...(target.version === undefined ? {} : { version: target.version }),
        // An item of a map of `steps` (its plan sets `inline` only then).
        ...('inline' in step ? { content: step.inline as unknown as Json } : {}),
        input: target.input,
      };
    }
    if (step.type !== 'activity')
      throw new Error(`defect: map '${mapId}' has a '${step.type}' inner step`);
    const call = await this.activityCall(step, bindings);
    if ('code' in call) return failed(call.code, `item ${index}: ${call.message}`);
    return {
      type: 'StepScheduled',
      stepId: mapId,
      item: index,
      taskId: taskIdFor(this.run.id, mapId, execution, index),
      attempt: 1,
      activity: call.activity,
      input: call.input,
      delayMs: 0,
      timeoutMs: inner.policy.timeoutMs,
      ...scheduleTimeoutOf(inner.policy),
    };
  }

  startTimer(stepId: string): readonly RunEvent[] {
    const { step } = this.info(stepId);
    const entered = this.context.entered[stepId] as
      { dueAt?: number; timeoutMs?: number } | undefined;
    // A sleep's due time and a wait's timeout were decided on entry; a container's `timeout`
    // (the compiler asks only with scopes) counts from now, its entry.
    const timeoutMs =
      step.type === 'sleep' || step.type === 'wait'
        ? entered?.timeoutMs
        : step.timeout === undefined
          ? undefined
          : this.options.parseDuration(step.timeout);
    const dueAt =
      (step.type === 'sleep' ? entered?.dueAt : undefined) ??
      (timeoutMs === undefined ? undefined : this.options.now + timeoutMs);
    if (dueAt === undefined) return [];
    const execution = this.context.executions[stepId] ?? 1;
    return [{ type: 'TimerScheduled', timerId: `${stepId}:${execution}`, stepId, dueAt }];
  }

  /** The `wait` steps waiting on a `when` that now holds (or fails), after a signal or a set step. */
  async checkWaits(): Promise<readonly RunEvent[]> {
    const events: RunEvent[] = [];
    for (const [stepId, info] of this.compiled.plan.steps) {
      const { step } = info;
      if (step.type !== 'wait' || step.when === undefined) continue;
      const { entered, done, routing } = this.context;
      if (entered[stepId] === undefined || done[stepId] === true) continue;
      // Once the run unwinds, only its compensation and finally steps wait.
      if (routing.unwinding !== null && !this.compiled.plan.cleanup.has(stepId)) continue;
      const when = await this.evaluate(step.when, this.bindings(stepId));
      if (!when.ok)
        events.push(
          this.failed(stepId, when.error.code, `'when' of step '${stepId}': ${when.error.message}`),
        );
      else if (truthy(when.value))
        events.push({ type: 'WaitSatisfied', stepId, value: when.value });
    }
    return events;
  }
}

/** The events that record one command. Throws only on a defect (a command the machine should not emit). */
export const decide = async (
  compiled: CompiledRun,
  context: RunContext,
  run: RunIdentity,
  command: Command,
  options: DecideOptions,
): Promise<readonly RunEvent[]> => {
  const decider = new Decider(compiled, context, run, options);
  switch (command.type) {
    case 'scheduleStep':
      return decider.scheduleStep(command.stepId);
    case 'retryStep':
      return decider.retryStep(command.stepId);
    case 'enterStep':
      return decider.enterStep(command.stepId);
    case 'checkLoop':
      return decider.checkLoop(command.stepId);
    case 'scheduleItems':
      return decider.scheduleItems(command.stepId);
    case 'requestChild':
      return decider.requestChild(command.stepId);
    case 'startTimer':
      return decider.startTimer(command.stepId);
    case 'skipStep':
      return [{ type: 'StepSkipped', stepId: command.stepId, reason: command.reason }];
    case 'checkWaits':
      return decider.checkWaits();
    case 'endRun':
      return endRun(decider);
  }
};

export type { StepError };
