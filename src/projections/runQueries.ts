import type { Json } from '../blueprints/json.ts';
import { evaluateTemplate, type ExpressionCache } from '../expressions/sandbox.ts';
import type { CompiledRun, RunContext } from '../machines/compile.ts';
import { progressOf } from '../machines/context.ts';
import type { BuiltinQuery, Handlers } from '../machines/handlers.ts';
import { activeSteps, type RunStatus } from '../machines/run.ts';

/**
 * The per-run queries of CONTRACT §2, answered from the run's folded state (so they work after the
 * run ended, with no worker, after restarts): pure; expression queries run in the sandbox.
 * `signals` carries the times the store recorded.
 */

/** An attempt in flight as `get_status` lists it (see `actors/taskStatus.ts`). */
export interface ActiveTask {
  readonly stepId: string;
  readonly item?: number;
  readonly attempt: number;
  readonly activity: string;
  /** Whether a live worker announces this activity; absent when the runtime keeps no registry. */
  readonly served?: boolean;
  /** Whether a worker took the attempt (as far as the answering runtime knows). */
  readonly started: boolean;
  /** Milliseconds since the attempt was dispatched. */
  readonly waitedMs: number;
}

export interface QueryInput {
  readonly compiled: CompiledRun;
  /** `$run` as steps see it (id, blueprint, version, startedAt); without it, id and blueprint only. */
  readonly run?: Json;
  readonly handlers: Handlers;
  readonly context: RunContext;
  readonly status: RunStatus;
  readonly signals: readonly {
    readonly name: string;
    readonly payload: Json;
    readonly at: string;
  }[];
  /** For `get_status`: the attempts in flight (known only to the runtime, so given by it). */
  readonly tasks?: readonly ActiveTask[];
}

/** Names of the `wait` steps' signals the run is waiting for right now. */
export const waitingFor = (compiled: CompiledRun, context: RunContext): readonly string[] => {
  const names: string[] = [];
  for (const [id, info] of compiled.plan.steps) {
    if (
      info.step.type === 'wait' &&
      info.step.signal !== undefined &&
      context.entered[id] !== undefined &&
      context.done[id] !== true
    )
      names.push(info.step.signal);
  }
  return names;
};

export type QueryAnswer =
  | { readonly ok: true; readonly value: Json }
  | { readonly ok: false; readonly code: string; readonly message: string };

const builtin = (input: QueryInput, name: BuiltinQuery, plugin: string | undefined): Json => {
  const { compiled, context, status } = input;
  const running = status === 'running';
  const mine = (key: string) => plugin === undefined || key.startsWith(`${plugin}_`);
  switch (name) {
    case 'get_status': {
      const progress = progressOf(context);
      return {
        status,
        activeSteps: running ? [...activeSteps(context)] : [],
        waitingFor: running ? [...waitingFor(compiled, context)] : [],
        // How far its maps and loops have got, when it has any.
        ...(Object.keys(progress).length === 0 ? {} : { progress: progress as unknown as Json }),
        ...(input.tasks === undefined
          ? {}
          : { tasks: running ? (input.tasks as unknown as Json) : [] }),
      };
    }
    case 'get_data':
      return Object.fromEntries(Object.entries(context.data).filter(([key]) => mine(key)));
    case 'get_signals':
      return input.signals
        .filter((s) => mine(s.name))
        .map((s) => ({ name: s.name, payload: s.payload, at: s.at }));
    case 'get_handlers':
      return {
        signals: running ? [...input.handlers.signals.keys()].filter(mine) : [],
        queries: [...input.handlers.queries.keys()].filter(
          (q) => plugin === undefined || q.startsWith(`${plugin}_`),
        ),
      };
  }
};

/** Undefined when the run has no query of that name. */
export const answerQuery = async (
  input: QueryInput,
  name: string,
  args: Json,
  cache?: ExpressionCache,
): Promise<QueryAnswer | undefined> => {
  const handler = input.handlers.queries.get(name);
  if (handler === undefined) return undefined;
  switch (handler.kind) {
    case 'builtin':
      return { ok: true, value: builtin(input, handler.builtin, handler.plugin) };
    case 'data':
      return { ok: true, value: input.context.data[handler.key] ?? null };
    case 'expression': {
      const { context, compiled } = input;
      const result = await evaluateTemplate(
        handler.expr,
        {
          input: context.input,
          steps: context.steps,
          data: context.data,
          signals: input.signals.map((s) => ({ name: s.name, payload: s.payload })),
          run: input.run ?? { id: context.runId, blueprint: compiled.blueprint.name },
          progress: progressOf(context) as unknown as Json,
          context: args,
        },
        cache === undefined ? {} : { cache },
      );
      return result.ok
        ? { ok: true, value: result.value }
        : { ok: false, code: result.error.code, message: result.error.message };
    }
  }
};
