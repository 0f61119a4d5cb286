import type { Step } from '../blueprints/schema.ts';
import { dependenciesOf } from '../blueprints/validate.ts';

/** Steps of a list that no other step of the list depends on, in list order. */
export const leaves = (list: readonly Step[]): readonly string[] => {
  const needed = new Set([...dependenciesOf(list).values()].flat());
  return list.filter((s) => !needed.has(s.id)).map((s) => s.id);
};
