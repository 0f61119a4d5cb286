import type { Step } from '../blueprints/schema.ts';

/**
 * The order rule of CONTRACT §2, pure: a step runs after the one before it in its list unless it
 * says `dependsOn` (`[]` makes a root). Returns step id → the ids it waits for.
 */
export const dependencies = (list: readonly Step[]): ReadonlyMap<string, readonly string[]> => {
  const deps = new Map<string, readonly string[]>();
  list.forEach((step, i) => {
    const previous = i > 0 ? list[i - 1] : undefined;
    deps.set(step.id, step.dependsOn ?? (previous ? [previous.id] : []));
  });
  return deps;
};

/** Steps of a list that no other step of the list depends on, in list order. */
export const leaves = (list: readonly Step[]): readonly string[] => {
  const needed = new Set([...dependencies(list).values()].flat());
  return list.filter((s) => !needed.has(s.id)).map((s) => s.id);
};
