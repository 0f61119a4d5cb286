import { child, type Segment } from './diagnostics.ts';
import type { Blueprint, MapItemStep, Step } from './schema.ts';

/** Where each step of a valid blueprint is, and the order rule of a list. Pure. */

export interface IndexedStep {
  readonly step: Step | MapItemStep;
  /** JSON path of the step, e.g. `$.steps[1].branches[0][2]`. */
  readonly path: string;
  /** JSON path of the list holding it (for a map's item step: the path of `step`). */
  readonly listPath: string;
  /** Id of the step whose list holds this one; absent at the top level. */
  readonly parentId?: string;
}

interface NestedList {
  readonly steps: readonly (Step | MapItemStep)[];
  readonly key: readonly Segment[];
  /** A single step where a list may be (a map's `step`, a lone `compensate`). */
  readonly single: boolean;
}

/** Nested lists of a step, with their path suffixes, in document order; its `compensate` last. */
const listsOf = (step: Step | MapItemStep): NestedList[] => {
  const compensate = 'compensate' in step ? step.compensate : undefined;
  return [
    ...bodyListsOf(step).map((list) => ({ ...list, single: list.key[0] === 'step' })),
    ...(compensate === undefined
      ? []
      : [
          isStepList(compensate)
            ? { steps: compensate, key: ['compensate'], single: false }
            : { steps: [compensate], key: ['compensate'], single: true },
        ]),
  ];
};

/** A `compensate` is a list of steps or one step. */
export const isStepList = (value: Step | readonly Step[]): value is readonly Step[] =>
  Array.isArray(value);

/**
 * The step lists a step holds in its body (not its `compensate`), with the path segments that lead
 * to each from the step, in document order: the one place that knows which step type holds what.
 * A map's or a graph's item step is a list of one at `step`.
 */
export const bodyListsOf = (
  step: Step | MapItemStep,
): { readonly steps: readonly (Step | MapItemStep)[]; readonly key: readonly Segment[] }[] => {
  switch (step.type) {
    case 'parallel':
      return step.branches.map((branch, j) => ({ steps: branch, key: ['branches', j] }));
    case 'condition':
      return [
        { steps: step.then, key: ['then'] },
        ...(step.else === undefined ? [] : [{ steps: step.else, key: ['else'] }]),
      ];
    case 'switch':
      return [
        ...Object.keys(step.cases).map((k) => ({ steps: step.cases[k] ?? [], key: ['cases', k] })),
        ...(step.default === undefined ? [] : [{ steps: step.default, key: ['default'] }]),
      ];
    case 'loop':
      return [{ steps: step.steps, key: ['steps'] }];
    case 'map':
      return step.step === undefined
        ? [{ steps: step.steps ?? [], key: ['steps'] }]
        : [{ steps: [step.step], key: ['step'] }];
    case 'graph':
      return [{ steps: [step.step], key: ['step'] }];
    case 'activity':
    case 'child':
    case 'wait':
    case 'sleep':
    case 'fail':
    case 'succeed':
    case 'set':
      return [];
  }
};

/**
 * Step id → where the step is, for every step with an id (the item step of a map has one only
 * if it says so). Pure; expects a valid blueprint (ids unique), iterative.
 */
export const stepIndex = (blueprint: Blueprint): ReadonlyMap<string, IndexedStep> => {
  const index = new Map<string, IndexedStep>();
  const pending: {
    steps: readonly (Step | MapItemStep)[];
    listPath: string;
    single: boolean;
    parentId: string | undefined;
  }[] = [
    { steps: blueprint.steps, listPath: '$.steps', single: false, parentId: undefined },
    ...(blueprint.finally === undefined
      ? []
      : [{ steps: blueprint.finally, listPath: '$.finally', single: false, parentId: undefined }]),
  ];
  while (pending.length > 0) {
    const { steps, listPath, single, parentId } = pending.shift() as (typeof pending)[number];
    steps.forEach((step, i) => {
      const path = single ? listPath : child(listPath, i);
      if (step.id !== undefined && !index.has(step.id)) {
        index.set(
          step.id,
          parentId === undefined ? { step, path, listPath } : { step, path, listPath, parentId },
        );
      }
      for (const nested of listsOf(step)) {
        pending.push({
          steps: nested.steps,
          listPath: nested.key.reduce<string>((p, k) => child(p, k), path),
          single: nested.single,
          parentId: step.id,
        });
      }
    });
  }
  return index;
};

/**
 * The order rule of CONTRACT §2 for one list: a step without `dependsOn` depends on the step
 * before it (the first of a list on nothing); `dependsOn: []` makes a root. Pure.
 */
export const dependenciesOf = (list: readonly Step[]): ReadonlyMap<string, readonly string[]> => {
  const deps = new Map<string, readonly string[]>();
  list.forEach((step, i) => {
    const previous = i > 0 ? list[i - 1] : undefined;
    deps.set(step.id, step.dependsOn ?? (previous === undefined ? [] : [previous.id]));
  });
  return deps;
};
