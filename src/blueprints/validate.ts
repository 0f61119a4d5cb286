import * as Schema from 'effect/Schema';
import * as SchemaIssue from 'effect/SchemaIssue';
import type * as SchemaAST from 'effect/SchemaAST';
import { compileExpression, isExpression } from '../expressions/sandbox.ts';
import {
  Blueprint,
  isName,
  NAME_MAX_LENGTH,
  STEP_TYPES,
  type MapItemStep,
  type Step,
} from './schema.ts';

/**
 * Blueprint validation, like a compiler: every problem is reported at once, each with a JSON path
 * (`$.steps[2].dependsOn[0]`), a stable code and a message that names the offending value.
 *
 * Pure and total: no I/O, no clock, never throws for any input. Hostile input is bounded before
 * anything recursive touches it: a first iterative pass rejects documents that are too deep
 * (`too_deep`), too large (`too_large`), hold huge literal arrays (`array_too_large`) or are not
 * JSON at all, and only then does the Effect Schema decode run. The semantic checks (ids,
 * dependencies, cycles, expressions) walk the raw document iteratively, so they also report on
 * parts that failed to decode.
 */

/** The codes `validateBlueprint` produces. */
export type DiagnosticCode =
  | 'schema'
  | 'invalid_name'
  | 'duplicate_id'
  | 'duplicate_name'
  | 'unknown_dependency'
  | 'self_dependency'
  | 'cycle'
  | 'map_dependencies'
  | 'while_without_max'
  | 'loop_count_and_while'
  | 'unknown_on_error_target'
  | 'expression_syntax'
  | 'expression_limit'
  | 'invalid_duration'
  | 'too_many_steps'
  | 'too_deep'
  | 'too_large'
  | 'array_too_large'
  | 'too_many_diagnostics';

export interface Diagnostic {
  /** JSON path of the offending value, e.g. `$.steps[2].dependsOn[0]`. */
  readonly path: string;
  /** A `DiagnosticCode` when it comes from `validateBlueprint`; callers may add their own codes. */
  readonly code: string;
  readonly message: string;
  readonly hint?: string;
}

export interface BlueprintLimits {
  /** Steps in the whole blueprint, nested ones included. */
  readonly maxSteps: number;
  /** Nesting depth of the JSON document (objects and arrays). */
  readonly maxDepth: number;
  /** Size of the document serialized as JSON, in UTF-8 bytes. */
  readonly maxBytes: number;
  /** Items of any literal array in the document. */
  readonly maxArrayItems: number;
  /** Items a map step may fan out over; enforced at run time, not here. */
  readonly maxMapItems: number;
}

export const DEFAULT_BLUEPRINT_LIMITS: BlueprintLimits = {
  maxSteps: 1_000,
  maxDepth: 32,
  maxBytes: 1_000_000,
  maxArrayItems: 10_000,
  maxMapItems: 100_000,
};

/** At most this many diagnostics are returned; the last one then says how many were left out. */
export const MAX_DIAGNOSTICS = 500;

export type ValidationResult =
  | {
      readonly ok: true;
      readonly blueprint: Blueprint;
      readonly diagnostics: readonly Diagnostic[];
    }
  | { readonly ok: false; readonly diagnostics: readonly Diagnostic[] };

type Segment = string | number;

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/u;
const segmentText = (segment: Segment): string =>
  typeof segment === 'number'
    ? `[${segment}]`
    : IDENTIFIER.test(segment)
      ? `.${segment}`
      : `[${JSON.stringify(segment)}]`;
const pathText = (segments: readonly Segment[]): string => `$${segments.map(segmentText).join('')}`;
const child = (path: string, segment: Segment): string => `${path}${segmentText(segment)}`;

type Raw = Readonly<Record<string, unknown>>;
const isRecord = (value: unknown): value is Raw =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
/** An own property only: inherited ones (`constructor`, `__proto__` getters) are never read. */
const own = (record: Raw, key: string): unknown =>
  Object.hasOwn(record, key) ? record[key] : undefined;

const preview = (value: unknown): string => {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string')
    return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null)
    return String(value);
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'object') return 'an object';
  return `a ${typeof value}`;
};

const editDistance = (a: string, b: string): number => {
  if (Math.abs(a.length - b.length) > 3) return 99;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1]?.toLowerCase() === b[j - 1]?.toLowerCase() ? 0 : 1;
      current.push(
        Math.min(
          (previous[j] ?? 99) + 1,
          (current[j - 1] ?? 99) + 1,
          (previous[j - 1] ?? 99) + cost,
        ),
      );
    }
    previous = current;
  }
  return previous[b.length] ?? 99;
};

const closest = (word: string, candidates: readonly string[]): string | undefined => {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of candidates) {
    const d = editDistance(word, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
};

class Diagnostics {
  readonly list: Diagnostic[] = [];
  readonly #seen = new Set<string>();
  #dropped = 0;
  add(path: string, code: DiagnosticCode, message: string, hint?: string): void {
    const key = `${path}\u0000${code}`;
    if (this.#seen.has(key)) return;
    this.#seen.add(key);
    if (this.list.length >= MAX_DIAGNOSTICS) {
      this.#dropped += 1;
      return;
    }
    this.list.push(hint === undefined ? { path, code, message } : { path, code, message, hint });
  }
  get size(): number {
    return this.list.length + this.#dropped;
  }
  result(): readonly Diagnostic[] {
    if (this.#dropped === 0) return this.list;
    return [
      ...this.list,
      {
        path: '$',
        code: 'too_many_diagnostics',
        message: `${this.#dropped} more problems were found and left out`,
      },
    ];
  }
}

const NAME_HINT =
  'Names match ^[a-zA-Z_][a-zA-Z0-9_]*$ (at most 64 characters): they become parts of NATS subjects and stream names, where ".", "*", ">" and spaces have meaning.';

const nameMessage = (value: unknown, what = 'name'): string =>
  typeof value === 'string'
    ? value.length > NAME_MAX_LENGTH && /^[a-zA-Z_][a-zA-Z0-9_]*$/u.test(value)
      ? `${what} ${preview(value)} is ${value.length} characters long; at most ${NAME_MAX_LENGTH} are allowed`
      : `${preview(value)} is not a valid ${what}`
    : `expected a ${what}, got ${preview(value)}`;

/**
 * The first, iterative pass over untrusted input: nesting depth, serialized size, literal array
 * sizes, and JSON-ness. Stops at the first depth/size/non-JSON problem. Returns whether the
 * document may go on to decoding (false after any diagnostic, `array_too_large` included).
 */
const preflight = (input: unknown, limits: BlueprintLimits, out: Diagnostics): boolean => {
  interface Frame {
    readonly value: unknown;
    readonly depth: number;
    readonly parent: Frame | undefined;
    readonly key: Segment | undefined;
  }
  const pathOf = (frame: Frame): string => {
    const segments: Segment[] = [];
    for (let f: Frame | undefined = frame; f?.key !== undefined; f = f.parent) segments.push(f.key);
    return pathText(segments.reverse());
  };
  let bytes = 0;
  const stack: Frame[] = [{ value: input, depth: 0, parent: undefined, key: undefined }];
  const tooLarge = (frame: Frame): boolean => {
    out.add(
      pathOf(frame),
      'too_large',
      `the blueprint is larger than ${limits.maxBytes} bytes of JSON`,
      'Keep large data out of blueprints: pass it as run input or let an activity fetch it.',
    );
    return false;
  };
  while (stack.length > 0) {
    const frame = stack.pop() as Frame;
    const { value } = frame;
    if (value === null || typeof value === 'boolean') {
      bytes += value === false ? 5 : 4;
    } else if (typeof value === 'number') {
      if (!Number.isFinite(value)) {
        out.add(pathOf(frame), 'schema', `${value} is not a JSON number`);
        return false;
      }
      bytes += String(value).length;
    } else if (typeof value === 'string') {
      if (value.length > limits.maxBytes) return tooLarge(frame);
      bytes += utf8JsonLength(value);
    } else if (typeof value === 'object') {
      const depth = frame.depth + 1;
      if (depth > limits.maxDepth) {
        out.add(
          pathOf(frame),
          'too_deep',
          `the blueprint nests objects and arrays more than ${limits.maxDepth} levels deep`,
          'Flatten nested data, or pass it as run input instead of writing it into the blueprint.',
        );
        return false;
      }
      if (Array.isArray(value)) {
        if (value.length > limits.maxArrayItems) {
          out.add(
            pathOf(frame),
            'array_too_large',
            `this array has ${value.length} items; literal arrays in a blueprint may have at most ${limits.maxArrayItems}`,
            'Pass large data as run input, or produce it with an activity.',
          );
        }
        bytes += 1 + Math.max(1, value.length);
        if (bytes > limits.maxBytes) return tooLarge(frame);
        for (let i = value.length - 1; i >= 0; i--) {
          stack.push({ value: (value as unknown[])[i], depth, parent: frame, key: i });
        }
      } else {
        const prototype: unknown = Object.getPrototypeOf(value);
        if (prototype !== Object.prototype && prototype !== null) {
          out.add(pathOf(frame), 'schema', 'expected a plain JSON object');
          return false;
        }
        const keys = Object.keys(value);
        bytes += 1 + Math.max(1, keys.length);
        for (let i = keys.length - 1; i >= 0; i--) {
          const key = keys[i] as string;
          if (key.length > limits.maxBytes) return tooLarge(frame);
          bytes += utf8JsonLength(key) + 1;
          if (bytes > limits.maxBytes) return tooLarge(frame);
          stack.push({ value: (value as Raw)[key], depth, parent: frame, key });
        }
      }
    } else {
      out.add(pathOf(frame), 'schema', `${preview(value)} is not a JSON value`);
      return false;
    }
    if (bytes > limits.maxBytes) return tooLarge(frame);
  }
  return out.size === 0;
};

/** UTF-8 length of a string serialized as JSON (quotes and escapes included). Pure. */
const utf8JsonLength = (s: string): number => {
  let n = 2;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (
      c === 0x22 ||
      c === 0x5c ||
      c === 0x08 ||
      c === 0x0c ||
      c === 0x0a ||
      c === 0x0d ||
      c === 0x09
    )
      n += 2;
    else if (c < 0x20) n += 6;
    else if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      const next = s.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        n += 4;
        i += 1;
      } else n += 6;
    } else if (c >= 0xdc00 && c <= 0xdfff) n += 6;
    else n += 3;
  }
  return n;
};

const weftCodeOf = (
  annotations: Readonly<Record<string, unknown>> | undefined,
): DiagnosticCode | undefined => {
  const code = annotations?.['weftCode'];
  return typeof code === 'string' ? (code as DiagnosticCode) : undefined;
};

const annotationsOf = (ast: SchemaAST.AST): Readonly<Record<string, unknown>> | undefined => {
  const last = ast.checks?.[ast.checks.length - 1];
  return { ...ast.annotations, ...last?.annotations };
};

const describeAst = (ast: SchemaAST.AST): string => {
  const annotations = annotationsOf(ast);
  const title = annotations?.['title'] ?? annotations?.['identifier'];
  if (typeof title === 'string') {
    return title === 'Name'
      ? 'a name'
      : title === 'Expression'
        ? 'an expression "{% … %}"'
        : title === 'Duration'
          ? 'a duration'
          : title;
  }
  switch (ast._tag) {
    case 'String':
      return 'a string';
    case 'Number':
      return 'a number';
    case 'Boolean':
      return 'a boolean';
    case 'Objects':
      return 'an object';
    case 'Arrays':
      return 'an array';
    case 'Literal':
      return JSON.stringify(ast.literal);
    case 'Union':
      return ast.types.map(describeAst).join(' or ');
    default:
      return SchemaIssue.defaultLeafHook(new SchemaIssue.InvalidType(ast)).replace(
        /^Expected /u,
        '',
      );
  }
};

const formatIssue = SchemaIssue.makeFormatterDefault();

/** Effect Schema issues → diagnostics with JSON paths. `raw` is the decoded input, for messages. */
const schemaDiagnostics = (root: SchemaIssue.Issue, raw: unknown, out: Diagnostics): void => {
  const valueAt = (path: readonly Segment[]): unknown => {
    let current: unknown = raw;
    for (const segment of path) {
      if (Array.isArray(current) && typeof segment === 'number') current = current[segment];
      else if (isRecord(current) && typeof segment === 'string') current = own(current, segment);
      else return undefined;
    }
    return current;
  };
  const expectations = (issue: SchemaIssue.Issue, acc: string[]): string[] => {
    switch (issue._tag) {
      case 'Filter': {
        const expected = issue.filter.annotations?.expected;
        acc.push(
          typeof expected === 'string' ? expected : formatIssue(issue).replace(/^Expected /u, ''),
        );
        break;
      }
      case 'InvalidType':
        acc.push(describeAst(issue.ast));
        break;
      case 'AnyOf':
        if (issue.issues.length === 0) acc.push(describeAst(issue.ast));
        for (const inner of issue.issues) expectations(inner, acc);
        break;
      case 'Composite':
        for (const inner of issue.issues) expectations(inner, acc);
        break;
      case 'Pointer':
      case 'Encoding':
        expectations(issue.issue, acc);
        break;
      default:
        acc.push(formatIssue(issue));
    }
    return acc;
  };
  const firstCode = (issue: SchemaIssue.Issue): DiagnosticCode | undefined => {
    switch (issue._tag) {
      case 'Filter':
        return weftCodeOf(issue.filter.annotations);
      case 'AnyOf':
        return (
          weftCodeOf(issue.ast.annotations) ??
          issue.issues.map(firstCode).find((c) => c !== undefined)
        );
      case 'Composite':
        return issue.issues.map(firstCode).find((c) => c !== undefined);
      case 'Pointer':
      case 'Encoding':
        return firstCode(issue.issue);
      default:
        return undefined;
    }
  };
  const summarize = (
    path: readonly Segment[],
    code: DiagnosticCode,
    expected: readonly string[],
  ): void => {
    const value = valueAt(path);
    if (code === 'invalid_name' && typeof value === 'string') {
      out.add(
        pathText(path),
        code,
        `${nameMessage(value)}; expected a name or an expression "{% … %}"`,
        NAME_HINT,
      );
      return;
    }
    const unique = [...new Set(expected)];
    out.add(
      pathText(path),
      code,
      `expected ${unique.join(', or ')}; got ${preview(value)}`,
      code === 'expression_syntax'
        ? 'Write expressions as "{% … %}", e.g. "{% $input.amount > 100 %}".'
        : undefined,
    );
  };
  const stepTypeProblem = (path: readonly Segment[]): void => {
    const value = valueAt(path);
    const types = STEP_TYPES.join(', ');
    if (!isRecord(value)) {
      out.add(pathText(path), 'schema', `expected a step object; got ${preview(value)}`);
      return;
    }
    const type = own(value, 'type');
    if (type === undefined) {
      out.add(
        pathText([...path, 'type']),
        'schema',
        'missing required field "type"',
        `One of: ${types}.`,
      );
      return;
    }
    const guess = typeof type === 'string' ? closest(type, STEP_TYPES) : undefined;
    out.add(
      pathText([...path, 'type']),
      'schema',
      `unknown step type ${preview(type)}`,
      guess !== undefined
        ? `Did you mean "${guess}"? Step types: ${types}.`
        : `Step types: ${types}.`,
    );
  };
  const visit = (issue: SchemaIssue.Issue, path: readonly Segment[]): void => {
    switch (issue._tag) {
      case 'Pointer':
        visit(issue.issue, [
          ...path,
          ...issue.path.map((p) => (typeof p === 'number' ? p : String(p))),
        ]);
        return;
      case 'Composite':
        for (const inner of issue.issues) visit(inner, path);
        return;
      case 'Encoding':
        visit(issue.issue, path);
        return;
      case 'AnyOf': {
        const annotations = issue.ast.annotations as Readonly<Record<string, unknown>> | undefined;
        if (annotations?.['weftStepUnion'] === true) {
          if (issue.issues.length === 0) stepTypeProblem(path);
          for (const inner of issue.issues) visit(inner, path);
          return;
        }
        const own = weftCodeOf(annotations);
        const [only] = issue.issues;
        if (own === undefined && issue.issues.length === 1 && only !== undefined) {
          visit(only, path);
          return;
        }
        // No member took the value's type at all: a plain type error, whatever the union is for.
        const code = issue.issues.length === 0 ? 'schema' : (own ?? firstCode(issue) ?? 'schema');
        summarize(path, code, expectations(issue, []));
        return;
      }
      case 'Filter': {
        const code = weftCodeOf(issue.filter.annotations) ?? 'schema';
        const value = valueAt(path);
        if (code === 'invalid_name') {
          out.add(pathText(path), code, nameMessage(value), NAME_HINT);
          return;
        }
        summarize(path, code, expectations(issue, []));
        return;
      }
      case 'MissingKey': {
        const key = path[path.length - 1];
        out.add(pathText(path), 'schema', `missing required field ${JSON.stringify(key)}`);
        return;
      }
      case 'UnexpectedKey': {
        const key = String(path[path.length - 1]);
        const allowed =
          issue.ast._tag === 'Objects'
            ? issue.ast.propertySignatures.map((p) => String(p.name))
            : [];
        const guess = closest(key, allowed);
        out.add(
          pathText(path),
          'schema',
          `unknown field ${JSON.stringify(key)}`,
          guess !== undefined
            ? `Did you mean "${guess}"? Allowed here: ${allowed.join(', ')}.`
            : allowed.length > 0
              ? `Allowed here: ${allowed.join(', ')}.`
              : undefined,
        );
        return;
      }
      case 'InvalidType': {
        const value = valueAt(path);
        if (path.length === 0) {
          out.add('$', 'schema', `a blueprint must be a JSON object; got ${preview(value)}`);
          return;
        }
        out.add(
          pathText(path),
          'schema',
          `expected ${describeAst(issue.ast)}; got ${preview(value)}`,
        );
        return;
      }
      default:
        out.add(pathText(path), 'schema', formatIssue(issue));
    }
  };
  visit(root, []);
};

interface RawStep {
  readonly value: Raw;
  readonly path: string;
  readonly id: string | undefined;
}
interface RawList {
  readonly path: string;
  readonly steps: readonly RawStep[];
  /** The map's single item step: a list of one without its own array. */
  readonly single: boolean;
}

const LIST_KEYS = ['branches', 'then', 'else', 'cases', 'default', 'steps', 'step'] as const;
const LIST_KEYS_OF: Readonly<Record<string, readonly string[]>> = {
  activity: [],
  parallel: ['branches'],
  condition: ['then', 'else'],
  switch: ['cases', 'default'],
  loop: ['steps'],
  map: ['step'],
  child: [],
  wait: [],
  sleep: [],
};

/** Every step list of a raw document (lenient: follows whatever looks like a list). Iterative. */
const rawLists = (root: Raw): RawList[] => {
  const lists: RawList[] = [];
  const pending: { value: unknown; path: string; single: boolean }[] = [
    { value: own(root, 'steps'), path: '$.steps', single: false },
  ];
  while (pending.length > 0) {
    const { value, path, single } = pending.pop() as (typeof pending)[number];
    const steps: RawStep[] = [];
    const add = (v: unknown, p: string): void => {
      if (!isRecord(v)) return;
      const id = own(v, 'id');
      steps.push({ value: v, path: p, id: typeof id === 'string' ? id : undefined });
    };
    if (single) add(value, path);
    else if (Array.isArray(value)) value.forEach((v, i) => add(v, child(path, i)));
    else continue;
    lists.push({ path, steps, single });
    const nested: typeof pending = [];
    for (const step of steps) {
      const type = own(step.value, 'type');
      const keys = typeof type === 'string' ? (LIST_KEYS_OF[type] ?? LIST_KEYS) : LIST_KEYS;
      for (const key of keys) {
        const v = own(step.value, key);
        const p = child(step.path, key);
        if (key === 'branches' && Array.isArray(v))
          v.forEach((b, j) => nested.push({ value: b, path: child(p, j), single: false }));
        else if (key === 'cases' && isRecord(v))
          for (const k of Object.keys(v))
            nested.push({ value: own(v, k), path: child(p, k), single: false });
        else if (key === 'step') nested.push({ value: v, path: p, single: true });
        else nested.push({ value: v, path: p, single: false });
      }
    }
    pending.push(...nested.reverse());
  }
  return lists;
};

/** The CONTRACT §2 order rule over raw steps: explicit `dependsOn`, else the previous step. */
const rawDependencies = (
  list: RawList,
): Map<number, { ids: readonly string[]; explicit: boolean }> => {
  const deps = new Map<number, { ids: readonly string[]; explicit: boolean }>();
  list.steps.forEach((step, i) => {
    const dependsOn = own(step.value, 'dependsOn');
    if (Array.isArray(dependsOn)) {
      deps.set(i, {
        ids: dependsOn.filter((d): d is string => typeof d === 'string'),
        explicit: true,
      });
    } else {
      const previous = list.single || i === 0 ? undefined : list.steps[i - 1]?.id;
      deps.set(i, { ids: previous === undefined ? [] : [previous], explicit: false });
    }
  });
  return deps;
};

/** Cycles among a list's steps, by iterative DFS; each back edge gives one cycle. */
const findCycles = (list: RawList, out: Diagnostics): void => {
  const index = new Map<string, number>();
  list.steps.forEach((s, i) => {
    if (s.id !== undefined && !index.has(s.id)) index.set(s.id, i);
  });
  const deps = rawDependencies(list);
  const edges = list.steps.map((s, i) =>
    (deps.get(i)?.ids ?? [])
      .filter((d) => d !== s.id)
      .map((d) => index.get(d))
      .filter((j): j is number => j !== undefined),
  );
  const color = new Array<0 | 1 | 2>(list.steps.length).fill(0);
  for (let start = 0; start < list.steps.length; start++) {
    if (color[start] !== 0) continue;
    const stack: { node: number; next: number }[] = [{ node: start, next: 0 }];
    color[start] = 1;
    while (stack.length > 0) {
      const top = stack[stack.length - 1] as { node: number; next: number };
      const targets = edges[top.node] ?? [];
      if (top.next >= targets.length) {
        color[top.node] = 2;
        stack.pop();
        continue;
      }
      const target = targets[top.next] as number;
      top.next += 1;
      if (color[target] === 0) {
        color[target] = 1;
        stack.push({ node: target, next: 0 });
      } else if (color[target] === 1) {
        const from = stack.findIndex((f) => f.node === target);
        const cycle = stack.slice(from).map((f) => list.steps[f.node]?.id ?? '?');
        const step = list.steps[top.node] as RawStep;
        const explicit = deps.get(top.node)?.explicit === true;
        out.add(
          explicit ? child(step.path, 'dependsOn') : step.path,
          'cycle',
          `dependency cycle: ${[...cycle, target === top.node ? cycle[0] : (list.steps[target]?.id ?? '?')].join(' → ')}`,
          'A step without dependsOn runs after the step before it in its list; break the cycle by changing a dependsOn.',
        );
      }
    }
  }
};

const BUILT_IN_QUERIES = ['get_status', 'get_data', 'get_signals', 'get_handlers'];

/** The checks a schema cannot express; they walk the raw document, so they run even when decoding failed. */
const semanticDiagnostics = (root: Raw, limits: BlueprintLimits, out: Diagnostics): void => {
  const lists = rawLists(root);
  const total = lists.reduce((n, l) => n + l.steps.length, 0);
  if (total > limits.maxSteps) {
    out.add(
      '$.steps',
      'too_many_steps',
      `the blueprint has ${total} steps; at most ${limits.maxSteps} are allowed`,
      'Split it into child blueprints.',
    );
  }

  const expression = (value: unknown, path: string): void => {
    if (!isExpression(value)) return;
    const compiled = compileExpression(value);
    if (!compiled.ok) out.add(path, compiled.error.code, compiled.error.message);
  };
  const template = (value: unknown, path: string): void => {
    const stack: { value: unknown; path: string }[] = [{ value, path }];
    while (stack.length > 0) {
      const item = stack.pop() as { value: unknown; path: string };
      if (typeof item.value === 'string') expression(item.value, item.path);
      else if (Array.isArray(item.value))
        item.value.forEach((v, i) => stack.push({ value: v, path: child(item.path, i) }));
      else if (isRecord(item.value))
        for (const k of Object.keys(item.value))
          stack.push({ value: own(item.value, k), path: child(item.path, k) });
    }
  };

  const firstPath = new Map<string, string>();
  for (const list of lists) {
    for (const step of list.steps) {
      if (step.id === undefined) continue;
      const earlier = firstPath.get(step.id);
      if (earlier === undefined) firstPath.set(step.id, step.path);
      else
        out.add(
          child(step.path, 'id'),
          'duplicate_id',
          `step id "${step.id}" is already used at ${earlier}`,
          'Step ids must be unique in the whole blueprint, nested lists included.',
        );
    }
  }

  for (const list of lists) {
    const ids = new Set(list.steps.map((s) => s.id).filter((id): id is string => id !== undefined));
    list.steps.forEach((step) => {
      const s = step.value;
      const dependsOn = own(s, 'dependsOn');
      if (Array.isArray(dependsOn)) {
        dependsOn.forEach((dep, k) => {
          const at = child(child(step.path, 'dependsOn'), k);
          if (!isName(dep)) return;
          if (dep === step.id) out.add(at, 'self_dependency', `step "${dep}" depends on itself`);
          else if (!ids.has(dep)) {
            const elsewhere = firstPath.get(dep);
            out.add(
              at,
              'unknown_dependency',
              elsewhere === undefined
                ? `dependsOn names "${dep}", which is not a step of this list`
                : `dependsOn names "${dep}", which is not in this list (it is at ${elsewhere})`,
              list.single
                ? 'The step of a map runs once per item and cannot depend on other steps.'
                : `dependsOn may name only steps of the same list${ids.size > 0 ? `: ${[...ids].join(', ')}` : ''}.`,
            );
          }
        });
      }
      const onError = own(s, 'onError');
      if (isName(onError) && onError !== 'fail' && onError !== 'continue') {
        if (onError === step.id)
          out.add(
            child(step.path, 'onError'),
            'unknown_on_error_target',
            `onError of step "${onError}" jumps to the step itself`,
            'Use maxAttempts for retries; onError jumps to another step of the same list.',
          );
        else if (!ids.has(onError)) {
          const guess = closest(onError, ['fail', 'continue', ...ids]);
          out.add(
            child(step.path, 'onError'),
            'unknown_on_error_target',
            `onError is "${onError}", which is neither "fail", "continue" nor a step of this list`,
            guess !== undefined
              ? `Did you mean "${guess}"?`
              : 'It must be "fail", "continue" or the id of a step in the same list.',
          );
        }
      }
      expression(own(s, 'if'), child(step.path, 'if'));
      const type = own(s, 'type');
      switch (type) {
        case 'activity':
          expression(own(s, 'activity'), child(step.path, 'activity'));
          template(own(s, 'input'), child(step.path, 'input'));
          break;
        case 'condition':
          expression(own(s, 'when'), child(step.path, 'when'));
          break;
        case 'switch':
          expression(own(s, 'on'), child(step.path, 'on'));
          break;
        case 'loop': {
          const hasWhile = own(s, 'while') !== undefined;
          const hasCount = own(s, 'count') !== undefined;
          if (hasWhile && hasCount)
            out.add(
              step.path,
              'loop_count_and_while',
              'a loop has either count or while, not both',
            );
          if (hasWhile && own(s, 'maxIterations') === undefined) {
            out.add(
              step.path,
              'while_without_max',
              'a while loop needs maxIterations',
              'Add "maxIterations": the most iterations the loop may run before it fails with max_iterations.',
            );
          }
          if (!hasWhile && !hasCount) out.add(step.path, 'schema', 'a loop needs count or while');
          expression(own(s, 'while'), child(step.path, 'while'));
          expression(own(s, 'count'), child(step.path, 'count'));
          break;
        }
        case 'map': {
          expression(own(s, 'over'), child(step.path, 'over'));
          if (Array.isArray(dependsOn) && dependsOn.length > 1 && own(s, 'over') === undefined) {
            out.add(
              step.path,
              'map_dependencies',
              `map step "${step.id ?? '?'}" depends on ${dependsOn.length} steps and has no "over"`,
              'A map takes at most one dependency unless "over" says which array to map over, e.g. "over": "{% $steps.fetch.items %}".',
            );
          }
          break;
        }
        case 'child': {
          const hasBlueprint = own(s, 'blueprint') !== undefined;
          const byType = own(s, 'byType');
          if (hasBlueprint === (byType !== undefined)) {
            out.add(
              step.path,
              'schema',
              hasBlueprint
                ? 'a child step has either blueprint or byType, not both'
                : 'a child step needs blueprint or byType',
            );
          }
          expression(own(s, 'blueprint'), child(step.path, 'blueprint'));
          if (isRecord(byType))
            expression(own(byType, 'on'), child(child(step.path, 'byType'), 'on'));
          template(own(s, 'input'), child(step.path, 'input'));
          break;
        }
        case 'sleep': {
          const hasDuration = own(s, 'duration') !== undefined;
          const hasUntil = own(s, 'until') !== undefined;
          if (hasDuration === hasUntil) {
            out.add(
              step.path,
              'schema',
              hasDuration
                ? 'a sleep step has either duration or until, not both'
                : 'a sleep step needs duration or until',
            );
          }
          expression(own(s, 'duration'), child(step.path, 'duration'));
          expression(own(s, 'until'), child(step.path, 'until'));
          break;
        }
        default:
          break;
      }
    });
    findCycles(list, out);
  }

  template(own(root, 'output'), '$.output');
  declarationDiagnostics(root, out, expression);
};

/** Signals, queries and plugins: unique names (plugin ones prefixed), query expressions. */
const declarationDiagnostics = (
  root: Raw,
  out: Diagnostics,
  expression: (value: unknown, path: string) => void,
): void => {
  const signals = new Map<string, string>();
  const queries = new Map<string, string>(BUILT_IN_QUERIES.map((q) => [q, 'built in']));
  const declare = (names: Map<string, string>, kind: string, name: string, path: string): void => {
    if (name.length > NAME_MAX_LENGTH) {
      out.add(
        path,
        'invalid_name',
        `${kind} name "${name}" is ${name.length} characters long; at most ${NAME_MAX_LENGTH} are allowed`,
        NAME_HINT,
      );
      return;
    }
    const earlier = names.get(name);
    if (earlier === undefined) names.set(name, path);
    else
      out.add(
        path,
        'duplicate_name',
        `${kind} "${name}" is already declared (${earlier === 'built in' ? 'it is a built-in query' : `at ${earlier}`})`,
      );
  };
  const entries = (value: unknown, path: string): { value: unknown; path: string }[] =>
    Array.isArray(value)
      ? (value as readonly unknown[]).map((v, i) => ({ value: v, path: child(path, i) }))
      : [];

  for (const { value, path } of entries(own(root, 'signals'), '$.signals')) {
    if (isRecord(value) && isName(own(value, 'name')))
      declare(signals, 'signal', own(value, 'name') as string, child(path, 'name'));
  }
  for (const { value, path } of entries(own(root, 'queries'), '$.queries')) {
    if (!isRecord(value)) continue;
    if (isName(own(value, 'name')))
      declare(queries, 'query', own(value, 'name') as string, child(path, 'name'));
    expression(own(value, 'expr'), child(path, 'expr'));
  }
  for (const { value: plugin, path } of entries(own(root, 'plugins'), '$.plugins')) {
    if (!isRecord(plugin)) continue;
    const prefix = own(plugin, 'name');
    for (const [key, names, kind] of [
      ['signals', signals, 'signal'],
      ['queries', queries, 'query'],
    ] as const) {
      for (const entry of entries(own(plugin, key), child(path, key))) {
        const declared = isRecord(entry.value) ? own(entry.value, 'name') : entry.value;
        const at = isRecord(entry.value) ? child(entry.path, 'name') : entry.path;
        if (isRecord(entry.value) && kind === 'query')
          expression(own(entry.value, 'expr'), child(entry.path, 'expr'));
        if (isName(prefix) && isName(declared))
          declare(names, `plugin ${kind}`, `${prefix}_${declared}`, at);
      }
    }
  }
};

/**
 * Validates an untrusted blueprint. Pure and total: returns every diagnostic found (at most
 * `MAX_DIAGNOSTICS`), or the decoded blueprint when there are none. Never throws.
 */
export const validateBlueprint = (
  input: unknown,
  limits?: Partial<BlueprintLimits>,
): ValidationResult => {
  const resolved: BlueprintLimits = { ...DEFAULT_BLUEPRINT_LIMITS, ...limits };
  const out = new Diagnostics();
  try {
    if (!preflight(input, resolved, out)) return { ok: false, diagnostics: out.result() };
    const decoded = Schema.decodeUnknownResult(Blueprint)(input, {
      errors: 'all',
      onExcessProperty: 'error',
    });
    if (decoded._tag === 'Failure') schemaDiagnostics(decoded.failure.issue, input, out);
    if (isRecord(input)) semanticDiagnostics(input, resolved, out);
    if (decoded._tag === 'Success' && out.size === 0) {
      return { ok: true, blueprint: decoded.success, diagnostics: [] };
    }
    return { ok: false, diagnostics: out.result() };
  } catch (error) {
    // Only reachable with inputs that are not data (throwing getters, proxies): JSON never gets here.
    out.add('$', 'schema', `the input could not be read as JSON: ${String(error)}`);
    return { ok: false, diagnostics: out.result() };
  }
};

export interface IndexedStep {
  readonly step: Step | MapItemStep;
  /** JSON path of the step, e.g. `$.steps[1].branches[0][2]`. */
  readonly path: string;
  /** JSON path of the list holding it (for a map's item step: the path of `step`). */
  readonly listPath: string;
  /** Id of the step whose list holds this one; absent at the top level. */
  readonly parentId?: string;
}

/** Nested lists of a step, with their path suffixes, in document order. */
const listsOf = (
  step: Step | MapItemStep,
): { readonly steps: readonly (Step | MapItemStep)[]; readonly key: readonly Segment[] }[] => {
  switch (step.type) {
    case 'parallel':
      return step.branches.map((branch, j) => ({ steps: branch, key: ['branches', j] }));
    case 'condition':
      return [
        { steps: step.then, key: ['then'] },
        ...(step.else === undefined ? [] : [{ steps: step.else, key: ['else'] }]),
      ];
    case 'switch':
      return [
        ...Object.keys(step.cases).map((k) => ({ steps: step.cases[k] ?? [], key: ['cases', k] })),
        ...(step.default === undefined ? [] : [{ steps: step.default, key: ['default'] }]),
      ];
    case 'loop':
      return [{ steps: step.steps, key: ['steps'] }];
    case 'map':
      return [{ steps: [step.step], key: ['step'] }];
    case 'activity':
    case 'child':
    case 'wait':
    case 'sleep':
      return [];
  }
};

/**
 * Step id → where the step is, for every step with an id (the item step of a map has one only
 * if it says so). Pure; expects a valid blueprint (ids unique), iterative.
 */
export const stepIndex = (blueprint: Blueprint): ReadonlyMap<string, IndexedStep> => {
  const index = new Map<string, IndexedStep>();
  const pending: {
    steps: readonly (Step | MapItemStep)[];
    listPath: string;
    single: boolean;
    parentId: string | undefined;
  }[] = [{ steps: blueprint.steps, listPath: '$.steps', single: false, parentId: undefined }];
  while (pending.length > 0) {
    const { steps, listPath, single, parentId } = pending.shift() as (typeof pending)[number];
    steps.forEach((step, i) => {
      const path = single ? listPath : child(listPath, i);
      if (step.id !== undefined && !index.has(step.id)) {
        index.set(
          step.id,
          parentId === undefined ? { step, path, listPath } : { step, path, listPath, parentId },
        );
      }
      for (const nested of listsOf(step)) {
        pending.push({
          steps: nested.steps,
          listPath: nested.key.reduce<string>((p, k) => child(p, k), path),
          single: step.type === 'map',
          parentId: step.id,
        });
      }
    });
  }
  return index;
};

/**
 * The order rule of CONTRACT §2 for one list: a step without `dependsOn` depends on the step
 * before it (the first of a list on nothing); `dependsOn: []` makes a root. Pure.
 */
export const dependenciesOf = (list: readonly Step[]): ReadonlyMap<string, readonly string[]> => {
  const deps = new Map<string, readonly string[]>();
  list.forEach((step, i) => {
    const previous = i > 0 ? list[i - 1] : undefined;
    deps.set(step.id, step.dependsOn ?? (previous === undefined ? [] : [previous.id]));
  });
  return deps;
};
