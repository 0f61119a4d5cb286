import type { StepList } from './builderSteps.ts';
import type { Json } from './json.ts';
import type { SignalHandler, Step } from './schema.ts';

/**
 * The fields each step type takes in the blueprint builder (`builder.ts`, `builderSteps.ts`), as TypeScript types
 * that are narrower than the Schema's: a field of another step type is an excess property, the
 * exclusive pairs (`sleep`'s `duration`/`until`, `wait`'s `signal`/`when`, `child`'s
 * `blueprint`/`byType`, `map`'s `step`/`steps`, a loop's `count`/`while`) are unions, `while`
 * requires `maxIterations`, durations need a unit and expression fields want `"{% … %}"`.
 * Nested lists are `ListArg`s. Types only: what the compiler cannot see, `build()` checks with
 * `validateBlueprint`.
 *
 * `Ids` are the ids already in the list a step is added to (what `dependsOn` may name); `J` the
 * step ids that `onError` jumps to, inferred so that the builder can check them once the list is
 * complete (a handler usually comes after the step that jumps to it).
 */

export type DurationUnit = 'ms' | 's' | 'm' | 'h' | 'd';
type DurationPart = `${number}${DurationUnit}`;
/** `"200ms"`, `"30s"`, `"1h30m"`, `"1d2h3m"`: up to three parts, each a number and a unit. */
export type DurationString = DurationPart | `${DurationPart}${DurationPart}${'' | DurationPart}`;

/** A JSONata expression, written as `"{% … %}"`. */
export type ExpressionString = `{%${string}%}`;

/** An RFC 3339 timestamp such as `"2030-01-01T09:00:00Z"` (`sleep`'s `until`). */
export type Timestamp = `${number}-${number}-${number}T${string}`;

/** Where an error goes: fail the run, record it and go on, or jump to a step of the same list. */
export type Route<Target extends string> = 'fail' | 'continue' | Target;
/** One route for every error, or a route per error code (`"default"` for the others). */
export type OnError<Target extends string> =
  Route<Target> | { readonly [code: string]: Route<Target> };

/**
 * A nested list (a branch, a case, `then`/`else`, a loop body, a map's `steps`, `compensate`,
 * `finally`): a function that adds steps to a fresh list with its own ids, a list built
 * beforehand, or plain steps. A list whose `onError` jumps name no step of it is a type error.
 */
export type ListArg = ((list: StepList) => StepList<string>) | StepList<string> | readonly Step[];

/** Fields every step may have. */
export interface CommonOptions<Ids extends string = string, J extends string = string> {
  /** What the step is for (documentation only). */
  readonly description?: string;
  /** Steps of the same list, added before this one, that must be done first; `[]`: a root. */
  readonly dependsOn?: readonly Ids[];
  /** Skip the step (output null) unless this is true. */
  readonly if?: ExpressionString;
  /** `"fail"` (default), `"continue"`, or the id of a step of the same list (before or after). */
  readonly onError?: OnError<Ids | J>;
  /** What undoes the step when the run fails or is cancelled after it completed. */
  readonly compensate?: Step | ListArg;
}

export interface BackoffOptions {
  readonly initial?: DurationString;
  readonly factor?: number;
  readonly max?: DurationString;
}

/** The retry policy: on activity steps (a map's item too) and in the blueprint's `defaults`. */
export interface RetryOptions {
  readonly maxAttempts?: number;
  /** Start-to-close, per attempt. */
  readonly timeout?: DurationString;
  /** How long an attempt may wait for a worker to take it. */
  readonly scheduleTimeout?: DurationString;
  readonly backoff?: BackoffOptions;
  /** Error codes never retried. */
  readonly nonRetryable?: readonly string[];
}

/** A container's `timeout` and `maxAttempts` cover everything inside it. */
export interface ContainerOptions {
  readonly timeout?: DurationString;
  readonly maxAttempts?: number;
}

export interface ActivityOptions<Ids extends string = string, J extends string = string>
  extends CommonOptions<Ids, J>, RetryOptions {
  /** The activity's name, or an expression giving one. */
  readonly activity: string;
  readonly input?: Json;
}

export interface ParallelOptions<Ids extends string = string, J extends string = string>
  extends CommonOptions<Ids, J>, ContainerOptions {
  readonly branches: readonly ListArg[];
  readonly completion?: 'all' | 'first' | { readonly atLeast: number };
}

export interface ConditionOptions<Ids extends string = string, J extends string = string>
  extends CommonOptions<Ids, J>, ContainerOptions {
  readonly when: ExpressionString;
  readonly then: ListArg;
  readonly else?: ListArg;
}

export interface SwitchOptions<Ids extends string = string, J extends string = string>
  extends CommonOptions<Ids, J>, ContainerOptions {
  readonly on: ExpressionString;
  readonly cases: { readonly [value: string]: ListArg };
  readonly default?: ListArg;
}

/** `count` times, or `while` an expression holds with `maxIterations` as the bound. */
export type LoopOptions<Ids extends string = string, J extends string = string> = CommonOptions<
  Ids,
  J
> &
  ContainerOptions & { readonly steps: ListArg } & (
    | {
        readonly count: number | ExpressionString;
        readonly while?: never;
        readonly maxIterations?: never;
      }
    | { readonly while: ExpressionString; readonly maxIterations: number; readonly count?: never }
  );

interface ItemCommon {
  /** Optional for a map's item; unique in the whole blueprint when given. */
  readonly id?: string;
  readonly description?: string;
  readonly if?: ExpressionString;
  /** Per item: an item's step is alone in its list, so it can only fail or continue. */
  readonly onError?: OnError<never>;
}

interface ChildByName {
  /** The child blueprint's name, or an expression giving one. */
  readonly blueprint: string;
  /** Pin a version (default: the latest). */
  readonly version?: number;
  readonly byType?: never;
}
interface ChildByType {
  /** The child blueprint chosen by a value: `on` gives the value, `blueprints` value → name. */
  readonly byType: {
    readonly on: ExpressionString;
    readonly blueprints: { readonly [value: string]: string };
  };
  readonly blueprint?: never;
  readonly version?: never;
}

/** A map's or graph's item step: an activity or a child (the `type` is implied by the fields). */
export type ItemStepOptions =
  | (ItemCommon &
      RetryOptions & {
        readonly type?: 'activity';
        readonly activity: string;
        readonly input?: Json;
      })
  | (ItemCommon &
      (ChildByName | ChildByType) & {
        readonly type?: 'child';
        readonly input?: Json;
        readonly activity?: never;
      });

/** Per item, `step` (an activity or a child) or `steps` (a list of any steps, run as a child). */
export type MapOptions<Ids extends string = string, J extends string = string> = CommonOptions<
  Ids,
  J
> &
  ContainerOptions & {
    /** The array (default: the single dependency's output, or the run input). */
    readonly over?: ExpressionString;
    readonly concurrency?: number;
  } & (
    | { readonly step: ItemStepOptions; readonly steps?: never }
    | { readonly steps: ListArg; readonly step?: never }
  );

export interface GraphOptions<Ids extends string = string, J extends string = string>
  extends CommonOptions<Ids, J>, ContainerOptions {
  readonly over: ExpressionString;
  /** An item's node id. */
  readonly node: ExpressionString;
  /** The node ids an item runs after. */
  readonly after?: ExpressionString;
  readonly concurrency?: number;
  readonly step: ItemStepOptions;
}

export type ChildOptions<Ids extends string = string, J extends string = string> = CommonOptions<
  Ids,
  J
> &
  ContainerOptions & { readonly input?: Json } & (ChildByName | ChildByType);

/** Wait for a `signal`, or until `when` holds; `timeout` bounds the wait. */
export type WaitOptions<Ids extends string = string, J extends string = string> = CommonOptions<
  Ids,
  J
> & { readonly timeout?: DurationString } & (
    | { readonly signal: string; readonly when?: never }
    | { readonly when: ExpressionString; readonly signal?: never }
  );

/** A durable timer: exactly one of `duration` and `until`. */
export type SleepOptions<Ids extends string = string, J extends string = string> = CommonOptions<
  Ids,
  J
> &
  (
    | { readonly duration: DurationString | ExpressionString; readonly until?: never }
    | { readonly until: ExpressionString | Timestamp | number; readonly duration?: never }
  );

export interface FailOptions<
  Ids extends string = string,
  J extends string = string,
> extends CommonOptions<Ids, J> {
  /** `code` a name or an expression; `message` text or an expression. */
  readonly error: { readonly code: string; readonly message: string };
  readonly output?: Json;
}

export interface SucceedOptions<
  Ids extends string = string,
  J extends string = string,
> extends CommonOptions<Ids, J> {
  readonly output?: Json;
}

export interface SetOptions<
  Ids extends string = string,
  J extends string = string,
> extends CommonOptions<Ids, J> {
  /** Name → value (usually an expression), stored as `$data.<name>`. */
  readonly data: { readonly [name: string]: Json };
}

export interface SignalOptions {
  /** `store` (default) sets `$data.<name>`, `append` appends to it, `trigger` only records. */
  readonly handler?: SignalHandler;
  readonly description?: string;
}

export interface QueryOptions {
  readonly description?: string;
}

export interface PluginOptions {
  /** Adds `<plugin>_<signal>` signals: a name, or a name with options. */
  readonly signals?: readonly (string | ({ readonly name: string } & SignalOptions))[];
  /** Adds `<plugin>_<query>` queries: a name (of a built-in), or a name with its expression. */
  readonly queries?: readonly (
    string | ({ readonly name: string; readonly expr: ExpressionString } & QueryOptions)
  )[];
  readonly description?: string;
}

/** The options of each step type, by `type`. */
export interface StepOptionsByType<Ids extends string = string, J extends string = string> {
  readonly activity: ActivityOptions<Ids, J>;
  readonly parallel: ParallelOptions<Ids, J>;
  readonly condition: ConditionOptions<Ids, J>;
  readonly switch: SwitchOptions<Ids, J>;
  readonly loop: LoopOptions<Ids, J>;
  readonly map: MapOptions<Ids, J>;
  readonly graph: GraphOptions<Ids, J>;
  readonly child: ChildOptions<Ids, J>;
  readonly wait: WaitOptions<Ids, J>;
  readonly sleep: SleepOptions<Ids, J>;
  readonly fail: FailOptions<Ids, J>;
  readonly succeed: SucceedOptions<Ids, J>;
  readonly set: SetOptions<Ids, J>;
}
