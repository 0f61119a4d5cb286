import * as Result from 'effect/Result';
import * as Schema from 'effect/Schema';
import { PluginDecl, QueryDecl, SignalDecl } from '../blueprints/schema.ts';
import type { CompiledRun } from './compile.ts';

/**
 * The signal and query handlers a run accepts, pure: the blueprint's declarations, every `wait`
 * step's signal (accepted undeclared, as `trigger`), the plugins' `<plugin>_<name>` entries, and
 * the extra declarations its start request added for that run alone (pinned in `RunStarted`).
 */

export type SignalHandlerKind = 'store' | 'append' | 'trigger';

export const BUILTIN_QUERIES = ['get_status', 'get_data', 'get_signals', 'get_handlers'] as const;
export type BuiltinQuery = (typeof BUILTIN_QUERIES)[number];

export type QueryHandler =
  | { readonly kind: 'expression'; readonly expr: string }
  | { readonly kind: 'builtin'; readonly builtin: BuiltinQuery; readonly plugin?: string }
  | { readonly kind: 'data'; readonly key: string };

/** What a start request may add for one run. */
export interface RunExtensions {
  readonly signals?: readonly SignalDecl[];
  readonly queries?: readonly QueryDecl[];
  readonly plugins?: readonly PluginDecl[];
}

export interface Handlers {
  readonly signals: ReadonlyMap<string, SignalHandlerKind>;
  readonly queries: ReadonlyMap<string, QueryHandler>;
}

const isBuiltin = (name: string): name is BuiltinQuery =>
  (BUILTIN_QUERIES as readonly string[]).includes(name);

const Extensions = Schema.Struct({
  signals: Schema.optionalKey(Schema.Array(SignalDecl)),
  queries: Schema.optionalKey(Schema.Array(QueryDecl)),
  plugins: Schema.optionalKey(Schema.Array(PluginDecl)),
});
const decodeExtensions = Schema.decodeUnknownResult(Extensions);

/** Extensions as pinned in `RunStarted` (validated before they were appended); undefined when absent or unreadable. */
export const extensionsOf = (value: unknown): RunExtensions | undefined => {
  if (value === undefined || value === null) return undefined;
  const decoded = decodeExtensions(value);
  return Result.isSuccess(decoded) ? decoded.success : undefined;
};

export const handlersOf = (
  compiled: CompiledRun,
  extensions: RunExtensions | undefined,
): Handlers => {
  const { blueprint } = compiled;
  const declared = {
    signals: [...(blueprint.signals ?? []), ...(extensions?.signals ?? [])],
    queries: [...(blueprint.queries ?? []), ...(extensions?.queries ?? [])],
    plugins: [...(blueprint.plugins ?? []), ...(extensions?.plugins ?? [])],
  };
  const signals = new Map<string, SignalHandlerKind>();
  const queries = new Map<string, QueryHandler>();
  for (const name of BUILTIN_QUERIES) queries.set(name, { kind: 'builtin', builtin: name });
  for (const info of compiled.plan.steps.values()) {
    if (info.step.type === 'wait' && info.step.signal !== undefined)
      signals.set(info.step.signal, 'trigger');
  }
  for (const signal of declared.signals) signals.set(signal.name, signal.handler ?? 'store');
  for (const query of declared.queries)
    queries.set(query.name, { kind: 'expression', expr: query.expr });
  for (const plugin of declared.plugins) {
    for (const entry of plugin.signals ?? []) {
      const signal = typeof entry === 'string' ? { name: entry } : entry;
      signals.set(
        `${plugin.name}_${signal.name}`,
        ('handler' in signal ? signal.handler : undefined) ?? 'store',
      );
    }
    for (const entry of plugin.queries ?? []) {
      const name = `${plugin.name}_${typeof entry === 'string' ? entry : entry.name}`;
      if (typeof entry !== 'string') queries.set(name, { kind: 'expression', expr: entry.expr });
      else if (isBuiltin(entry))
        queries.set(name, { kind: 'builtin', builtin: entry, plugin: plugin.name });
      else queries.set(name, { kind: 'data', key: name });
    }
  }
  return { signals, queries };
};
