import type { Json } from '../blueprints/json.ts';

/**
 * The two growing parts of a map's state, as immutable values that change in far less than their
 * size: a map of a thousand items in flight takes an event per item, and copying a thousand
 * entries on each was most of the time of a big map and of its replay.
 *
 * - `ItemTasks`: the item attempts in flight, in 64 buckets by item index; a change copies one
 *   bucket (about a 64th of what is in flight) and the bucket list.
 * - `ItemOutputs`: the outputs so far, in the same buckets; a change copies one bucket.
 *
 * Both are plain JSON-shaped data, so snapshots stay serialisable and comparable.
 */

const BUCKETS = 64;

export interface ItemTask {
  readonly item?: number;
}

export interface ItemTasks<T extends ItemTask> {
  readonly size: number;
  readonly buckets: readonly (readonly T[])[];
}

export const noItemTasks = <T extends ItemTask>(): ItemTasks<T> => ({ size: 0, buckets: [] });

const bucketOf = (item: number): number => item % BUCKETS;

export const itemTask = <T extends ItemTask>(tasks: ItemTasks<T>, item: number): T | undefined =>
  tasks.buckets[bucketOf(item)]?.find((t) => t.item === item);

const withBucket = <T extends ItemTask>(
  tasks: ItemTasks<T>,
  index: number,
  bucket: readonly T[],
  size: number,
): ItemTasks<T> => {
  const buckets =
    tasks.buckets.length === BUCKETS
      ? [...tasks.buckets]
      : Array.from({ length: BUCKETS }, (_, i) => tasks.buckets[i] ?? []);
  buckets[index] = bucket;
  return { size, buckets };
};

/** Adds the task, or replaces the one of the same item. */
export const setItemTask = <T extends ItemTask>(
  tasks: ItemTasks<T>,
  item: number,
  task: T,
): ItemTasks<T> => {
  const index = bucketOf(item);
  const bucket = tasks.buckets[index] ?? [];
  const at = bucket.findIndex((t) => t.item === item);
  if (at === -1) return withBucket(tasks, index, [...bucket, task], tasks.size + 1);
  return withBucket(
    tasks,
    index,
    bucket.map((t, i) => (i === at ? task : t)),
    tasks.size,
  );
};

/** Without the item's task; the same value when there is none. */
export const removeItemTask = <T extends ItemTask>(
  tasks: ItemTasks<T>,
  item: number,
): ItemTasks<T> => {
  const index = bucketOf(item);
  const bucket = tasks.buckets[index] ?? [];
  if (!bucket.some((t) => t.item === item)) return tasks;
  return withBucket(
    tasks,
    index,
    bucket.filter((t) => t.item !== item),
    tasks.size - 1,
  );
};

export const itemTaskList = <T extends ItemTask>(tasks: ItemTasks<T>): readonly T[] =>
  tasks.buckets.flat();

export const findItemTask = <T extends ItemTask>(
  tasks: ItemTasks<T>,
  test: (task: T) => boolean,
): T | undefined => {
  for (const bucket of tasks.buckets) {
    const found = bucket.find(test);
    if (found !== undefined) return found;
  }
  return undefined;
};

/** A map's outputs by item, in the same 64 buckets (item `i` at `buckets[i % 64][⌊i / 64⌋]`). */
export type ItemOutputs = readonly (readonly Json[])[];

export const noItemOutputs: ItemOutputs = [];

export const setItemOutput = (outputs: ItemOutputs, item: number, output: Json): ItemOutputs => {
  const index = bucketOf(item);
  const bucket = [...(outputs[index] ?? [])];
  const slot = Math.floor(item / BUCKETS);
  for (let i = bucket.length; i < slot; i++) bucket[i] = null;
  bucket[slot] = output;
  const buckets =
    outputs.length === BUCKETS
      ? [...outputs]
      : Array.from({ length: BUCKETS }, (_, i) => outputs[i] ?? []);
  buckets[index] = bucket;
  return buckets;
};

/** The outputs in item order, `null` for an item without one. */
export const outputList = (outputs: ItemOutputs, length: number): Json[] =>
  Array.from(
    { length },
    (_, item) => outputs[bucketOf(item)]?.[Math.floor(item / BUCKETS)] ?? null,
  );
