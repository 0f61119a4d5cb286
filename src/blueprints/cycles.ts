import { child, Diagnostics } from './diagnostics.ts';
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
