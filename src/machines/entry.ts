import type { Json } from '../blueprints/json.ts';
import { NAME } from '../blueprints/names.ts';
import type { ExpressionBindings, ExpressionResult } from '../expressions/sandbox.ts';
import { graphNodes } from './graph.ts';
import type { PlannedStep } from './plan.ts';

/**
 * What entering a step records (the `value` of its `StepEntered`): the branch a condition or a
 * switch takes, a loop's count, a map's items, a graph's nodes, a child's target, a wait's or a
 * sleep's deadline, a fail's error, a succeed's output, a set's data; or why it cannot be
 * entered. Pure, as the decider is: expressions run in the sandbox, time is the decision's.
 */

/** Upper bound on the iterations of a counted loop. */
export const MAX_LOOP_COUNT = 100_000;

/** How `if`, `when` and `while` read a value: false for null, false, 0, "" and [], else true. */
export const truthy = (value: Json): boolean =>
  !(
    value === null ||
    value === false ||
    value === 0 ||
    value === '' ||
    (Array.isArray(value) && value.length === 0)
  );

/** What deciding an entry needs: evaluation, durations, the decision's time, the map items' limit. */
export interface EntryScope {
  readonly evaluate: (value: Json, bindings: ExpressionBindings) => Promise<ExpressionResult>;
  readonly parseDuration: (value: string | number) => number | undefined;
  readonly now: number;
  readonly maxMapItems: number;
}

/** Why a step could not be entered: the step fails with this code and message. */
export interface EntryFailure {
  readonly code: string;
  readonly message: string;
}

/** The value a step's `StepEntered` records, or why it cannot be entered. */
export const entryValue = async (
  step: PlannedStep,
  input: Json,
  bindings: ExpressionBindings,
  scope: EntryScope,
): Promise<{ readonly value: Json } | EntryFailure> => {
  const stepId = step.id;
  const entered = (value: Json): { readonly value: Json } => ({ value });
  const fail = (code: string, message: string): EntryFailure => ({ code, message });
  switch (step.type) {
    case 'activity':
      throw new Error(`defect: activity '${stepId}' is scheduled, not entered`);
    case 'parallel':
      return entered(null);
    case 'condition': {
      const when = await scope.evaluate(step.when, bindings);
      if (!when.ok)
        return fail(when.error.code, `'when' of step '${stepId}': ${when.error.message}`);
      return entered(truthy(when.value) ? 'then' : 'else');
    }
    case 'switch': {
      const on = await scope.evaluate(step.on, bindings);
      if (!on.ok) return fail(on.error.code, `'on' of step '${stepId}': ${on.error.message}`);
      const key =
        on.value === null || typeof on.value === 'object'
          ? JSON.stringify(on.value)
          : String(on.value);
      const index = Object.keys(step.cases).indexOf(key);
      return entered(index !== -1 ? index : step.default !== undefined ? 'default' : null);
    }
    case 'loop': {
      if (step.count === undefined) return entered({ count: null });
      const count = await scope.evaluate(step.count, bindings);
      if (!count.ok)
        return fail(count.error.code, `'count' of step '${stepId}': ${count.error.message}`);
      if (typeof count.value !== 'number' || !Number.isInteger(count.value) || count.value < 0) {
        return fail(
          'invalid_count',
          `'count' of step '${stepId}' must be a non-negative integer, got ${JSON.stringify(count.value)}`,
        );
      }
      if (count.value > MAX_LOOP_COUNT)
        return fail('too_many_iterations', `'count' of step '${stepId}' is over ${MAX_LOOP_COUNT}`);
      return entered({ count: count.value });
    }
    case 'map': {
      let items = input;
      if (step.over !== undefined) {
        const over = await scope.evaluate(step.over, bindings);
        if (!over.ok)
          return fail(over.error.code, `'over' of step '${stepId}': ${over.error.message}`);
        items = over.value;
      }
      if (!Array.isArray(items)) {
        return fail(
          'map_not_array',
          `map step '${stepId}' needs an array to map over, got ${items === null ? 'null' : typeof items}`,
        );
      }
      const max = scope.maxMapItems;
      if (items.length > max)
        return fail(
          'too_many_items',
          `map step '${stepId}' has ${items.length} items, more than ${max}`,
        );
      return entered({ items });
    }
    case 'graph': {
      const graph = await graphNodes(step, bindings, {
        evaluate: scope.evaluate,
        maxItems: scope.maxMapItems,
      });
      return 'code' in graph ? fail(graph.code, graph.message) : entered(graph);
    }
    case 'child': {
      const target = await childTarget(step, bindings, scope);
      return 'code' in target ? fail(target.code, target.message) : entered(target);
    }
    case 'wait': {
      const timeoutMs = step.timeout === undefined ? undefined : scope.parseDuration(step.timeout);
      const timeout = timeoutMs === undefined ? {} : { timeoutMs };
      if (step.when === undefined) return entered(timeout);
      const when = await scope.evaluate(step.when, bindings);
      if (!when.ok)
        return fail(when.error.code, `'when' of step '${stepId}': ${when.error.message}`);
      return entered(truthy(when.value) ? { ...timeout, met: true, value: when.value } : timeout);
    }
    case 'sleep': {
      const dueAt = await sleepUntil(step, bindings, scope);
      return typeof dueAt === 'number' ? entered({ dueAt }) : fail(dueAt.code, dueAt.message);
    }
    case 'fail': {
      const code = await scope.evaluate(step.error.code, bindings);
      if (!code.ok)
        return fail(code.error.code, `error code of step '${stepId}': ${code.error.message}`);
      if (typeof code.value !== 'string' || !NAME.test(code.value))
        return fail(
          'invalid_error_code',
          `step '${stepId}': error code ${JSON.stringify(code.value)} is not a valid code (letters, digits and "_", not starting with a digit)`,
        );
      const message = await scope.evaluate(step.error.message, bindings);
      if (!message.ok)
        return fail(
          message.error.code,
          `error message of step '${stepId}': ${message.error.message}`,
        );
      const text =
        typeof message.value === 'string' ? message.value : JSON.stringify(message.value);
      if (step.output === undefined) return entered({ error: { code: code.value, message: text } });
      const output = await scope.evaluate(step.output, bindings);
      if (!output.ok)
        return fail(output.error.code, `output of step '${stepId}': ${output.error.message}`);
      return entered({ error: { code: code.value, message: text }, output: output.value });
    }
    case 'succeed': {
      if (step.output === undefined) return entered({});
      const output = await scope.evaluate(step.output, bindings);
      if (!output.ok)
        return fail(output.error.code, `output of step '${stepId}': ${output.error.message}`);
      return entered({ output: output.value });
    }
    case 'set': {
      const data = await scope.evaluate(step.data as Json, bindings);
      if (!data.ok) return fail(data.error.code, `data of step '${stepId}': ${data.error.message}`);
      return entered(data.value);
    }
  }
};

/** When a sleep step is due: its `until`, or the decision's time plus its `duration`. */
export const sleepUntil = async (
  step: PlannedStep & { readonly type: 'sleep' },
  bindings: ExpressionBindings,
  scope: EntryScope,
): Promise<number | EntryFailure> => {
  if (step.until !== undefined) {
    const until = await scope.evaluate(step.until as Json, bindings);
    if (!until.ok)
      return {
        code: until.error.code,
        message: `'until' of step '${step.id}': ${until.error.message}`,
      };
    const at =
      typeof until.value === 'number'
        ? until.value
        : typeof until.value === 'string'
          ? Date.parse(until.value)
          : NaN;
    if (!Number.isFinite(at))
      return {
        code: 'invalid_time',
        message: `'until' of step '${step.id}' is not a time: ${JSON.stringify(until.value)}`,
      };
    return at;
  }
  let duration: Json = step.duration ?? 0;
  if (typeof duration === 'string') {
    const evaluated = await scope.evaluate(duration, bindings);
    if (!evaluated.ok)
      return {
        code: evaluated.error.code,
        message: `'duration' of step '${step.id}': ${evaluated.error.message}`,
      };
    duration = evaluated.value;
  }
  const ms =
    typeof duration === 'number' || typeof duration === 'string'
      ? scope.parseDuration(duration)
      : undefined;
  if (ms === undefined)
    return {
      code: 'invalid_duration',
      message: `'duration' of step '${step.id}' is not a duration: ${JSON.stringify(duration)}`,
    };
  return scope.now + ms;
};

/** The blueprint (by name or by type), version and input a child step starts a run of. */
export const childTarget = async (
  step: PlannedStep & { readonly type: 'child' },
  bindings: ExpressionBindings,
  scope: EntryScope,
): Promise<
  { readonly blueprint: string; readonly version?: number; readonly input: Json } | EntryFailure
> => {
  let name: Json = null;
  if (step.byType !== undefined) {
    const on = await scope.evaluate(step.byType.on, bindings);
    if (!on.ok)
      return {
        code: on.error.code,
        message: `'byType.on' of step '${step.id}': ${on.error.message}`,
      };
    name = typeof on.value === 'string' ? (step.byType.blueprints[on.value] ?? null) : null;
    if (name === null) {
      return {
        code: 'unknown_type',
        message: `step '${step.id}': no blueprint for type ${JSON.stringify(on.value)}`,
      };
    }
  } else if (step.blueprint !== undefined) {
    const evaluated = await scope.evaluate(step.blueprint, bindings);
    if (!evaluated.ok)
      return {
        code: evaluated.error.code,
        message: `'blueprint' of step '${step.id}': ${evaluated.error.message}`,
      };
    name = evaluated.value;
  }
  if (typeof name !== 'string' || !NAME.test(name)) {
    return {
      code: 'invalid_blueprint_name',
      message: `step '${step.id}': child blueprint name ${JSON.stringify(name)} is not a valid name`,
    };
  }
  let input = bindings.context ?? null;
  if (step.input !== undefined) {
    const evaluated = await scope.evaluate(step.input, bindings);
    if (!evaluated.ok)
      return {
        code: evaluated.error.code,
        message: `input of step '${step.id}': ${evaluated.error.message}`,
      };
    input = evaluated.value;
  }
  return {
    blueprint: name,
    ...(step.version === undefined ? {} : { version: step.version }),
    input,
  };
};
