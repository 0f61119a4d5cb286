import type { Step } from '../blueprints/schema.ts';
import { dependenciesOf } from '../blueprints/validate.ts';

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
