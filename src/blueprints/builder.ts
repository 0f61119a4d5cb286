import * as Data from 'effect/Data';
import type {
  DurationString,
  ExpressionString,
  ListArg,
  PluginOptions,
  QueryOptions,
  RetryOptions,
  SignalOptions,
} from './builderOptions.ts';
import { listOf, StepsBuilder } from './builderSteps.ts';
import type { Diagnostic } from './diagnostics.ts';
import type { Json } from './json.ts';
import type { Blueprint, Step } from './schema.ts';
import { validateBlueprint } from './validate.ts';

export type * from './builderOptions.ts';
export { step, StepList, steps, StepsBuilder } from './builderSteps.ts';

/**
 * The blueprint builder: TypeScript that produces blueprint JSON, checked by the compiler as far
 * as it goes and by `validateBlueprint` at `build()`.
 *
 *     const order = blueprint('order')
 *       .activity('charge', { activity: 'charge_card', maxAttempts: 3, onError: 'review' })
 *       .activity('review', { activity: 'manual_review' })
 *       .wait('approval', { signal: 'approve', timeout: '1h', dependsOn: ['charge'] })
 *       .build();
 *
 * Each step method takes the new step's id and the fields of that step type, and returns a new
 * builder whose type knows the id: `dependsOn` may name only ids already added to the same list,
 * an id used twice in one list or containing `-`, `.`, a space… is a type error, and an `onError`
 * jump to an id that the list never gets fails to compile at `build()` (or where a nested list
 * is handed back). Nested lists come from functions given a fresh `StepList` with its own ids.
 * Dynamic ids (`string`) switch these checks off for that list; `build()` still makes them.
 *
 * Builders are immutable: every method returns a new one, so a builder can be shared and
 * extended twice. Pure: no I/O; `build()` throws `BlueprintInvalid` and nothing else.
 */

/** The blueprint failed `validateBlueprint`: every diagnostic (errors and warnings) is here. */
export class BlueprintInvalid extends Data.TaggedError('BlueprintInvalid')<{
  readonly message: string;
  /** The blueprint's name. */
  readonly blueprint: string;
  readonly diagnostics: readonly Diagnostic[];
}> {}

/** A built blueprint; `InputOf` gives the run input type declared with `.input<T>()`. */
export type TypedBlueprint<Input = unknown> = Blueprint & { readonly '~input'?: Input };
export type InputOf<B> = B extends { readonly '~input'?: infer I } ? I : unknown;

/** The blueprint fields besides `name` and `steps` (written out in the order of `assemble`). */
interface BlueprintFields {
  readonly description?: string;
  readonly defaults?: RetryOptions;
  readonly signals?: readonly ({ readonly name: string } & SignalOptions)[];
  readonly queries?: readonly ({
    readonly name: string;
    readonly expr: ExpressionString;
  } & QueryOptions)[];
  readonly plugins?: readonly ({ readonly name: string } & PluginOptions)[];
  readonly output?: Json;
  readonly timeout?: DurationString;
  readonly finally?: readonly Step[];
}

/** The top-level builder: steps, and the blueprint's own fields. Made by `blueprint(name)`. */
export class BlueprintBuilder<
  Ids extends string = never,
  U extends string = never,
  Input = unknown,
> extends StepsBuilder<Ids, U> {
  declare readonly '~kind': { readonly input: Input };
  readonly name: string;
  readonly steps: readonly Step[];
  readonly #fields: BlueprintFields;

  constructor(name: string, steps: readonly Step[] = [], fields: BlueprintFields = {}) {
    super();
    this.name = name;
    this.steps = steps;
    this.#fields = fields;
  }

  protected add(step: Step): unknown {
    return new BlueprintBuilder(this.name, [...this.steps, step], this.#fields);
  }

  #with(fields: BlueprintFields): BlueprintBuilder<Ids, U, Input> {
    return new BlueprintBuilder(this.name, this.steps, { ...this.#fields, ...fields });
  }

  /** Declares the run input's type. Nothing at run time: `InputOf<typeof built>` gives it back. */
  input<T>(): BlueprintBuilder<Ids, U, T> {
    return this as unknown as BlueprintBuilder<Ids, U, T>;
  }

  description(text: string): BlueprintBuilder<Ids, U, Input> {
    return this.#with({ description: text });
  }

  /** The retry policy of every activity that does not set its own. */
  defaults(policy: RetryOptions): BlueprintBuilder<Ids, U, Input> {
    return this.#with({ defaults: policy });
  }

  /** Bounds the whole run; when it passes the run ends `timed_out`. */
  timeout(duration: DurationString): BlueprintBuilder<Ids, U, Input> {
    return this.#with({ timeout: duration });
  }

  /** Declares a signal the run accepts (handler `store` unless given). */
  signal(name: string, options: SignalOptions = {}): BlueprintBuilder<Ids, U, Input> {
    return this.#with({ signals: [...(this.#fields.signals ?? []), { name, ...options }] });
  }

  /** Declares a query, answered by evaluating `expr` over the run state. */
  query(
    name: string,
    expr: ExpressionString,
    options: QueryOptions = {},
  ): BlueprintBuilder<Ids, U, Input> {
    return this.#with({ queries: [...(this.#fields.queries ?? []), { name, expr, ...options }] });
  }

  /** Declares a plugin: signals and queries named `<name>_<signal>`, `<name>_<query>`. */
  plugin(name: string, options: PluginOptions = {}): BlueprintBuilder<Ids, U, Input> {
    return this.#with({ plugins: [...(this.#fields.plugins ?? []), { name, ...options }] });
  }

  /** The run's output, usually an expression (default: the leaf steps' output). */
  output(value: Json): BlueprintBuilder<Ids, U, Input> {
    return this.#with({ output: value });
  }

  /** Steps run when the run ends, however it ends. */
  finally(list: ListArg): BlueprintBuilder<Ids, U, Input> {
    return this.#with({ finally: listOf(list) });
  }

  /**
   * The blueprint JSON, validated by `validateBlueprint`. Throws `BlueprintInvalid` with every
   * diagnostic when it has an error. A type error when an `onError` jump names no step of the
   * top-level list.
   */
  build(this: BlueprintBuilder<Ids, never, Input>): TypedBlueprint<Input> {
    return checked(assemble(this.name, this.steps, this.#fields));
  }
}

/** The fluent builder of the blueprint `name`. */
export function blueprint(name: string): BlueprintBuilder;
/** The functional form: the blueprint as one object of steps (`step.*`), validated. */
export function blueprint(spec: BlueprintSpec): Blueprint;
export function blueprint(nameOrSpec: string | BlueprintSpec): BlueprintBuilder | Blueprint {
  if (typeof nameOrSpec === 'string') return new BlueprintBuilder(nameOrSpec);
  const { name, steps: list, finally: last, ...fields } = nameOrSpec;
  return checked(
    assemble(
      name,
      listOf(list),
      last === undefined ? fields : { ...fields, finally: listOf(last) },
    ),
  );
}

/** A blueprint as one object: `steps` and `finally` are lists (of `step.*` steps, say). */
export interface BlueprintSpec extends Omit<BlueprintFields, 'finally'> {
  readonly name: string;
  readonly steps: ListArg;
  readonly finally?: ListArg;
}

/** The blueprint JSON, its fields in the order the README writes them, none undefined. */
const assemble = (name: string, list: readonly Step[], fields: BlueprintFields): Blueprint => {
  const ordered = {
    name,
    description: fields.description,
    defaults: fields.defaults,
    signals: fields.signals,
    queries: fields.queries,
    plugins: fields.plugins,
    steps: list,
    output: fields.output,
    timeout: fields.timeout,
    finally: fields.finally,
  };
  return Object.fromEntries(
    Object.entries(ordered).filter(([, value]) => value !== undefined),
  ) as unknown as Blueprint;
};

/** `built` when `validateBlueprint` finds no error; throws `BlueprintInvalid` otherwise. */
const checked = <B extends Blueprint>(built: B): B => {
  const result = validateBlueprint(built);
  if (result.ok) return built;
  const errors = result.diagnostics.filter((d) => d.severity === 'error');
  throw new BlueprintInvalid({
    message: `blueprint "${built.name}" is invalid (${errors.length} error${errors.length === 1 ? '' : 's'}):\n${errors
      .map((d) => `  ${d.path}: ${d.message} [${d.code}]`)
      .join('\n')}`,
    blueprint: built.name,
    diagnostics: result.diagnostics,
  });
};
