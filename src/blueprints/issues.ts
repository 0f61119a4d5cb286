import * as SchemaIssue from 'effect/SchemaIssue';
import type * as SchemaAST from 'effect/SchemaAST';
import {
  closest,
  Diagnostics,
  isRecord,
  NAME_HINT,
  nameMessage,
  own,
  pathText,
  preview,
  type DiagnosticCode,
  type Segment,
} from './diagnostics.ts';
import { STEP_TYPES, type StepType } from './schema.ts';
import { durationUnit, misplacedSetting } from './settings.ts';

/**
 * Effect Schema decode issues → diagnostics with JSON paths, codes (the schema's `weftCode`
 * annotations) and did-you-mean hints for misspelt fields and step types. Pure.
 */

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

const isDuration = (ast: SchemaAST.AST): boolean => annotationsOf(ast)?.['title'] === 'Duration';

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
export const schemaDiagnostics = (
  root: SchemaIssue.Issue,
  raw: unknown,
  out: Diagnostics,
): void => {
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
  /** A bare number where a duration goes: `duration_unit`, with the fix. */
  const bareDuration = (path: readonly Segment[], value: unknown): boolean => {
    if (typeof value !== 'number') return false;
    const { message, hint } = durationUnit(value);
    out.add(pathText(path), 'duration_unit', message, hint);
    return true;
  };
  const stepTypeProblem = (path: readonly Segment[], allowed: readonly string[]): void => {
    const value = valueAt(path);
    const types = allowed.join(', ');
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
    if (
      typeof type === 'string' &&
      !allowed.includes(type) &&
      STEP_TYPES.includes(type as StepType)
    ) {
      out.add(
        pathText([...path, 'type']),
        'schema',
        `a map runs an activity or a child step for each item, not a ${type} step`,
        `Put the ${type} in a blueprint of its own and map over a child step: {"type": "child", "blueprint": "…", "input": "{% $item %}"}.`,
      );
      return;
    }
    const guess = typeof type === 'string' ? closest(type, allowed) : undefined;
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
        const stepTypes = annotations?.['weftStepUnion'];
        if (Array.isArray(stepTypes)) {
          if (issue.issues.length === 0) stepTypeProblem(path, stepTypes as readonly string[]);
          for (const inner of issue.issues) visit(inner, path);
          return;
        }
        const own = weftCodeOf(annotations);
        const [only] = issue.issues;
        if (own === undefined && issue.issues.length === 1 && only !== undefined) {
          visit(only, path);
          return;
        }
        if (
          issue.issues.length === 0 &&
          issue.ast.types.some(isDuration) &&
          bareDuration(path, valueAt(path))
        )
          return;
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
        const misplaced = misplacedSetting(valueAt(path.slice(0, -1)), path.slice(0, -1), key);
        if (misplaced !== undefined) {
          out.add(pathText(path), 'schema', misplaced.message, misplaced.hint);
          return;
        }
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
        if (isDuration(issue.ast) && bareDuration(path, value)) return;
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
