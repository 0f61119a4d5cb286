import type { Json } from '../blueprints/json.ts';
import type { RunError, SkipReason, StepError } from './events.ts';
import {
  findItemTask,
  itemTask,
  itemTaskList,
  type ItemOutputs,
  type ItemTasks,
} from './itemTasks.ts';

/**
 * A run's context (what the machine keeps besides its state), the commands its actions emit, and
 * pure reads of both. Nothing here changes a context: the transitions (`transitions.ts`, and the
 * compiler) do.
 */

/** An activity attempt the run is waiting on. */
export interface OpenTask {
  readonly taskId: string;
  readonly stepId: string;
  readonly item?: number;
  readonly attempt: number;
  readonly activity: string;
  readonly input: Json;
  readonly timeoutMs: number;
  readonly scheduleTimeoutMs?: number;
}

export interface MapState {
  readonly items: readonly Json[];
  /** Outputs of the items settled so far (see `outputList`). */
  readonly outputs: ItemOutputs;
  /** Items started so far (in order). */
  readonly next: number;
  /** Items settled: completed, or failed onto `continue`. */
  readonly completed: number;
  /** Of those, the items that failed. */
  readonly failed: number;
  /** A graph's settled items (a map settles in `outputs` alone; a graph's nodes wait on these). */
  readonly settled?: Readonly<Record<number, true>>;
  /** Item indexes whose failed attempt is to be retried. */
  readonly retry: readonly number[];
  /** Item attempts in flight, by item (see `itemTasks.ts`: big maps change this in far less than its size). */
  readonly inflight: ItemTasks<OpenTask>;
}

export interface OpenChild {
  readonly childRunId: string;
  readonly stepId: string;
  readonly item?: number;
}

export interface ReceivedSignal {
  readonly name: string;
  readonly payload: Json;
  readonly signalId?: string;
}

/** Why a run unwinds (runs its compensations and `finally` steps), and what failed as it did. */
export interface Unwinding {
  readonly cause: 'completed' | 'failed' | 'cancelled' | 'timed_out';
  /** A cancel's reason. */
  readonly reason?: string;
  /** A run timeout's length. */
  readonly timeoutMs?: number;
  /** Compensation and finally steps that failed (each failure is recorded and the others go on). */
  readonly errors: readonly { readonly stepId: string; readonly error: StepError }[];
}

export interface Routing {
  /** Steps that did not run (or failed onto an error route): their dependents do not run either. */
  readonly abandoned: Readonly<Record<string, true>>;
  /** Error handler id → the error that routed to it. */
  readonly jumped: Readonly<Record<string, StepError>>;
  readonly lastError: Readonly<Record<string, StepError>>;
  /**
   * What runs, last first, if the run unwinds: the steps with `compensate` that completed, in
   * order of completion (a step completed twice, in a loop, is here twice), after `$finally` when
   * the blueprint has finally steps. Taken from the end as each runs.
   */
  readonly undo: readonly string[];
  /** Set once the run unwinds. */
  readonly unwinding: Unwinding | null;
  /** Container id → the attempt running, for a container with `maxAttempts` run again. */
  readonly attempts: Readonly<Record<string, number>>;
}

export interface Loops {
  /** Loop id → the iteration running. */
  readonly iterations: Readonly<Record<string, number>>;
  /** Loop id → the outputs of its finished iterations. */
  readonly outputs: Readonly<Record<string, readonly Json[]>>;
}

/**
 * A run's context. It has at most 18 top-level keys on purpose: xstate copies it with
 * `Object.assign({}, …)` on every assign, and V8 turns an object given more properties that way
 * into a slow dictionary, which made every later transition several times slower.
 */
export interface RunContext {
  readonly runId: string;
  readonly input: Json;
  /** `$steps`: step id → latest output. */
  readonly steps: Readonly<Record<string, Json>>;
  /** The input a step was entered with (what the first step of its nested lists gets). */
  readonly inputs: Readonly<Record<string, Json>>;
  /** Steps finished for this pass (completed, skipped, continued, routed or abandoned). */
  readonly done: Readonly<Record<string, true>>;
  /** How errors routed: kept in one record so the context stays small (see `RunContext`). */
  readonly routing: Routing;
  /** Step id → the activity attempt in flight (a map's items are in `maps[id].inflight`). */
  readonly tasks: Readonly<Record<string, OpenTask>>;
  /** Step id → executions started (a retry is not a new execution). */
  readonly executions: Readonly<Record<string, number>>;
  /** What `StepEntered` recorded for a step (branch taken, items, child, …). */
  readonly entered: Readonly<Record<string, Json>>;
  readonly loops: Loops;
  readonly maps: Readonly<Record<string, MapState>>;
  readonly timers: Readonly<Record<string, { readonly stepId: string; readonly dueAt: number }>>;
  /** Key (`stepId` or `stepId[item]`) → the child run it waits for. */
  readonly children: Readonly<Record<string, OpenChild>>;
  readonly signals: readonly ReceivedSignal[];
  /** Indexes into `signals` already taken by a `wait` step. */
  readonly consumed: Readonly<Record<number, true>>;
  /** `$data`: what `store` and `append` signals wrote. */
  readonly data: Readonly<Record<string, Json>>;
  readonly failure: RunError | null;
  readonly output: Json;
}

export type Command =
  | { readonly type: 'scheduleStep'; readonly stepId: string }
  | { readonly type: 'retryStep'; readonly stepId: string }
  | { readonly type: 'enterStep'; readonly stepId: string }
  | { readonly type: 'checkLoop'; readonly stepId: string }
  | { readonly type: 'scheduleItems'; readonly stepId: string }
  | { readonly type: 'requestChild'; readonly stepId: string }
  | { readonly type: 'startTimer'; readonly stepId: string }
  | { readonly type: 'skipStep'; readonly stepId: string; readonly reason: SkipReason }
  | { readonly type: 'checkWaits' }
  | { readonly type: 'endRun' };

export const COMMAND_TYPES: ReadonlySet<string> = new Set([
  'scheduleStep',
  'retryStep',
  'enterStep',
  'checkLoop',
  'scheduleItems',
  'requestChild',
  'startTimer',
  'skipStep',
  'checkWaits',
  'endRun',
]);

export const taskKey = (stepId: string, item?: number): string =>
  item === undefined ? stepId : `${stepId}[${item}]`;

/** The attempt in flight for a step, or for one item of a map. */
export const openTaskOf = (
  context: RunContext,
  stepId: string,
  item: number | undefined,
): OpenTask | undefined => {
  if (item === undefined) return context.tasks[stepId];
  const state = context.maps[stepId];
  return state === undefined ? undefined : itemTask(state.inflight, item);
};

/** Every activity attempt the run waits for, a map's items included. */
export const openTasks = (context: RunContext): readonly OpenTask[] => [
  ...Object.values(context.tasks),
  ...Object.values(context.maps).flatMap((m) => itemTaskList(m.inflight)),
];

/** The attempt in flight with this task id, if any. */
export const openTaskById = (context: RunContext, taskId: string): OpenTask | undefined => {
  const task = Object.values(context.tasks).find((t) => t.taskId === taskId);
  if (task !== undefined) return task;
  for (const state of Object.values(context.maps)) {
    const found = findItemTask(state.inflight, (t) => t.taskId === taskId);
    if (found !== undefined) return found;
  }
  return undefined;
};

/**
 * The key of `entered` that holds `$item` and `$index` of a run that is one item of a map of
 * `steps` (no step id starts with `$`).
 */
export const ITEM = '$item';

export const emptyContext: RunContext = {
  runId: '',
  input: null,
  steps: {},
  inputs: {},
  done: {},
  routing: { abandoned: {}, jumped: {}, lastError: {}, undo: [], unwinding: null, attempts: {} },
  tasks: {},
  executions: {},
  entered: {},
  loops: { iterations: {}, outputs: {} },
  maps: {},
  timers: {},
  children: {},
  signals: [],
  consumed: {},
  data: {},
  failure: null,
  output: null,
};

/** The record without `keys`; the record itself (no copy) when it has none of them. */
export const omit = <V>(
  record: Readonly<Record<string, V>>,
  ...keys: readonly string[]
): Readonly<Record<string, V>> => {
  if (!keys.some((key) => Object.hasOwn(record, key))) return record;
  const drop = new Set(keys);
  const copy: Record<string, V> = {};
  for (const key of Object.keys(record)) if (!drop.has(key)) copy[key] = record[key] as V;
  return copy;
};

/** What a graph's `StepEntered` recorded: its node ids and, per node, the nodes it runs after. */
export interface GraphEntry {
  readonly nodes: readonly string[];
  readonly after: readonly (readonly number[])[];
}

export const graphOf = (value: Json): GraphEntry => {
  const record =
    value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as { readonly nodes?: Json; readonly after?: Json })
      : {};
  return {
    nodes: Array.isArray(record.nodes) ? (record.nodes as readonly string[]) : [],
    after: Array.isArray(record.after) ? (record.after as readonly (readonly number[])[]) : [],
  };
};

export const itemsOf = (value: Json): readonly Json[] => {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [];
  const items = (value as { readonly items?: Json }).items;
  return Array.isArray(items) ? (items as readonly Json[]) : [];
};

/** How far a map or a loop has got (`$progress.<stepId>`, also in queries). */
export interface Progress {
  /** Items settled (completed or failed onto `continue`), or iterations finished. */
  readonly done: number;
  /** Of `done`, the items that failed (a loop's failure ends it: always 0). */
  readonly failed: number;
  /** The map's items, the loop's `count`; null for a `while` loop. */
  readonly total: number | null;
}

/**
 * `$progress`: for every map and loop the run has entered, how far it has got (a finished one
 * stays at its end; a loop entered again counts its current pass). Pure.
 */
export const progressOf = (context: RunContext): Readonly<Record<string, Progress>> => {
  const progress: Record<string, Progress> = {};
  for (const [id, state] of Object.entries(context.maps))
    progress[id] = { done: state.completed, failed: state.failed, total: state.items.length };
  for (const [id, iteration] of Object.entries(context.loops.iterations)) {
    const entered = context.entered[id];
    const count =
      entered !== null && typeof entered === 'object' && !Array.isArray(entered)
        ? (entered as Readonly<Record<string, Json>>)['count']
        : undefined;
    progress[id] = {
      done: context.loops.outputs[id]?.length ?? iteration,
      failed: 0,
      total: typeof count === 'number' ? count : null,
    };
  }
  return progress;
};
