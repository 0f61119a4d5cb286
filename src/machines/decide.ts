import type { Json } from '../blueprints/json.ts';
import { evaluateTemplate, type ExpressionBindings } from '../expressions/sandbox.ts';
import { backoffDelay, type Command, type CompiledRun, type RunContext } from './compile.ts';
import type { RunEvent } from './events.ts';
import { leaves } from './graph.ts';

/**
 * Commands → the events that record them. Pure: the same context and command always give the
 * same events (expressions run in the sandbox, which has no clock and no I/O). It is async only
 * because JSONata evaluation is. Every decision an expression makes lands in an event, so replay
 * never evaluates an expression again.
 */

const NAME = /^[a-zA-Z_][a-zA-Z0-9_]{0,63}$/;

export interface RunIdentity {
  readonly id: string;
  readonly blueprint: string;
  readonly version: number;
}

/** A task id is stable across retries of one execution: `<runId>:<stepId>:<execution>`. */
export const taskIdFor = (runId: string, stepId: string, execution: number): string =>
  `${runId}:${stepId}:${execution}`;

const bindingsOf = (context: RunContext, run: RunIdentity): ExpressionBindings => ({
  input: context.input,
  steps: context.steps,
  run: { id: run.id, blueprint: run.blueprint, version: run.version },
});

/** CONTRACT §2 default input: run input for a root, the single dependency's output, or an object keyed by dependency. */
export const defaultInput = (compiled: CompiledRun, context: RunContext, stepId: string): Json => {
  const deps = compiled.deps.get(stepId) ?? [];
  if (deps.length === 0) return context.input;
  if (deps.length === 1) return context.steps[deps[0] ?? ''] ?? null;
  return Object.fromEntries(deps.map((d) => [d, context.steps[d] ?? null]));
};

const truthy = (value: Json): boolean =>
  !(value === null || value === false || value === 0 || value === '');

const scheduleStep = async (
  compiled: CompiledRun,
  context: RunContext,
  run: RunIdentity,
  stepId: string,
): Promise<RunEvent> => {
  const step = compiled.steps.get(stepId);
  const policy = compiled.policies.get(stepId);
  if (step?.type !== 'activity' || policy === undefined) {
    throw new Error(`defect: no activity step '${stepId}' in the compiled run`);
  }
  const taskId = taskIdFor(run.id, stepId, (context.executions[stepId] ?? 0) + 1);
  const failed = (code: string, message: string): RunEvent => ({
    type: 'StepFailed',
    stepId,
    taskId,
    attempt: 1,
    error: { code, message, retryable: false },
  });
  const base = defaultInput(compiled, context, stepId);
  const bindings: ExpressionBindings = { ...bindingsOf(context, run), context: base };
  if (step.if !== undefined) {
    const when = await evaluateTemplate(step.if, bindings);
    if (!when.ok) return failed(when.error.code, `'if' of step '${stepId}': ${when.error.message}`);
    if (!truthy(when.value)) return { type: 'StepSkipped', stepId };
  }
  const activity = await evaluateTemplate(step.activity, bindings);
  if (!activity.ok) return failed(activity.error.code, `activity of step '${stepId}': ${activity.error.message}`);
  if (typeof activity.value !== 'string' || !NAME.test(activity.value)) {
    return failed('invalid_activity_name', `step '${stepId}': activity name ${JSON.stringify(activity.value)} is not a valid name`);
  }
  let input = base;
  if (step.input !== undefined) {
    const evaluated = await evaluateTemplate(step.input, bindings);
    if (!evaluated.ok) return failed(evaluated.error.code, `input of step '${stepId}': ${evaluated.error.message}`);
    input = evaluated.value;
  }
  return {
    type: 'StepScheduled',
    stepId,
    taskId,
    attempt: 1,
    activity: activity.value,
    input,
    delayMs: 0,
    timeoutMs: policy.timeoutMs,
  };
};

const retryStep = (compiled: CompiledRun, context: RunContext, stepId: string): RunEvent => {
  const task = context.tasks[stepId];
  const policy = compiled.policies.get(stepId);
  if (task === undefined || policy === undefined) throw new Error(`defect: retry of '${stepId}' with no open task`);
  const attempt = task.attempt + 1;
  return {
    type: 'StepScheduled',
    stepId,
    taskId: task.taskId,
    attempt,
    activity: task.activity,
    input: task.input,
    delayMs: backoffDelay(policy, attempt),
    timeoutMs: task.timeoutMs,
  };
};

const completeRun = async (compiled: CompiledRun, context: RunContext, run: RunIdentity): Promise<RunEvent> => {
  const { output } = compiled.blueprint;
  if (output !== undefined) {
    const result = await evaluateTemplate(output, bindingsOf(context, run));
    return result.ok
      ? { type: 'RunCompleted', output: result.value }
      : { type: 'RunFailed', error: { code: result.error.code, message: `output: ${result.error.message}` } };
  }
  const ids = leaves(compiled.blueprint.steps);
  const value: Json =
    ids.length === 1
      ? (context.steps[ids[0] ?? ''] ?? null)
      : Object.fromEntries(ids.map((id) => [id, context.steps[id] ?? null]));
  return { type: 'RunCompleted', output: value };
};

/** The event that records one command. Throws only on a defect (a command the machine should not emit). */
export const decide = async (
  compiled: CompiledRun,
  context: RunContext,
  run: RunIdentity,
  command: Command,
): Promise<RunEvent> => {
  switch (command.type) {
    case 'scheduleStep':
      return scheduleStep(compiled, context, run, command.stepId);
    case 'retryStep':
      return retryStep(compiled, context, command.stepId);
    case 'completeRun':
      return completeRun(compiled, context, run);
    case 'failRun':
      return {
        type: 'RunFailed',
        error: context.failure ?? { code: 'internal', message: 'the run failed without a recorded cause' },
      };
  }
};
