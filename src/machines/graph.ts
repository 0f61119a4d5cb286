import type { Json } from '../blueprints/json.ts';
import { NAME } from '../blueprints/names.ts';
import type { GraphStep, Step } from '../blueprints/schema.ts';
import { dependenciesOf } from '../blueprints/validate.ts';
import type { ExpressionBindings, ExpressionResult } from '../expressions/sandbox.ts';

/** Steps of a list that no other step of the list depends on, in list order. */
export const leaves = (list: readonly Step[]): readonly string[] => {
  const needed = new Set([...dependenciesOf(list).values()].flat());
  return list.filter((s) => !needed.has(s.id)).map((s) => s.id);
};

/**
 * A cycle of a graph given as, per node, the nodes it waits on: the nodes of the first cycle
 * found, closed (`[a, b, a]`), or undefined. Pure and iterative (a graph may have many nodes).
 */
export const findCycle = (edges: readonly (readonly number[])[]): number[] | undefined => {
  const state = new Uint8Array(edges.length); // 0 unseen, 1 on the path, 2 done
  for (let root = 0; root < edges.length; root++) {
    if (state[root] !== 0) continue;
    const path: { node: number; next: number }[] = [{ node: root, next: 0 }];
    state[root] = 1;
    while (path.length > 0) {
      const top = path[path.length - 1] as { node: number; next: number };
      const to = edges[top.node]?.[top.next];
      if (to === undefined) {
        state[top.node] = 2;
        path.pop();
        continue;
      }
      top.next += 1;
      if (state[to] === 1) {
        const from = path.findIndex((p) => p.node === to);
        return [...path.slice(from).map((p) => p.node), to];
      }
      if (state[to] === 0) {
        state[to] = 1;
        path.push({ node: to, next: 0 });
      }
    }
  }
  return undefined;
};

/**
 * A graph's nodes: per item of `over`, its id (`node`) and the ids it runs after (`after`),
 * checked — names, unique, known, no cycle (the cycle is named).
 */
export const graphNodes = async (
  step: GraphStep,
  bindings: ExpressionBindings,
  deps: {
    readonly evaluate: (value: Json, bindings: ExpressionBindings) => Promise<ExpressionResult>;
    readonly maxItems: number;
  },
): Promise<
  | { readonly items: readonly Json[]; readonly nodes: string[]; readonly after: number[][] }
  | { readonly code: string; readonly message: string }
> => {
  const id = step.id;
  const over = await deps.evaluate(step.over, bindings);
  if (!over.ok)
    return { code: over.error.code, message: `'over' of step '${id}': ${over.error.message}` };
  const items = over.value;
  if (!Array.isArray(items))
    return {
      code: 'map_not_array',
      message: `graph step '${id}' needs an array of nodes, got ${items === null ? 'null' : typeof items}`,
    };
  const max = deps.maxItems;
  if (items.length > max)
    return {
      code: 'too_many_items',
      message: `graph step '${id}' has ${items.length} nodes, more than ${max}`,
    };
  const invalid = (message: string) => ({
    code: 'graph_invalid',
    message: `graph step '${id}': ${message}`,
  });
  const nodes: string[] = [];
  const afterIds: (readonly string[])[] = [];
  for (const [index, item] of (items as readonly Json[]).entries()) {
    const scope = { ...bindings, context: item, item, index };
    const node = await deps.evaluate(step.node, scope);
    if (!node.ok)
      return {
        code: node.error.code,
        message: `'node' of step '${id}', item ${index}: ${node.error.message}`,
      };
    if (typeof node.value !== 'string' || !NAME.test(node.value))
      return invalid(
        `item ${index}'s node id is ${JSON.stringify(node.value)}, not a name (letters, digits, "_", "-")`,
      );
    const seen = nodes.indexOf(node.value);
    if (seen !== -1) return invalid(`items ${seen} and ${index} are both node '${node.value}'`);
    nodes.push(node.value);
    const after =
      step.after === undefined
        ? { ok: true as const, value: null }
        : await deps.evaluate(step.after, scope);
    if (!after.ok)
      return {
        code: after.error.code,
        message: `'after' of step '${id}', node '${node.value}': ${after.error.message}`,
      };
    const list =
      after.value === null ? [] : typeof after.value === 'string' ? [after.value] : after.value;
    if (!Array.isArray(list) || !list.every((a): a is string => typeof a === 'string'))
      return invalid(
        `node '${node.value}' runs after ${JSON.stringify(after.value)}, not a list of node ids`,
      );
    afterIds.push(list);
  }
  const after: number[][] = [];
  for (const [index, list] of afterIds.entries()) {
    const indexes: number[] = [];
    for (const name of list) {
      const at = nodes.indexOf(name);
      if (at === -1)
        return invalid(`node '${nodes[index] ?? ''}' runs after '${name}', which is no node of it`);
      indexes.push(at);
    }
    after.push(indexes);
  }
  const cycle = findCycle(after);
  if (cycle !== undefined)
    return {
      code: 'graph_cycle',
      message: `graph step '${id}': its nodes wait on each other: ${cycle.map((i) => nodes[i] ?? '?').join(' → ')}`,
    };
  return { items, nodes, after };
};
