import { child, isRecord, own, type Raw } from './diagnostics.ts';

/**
 * The step lists of a raw (not yet decoded) document, found leniently so that the semantic checks
 * also report on parts that failed to decode. Pure and iterative.
 */

export interface RawStep {
  readonly value: Raw;
  readonly path: string;
  readonly id: string | undefined;
}
export interface RawList {
  readonly path: string;
  readonly steps: readonly RawStep[];
  /** A single step where a list may be: a list of one without its own array. */
  readonly single: boolean;
  /** The single item step of a map. */
  readonly mapItem: boolean;
}

const LIST_KEYS = [
  'branches',
  'then',
  'else',
  'cases',
  'default',
  'steps',
  'step',
  'compensate',
] as const;
/** The lists each step type holds; every step may also hold its `compensate` (see `rawLists`). */
const LIST_KEYS_OF: Readonly<Record<string, readonly string[]>> = {
  activity: [],
  parallel: ['branches'],
  condition: ['then', 'else'],
  switch: ['cases', 'default'],
  loop: ['steps'],
  map: ['step', 'steps'],
  graph: ['step'],
  child: [],
  wait: [],
  sleep: [],
  fail: [],
  succeed: [],
  set: [],
};

/** Every step list of a raw document (lenient: follows whatever looks like a list). Iterative. */
export const rawLists = (root: Raw): RawList[] => {
  const lists: RawList[] = [];
  const pending: { value: unknown; path: string; single: boolean }[] = [
    { value: own(root, 'finally'), path: '$.finally', single: false },
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
    lists.push({ path, steps, single, mapItem: single && path.endsWith('.step') });
    const nested: typeof pending = [];
    for (const step of steps) {
      const type = own(step.value, 'type');
      const listed = typeof type === 'string' ? LIST_KEYS_OF[type] : undefined;
      const keys = listed === undefined ? LIST_KEYS : [...listed, 'compensate'];
      for (const key of keys) {
        const v = own(step.value, key);
        const p = child(step.path, key);
        if (key === 'branches' && Array.isArray(v))
          v.forEach((b, j) => nested.push({ value: b, path: child(p, j), single: false }));
        else if (key === 'cases' && isRecord(v))
          for (const k of Object.keys(v))
            nested.push({ value: own(v, k), path: child(p, k), single: false });
        else if (key === 'step' || (key === 'compensate' && isRecord(v)))
          nested.push({ value: v, path: p, single: true });
        else nested.push({ value: v, path: p, single: false });
      }
    }
    pending.push(...nested.reverse());
  }
  return lists;
};

/** The CONTRACT §2 order rule over raw steps: explicit `dependsOn`, else the previous step. */
export const rawDependencies = (
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
