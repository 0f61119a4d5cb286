import type { Blueprint, GraphStep, MapItemStep, MapStep, Step } from '../blueprints/schema.ts';
import { errorRoutes, isJump } from '../blueprints/onError.ts';
import { dependenciesOf } from '../blueprints/validate.ts';
import type { Segment } from '../blueprints/diagnostics.ts';
import { bodyListsOf, isStepList } from '../blueprints/stepIndex.ts';

/**
 * The static plan of a blueprint, pure: every step (nested ones included) with the list it
 * belongs to, the step holding that list, its dependencies, its enclosing loop or map, the error
 * routes that lead to it, and its descendants. The compiler and the decider both read it.
 */

export interface StepPolicy {
  readonly maxAttempts: number;
  readonly timeoutMs: number;
  /** How long an attempt may wait for a worker (`scheduleTimeout`); undefined: for ever. */
  readonly scheduleTimeoutMs?: number;
  readonly backoff: { readonly initialMs: number; readonly factor: number; readonly maxMs: number };
  /** Error codes never retried (`nonRetryable`): such a failure goes to `onError` at once. */
  readonly nonRetryable: readonly string[];
}

/**
 * A step of the plan: a blueprint step, or a map's item step with its id — for a map of `steps`,
 * a child step whose blueprint is `inline`: the item's steps, run as a child run per item.
 */
export type PlannedStep =
  Step | (MapItemStep & { readonly id: string; readonly inline?: Blueprint });

export interface StepPlan {
  readonly step: PlannedStep;
  /** The step holding this step's list; undefined at the top level. */
  readonly holder: string | undefined;
  /** Ids of the steps this one waits for (CONTRACT's order rule); a handler runs when jumped to, whatever these are. */
  readonly deps: readonly string[];
  /** The nearest enclosing loop, for `$iteration`. */
  readonly loop: string | undefined;
  /** Set on the inner step of a map: the map's id. */
  readonly mapOf: string | undefined;
  /** Steps whose `onError` jumps here; non-empty makes this step an error handler. */
  readonly handlerFor: readonly string[];
  /** Every step nested below this one. */
  readonly descendants: readonly string[];
  readonly policy: StepPolicy;
}

export interface Plan {
  readonly steps: ReadonlyMap<string, StepPlan>;
  /** The steps of compensation and finally lists, nested ones included: they run as the run unwinds. */
  readonly cleanup: ReadonlySet<string>;
  /** Step ids of each nested list by key (`<holder>.then`, `<holder>.b0`, …), and `$` for the top level. */
  readonly lists: ReadonlyMap<string, readonly string[]>;
}

export const DEFAULT_POLICY: StepPolicy = {
  maxAttempts: 3,
  timeoutMs: 30_000,
  backoff: { initialMs: 200, factor: 2, maxMs: 30_000 },
  nonRetryable: [],
};

type ParseDuration = (value: string | number) => number | undefined;

/** The step's own fields, else the blueprint's defaults, else weft's. Pure. */
export const resolvePolicy = (
  blueprint: Blueprint,
  step: PlannedStep,
  parseDuration: ParseDuration,
): StepPolicy => {
  const defaults = blueprint.defaults;
  const backoff = { ...defaults?.backoff, ...step.backoff };
  const ms = (value: string | number | undefined, fallback: number) =>
    value === undefined ? fallback : (parseDuration(value) ?? fallback);
  const scheduleTimeout = step.scheduleTimeout ?? defaults?.scheduleTimeout;
  const scheduleTimeoutMs =
    scheduleTimeout === undefined ? undefined : parseDuration(scheduleTimeout);
  return {
    maxAttempts: step.maxAttempts ?? defaults?.maxAttempts ?? DEFAULT_POLICY.maxAttempts,
    timeoutMs: ms(step.timeout ?? defaults?.timeout, DEFAULT_POLICY.timeoutMs),
    ...(scheduleTimeoutMs === undefined ? {} : { scheduleTimeoutMs }),
    backoff: {
      initialMs: ms(backoff.initial, DEFAULT_POLICY.backoff.initialMs),
      factor: backoff.factor ?? DEFAULT_POLICY.backoff.factor,
      maxMs: ms(backoff.max, DEFAULT_POLICY.backoff.maxMs),
    },
    nonRetryable: step.nonRetryable ?? defaults?.nonRetryable ?? DEFAULT_POLICY.nonRetryable,
  };
};

/** Whether a failed attempt is tried again: a retryable error, a code not listed as never retried, attempts left. */
export const retries = (
  policy: StepPolicy,
  error: { readonly code: string; readonly retryable: boolean },
  attempt: number,
): boolean =>
  error.retryable && attempt < policy.maxAttempts && !policy.nonRetryable.includes(error.code);

/** Delay before attempt `attempt` (≥ 2): initial × factor^(attempt−2), capped at max. Pure. */
export const backoffDelay = (policy: StepPolicy, attempt: number): number =>
  Math.min(
    policy.backoff.maxMs,
    Math.round(policy.backoff.initialMs * policy.backoff.factor ** Math.max(0, attempt - 2)),
  );

/** The id of a map's inner step: its own `id`, or `<mapId>_item`. */
export const mapItemId = (map: { readonly id: string; readonly step?: MapItemStep }): string =>
  map.step?.id ?? `${map.id}_item`;

/** The name of the blueprint a map of `steps` runs per item: `<blueprint>__<map>` (or hashed). */
export const itemBlueprintName = (blueprint: string, mapId: string): string => {
  const name = `${blueprint}__${mapId}`;
  return name.length <= 64 ? name : `${name.slice(0, 45)}__${shortHash(name)}`;
};

/**
 * A map's item step: its `step`, or — for `steps` — a child step running them as a blueprint of
 * their own (the parent's `defaults` apply), its input the item.
 */
const itemStep = (blueprint: Blueprint, map: MapStep | GraphStep): PlannedStep => {
  const id = mapItemId(map);
  if (map.step !== undefined) return { ...map.step, id } as PlannedStep;
  const name = itemBlueprintName(blueprint.name, map.id);
  const inline: Blueprint = {
    name,
    ...(blueprint.defaults === undefined ? {} : { defaults: blueprint.defaults }),
    steps: map.type === 'map' ? (map.steps ?? []) : [],
  };
  return { id, type: 'child', blueprint: name, inline };
};

/** A step's `compensate` as a list (key `<id>.compensate`), if it has one. */
export const compensationOf = (step: PlannedStep): readonly Step[] | undefined => {
  const compensate = 'compensate' in step ? step.compensate : undefined;
  return compensate === undefined ? undefined : isStepList(compensate) ? compensate : [compensate];
};

/** The key of the blueprint's `finally` list. */
export const FINALLY = '$finally';

/** The nested lists of a step, keyed by their list key; its `compensate` last. */
export const nestedLists = (step: PlannedStep): readonly (readonly [string, readonly Step[]])[] => {
  const compensation = compensationOf(step);
  return [
    ...bodyLists(step),
    ...(compensation === undefined ? [] : [[`${step.id}.compensate`, compensation] as const]),
  ];
};

/**
 * A body list's key in the machine: `<id>.b<j>` (a parallel's branch j), `<id>.c<n>` (a switch's
 * n-th case), `<id>.body` (a loop's steps), else `<id>.<field>` (`then`, `else`, `default`).
 */
const listKey = (id: string, key: readonly Segment[], caseIndex: number): string => {
  const [field, index] = key;
  if (field === 'branches') return `${id}.b${String(index)}`;
  if (field === 'cases') return `${id}.c${caseIndex}`;
  if (field === 'steps') return `${id}.body`;
  return `${id}.${String(field)}`;
};

/** The body lists of a step as the machine nests them; a map's or a graph's item step is planned on its own (`itemStep`). */
const bodyLists = (step: PlannedStep): readonly (readonly [string, readonly Step[]])[] => {
  if (step.type === 'map' || step.type === 'graph') return [];
  let cases = 0;
  return bodyListsOf(step).map(({ steps, key }) => {
    const listed = [listKey(step.id, key, cases), steps as readonly Step[]] as const;
    if (key[0] === 'cases') cases += 1;
    return listed;
  });
};

export const buildPlan = (blueprint: Blueprint, parseDuration: ParseDuration): Plan => {
  const steps = new Map<string, StepPlan>();
  const lists = new Map<string, readonly string[]>();
  const handlers = new Map<string, string[]>();
  const descendantsOf = new Map<string, string[]>();

  const cleanup = new Set<string>();
  const visitList = (
    key: string,
    list: readonly Step[],
    holder: string | undefined,
    loop: string | undefined,
    ancestors: readonly string[],
    unwinds: boolean,
  ) => {
    lists.set(
      key,
      list.map((s) => s.id),
    );
    const deps = dependenciesOf(list);
    for (const step of list) {
      const routes = errorRoutes(step.onError);
      const jumps = new Set([...routes.byCode.values(), routes.fallback].filter(isJump));
      for (const target of jumps) handlers.set(target, [...(handlers.get(target) ?? []), step.id]);
    }
    for (const step of list) {
      visitStep(step, deps.get(step.id) ?? [], holder, loop, undefined, ancestors, unwinds);
    }
  };

  const visitStep = (
    step: PlannedStep,
    deps: readonly string[],
    holder: string | undefined,
    loop: string | undefined,
    mapOf: string | undefined,
    ancestors: readonly string[],
    unwinds: boolean,
  ) => {
    if (unwinds) cleanup.add(step.id);
    for (const a of ancestors) descendantsOf.get(a)?.push(step.id);
    descendantsOf.set(step.id, []);
    steps.set(step.id, {
      step,
      holder,
      deps,
      loop,
      mapOf,
      handlerFor: [],
      descendants: [],
      policy: resolvePolicy(blueprint, step, parseDuration),
    });
    const inner = [...ancestors, step.id];
    const innerLoop = step.type === 'loop' ? step.id : loop;
    for (const [key, list] of nestedLists(step))
      visitList(key, list, step.id, innerLoop, inner, unwinds || key === `${step.id}.compensate`);
    if (step.type === 'map' || step.type === 'graph') {
      visitStep(itemStep(blueprint, step), [], step.id, innerLoop, step.id, inner, unwinds);
    }
  };

  visitList('$', blueprint.steps, undefined, undefined, [], false);
  if (blueprint.finally !== undefined)
    visitList(FINALLY, blueprint.finally, undefined, undefined, [], true);
  for (const [id, plan] of steps) {
    const handlerFor = handlers.get(id) ?? [];
    steps.set(id, { ...plan, handlerFor, descendants: descendantsOf.get(id) ?? [] });
  }
  return { steps, lists, cleanup };
};

/** A short deterministic hash (FNV-1a, 32 bit, hex) for ids that must stay within a length. Pure. */
export const shortHash = (text: string): string => {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, '0');
};
