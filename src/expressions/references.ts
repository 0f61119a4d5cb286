import jsonata from 'jsonata';
import { expressionBody } from './sandbox.ts';

/**
 * What an expression reads of its bindings, for validation's warnings: the step ids it names as
 * `$steps.<id>`, and every `$name` it uses. Pure; undefined for an expression that does not parse
 * (its `expression_syntax` error is reported elsewhere).
 */
export interface ExpressionReferences {
  /** `<id>` of each `$steps.<id>` (a name right after `$steps`), each once. */
  readonly steps: readonly string[];
  /** Every variable used, without its `$` (`steps`, `error`, `count`, …). */
  readonly variables: ReadonlySet<string>;
}

interface AstNode {
  readonly type?: unknown;
  readonly value?: unknown;
  readonly steps?: unknown;
}

const isNode = (value: unknown): value is AstNode & object =>
  value !== null && typeof value === 'object';

export const expressionReferences = (source: string): ExpressionReferences | undefined => {
  let ast: unknown;
  try {
    ast = jsonata(expressionBody(source)).ast();
  } catch {
    return undefined;
  }
  const steps = new Set<string>();
  const variables = new Set<string>();
  const seen = new Set<object>();
  const stack: unknown[] = [ast];
  while (stack.length > 0) {
    const node = stack.pop();
    if (!isNode(node) || seen.has(node)) continue;
    seen.add(node);
    if (node.type === 'variable' && typeof node.value === 'string') variables.add(node.value);
    if (node.type === 'path' && Array.isArray(node.steps)) {
      const [head, next] = node.steps as unknown[];
      if (
        isNode(head) &&
        head.type === 'variable' &&
        head.value === 'steps' &&
        isNode(next) &&
        next.type === 'name' &&
        typeof next.value === 'string'
      )
        steps.add(next.value);
    }
    for (const v of Object.values(node)) if (isNode(v)) stack.push(v);
  }
  return { steps: [...steps], variables };
};
