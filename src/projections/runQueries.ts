import type { Json } from '../blueprints/json.ts';
import { evaluateTemplate, type ExpressionCache } from '../expressions/sandbox.ts';
import type { CompiledRun, RunContext } from '../machines/compile.ts';
import { activeSteps, type RunStatus } from '../machines/run.ts';

/**
 * The per-run queries of CONTRACT §2, answered from the run's folded state: pure (expression
 * queries run in the sandbox). `signals` carries the times the store recorded.
 */

export const BUILTIN_QUERIES = ['get_status', 'get_data', 'get_signals', 'get_handlers'] as const;

export interface QueryInput {
  readonly compiled: CompiledRun;
  readonly context: RunContext;
  readonly status: RunStatus;
  readonly signals: readonly { readonly name: string; readonly payload: Json; readonly at: string }[];
  readonly acceptedSignals: readonly string[];
}

/** Names of the `wait` steps' signals the run is waiting for right now. */
export const waitingFor = (compiled: CompiledRun, context: RunContext): readonly string[] => {
  const names: string[] = [];
  for (const [id, info] of compiled.plan.steps) {
    if (info.step.type === 'wait' && context.entered[id] !== undefined && context.done[id] !== true) names.push(info.step.signal);
  }
  return names;
};

export const declaredQueries = (compiled: CompiledRun): ReadonlyMap<string, string> => {
  const queries = new Map<string, string>();
  for (const q of compiled.blueprint.queries ?? []) queries.set(q.name, q.expr);
  return queries;
};

export type QueryAnswer = { readonly ok: true; readonly value: Json } | { readonly ok: false; readonly code: string; readonly message: string };

export const answerQuery = async (
  input: QueryInput,
  name: string,
  args: Json,
  cache?: ExpressionCache,
): Promise<QueryAnswer | undefined> => {
  const { compiled, context, status } = input;
  const running = status === 'running';
  switch (name) {
    case 'get_status':
      return {
        ok: true,
        value: { status, activeSteps: running ? [...activeSteps(context)] : [], waitingFor: running ? [...waitingFor(compiled, context)] : [] },
      };
    case 'get_data':
      return { ok: true, value: context.data };
    case 'get_signals':
      return { ok: true, value: input.signals.map((s) => ({ name: s.name, payload: s.payload, at: s.at })) };
    case 'get_handlers':
      return {
        ok: true,
        value: {
          signals: running ? [...input.acceptedSignals] : [],
          queries: [...BUILTIN_QUERIES, ...declaredQueries(compiled).keys()],
        },
      };
    default: {
      const expr = declaredQueries(compiled).get(name);
      if (expr === undefined) return undefined;
      const result = await evaluateTemplate(
        expr,
        {
          input: context.input,
          steps: context.steps,
          data: context.data,
          signals: input.signals.map((s) => ({ name: s.name, payload: s.payload })),
          run: { id: context.runId, blueprint: compiled.blueprint.name },
          context: args,
        },
        cache === undefined ? {} : { cache },
      );
      return result.ok ? { ok: true, value: result.value } : { ok: false, code: result.error.code, message: result.error.message };
    }
  }
};
