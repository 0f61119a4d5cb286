import * as Schema from 'effect/Schema';
import type {
  StandardJSONSchemaV1,
  StandardSchemaV1,
  StandardTypedV1,
} from 'effect/StandardSchema';
import { pathText, type Segment } from '../blueprints/diagnostics.ts';
import type { Json } from '../blueprints/json.ts';
import type { ActivityAnnouncement } from '../wire/protocol.ts';

/**
 * Activity definitions of the worker SDK: a name, a description, and input and output schemas
 * that type `run` and are checked around it.
 *
 * A schema is any Standard Schema v1 (zod, valibot, ArkType, `Schema.toStandardSchemaV1` of an
 * Effect schema, …) or an Effect schema itself (used as `Schema.toStandardSchemaV1(schema)`).
 * `run` gets the input schema's output type and returns the output schema's input type. Before
 * `run`, the worker validates the task's input: one that does not fit fails the attempt with the
 * terminal (never retried) code `invalid_input` and the schema's messages with their paths; after
 * it, the returned value, whose misfit is the terminal `invalid_output` (the activity has run, so
 * a retry would repeat its effects for a bug that stays). The validated values are what `run`
 * gets and what is recorded. A schema that throws is an error of the activity, retried as such.
 *
 * A plain JSON Schema object is still accepted as before: announced, never checked, `run` untyped.
 */

/** The context every activity call gets. */
export interface ActivityContext {
  readonly runId: string;
  readonly stepId: string;
  /** The same on every retry of one step execution: use it as an idempotency key. */
  readonly taskId: string;
  readonly attempt: number;
  /** Aborted at the step's timeout and when the run is cancelled. */
  readonly signal: AbortSignal;
}

/** An activity as a plain function (untyped input). */
export type Activity = (input: unknown, ctx: ActivityContext) => unknown;

/** An Effect schema that decodes without services. */
export type EffectSchema = Schema.ConstraintDecoder<unknown>;

/** A JSON Schema written as data: announced as it is, never checked by the worker. */
export type JsonSchema = boolean | { readonly [key: string]: Json };

/** What may declare an activity's input or output. */
export type ActivitySchema = StandardSchemaV1 | EffectSchema | JsonSchema;

/** What `run` receives for the input schema `S`: its output (decoded) type. */
export type ActivityInput<S> = S extends StandardTypedV1
  ? StandardTypedV1.InferOutput<S>
  : S extends Schema.Constraint
    ? S['Type']
    : unknown;

/** What `run` returns for the output schema `S`: its input (encoded) type. */
export type ActivityOutput<S> = S extends StandardTypedV1
  ? StandardTypedV1.InferInput<S>
  : S extends Schema.Constraint
    ? S['Encoded']
    : unknown;

/**
 * An activity with what it declares about itself. With `input`/`output` schemas, `run` is typed
 * by them; without (or with plain JSON Schemas), its input is `unknown`.
 */
export interface ActivityDefinition<
  In extends ActivitySchema = ActivitySchema,
  Out extends ActivitySchema = ActivitySchema,
> {
  /** The activity's name; default: the key it is given under. */
  readonly name?: string;
  readonly description?: string;
  readonly input?: In;
  readonly output?: Out;
  readonly run: (
    input: ActivityInput<In>,
    ctx: ActivityContext,
  ) => ActivityOutput<Out> | PromiseLike<ActivityOutput<Out>>;
}

/** Any activity definition, typed or not: what `createWorker` takes beside plain functions. */
export interface AnyActivityDefinition {
  readonly name?: string;
  readonly description?: string;
  readonly input?: ActivitySchema;
  readonly output?: ActivitySchema;
  readonly run: (input: never, ctx: ActivityContext) => unknown;
}

/**
 * Declares an activity: its name, description and schemas, and `run` typed by them. Returns the
 * definition unchanged (`createWorker` and `weft worker` take it as it is).
 */
export const defineActivity = <
  In extends ActivitySchema = ActivitySchema,
  Out extends ActivitySchema = ActivitySchema,
>(
  definition: ActivityDefinition<In, Out>,
): ActivityDefinition<In, Out> => definition;

/** True for an activity definition (an object with `run`), also one made by another SDK copy. */
export const isActivityDefinition = (value: unknown): value is AnyActivityDefinition =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as { run?: unknown }).run === 'function';

/**
 * A JSON Schema of an input or output over this many bytes is not announced: announcements go out
 * on every heartbeat, and every runtime keeps them.
 */
export const MAX_ANNOUNCED_SCHEMA_BYTES = 16 * 1024;
/**
 * The schemas of one worker's announcement, all together, stay under this many bytes (far below
 * NATS's smallest usual `max_payload`, 1 MiB): past it, the largest are left out.
 */
export const MAX_ANNOUNCED_SCHEMAS_BYTES = 256 * 1024;

/**
 * An activity failure that is never retried. `code` names it for the blueprint (`onError` by
 * code, `nonRetryable`); without one it is recorded as `terminal`.
 */
export class TerminalError extends Error {
  override readonly name = 'TerminalError';
  readonly code: string | undefined;
  constructor(
    message: string,
    options: { readonly code?: string | undefined; readonly cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code;
  }
}

/** One activity as a worker runs and announces it. */
export interface ResolvedActivity {
  readonly name: string;
  /** `run` with its input and output validated (the definition's own `run` when nothing is). */
  readonly run: Activity;
  readonly announced: ActivityAnnouncement;
  /** Why a declared schema is not announced (too large, not convertible), for the log. */
  readonly notes: readonly string[];
}

/** A Standard Schema, maybe with the Standard JSON Schema converter beside its `validate`. */
type Validating = StandardSchemaV1 & {
  readonly '~standard': { readonly jsonSchema?: StandardJSONSchemaV1.Converter };
};

const isStandard = (schema: ActivitySchema): schema is Validating =>
  (typeof schema === 'object' || typeof schema === 'function') &&
  typeof (schema as { '~standard'?: { validate?: unknown } })['~standard']?.validate === 'function';

const isEffect = (schema: ActivitySchema): schema is EffectSchema => Schema.isSchema(schema);

/**
 * A schema the worker validates with, or undefined for a JSON Schema (announced only). An Effect
 * schema gets Effect's JSON Schema converter, and its validation unless it already has one (from
 * `Schema.toStandardSchemaV1` with the user's options).
 */
const validating = (schema: ActivitySchema | undefined): Validating | undefined => {
  if (schema === undefined) return undefined;
  if (isEffect(schema))
    return Schema.toStandardJSONSchemaV1(
      isStandard(schema) ? schema : Schema.toStandardSchemaV1(schema),
    );
  return isStandard(schema) ? schema : undefined;
};

const segmentOf = (segment: PropertyKey | StandardSchemaV1.PathSegment): Segment => {
  const key = typeof segment === 'object' ? segment.key : segment;
  return typeof key === 'number' ? key : String(key);
};

/** At most this many issues are listed in one error message. */
const MAX_ISSUES = 10;

/** A Standard Schema failure as one message: each issue at its JSON path (`$.amount: …`). */
export const issuesText = (issues: readonly StandardSchemaV1.Issue[]): string => {
  const listed = issues
    .slice(0, MAX_ISSUES)
    .map((issue) => `${pathText((issue.path ?? []).map(segmentOf))}: ${issue.message}`);
  const more = issues.length > MAX_ISSUES ? `; and ${issues.length - MAX_ISSUES} more` : '';
  return `${listed.join('; ')}${more}`;
};

/** The validated value, or a terminal error with `code` naming the schema's issues. */
const validated = async (
  schema: Validating,
  value: unknown,
  what: 'input' | 'output',
): Promise<unknown> => {
  const result = await schema['~standard'].validate(value);
  if (result.issues === undefined) return result.value;
  throw new TerminalError(`invalid ${what}: ${issuesText(result.issues)}`, {
    code: `invalid_${what}`,
  });
};

/** The JSON Schema to announce for one side of a definition, or why there is none. */
const announcedSchema = (
  schema: ActivitySchema | undefined,
  standard: Validating | undefined,
  side: 'input' | 'output',
): { readonly schema?: Json; readonly note?: string } => {
  if (schema === undefined) return {};
  let json: unknown;
  if (standard === undefined) json = schema;
  else {
    const converter = standard['~standard'].jsonSchema;
    if (converter === undefined) return {};
    try {
      json = converter[side]({ target: 'draft-2020-12' });
    } catch (error) {
      return { note: `no JSON Schema for its ${side}: ${String(error)}` };
    }
  }
  let text: string | undefined;
  try {
    text = JSON.stringify(json);
  } catch {
    text = undefined;
  }
  if (text === undefined) return { note: `its ${side} schema is not JSON` };
  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_ANNOUNCED_SCHEMA_BYTES)
    return {
      note: `its ${side} JSON Schema (${bytes} bytes) is over ${MAX_ANNOUNCED_SCHEMA_BYTES} bytes and is not announced`,
    };
  return { schema: JSON.parse(text) as Json };
};

/**
 * One activity from what `createWorker` was given under `key`: its name, its `run` wrapped in the
 * validation its schemas ask for, and its announcement. Never throws for a schema that cannot be
 * converted to JSON Schema (it is announced without).
 */
export const resolveActivity = (
  key: string,
  given: Activity | AnyActivityDefinition,
): ResolvedActivity => {
  const definition: AnyActivityDefinition = isActivityDefinition(given) ? given : { run: given };
  const name = definition.name ?? key;
  const input = validating(definition.input);
  const output = validating(definition.output);
  // The definition's `run` takes what its input schema gives; unchecked inputs are what was sent.
  const own = definition.run as Activity;
  const run: Activity =
    input === undefined && output === undefined
      ? own
      : async (value, ctx) => {
          const checked = input === undefined ? value : await validated(input, value, 'input');
          const result: unknown = await own(checked, ctx);
          return output === undefined ? result : validated(output, result, 'output');
        };
  const inputSchema = announcedSchema(definition.input, input, 'input');
  const outputSchema = announcedSchema(definition.output, output, 'output');
  return {
    name,
    run,
    announced: {
      name,
      ...(definition.description === undefined ? {} : { description: definition.description }),
      ...(inputSchema.schema === undefined ? {} : { input: inputSchema.schema }),
      ...(outputSchema.schema === undefined ? {} : { output: outputSchema.schema }),
    },
    notes: [inputSchema.note, outputSchema.note].filter((n) => n !== undefined),
  };
};

/**
 * `announced` with the largest schemas left out until all of them together fit in
 * `MAX_ANNOUNCED_SCHEMAS_BYTES`; `left` names the activities whose schemas were. Pure.
 */
export const fitAnnouncement = (
  announced: readonly ActivityAnnouncement[],
): { readonly activities: readonly ActivityAnnouncement[]; readonly left: readonly string[] } => {
  const sizeOf = (a: ActivityAnnouncement): number =>
    (a.input === undefined ? 0 : JSON.stringify(a.input).length) +
    (a.output === undefined ? 0 : JSON.stringify(a.output).length);
  const sizes = announced.map(sizeOf);
  let total = sizes.reduce((sum, size) => sum + size, 0);
  const dropped = new Set<number>();
  const largestFirst = sizes.map((size, i) => ({ size, i })).sort((a, b) => b.size - a.size);
  for (const { size, i } of largestFirst) {
    if (total <= MAX_ANNOUNCED_SCHEMAS_BYTES) break;
    dropped.add(i);
    total -= size;
  }
  return {
    activities: announced.map((a, i) => {
      if (!dropped.has(i)) return a;
      const { input: _input, output: _output, ...rest } = a;
      return rest;
    }),
    left: [...dropped].map((i) => announced[i]?.name ?? ''),
  };
};
