import { child, Diagnostics, own } from './diagnostics.ts';
import { rawRoutes } from './onError.ts';
import { rawDependencies, type RawList, type RawStep } from './rawSteps.ts';

/** Cycles among a list's steps, by iterative DFS; each back edge gives one cycle. */
export const findCycles = (list: RawList, out: Diagnostics): void => {
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

/** Handler edges whose cycle is spelled out step by step; later ones in the same list only say so. */
const NAMED_CYCLES = 20;

/**
 * Cycles through `onError`: an error handler waits for every step that jumps to it (it runs when
 * one fails, and is skipped once all have passed), so a step that itself runs only after its
 * handler (by `dependsOn` or list order, possibly through other handlers) deadlocks the run. Each
 * is the error `cycle` at the jumping step's `onError`, naming the path. Iterative: Tarjan's
 * strongly connected components over dependency and handler edges, then one breadth-first path
 * per cycle.
 */
export const findErrorCycles = (list: RawList, out: Diagnostics): void => {
  const index = new Map<string, number>();
  list.steps.forEach((s, i) => {
    if (s.id !== undefined && !index.has(s.id)) index.set(s.id, i);
  });
  const deps = rawDependencies(list);
  const edges: number[][] = list.steps.map((s, i) =>
    (deps.get(i)?.ids ?? [])
      .filter((d) => d !== s.id)
      .map((d) => index.get(d))
      .filter((j): j is number => j !== undefined),
  );
  const jumps: {
    readonly source: number;
    readonly handler: number;
    readonly key: string | undefined;
  }[] = [];
  list.steps.forEach((s, source) => {
    for (const { key, route } of rawRoutes(own(s.value, 'onError'))) {
      const handler = index.get(route);
      if (handler === undefined || handler === source) continue;
      jumps.push({ source, handler, key });
      edges[handler]?.push(source);
    }
  });
  if (jumps.length === 0) return;
  const component = components(edges);
  let named = 0;
  for (const { source, handler, key } of jumps) {
    if (component[source] !== component[handler]) continue;
    const step = list.steps[source] as RawStep;
    const sourceId = step.id ?? '?';
    const handlerId = list.steps[handler]?.id ?? '?';
    const route = named < NAMED_CYCLES ? pathBetween(edges, component, source, handler) : undefined;
    named += 1;
    out.add(
      key === undefined ? child(step.path, 'onError') : child(child(step.path, 'onError'), key),
      'cycle',
      `onError cycle: "${sourceId}" runs only after "${handlerId}", its error handler, which waits for "${sourceId}"${
        route === undefined
          ? ''
          : `: ${[...route.map((i) => list.steps[i]?.id ?? '?'), sourceId].join(' → ')}`
      }`,
      `An error handler must not come before the step it handles: move "${handlerId}" after "${sourceId}" in the list, or give "${sourceId}" a dependsOn that does not lead to "${handlerId}". For retries use maxAttempts.`,
    );
  }
};

/** Strongly connected component of each node (Tarjan, iterative). */
const components = (edges: readonly (readonly number[])[]): number[] => {
  const n = edges.length;
  const order = new Array<number>(n).fill(-1);
  const low = new Array<number>(n).fill(0);
  const component = new Array<number>(n).fill(-1);
  const onStack = new Array<boolean>(n).fill(false);
  const stack: number[] = [];
  let counter = 0;
  let components = 0;
  for (let root = 0; root < n; root++) {
    if (order[root] !== -1) continue;
    const frames: { node: number; next: number }[] = [{ node: root, next: 0 }];
    order[root] = low[root] = counter++;
    stack.push(root);
    onStack[root] = true;
    while (frames.length > 0) {
      const frame = frames[frames.length - 1] as { node: number; next: number };
      const targets = edges[frame.node] ?? [];
      if (frame.next < targets.length) {
        const target = targets[frame.next] as number;
        frame.next += 1;
        if (order[target] === -1) {
          order[target] = low[target] = counter++;
          stack.push(target);
          onStack[target] = true;
          frames.push({ node: target, next: 0 });
        } else if (onStack[target] === true) {
          low[frame.node] = Math.min(low[frame.node] ?? 0, order[target] ?? 0);
        }
        continue;
      }
      frames.pop();
      const parent = frames[frames.length - 1];
      if (parent !== undefined)
        low[parent.node] = Math.min(low[parent.node] ?? 0, low[frame.node] ?? 0);
      if (low[frame.node] === order[frame.node]) {
        let member: number | undefined;
        do {
          member = stack.pop() as number;
          onStack[member] = false;
          component[member] = components;
        } while (member !== frame.node);
        components += 1;
      }
    }
  }
  return component;
};

/** The nodes of a shortest path from `from` to `to` inside their component (both included). */
const pathBetween = (
  edges: readonly (readonly number[])[],
  component: readonly number[],
  from: number,
  to: number,
): number[] | undefined => {
  const previous = new Map<number, number>([[from, from]]);
  const queue = [from];
  for (let head = 0; head < queue.length; head++) {
    const node = queue[head] as number;
    if (node === to) {
      const path = [to];
      for (let at = to; at !== from;) {
        at = previous.get(at) as number;
        path.push(at);
      }
      return path.reverse();
    }
    for (const next of edges[node] ?? []) {
      if (component[next] !== component[from] || previous.has(next)) continue;
      previous.set(next, node);
      queue.push(next);
    }
  }
  return undefined;
};
