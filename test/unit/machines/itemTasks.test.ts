import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  findItemTask,
  itemTask,
  itemTaskList,
  noItemOutputs,
  noItemTasks,
  outputList,
  removeItemTask,
  setItemOutput,
  setItemTask,
  type ItemTasks,
} from '../../../src/machines/itemTasks.ts';

interface Task {
  readonly item: number;
  readonly attempt: number;
}

const op = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), item: fc.nat(300), attempt: fc.nat(5) }),
  fc.record({ kind: fc.constant('remove' as const), item: fc.nat(300) }),
);

describe('a map’s items in flight (bucketed, immutable)', () => {
  it('behaves as a map from item to task, and never changes a value it was built from', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 400 }), (ops) => {
        let tasks: ItemTasks<Task> = noItemTasks<Task>();
        const model = new Map<number, Task>();
        for (const o of ops) {
          const before = tasks;
          const beforeList = JSON.stringify(itemTaskList(before));
          if (o.kind === 'set') {
            tasks = setItemTask(tasks, o.item, { item: o.item, attempt: o.attempt });
            model.set(o.item, { item: o.item, attempt: o.attempt });
          } else {
            tasks = removeItemTask(tasks, o.item);
            model.delete(o.item);
          }
          expect(JSON.stringify(itemTaskList(before))).toBe(beforeList);
          expect(tasks.size).toBe(model.size);
        }
        for (let item = 0; item <= 300; item++)
          expect(itemTask(tasks, item)).toEqual(model.get(item));
        expect([...itemTaskList(tasks)].sort((a, b) => a.item - b.item)).toEqual(
          [...model.values()].sort((a, b) => a.item - b.item),
        );
        const some = [...model.values()][0];
        if (some !== undefined)
          expect(findItemTask(tasks, (t) => t.item === some.item)).toEqual(some);
      }),
    );
  });
});

describe('a map’s outputs (bucketed, immutable)', () => {
  it('lists the outputs in item order with null for items without one', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(500), fc.integer()), { maxLength: 300 }),
        fc.nat(520),
        (writes, extra) => {
          let outputs = noItemOutputs;
          const model: (number | null)[] = [];
          for (const [item, value] of writes) {
            const before = JSON.stringify(outputs);
            const next = setItemOutput(outputs, item, value);
            expect(JSON.stringify(outputs)).toBe(before);
            outputs = next;
            model[item] = value;
          }
          const length = Math.max(model.length, extra);
          expect(outputList(outputs, length)).toEqual(
            Array.from({ length }, (_, i) => model[i] ?? null),
          );
        },
      ),
    );
  });
});
