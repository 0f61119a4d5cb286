import { DURATION_PATTERN } from './duration.ts';
import type { Json } from './json.ts';
import {
  MAP_ITEM_STEP_TYPES,
  NAME_MAX_LENGTH,
  NAME_PATTERN,
  STEP_TYPES,
  type StepType,
} from './schema.ts';

/**
 * The JSON Schema (draft 2020-12) of blueprints, written for validators and for LLMs: compact
 * (every shared part is a `$defs` entry reached by `$ref`), closed (`additionalProperties: false`
 * on every object with fixed fields) and discriminated on a step's `type` (`Step` picks one
 * definition per type with `if`/`then`), so a validator's error names the field and the step type
 * at fault rather than "not valid under any of the given schemas". Besides shape it states the
 * rules between fields that the validator enforces: a `while` loop needs `maxIterations`; exactly
 * one of a loop's `count` and `while`, a sleep's `duration` and `until`, a wait's `signal` and
 * `when`, a map's `step` and `steps`, a child's `blueprint` and `byType`; a map with several
 * dependencies needs `over`; a duration carries a unit.
 *
 * What a schema cannot say is left to `validateBlueprint`: unique ids and names, `dependsOn` and
 * `onError` targets, cycles, JSONata syntax, `completion.atLeast` against the branch count, the
 * limits of `limits.ts`. Written by hand beside the Effect Schema of `schema.ts`; the unit tests
 * keep the two in step (types, fields, required fields, patterns, and the blueprints both accept).
 */

export const JSON_SCHEMA_DIALECT = 'https://json-schema.org/draft/2020-12/schema';

type JsonObject = { readonly [key: string]: Json };

/** The `$defs` names of the step definitions, e.g. `ActivityStep`, `MapItemChildStep`. */
const stepDef = (type: StepType, item = false): string =>
  `${item ? 'MapItem' : ''}${type.charAt(0).toUpperCase()}${type.slice(1)}Step`;

const ref = (name: string, description?: string): JsonObject =>
  description === undefined
    ? { $ref: `#/$defs/${name}` }
    : { $ref: `#/$defs/${name}`, description };

const described = (description: string, schema: JsonObject = {}): JsonObject => ({
  ...schema,
  description,
});

const closed = (
  description: string | undefined,
  properties: { readonly [key: string]: JsonObject },
  required: readonly string[] = [],
): JsonObject => ({
  type: 'object',
  ...(description === undefined ? {} : { description }),
  properties,
  ...(required.length > 0 ? { required } : {}),
  additionalProperties: false,
});

const positive = (description: string): JsonObject => ({
  type: 'integer',
  minimum: 1,
  description,
});

/** Exactly one of two fields: one is required, and either forbids the other (at its own path). */
const oneOf2 = (a: string, b: string): JsonObject => ({
  anyOf: [{ required: [a] }, { required: [b] }],
  dependentSchemas: { [a]: { properties: { [b]: false } }, [b]: { properties: { [a]: false } } },
});

/** Picks the definition of each `type` by `if`/`then`, so errors come from that one definition. */
const byType = (description: string, types: readonly StepType[], item: boolean): JsonObject => ({
  type: 'object',
  description,
  required: ['type'],
  properties: { type: { enum: types } },
  allOf: types.map((type) => ({
    if: { type: 'object', required: ['type'], properties: { type: { const: type } } },
    then: ref(stepDef(type, item)),
  })),
});

interface Variant {
  readonly description: string;
  readonly fields: { readonly [key: string]: JsonObject };
  readonly required?: readonly string[];
  /** Rules between fields (`anyOf`, `dependentSchemas`, `dependentRequired`, `if`/`then`). */
  readonly rules?: JsonObject;
}

const retryFields = {
  maxAttempts: ref('Attempts'),
  timeout: ref('Timeout'),
  scheduleTimeout: ref('ScheduleTimeout'),
  backoff: ref('Backoff'),
  nonRetryable: ref('NonRetryable'),
};
const containerFields = { timeout: ref('ContainerTimeout'), maxAttempts: ref('ContainerAttempts') };

const childFields = {
  blueprint: ref('NameOrExpression', 'The child blueprint: a name, or an expression giving one.'),
  version: positive('Pin a version (default: the latest).'),
  input: ref('Input'),
  byType: closed(
    'Instead of blueprint: choose it by a value.',
    {
      on: ref('Expression', 'Its value (as a string) selects the blueprint.'),
      blueprints: {
        type: 'object',
        description: 'Value → blueprint name.',
        additionalProperties: ref('Name'),
      },
    },
    ['on', 'blueprints'],
  ),
};

const VARIANTS: { readonly [T in StepType]: Variant } = {
  activity: {
    description: 'Runs an activity on a worker, retried per maxAttempts. Output: its result.',
    fields: {
      activity: ref('NameOrExpression', 'The activity: its name, or an expression giving one.'),
      input: ref('Input'),
      ...retryFields,
    },
    required: ['activity'],
  },
  parallel: {
    description: "Runs branches at once. Output: the branches' outputs (each its last step's).",
    fields: {
      branches: {
        type: 'array',
        minItems: 1,
        items: ref('Steps'),
        description: 'Lists of steps, run at the same time.',
      },
      completion: described(
        '"all" (default); "first": the first branch to finish wins, the others stop; {"atLeast": n}: done when n succeed (a failed branch outputs null), else quorum_not_met.',
        {
          anyOf: [
            { enum: ['all', 'first'] },
            closed(undefined, { atLeast: positive('Branches that must succeed.') }, ['atLeast']),
          ],
        },
      ),
      ...containerFields,
    },
    required: ['branches'],
  },
  condition: {
    description: "Two-way branch. Output: the taken branch's output, or null.",
    fields: {
      when: ref('Expression', 'Truthy runs then, otherwise else.'),
      then: ref('Steps'),
      else: ref('Steps'),
      ...containerFields,
    },
    required: ['when', 'then'],
  },
  switch: {
    description: "Multi-way branch. Output: the taken case's output, or null.",
    fields: {
      on: ref('Expression', 'Its value (as a string) selects the case.'),
      cases: {
        type: 'object',
        description: 'Case value → steps.',
        additionalProperties: ref('Steps'),
      },
      default: ref('Steps', 'Run when no case matches.'),
      ...containerFields,
    },
    required: ['on', 'cases'],
  },
  loop: {
    description:
      "Repeats its steps count times, or while a condition holds (give exactly one). Output: the iterations' outputs.",
    fields: {
      count: described('How many times: a number or an expression.', {
        anyOf: [{ type: 'integer', minimum: 0 }, ref('Expression')],
      }),
      while: ref('Expression', 'Checked before each iteration; needs maxIterations.'),
      maxIterations: positive(
        'Cap of a while loop: reaching it with while still true fails with max_iterations.',
      ),
      steps: ref('Steps', 'The body; $iteration counts from 0.'),
      ...containerFields,
    },
    required: ['steps'],
    rules: { ...oneOf2('count', 'while'), dependentRequired: { while: ['maxIterations'] } },
  },
  map: {
    description:
      'Runs step (or steps) once per item, $item and $index bound. Output: the item outputs in order.',
    fields: {
      over: ref(
        'Expression',
        "The array (default: the single dependency's output, or the run input); needed with several dependsOn.",
      ),
      concurrency: positive('Items at once (default: all).'),
      step: ref('MapItemStep'),
      steps: ref('Steps', 'Instead of step: steps of any type run per item (as a child run).'),
      ...containerFields,
    },
    rules: {
      ...oneOf2('step', 'steps'),
      if: { required: ['dependsOn'], properties: { dependsOn: { type: 'array', minItems: 2 } } },
      then: { required: ['over'] },
    },
  },
  graph: {
    description:
      'Runs step once per item as a dependency graph ($item, $index, $after bound). Output: object keyed by node id.',
    fields: {
      over: ref('Expression', 'The items, one node each.'),
      node: ref('Expression', "An item's node id: a name, unique in the graph."),
      after: ref('Expression', 'The node ids an item runs after.'),
      concurrency: positive('Nodes at once (default: all ready).'),
      step: ref('MapItemStep'),
      ...containerFields,
    },
    required: ['over', 'node', 'step'],
  },
  child: {
    description:
      "Starts a child run of blueprint, or one chosen byType (exactly one), and waits. Output: the child's output.",
    fields: { ...childFields, ...containerFields },
    rules: oneOf2('blueprint', 'byType'),
  },
  wait: {
    description:
      "Waits for a signal, or until when holds (exactly one). Output: the signal's payload, or when's value.",
    fields: {
      signal: ref('Name', 'The signal; one that arrived earlier counts.'),
      when: ref(
        'Expression',
        'Checked at the start and on every signal or set (declare its signals).',
      ),
      timeout: ref(
        'Duration',
        'Then the step fails with code timeout. Without it the step waits for as long as the run lives.',
      ),
    },
    rules: oneOf2('signal', 'when'),
  },
  sleep: {
    description: 'A durable timer: duration or until (exactly one). Output: null.',
    fields: {
      duration: described('A duration, or an expression giving one.', {
        anyOf: [ref('Duration'), ref('Expression')],
      }),
      until: described('An RFC 3339 time, epoch milliseconds, or an expression giving one.', {
        anyOf: [
          ref('Expression'),
          {
            type: 'string',
            pattern:
              '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}(?::\\d{2}(?:\\.\\d{1,9})?)?(?:Z|[+-]\\d{2}:\\d{2})$',
          },
          { type: 'integer', minimum: 0 },
        ],
      }),
    },
    rules: oneOf2('duration', 'until'),
  },
  fail: {
    description: 'Ends the run failed with this error; compensations and finally run.',
    fields: {
      error: closed(
        'The error.',
        {
          code: described('An error code, or an expression giving one.', {
            anyOf: [ref('ErrorCode'), ref('Expression')],
          }),
          message: { type: 'string', description: 'Text, or an expression giving it.' },
        },
        ['code', 'message'],
      ),
      output: described("The failed run's output."),
    },
    required: ['error'],
  },
  succeed: {
    description: 'Ends the run completed now; steps still running are stopped.',
    fields: { output: described("The run output (default: the blueprint's output).") },
  },
  set: {
    description: 'Stores values in $data. Output: the values set.',
    fields: {
      data: {
        type: 'object',
        description: 'Name → value (often an expression), stored as $data.<name>.',
        propertyNames: ref('Name'),
        minProperties: 1,
      },
    },
    required: ['data'],
  },
};

const COMMON_FIELDS = {
  description: { type: 'string' },
  dependsOn: ref('DependsOn'),
  if: ref('Expression', 'Run only when true; otherwise skipped (output null).'),
  onError: ref('OnError'),
};

const variantSchema = (type: StepType, item: boolean): JsonObject => {
  const { description, fields, required = [], rules = {} } = VARIANTS[type];
  // A map's or graph's item: id optional, no compensation, and (for a child) no timeout or
  // attempts of its own (the map's bound every item).
  const own =
    item && type === 'child'
      ? Object.fromEntries(Object.entries(fields).filter(([k]) => !(k in containerFields)))
      : fields;
  return {
    ...closed(
      description,
      {
        id: item ? ref('Name') : ref('Id'),
        type: { const: type },
        ...own,
        ...COMMON_FIELDS,
        ...(item ? {} : { compensate: ref('Compensate') }),
      },
      item ? ['type', ...required] : ['id', 'type', ...required],
    ),
    ...rules,
  };
};

const duration = (description: string): JsonObject => ref('Duration', description);

const definitions = (): { readonly [name: string]: JsonObject } => ({
  Name: {
    type: 'string',
    pattern: NAME_PATTERN.source,
    maxLength: NAME_MAX_LENGTH,
    description: `Letters, digits and _, not starting with a digit, at most ${NAME_MAX_LENGTH} characters.`,
  },
  Id: ref('Name', 'Unique in the whole blueprint; $steps.<id> is its output.'),
  ErrorCode: ref('Name', 'An error code, e.g. "card_declined".'),
  Expression: {
    type: 'string',
    pattern: '^\\s*\\{%[\\s\\S]*%\\}\\s*$',
    description:
      'JSONata in "{% … %}". Bindings: $input, $steps.<id>, $item and $index (map), $iteration (loop), $after (graph), $data, $signals, $run, $progress, $error.',
    examples: ['{% $steps.fetch.items %}'],
  },
  NameOrExpression: { anyOf: [ref('Name'), ref('Expression')] },
  Duration: {
    type: 'string',
    pattern: DURATION_PATTERN.source,
    description: 'A number and a unit (ms, s, m, h, d), e.g. "30s", "1h30m"; never a bare number.',
  },
  Input: described(
    'Any JSON; "{% … %}" strings inside are evaluated. Default: the output of the step it follows or depends on (by id if several), or the run input.',
  ),
  Steps: {
    type: 'array',
    minItems: 1,
    items: ref('Step'),
    description: 'Each step runs after the one before it, unless it gives dependsOn.',
  },
  Step: byType('A step; its type selects its fields.', STEP_TYPES, false),
  MapItemStep: byType(
    'What a map or graph runs per item: an activity or a child step (id optional). For other types, use a map with steps, or a child blueprint.',
    MAP_ITEM_STEP_TYPES,
    true,
  ),
  ...Object.fromEntries(STEP_TYPES.map((type) => [stepDef(type), variantSchema(type, false)])),
  ...Object.fromEntries(
    MAP_ITEM_STEP_TYPES.map((type) => [stepDef(type, true), variantSchema(type, true)]),
  ),
  DependsOn: {
    type: 'array',
    items: ref('Name'),
    description: 'Ids of steps of the same list to finish first; [] makes a root.',
  },
  OnError: described(
    'After the last attempt: "fail" (default), "continue" (output {"error": …}), the id of a step of the same list to jump to, or by error code: {"<code>": route, "default": route}.',
    {
      anyOf: [
        ref('Name'),
        {
          type: 'object',
          propertyNames: ref('ErrorCode'),
          additionalProperties: ref('Name'),
          minProperties: 1,
        },
      ],
    },
  ),
  Compensate: described(
    'Undoes this step (a step or a list) when the run fails or is cancelled after it completed.',
    { anyOf: [ref('Step'), ref('Steps')] },
  ),
  Attempts: positive('Attempts before the step fails (default 3; 1: no retry).'),
  Timeout: duration('Per attempt (default "30s"); then it fails with timeout and is retried.'),
  ScheduleTimeout: duration(
    'How long a task may wait for a worker (default: no limit); then no_worker.',
  ),
  Backoff: closed('Delay between retries: initial × factor^(retry − 1), at most max.', {
    initial: duration('Default "200ms".'),
    factor: { type: 'number', minimum: 1, description: 'Default 2.' },
    max: duration('Default "30s".'),
  }),
  NonRetryable: {
    type: 'array',
    items: ref('ErrorCode'),
    description: 'Error codes never retried.',
  },
  ContainerAttempts: positive(
    'Runs of the whole step (default 1); a retryable failure inside runs it again.',
  ),
  ContainerTimeout: duration(
    'Bounds everything inside, from the start; then it fails with timeout.',
  ),
  Defaults: closed('Retry policy of every activity step that sets none.', retryFields),
  Signal: closed(
    'A signal runs accept.',
    {
      name: ref('Name'),
      handler: {
        enum: ['store', 'append', 'trigger'],
        description:
          '"store" (default) sets $data.<name>, "append" appends to it, "trigger" only records it.',
      },
      description: { type: 'string' },
    },
    ['name'],
  ),
  Query: closed(
    'A named expression over the run state.',
    { name: ref('Name'), expr: ref('Expression'), description: { type: 'string' } },
    ['name', 'expr'],
  ),
  Plugin: closed(
    'Signals and queries named <plugin>_<name>.',
    {
      name: ref('Name'),
      signals: { type: 'array', items: { anyOf: [ref('Name'), ref('Signal')] } },
      queries: { type: 'array', items: { anyOf: [ref('Name'), ref('Query')] } },
      description: { type: 'string' },
    },
    ['name'],
  ),
});

/**
 * The blueprint JSON Schema: the blueprint object at the root (structured-output APIs want an
 * object there, not a `$ref`), definitions under `$defs`. Pure; a fresh object on each call.
 */
export const blueprintJsonSchema = (): JsonObject => ({
  $schema: JSON_SCHEMA_DIALECT,
  title: 'weft blueprint',
  ...closed(
    'A weft workflow. Strings "{% … %}" are JSONata expressions. Beyond this schema, validation checks unique ids, dependsOn and onError targets, cycles and expression syntax.',
    {
      name: ref('Name', 'The blueprint name; versions are kept per name.'),
      description: { type: 'string' },
      defaults: ref('Defaults'),
      signals: { type: 'array', items: ref('Signal') },
      queries: { type: 'array', items: ref('Query') },
      plugins: { type: 'array', items: ref('Plugin') },
      steps: ref('Steps'),
      output: described("The run output (default: the leaf step's output, or the leaves' by id)."),
      timeout: duration('Bounds the whole run; then it ends timed_out.'),
      finally: ref('Steps', 'Run when the run ends, however it ends.'),
    },
    ['name', 'steps'],
  ),
  $defs: definitions(),
});
