import jsonata from 'jsonata';
import type { Json } from '../blueprints/json.ts';
import { FORBIDDEN_FUNCTIONS, GUARD, Guard, installSandbox, SandboxStop } from './guard.ts';
import { defineOwn, fail, toJson } from './toJson.ts';

/**
 * The JSONata sandbox: blueprint expressions (`"{% … %}"`) are compiled and evaluated here and
 * nowhere else.
 *
 * Guarantees, for every evaluation:
 * - Deterministic: the same expression and bindings give the same result. There is no clock
 *   (`$now()`/`$millis()` answer `bindings.now`, or fail when it is not given; date pictures that
 *   omit the date default to `bindings.now`, else to the epoch) and no randomness (`$random`,
 *   `$shuffle` fail). Limits count evaluation steps, never time.
 * - Bounded: at most `maxSteps` evaluation steps ("fuel", counted on JSONata's
 *   `__evaluate_entry` hook, so endless recursion and tail-call loops end), at most `maxDepth`
 *   nested evaluations (so deep recursion ends before the JS stack does), no string or array
 *   larger than `maxResultBytes` at any step, sequences of at most 1,000,000 items, and a result
 *   of at most `maxResultBytes` serialized characters.
 * - Closed: `$eval` is not available (naming it, `$random` or `$shuffle` is a compile error),
 *   object lookups see own properties only (JSONata 2), regular
 *   expressions with nested unbounded quantifiers are refused at compile time, and a result is
 *   plain JSON built afresh (functions and non-finite numbers are errors; `__proto__` keys stay
 *   plain data).
 * - Total: no function here throws for a bad expression or a limit; errors come back as values.
 *
 * Not guarded: the cost inside a single built-in call is bounded only by its (bounded) inputs;
 * e.g. `$replace` with a large replacement can build a large intermediate string before the
 * size check rejects it.
 */

export type ExpressionErrorCode =
  'expression_syntax' | 'expression_error' | 'expression_limit' | 'expression_result';

export interface ExpressionError {
  readonly code: ExpressionErrorCode;
  readonly message: string;
  /** Character offset in the expression body, when JSONata reports one. */
  readonly position?: number;
}

/** Why an expression did not compile: bad syntax, or a source over `maxSourceLength`. */
export interface CompileError extends ExpressionError {
  readonly code: 'expression_syntax' | 'expression_limit';
}

export interface ExpressionLimits {
  /** Evaluation steps (JSONata `evaluate` calls) per evaluation. */
  readonly maxSteps: number;
  /** Nesting of evaluations (JSONata's own depth counter), per evaluation. */
  readonly maxDepth: number;
  /** Serialized length of the result, and the length of any string or array on the way. */
  readonly maxResultBytes: number;
  /** Length of an expression body, checked at compile time. */
  readonly maxSourceLength: number;
}

export const DEFAULT_EXPRESSION_LIMITS: ExpressionLimits = {
  maxSteps: 100_000,
  maxDepth: 200,
  maxResultBytes: 1_000_000,
  maxSourceLength: 10_000,
};

/** Largest sequence JSONata may build (ranges, path results), fixed at compile time. */
const MAX_SEQUENCE_LENGTH = 1_000_000;

/** Values visible to an expression as `$input`, `$steps`, … (CONTRACT §2). Absent ones are undefined. */
export interface ExpressionBindings {
  readonly input: Json;
  readonly steps: { readonly [stepId: string]: Json };
  readonly item?: Json;
  readonly index?: number;
  readonly iteration?: number;
  readonly data?: Json;
  readonly signals?: Json;
  readonly run?: Json;
  readonly error?: Json;
  /** `$after` in a graph's node: the outputs of the nodes it runs after, by node id. */
  readonly after?: Json;
  /** `$progress.<stepId>`: `{done, failed, total}` of each map and loop entered. */
  readonly progress?: Json;
  /** Milliseconds since the epoch, recorded on an event: what `$now()` and `$millis()` answer. */
  readonly now?: number;
  /** The expression's context `$`; defaults to `input`. */
  readonly context?: Json;
}

export type ExpressionResult =
  | { readonly ok: true; readonly value: Json }
  | { readonly ok: false; readonly error: ExpressionError };

export type CompileResult =
  | { readonly ok: true; readonly expression: CompiledExpression }
  | { readonly ok: false; readonly error: CompileError };

const EXPRESSION = /^\{%[\s\S]*%\}$/u;

/** True for a string written as an expression: `{% … %}`, surrounding whitespace allowed. Pure. */
export const isExpression = (value: unknown): value is string =>
  typeof value === 'string' && EXPRESSION.test(value.trim());

/** The JSONata text inside `{% … %}`; a string that is not an expression is returned as it is. */
export const expressionBody = (source: string): string => {
  const trimmed = source.trim();
  return EXPRESSION.test(trimmed) ? trimmed.slice(2, -2) : source;
};

/** Reads the JSONata object out of a `CompiledExpression`; set once by the class's static block. */
let jsonataOf: (compiled: CompiledExpression) => jsonata.Expression;

/** A compiled expression: immutable, safe to share between concurrent evaluations. */
export class CompiledExpression {
  /** The JSONata body (without `{%` and `%}`). */
  readonly source: string;
  readonly #expression: jsonata.Expression;
  static {
    jsonataOf = (compiled) => compiled.#expression;
  }
  constructor(source: string, expression: jsonata.Expression) {
    this.source = source;
    this.#expression = expression;
  }
}

/**
 * A bounded LRU of compiled expressions keyed by body text. Compiling is pure, so sharing is
 * safe; the cache is an explicit instance (one per runtime, passed in) rather than module state
 * so that two runtimes in one process never share or evict each other's entries.
 */
export class ExpressionCache {
  readonly capacity: number;
  readonly #entries = new Map<string, CompileResult>();
  constructor(capacity = 1_000) {
    this.capacity = Math.max(1, Math.floor(capacity));
  }
  get size(): number {
    return this.#entries.size;
  }
  /** `compileExpression` through the cache. */
  compile(source: string, limits?: Partial<ExpressionLimits>): CompileResult {
    const body = expressionBody(source);
    const maxSourceLength = limits?.maxSourceLength ?? DEFAULT_EXPRESSION_LIMITS.maxSourceLength;
    if (body.length > maxSourceLength) return compileExpression(body, limits);
    const hit = this.#entries.get(body);
    if (hit !== undefined) {
      this.#entries.delete(body);
      this.#entries.set(body, hit);
      return hit;
    }
    const result = compileExpression(body, limits);
    this.#entries.set(body, result);
    if (this.#entries.size > this.capacity) {
      const oldest = this.#entries.keys().next();
      if (oldest.done !== true) this.#entries.delete(oldest.value);
    }
    return result;
  }
}

const UNBOUNDED_QUANTIFIER = /^(?:[*+]|\{\d+,\})/u;

/**
 * True when a regular expression repeats a group that itself repeats without bound, like
 * `(a+)+` or `(?:x*y)*`: the shape behind catastrophic backtracking. A heuristic (it does not
 * catch every slow pattern), applied because regex matching runs outside the step count.
 */
export const hasNestedQuantifier = (source: string): boolean => {
  const groups: boolean[] = [false];
  let closedGroupRepeats = false;
  let i = 0;
  while (i < source.length) {
    const c = source[i];
    if (c === '\\') {
      i += 2;
      closedGroupRepeats = false;
    } else if (c === '[') {
      i += 1;
      while (i < source.length && source[i] !== ']') i += source[i] === '\\' ? 2 : 1;
      i += 1;
      closedGroupRepeats = false;
    } else if (c === '(') {
      groups.push(false);
      i += 1;
      if (source[i] === '?') {
        const close = source.slice(i).match(/^\?(?::|=|!|<=|<!|<[^>]*>)/u);
        i += close === null ? 1 : close[0].length;
      }
      closedGroupRepeats = false;
    } else if (c === ')') {
      const inner = groups.pop() ?? false;
      if (groups.length === 0) groups.push(false);
      if (inner) groups[groups.length - 1] = true;
      closedGroupRepeats = inner;
      i += 1;
    } else {
      const quantifier = source.slice(i).match(UNBOUNDED_QUANTIFIER);
      if (quantifier !== null) {
        if (closedGroupRepeats) return true;
        groups[groups.length - 1] = true;
        i += quantifier[0].length;
      } else {
        i += 1;
      }
      closedGroupRepeats = false;
    }
  }
  return false;
};

interface AstFacts {
  readonly regexes: readonly string[];
  readonly variables: ReadonlySet<string>;
}

/** Regex literals and variable names of a JSONata AST, found without recursion (ASTs can be deep). */
const astFacts = (ast: unknown): AstFacts => {
  const regexes: string[] = [];
  const variables = new Set<string>();
  const seen = new Set<object>();
  const stack: unknown[] = [ast];
  while (stack.length > 0) {
    const node = stack.pop();
    if (node === null || typeof node !== 'object' || seen.has(node)) continue;
    seen.add(node);
    if (node instanceof RegExp) {
      regexes.push(node.source);
      continue;
    }
    const { type, value } = node as { type?: unknown; value?: unknown };
    if (type === 'variable' && typeof value === 'string') variables.add(value);
    for (const v of Object.values(node)) if (v !== null && typeof v === 'object') stack.push(v);
  }
  return { regexes, variables };
};

interface JsonataFailure {
  readonly code?: unknown;
  readonly message?: unknown;
  readonly position?: unknown;
}

const describe = (error: unknown): { message: string; position?: number } => {
  if (error !== null && typeof error === 'object') {
    const { code, message, position } = error as JsonataFailure;
    const text = typeof message === 'string' && message !== '' ? message : 'unknown error';
    const withCode = typeof code === 'string' ? `${text} (${code})` : text;
    return typeof position === 'number'
      ? { message: `${withCode} at position ${position}`, position }
      : { message: withCode };
  }
  return { message: String(error) };
};

const isStackOrSizeOverflow = (error: unknown): boolean =>
  error instanceof RangeError ||
  (error instanceof Error && /call stack|string length|array length/iu.test(error.message));

/**
 * Compiles an expression: `"{% body %}"` or a bare JSONata body. Pure; never throws. The
 * result may be cached by source text (see `ExpressionCache`).
 */
export const compileExpression = (
  source: string,
  limits?: Partial<ExpressionLimits>,
): CompileResult => {
  const body = expressionBody(source);
  const maxSourceLength = limits?.maxSourceLength ?? DEFAULT_EXPRESSION_LIMITS.maxSourceLength;
  if (body.length > maxSourceLength) {
    return {
      ok: false,
      error: {
        code: 'expression_limit',
        message: `the expression is ${body.length} characters long; at most ${maxSourceLength} are allowed`,
      },
    };
  }
  if (body.trim() === '')
    return { ok: false, error: { code: 'expression_syntax', message: 'the expression is empty' } };
  let expression: jsonata.Expression;
  try {
    expression = jsonata(body, { sequence: MAX_SEQUENCE_LENGTH });
  } catch (error) {
    if (isStackOrSizeOverflow(error)) {
      return {
        ok: false,
        error: {
          code: 'expression_limit',
          message: 'the expression is nested too deeply to parse',
        },
      };
    }
    return { ok: false, error: { code: 'expression_syntax', ...describe(error) } };
  }
  const facts = astFacts(expression.ast());
  for (const regex of facts.regexes) {
    if (hasNestedQuantifier(regex)) {
      return {
        ok: false,
        error: {
          code: 'expression_syntax',
          message: `regular expression /${regex}/ repeats a group that itself repeats (like (a+)+), which can take exponential time; rewrite it without nested quantifiers`,
        },
      };
    }
  }
  for (const [name, why] of Object.entries(FORBIDDEN_FUNCTIONS)) {
    if (facts.variables.has(name)) {
      return {
        ok: false,
        error: {
          code: 'expression_syntax',
          message: `$${name} is not available in weft expressions: ${why}`,
        },
      };
    }
  }
  installSandbox(expression);
  return { ok: true, expression: new CompiledExpression(body, expression) };
};

const variablesOf = (bindings: ExpressionBindings, guard: Guard): Record<string, unknown> => {
  const variables: Record<string, unknown> = {
    input: bindings.input,
    steps: bindings.steps,
    [GUARD]: guard,
  };
  const optional = {
    item: bindings.item,
    index: bindings.index,
    iteration: bindings.iteration,
    data: bindings.data,
    signals: bindings.signals,
    run: bindings.run,
    error: bindings.error,
    progress: bindings.progress,
    after: bindings.after,
  } satisfies Record<string, Json | undefined>;
  for (const [name, value] of Object.entries(optional))
    if (value !== undefined) variables[name] = value;
  return variables;
};

/**
 * Evaluates a compiled expression against bindings under limits. Deterministic and bounded (see
 * the module comment); never rejects: every failure is an `ExpressionError` value.
 */
export const evaluateExpression = async (
  compiled: CompiledExpression,
  bindings: ExpressionBindings,
  limits?: Partial<ExpressionLimits>,
): Promise<ExpressionResult> => {
  const resolved: ExpressionLimits = { ...DEFAULT_EXPRESSION_LIMITS, ...limits };
  const guard = new Guard(resolved, bindings.now);
  const context = bindings.context === undefined ? bindings.input : bindings.context;
  let raw: unknown;
  try {
    raw = await jsonataOf(compiled).evaluate(context, variablesOf(bindings, guard));
  } catch (error) {
    if (error instanceof SandboxStop) return fail(error.code, error.message);
    if (isStackOrSizeOverflow(error))
      return fail(
        'expression_limit',
        `the evaluation ran out of room: ${(error as Error).message}`,
      );
    const { code } = (error ?? {}) as JsonataFailure;
    if (code === 'D2014' || code === 'D2015')
      return fail('expression_limit', describe(error).message);
    return { ok: false, error: { code: 'expression_error', ...describe(error) } };
  }
  return toJson(raw, resolved.maxResultBytes, resolved.maxDepth);
};

export interface EvaluateOptions extends Partial<ExpressionLimits> {
  /** Compile through this cache; without one every expression is compiled afresh. */
  readonly cache?: ExpressionCache;
}

type Segment = string | number;
const pathText = (segments: readonly Segment[]): string =>
  segments.reduce<string>(
    (acc, s) =>
      typeof s === 'number'
        ? `${acc}[${s}]`
        : /^[A-Za-z_][A-Za-z0-9_]*$/u.test(s)
          ? `${acc}.${s}`
          : `${acc}[${JSON.stringify(s)}]`,
    '$',
  );

/** Whether any string in a JSON value is an expression; iterative. Pure. */
export const containsExpression = (value: Json): boolean => {
  const stack: Json[] = [value];
  while (stack.length > 0) {
    const current = stack.pop() ?? null;
    if (typeof current === 'string') {
      if (isExpression(current)) return true;
    } else if (Array.isArray(current)) {
      for (const item of current as readonly Json[]) stack.push(item);
    } else if (current !== null && typeof current === 'object') {
      for (const item of Object.values(current)) stack.push(item);
    }
  }
  return false;
};

/**
 * Evaluates a JSON template: every string that is wholly an expression (`"{% … %}"`) is replaced
 * by its value; other strings are left alone (no interpolation). A value without expressions is
 * returned as is (the same reference). Expressions run one at a time in document order and the
 * first failure is returned, its message naming the path. Never rejects; walks without recursion.
 */
export const evaluateTemplate = async (
  value: Json,
  bindings: ExpressionBindings,
  options?: EvaluateOptions,
): Promise<ExpressionResult> => {
  const run = async (src: string): Promise<ExpressionResult> => {
    const compiled =
      options?.cache !== undefined
        ? options.cache.compile(src, options)
        : compileExpression(src, options);
    return compiled.ok ? evaluateExpression(compiled.expression, bindings, options) : compiled;
  };
  if (typeof value === 'string' && isExpression(value)) return run(value);
  if (!containsExpression(value)) return { ok: true, value };

  interface Task {
    readonly value: Json;
    readonly path: readonly Segment[];
    readonly put: (v: Json) => void;
  }
  const sites: Task[] = [];
  let root: Json = null;
  const tasks: Task[] = [{ value, path: [], put: (v) => (root = v) }];
  while (tasks.length > 0) {
    const task = tasks.pop() as Task;
    const current = task.value;
    if (typeof current === 'string' && isExpression(current)) {
      sites.push(task);
    } else if (Array.isArray(current)) {
      const items = current as readonly Json[];
      const out = new Array<Json>(items.length).fill(null);
      task.put(out);
      for (let i = items.length - 1; i >= 0; i--) {
        tasks.push({ value: items[i] ?? null, path: [...task.path, i], put: (v) => (out[i] = v) });
      }
    } else if (current !== null && typeof current === 'object') {
      const record = current as { readonly [key: string]: Json };
      const out: Record<string, Json> = {};
      task.put(out);
      const keys = Object.keys(record);
      for (const key of keys) defineOwn(out, key, null);
      for (let i = keys.length - 1; i >= 0; i--) {
        const key = keys[i] as string;
        tasks.push({
          value: record[key] ?? null,
          path: [...task.path, key],
          put: (v) => defineOwn(out, key, v),
        });
      }
    } else {
      task.put(current);
    }
  }
  for (const site of sites) {
    const result = await run(site.value as string);
    if (!result.ok)
      return {
        ok: false,
        error: { ...result.error, message: `${pathText(site.path)}: ${result.error.message}` },
      };
    site.put(result.value);
  }
  return { ok: true, value: root };
};
