import type { BlueprintBuilder } from './builder.ts';
import type {
  ActivityOptions,
  ChildOptions,
  ConditionOptions,
  FailOptions,
  GraphOptions,
  ItemStepOptions,
  ListArg,
  LoopOptions,
  MapOptions,
  ParallelOptions,
  SetOptions,
  SleepOptions,
  StepOptionsByType,
  SucceedOptions,
  SwitchOptions,
  WaitOptions,
} from './builderOptions.ts';
import type { Step, StepType } from './schema.ts';

/**
 * The step half of the blueprint builder (README "Building blueprints in TypeScript"): the step
 * methods every list has, the nested `StepList`, the functional `step.*` form, and how options
 * become step JSON. Pure; nothing here validates (`build()` does, in `builder.ts`).
 */

type NotAName = ' ' | '.' | '-' | '*' | '>' | '/' | ':' | '$' | '{' | '}';

/** `Id`, or a message type that no literal matches: a duplicate or plainly invalid id. */
type NewId<Id extends string, Ids extends string> = string extends Id | Ids
  ? Id
  : Id extends '' | `${string}${NotAName}${string}`
    ? `step id "${Id}" is not a name: letters, digits and _ only`
    : Id extends Ids
      ? `step id "${Id}" is already in this list`
      : Id;

/** The `onError` jumps still waiting for their step once `Id`, jumping to `J`, is added. */
type Unresolved<Ids extends string, U extends string, Id extends string, J extends string> =
  Exclude<U, Id> | (string extends J ? never : Exclude<J, Ids | Id | 'fail' | 'continue'>);

/** The builder of the same kind as `Self`, with other ids. */
type Next<Self, Ids extends string, U extends string> = Self extends {
  readonly '~kind': { readonly input: infer I };
}
  ? BlueprintBuilder<Ids, U, I>
  : StepList<Ids, U>;

type Added<Self, Ids extends string, U extends string, Id extends string, J extends string> = Next<
  Self,
  Ids | Id,
  Unresolved<Ids, U, Id, J>
>;

/**
 * The step methods shared by `StepList` (a nested list) and `BlueprintBuilder` (the top level).
 * `Ids`: the ids in this list; `U`: ids that `onError` jumps to and that no step has yet.
 */
export abstract class StepsBuilder<Ids extends string, U extends string> {
  // Types only, never set: they make `Ids` and `U` part of the builder's structural type.
  declare readonly '~ids': Ids;
  declare readonly '~unresolved': U;
  /** The steps added so far, as blueprint JSON. */
  abstract readonly steps: readonly Step[];
  /** A builder of the same kind with `step` appended. */
  protected abstract add(step: Step): unknown;

  /** Runs the named activity on a worker (`activity` may be an expression). */
  activity<Id extends string, J extends string = never>(
    id: NewId<Id, Ids>,
    options: ActivityOptions<Ids, J>,
  ): Added<this, Ids, U, Id, J> {
    return this.add(toStep(id, 'activity', options)) as Added<this, Ids, U, Id, J>;
  }

  /** Runs branches at once; each branch is a list of its own. */
  parallel<Id extends string, J extends string = never>(
    id: NewId<Id, Ids>,
    options: ParallelOptions<Ids, J>,
  ): Added<this, Ids, U, Id, J> {
    return this.add(toStep(id, 'parallel', options)) as Added<this, Ids, U, Id, J>;
  }

  /** Runs `then` when `when` holds, else `else`. */
  condition<Id extends string, J extends string = never>(
    id: NewId<Id, Ids>,
    options: ConditionOptions<Ids, J>,
  ): Added<this, Ids, U, Id, J> {
    return this.add(toStep(id, 'condition', options)) as Added<this, Ids, U, Id, J>;
  }

  /** Runs the case whose key is the value of `on`, else `default`. */
  switch<Id extends string, J extends string = never>(
    id: NewId<Id, Ids>,
    options: SwitchOptions<Ids, J>,
  ): Added<this, Ids, U, Id, J> {
    return this.add(toStep(id, 'switch', options)) as Added<this, Ids, U, Id, J>;
  }

  /** Repeats `steps`: `count` times, or `while` an expression holds (`maxIterations` required). */
  loop<Id extends string, J extends string = never>(
    id: NewId<Id, Ids>,
    options: LoopOptions<Ids, J>,
  ): Added<this, Ids, U, Id, J> {
    return this.add(toStep(id, 'loop', options)) as Added<this, Ids, U, Id, J>;
  }

  /** Runs `step` (an activity or a child) or `steps` once per item of `over`. */
  map<Id extends string, J extends string = never>(
    id: NewId<Id, Ids>,
    options: MapOptions<Ids, J>,
  ): Added<this, Ids, U, Id, J> {
    return this.add(toStep(id, 'map', options)) as Added<this, Ids, U, Id, J>;
  }

  /** Runs `step` once per item of `over` as a dependency graph of nodes. */
  graph<Id extends string, J extends string = never>(
    id: NewId<Id, Ids>,
    options: GraphOptions<Ids, J>,
  ): Added<this, Ids, U, Id, J> {
    return this.add(toStep(id, 'graph', options)) as Added<this, Ids, U, Id, J>;
  }

  /** Starts a child run of `blueprint` (or one chosen `byType`) and waits for its output. */
  child<Id extends string, J extends string = never>(
    id: NewId<Id, Ids>,
    options: ChildOptions<Ids, J>,
  ): Added<this, Ids, U, Id, J> {
    return this.add(toStep(id, 'child', options)) as Added<this, Ids, U, Id, J>;
  }

  /** Waits for a `signal`, or until `when` holds. */
  wait<Id extends string, J extends string = never>(
    id: NewId<Id, Ids>,
    options: WaitOptions<Ids, J>,
  ): Added<this, Ids, U, Id, J> {
    return this.add(toStep(id, 'wait', options)) as Added<this, Ids, U, Id, J>;
  }

  /** A durable timer: `duration` or `until`. */
  sleep<Id extends string, J extends string = never>(
    id: NewId<Id, Ids>,
    options: SleepOptions<Ids, J>,
  ): Added<this, Ids, U, Id, J> {
    return this.add(toStep(id, 'sleep', options)) as Added<this, Ids, U, Id, J>;
  }

  /** Ends the run `failed` with `error`. */
  fail<Id extends string, J extends string = never>(
    id: NewId<Id, Ids>,
    options: FailOptions<Ids, J>,
  ): Added<this, Ids, U, Id, J> {
    return this.add(toStep(id, 'fail', options)) as Added<this, Ids, U, Id, J>;
  }

  /** Ends the run `completed` now. */
  succeed<Id extends string, J extends string = never>(
    id: NewId<Id, Ids>,
    options: SucceedOptions<Ids, J> = {},
  ): Added<this, Ids, U, Id, J> {
    return this.add(toStep(id, 'succeed', options)) as Added<this, Ids, U, Id, J>;
  }

  /** Merges values into `$data`. */
  set<Id extends string, J extends string = never>(
    id: NewId<Id, Ids>,
    options: SetOptions<Ids, J>,
  ): Added<this, Ids, U, Id, J> {
    return this.add(toStep(id, 'set', options)) as Added<this, Ids, U, Id, J>;
  }

  /**
   * Appends a step given as JSON (e.g. made by `step.*`). Its id joins the list's ids; its
   * `onError` and `dependsOn` are checked by `build()` only.
   */
  append<S extends Step>(step: S): Next<this, Ids | S['id'], U> {
    return this.add(step) as Next<this, Ids | S['id'], U>;
  }
}

/** A nested list: a branch, a case, `then`/`else`, a loop body, `compensate`, `finally`. */
export class StepList<Ids extends string = never, U extends string = never> extends StepsBuilder<
  Ids,
  U
> {
  declare readonly '~kind': 'list';
  readonly steps: readonly Step[];

  constructor(steps: readonly Step[] = []) {
    super();
    this.steps = steps;
  }

  protected add(step: Step): unknown {
    return new StepList([...this.steps, step]);
  }
}

/** A new, empty nested list, to build one beforehand and pass it where a `ListArg` goes. */
export const steps = (): StepList => new StepList();

type StepOf<T extends StepType, Id extends string> = Extract<Step, { readonly type: T }> & {
  readonly id: Id;
};

const make =
  <T extends StepType>(type: T) =>
  <const Id extends string>(id: Id, options: StepOptionsByType[T]): StepOf<T, Id> =>
    toStep(id, type, options) as StepOf<T, Id>;

/**
 * The functional form: one function per step type, `step.activity('charge', {...})`, giving the
 * step's JSON. Fields are typed as in the fluent builder; `dependsOn` and `onError` ids are
 * checked by `blueprint({...})` (or `build()`) only.
 */
export const step: { readonly [T in StepType]: ReturnType<typeof make<T>> } = {
  activity: make('activity'),
  parallel: make('parallel'),
  condition: make('condition'),
  switch: make('switch'),
  loop: make('loop'),
  map: make('map'),
  graph: make('graph'),
  child: make('child'),
  wait: make('wait'),
  sleep: make('sleep'),
  fail: make('fail'),
  succeed: make('succeed'),
  set: make('set'),
};

/** The JSON of a nested list: the function's list, the list built beforehand, or the steps. */
export const listOf = (list: ListArg): readonly Step[] =>
  typeof list === 'function'
    ? list(new StepList()).steps
    : list instanceof StepsBuilder
      ? list.steps
      : list;

/** The JSON of a step: its options with `id` and `type` first and nested lists built. */
const toStep = (id: string, type: StepType, options: object): Step => {
  const out: Record<string, unknown> = { id, type };
  for (const [key, value] of Object.entries(options) as [string, unknown][]) {
    if (value !== undefined && key !== 'id' && key !== 'type') out[key] = field(key, value);
  }
  return out as unknown as Step;
};

/** A field's JSON: the nested lists of every step type built, the rest as given. */
const field = (key: string, value: unknown): unknown => {
  switch (key) {
    case 'branches':
      return (value as readonly ListArg[]).map(listOf);
    case 'cases':
      return Object.fromEntries(
        Object.entries(value as Readonly<Record<string, ListArg>>).map(([k, v]) => [k, listOf(v)]),
      );
    case 'then':
    case 'else':
    case 'default':
    case 'steps':
      return listOf(value as ListArg);
    case 'compensate':
      return isStepJson(value) ? value : listOf(value as ListArg);
    case 'step':
      return itemOf(value as ItemStepOptions);
    default:
      return value;
  }
};

const isStepJson = (value: unknown): value is Step =>
  typeof value === 'object' &&
  value !== null &&
  !Array.isArray(value) &&
  !(value instanceof StepsBuilder);

/** A map's or graph's item step: `type` implied by its fields, `id` first when it has one. */
const itemOf = (item: ItemStepOptions): Readonly<Record<string, unknown>> => {
  const type = 'activity' in item ? 'activity' : 'child';
  const { id, ...rest } = item;
  const fields = (Object.entries(rest) as [string, unknown][]).filter(
    ([key, value]) => value !== undefined && key !== 'type',
  );
  return { ...(id === undefined ? {} : { id }), type, ...Object.fromEntries(fields) };
};
