import type { Json } from '../blueprints/json.ts';
import type { ExpressionBindings, ExpressionResult } from '../expressions/sandbox.ts';
import type { CompiledRun, RunContext } from './compile.ts';
import type { RunEvent } from './events.ts';
import { leaves } from './graph.ts';

/**
 * How a run ends, decided when its machine reaches its end: completed with its output (a
 * `succeed` step's, the blueprint's `output`, or its leaves), failed with its failure, or — after
 * unwinding on a cancel or its timeout — cancelled or timed out; and `$error` while it unwinds.
 * Pure but for the expressions it evaluates (deterministic, in the sandbox).
 */

/** What deciding a run's end needs of the decider. */
export interface Deciding {
  readonly compiled: CompiledRun;
  readonly context: RunContext;
  bindings(stepId: string | undefined): ExpressionBindings;
  evaluate(value: Json, bindings: ExpressionBindings): Promise<ExpressionResult>;
}

/**
 * `$error` in compensation and finally steps: why the run unwinds — its failure, the cancel (code
 * `cancelled`, the reason), its timeout (code `timed_out`), or null after it completed (bound all
 * the same, so that JSONata's own `$error` function never stands in for it).
 */
export const unwindingError = (context: RunContext): Json | undefined => {
  const { unwinding } = context.routing;
  switch (unwinding?.cause) {
    case undefined:
      return undefined;
    case 'failed':
      return (context.failure ?? null) as Json;
    case 'cancelled':
      return { code: 'cancelled', message: unwinding.reason ?? '' };
    case 'timed_out':
      return {
        code: 'timed_out',
        message: `the run's timeout (${unwinding.timeoutMs ?? 0} ms) passed before it ended`,
      };
    case 'completed':
      return null;
  }
};

/** The output a `succeed` step that ended the run recorded, if one did and gave one. */
const succeeded = (d: Deciding): { readonly output: Json } | undefined => {
  for (const [id, plan] of d.compiled.plan.steps) {
    if (plan.step.type !== 'succeed') continue;
    const value = d.context.entered[id];
    if (value !== null && typeof value === 'object' && !Array.isArray(value) && 'output' in value)
      return { output: value['output'] ?? null };
  }
  return undefined;
};

/**
 * The run's end: failed when a step failed it, completed (with its output) when its steps are
 * done, or cancelled or timed out when it unwound on a cancel or its timeout. After unwinding
 * the end says so (`compensated`), with the compensation and finally steps that failed.
 */
export const endRun = async (d: Deciding): Promise<readonly RunEvent[]> => {
  const { unwinding } = d.context.routing;
  const unwound =
    unwinding === null
      ? {}
      : {
          ...(unwinding.cause === 'completed' ? {} : { compensated: true }),
          ...(unwinding.errors.length === 0 ? {} : { cleanupErrors: unwinding.errors }),
        };
  switch (unwinding?.cause) {
    case 'cancelled':
      return [{ type: 'RunCancelled', reason: unwinding.reason ?? '', ...unwound }];
    case 'timed_out':
      return [{ type: 'RunTimedOut', timeoutMs: unwinding.timeoutMs ?? 0, ...unwound }];
    case 'completed':
    case 'failed':
    case undefined:
      break;
  }
  const failure = d.context.failure;
  if (failure === null)
    return (await completeRun(d)).map((event) => ({ ...event, ...unwound }) as RunEvent);
  return [
    {
      type: 'RunFailed',
      error: failure,
      // Only a `fail` step with an `output` sets one before the run ends.
      ...(d.context.output === null ? {} : { output: d.context.output }),
      ...unwound,
    },
  ];
};

const completeRun = async (d: Deciding): Promise<readonly RunEvent[]> => {
  const early = succeeded(d);
  if (early !== undefined) return [{ type: 'RunCompleted', output: early.output }];
  const { output } = d.compiled.blueprint;
  if (output !== undefined) {
    const result = await d.evaluate(output, d.bindings(undefined));
    return [
      result.ok
        ? { type: 'RunCompleted', output: result.value }
        : {
            type: 'RunFailed',
            error: { code: result.error.code, message: `output: ${result.error.message}` },
          },
    ];
  }
  const ids = leaves(d.compiled.blueprint.steps);
  const value: Json =
    ids.length === 1
      ? (d.context.steps[ids[0] ?? ''] ?? null)
      : Object.fromEntries(ids.map((id) => [id, d.context.steps[id] ?? null]));
  return [{ type: 'RunCompleted', output: value }];
};
