import * as Schema from 'effect/Schema';
import { DURATION_PATTERN, parseDuration } from './duration.ts';
import type { Json } from './json.ts';

/**
 * The blueprint language of CONTRACT §2 as one Effect Schema. Types come from here; the JSON
 * Schema handed to people and LLMs is generated from here (`jsonSchema.ts`); `validate.ts` decodes
 * with it and adds the checks a schema cannot express (ids, dependencies, cycles, limits).
 *
 * Objects are closed: decode with `onExcessProperty: 'error'` (as `validate.ts` does) so a
 * misspelt field is an error rather than silently ignored.
 *
 * Filters carry a `weftCode` annotation (`invalid_name`, `invalid_duration`,
 * `expression_syntax`) that `validate.ts` turns into the diagnostic code.
 */

export const NAME_PATTERN = /^[a-zA-Z_][a-zA-Z0-9_]*$/u;
export const NAME_MAX_LENGTH = 64;

/** True for a valid blueprint, step, activity, signal, query or plugin name. Pure. */
export const isName = (value: unknown): value is string =>
  typeof value === 'string' && value.length <= NAME_MAX_LENGTH && NAME_PATTERN.test(value);

const NAME_RULE = `letters, digits and "_", not starting with a digit, at most ${NAME_MAX_LENGTH} characters`;

export const Name = Schema.String.check(
  Schema.isPattern(NAME_PATTERN, { expected: `a name (${NAME_RULE})`, weftCode: 'invalid_name' }),
  Schema.isMaxLength(NAME_MAX_LENGTH, {
    expected: `a name of at most ${NAME_MAX_LENGTH} characters`,
    weftCode: 'invalid_name',
  }),
).annotate({
  title: 'Name',
  description: `An identifier: ${NAME_RULE}. Used in NATS subjects and stream names, so nothing else is accepted.`,
  examples: ['fetch_data', 'process_batch'],
});

/**
 * An error code: what an activity's error, a `fail` step or the engine calls a failure
 * (`activity_error`, `timeout`, `card_declined`, …). The same rule as a name.
 */
export const ErrorCode = Schema.String.check(
  Schema.isPattern(NAME_PATTERN, {
    expected: `an error code (${NAME_RULE})`,
    weftCode: 'invalid_name',
  }),
  Schema.isMaxLength(NAME_MAX_LENGTH, {
    expected: `an error code of at most ${NAME_MAX_LENGTH} characters`,
    weftCode: 'invalid_name',
  }),
).annotate({
  title: 'ErrorCode',
  description: `An error code: ${NAME_RULE}, e.g. "card_declined". Built-in codes: activity_error, terminal, timeout, no_worker, invalid_result, expression_error, …`,
  examples: ['card_declined', 'timeout'],
});

const EXPRESSION_PATTERN = /^\s*\{%[\s\S]*%\}\s*$/u;

export const Expression = Schema.String.check(
  Schema.isPattern(EXPRESSION_PATTERN, {
    expected: 'an expression written as "{% … %}"',
    weftCode: 'expression_syntax',
  }),
).annotate({
  title: 'Expression',
  description:
    'A JSONata expression written as "{% … %}". Bindings: $input (run input), $steps.<id> (a step\'s output), ' +
    '$item and $index (inside a map), $iteration (inside a loop), $data (stored signal data), $signals, ' +
    '$run ({id, blueprint, version, startedAt}), $progress.<id> ({done, failed, total} of a running map, loop or graph), ' +
    '$after (inside a graph node: the outputs of its after nodes), $error (in the step an onError route names and every step ' +
    'inside it, and in compensations and finally). No $eval, no clock, no randomness.',
  examples: ['{% $steps.fetch_data.items %}', '{% $input.amount > 100 %}'],
});

/**
 * A duration is a string with a unit. A bare number is refused (`duration_unit`, see
 * `issues.ts`): `"timeout": 60` reads as a minute to some and as 60 ms to others.
 */
export const Duration = Schema.String.check(
  // The pattern goes last: the annotations below land on the last check, and only the pattern
  // has a JSON Schema form to carry them.
  Schema.makeFilter((s: string) => !DURATION_PATTERN.test(s) || parseDuration(s) !== undefined, {
    expected: `a duration of at most ${Number.MAX_SAFE_INTEGER} ms`,
    weftCode: 'invalid_duration',
  }),
  Schema.isPattern(DURATION_PATTERN, {
    expected: 'a duration like "200ms", "30s", "2m", "1h", "1d" or "1h30m"',
    weftCode: 'invalid_duration',
  }),
).annotate({
  title: 'Duration',
  description:
    'A duration: a string of number and unit (ms, s, m, h, d), e.g. "200ms", "30s", "2m", "1h30m". A bare number is an error.',
  examples: ['30s', '2m', '500ms'],
});
export type Duration = typeof Duration.Type;

const PositiveInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(1));
const NonNegativeInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0));

const JsonValue = Schema.Json.annotate({
  description:
    'Any JSON value. Strings written as "{% … %}" anywhere inside are expressions, replaced by their value.',
});

const Timestamp = Schema.String.check(
  Schema.isPattern(
    /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})$/u,
    {
      expected: 'an RFC 3339 timestamp like "2030-01-01T00:00:00Z"',
    },
  ),
).annotate({ description: 'An RFC 3339 timestamp, e.g. "2030-01-01T09:00:00Z".' });

export const Backoff = Schema.Struct({
  initial: Schema.optionalKey(
    Duration.annotate({ description: 'Delay before the first retry (default "200ms").' }),
  ),
  factor: Schema.optionalKey(
    Schema.Finite.check(Schema.isGreaterThanOrEqualTo(1)).annotate({
      description: 'Each retry waits this many times longer than the one before (default 2).',
    }),
  ),
  max: Schema.optionalKey(
    Duration.annotate({ description: 'Longest delay between retries (default "30s").' }),
  ),
}).annotate({
  identifier: 'Backoff',
  title: 'Backoff',
  description: 'Delay between retries: initial × factor^(retry − 1), capped at max.',
});
export type Backoff = typeof Backoff.Type;

const maxAttempts = PositiveInt.annotate({
  description:
    'How many times an activity is attempted before it fails (default 3); 1 means no retry.',
});
const timeout = Duration.annotate({
  description:
    'How long one attempt of the activity may take (default "30s"); then it fails with code timeout and is retried per maxAttempts.',
});

/**
 * The retry policy: fields of `activity` steps (a map's inner activity included) and of
 * `defaults`. Other step types refuse them (the engine would not use them; `issues.ts` says
 * where they belong).
 */
export const RETRY_FIELDS = [
  'maxAttempts',
  'timeout',
  'scheduleTimeout',
  'backoff',
  'nonRetryable',
] as const;

const scheduleTimeout = Duration.annotate({
  description:
    'How long a task may wait for a worker to take it (none by default); then the attempt fails with code no_worker and is retried per maxAttempts (onError applies).',
});

const nonRetryable = Schema.Array(ErrorCode).annotate({
  description:
    'Error codes never retried: an attempt failing with one of these goes straight to onError, whatever maxAttempts says.',
  examples: [['card_declined', 'invalid_address']],
});

const containerAttempts = PositiveInt.annotate({
  description:
    'How many times the whole step is run (default 1: not retried): when it fails with a retryable error — its timeout, or a failure inside it its onError does not route — what still runs inside is stopped and it runs again from its start, at once.',
});

const containerTimeout = Duration.annotate({
  description:
    'How long everything inside this step may take, from its start (none by default); then what still runs inside is stopped and the step fails with code timeout (its onError applies).',
});

const retryFields = {
  maxAttempts: Schema.optionalKey(maxAttempts),
  timeout: Schema.optionalKey(timeout),
  scheduleTimeout: Schema.optionalKey(scheduleTimeout),
  backoff: Schema.optionalKey(Backoff),
  nonRetryable: Schema.optionalKey(nonRetryable),
};

export const Defaults = Schema.Struct(retryFields).annotate({
  identifier: 'Defaults',
  title: 'Defaults',
  description:
    "Retry policy for every activity step (a map's inner activity included) that does not set its own.",
});
export type Defaults = typeof Defaults.Type;
/** The retry policy fields a blueprint's `defaults` and each step may set. */
export type RetryPolicy = Defaults;

export const SignalHandler = Schema.Literals(['store', 'append', 'trigger']).annotate({
  description:
    '"store" sets $data.<name> to the payload, "append" appends it to $data.<name>, "trigger" only records it (and releases wait steps).',
});
export type SignalHandler = typeof SignalHandler.Type;

export const SignalDecl = Schema.Struct({
  name: Name,
  handler: Schema.optionalKey(SignalHandler),
  description: Schema.optionalKey(Schema.String),
}).annotate({
  identifier: 'SignalDecl',
  title: 'Signal',
  description: 'A signal the run accepts; the handler defaults to "store".',
});
export type SignalDecl = typeof SignalDecl.Type;

export const QueryDecl = Schema.Struct({
  name: Name,
  expr: Expression.annotate({
    description: 'What the query answers, evaluated against the run state when asked.',
  }),
  description: Schema.optionalKey(Schema.String),
}).annotate({
  identifier: 'QueryDecl',
  title: 'Query',
  description: 'A named expression over the run state that clients can ask for.',
});
export type QueryDecl = typeof QueryDecl.Type;

export const PluginDecl = Schema.Struct({
  name: Name,
  signals: Schema.optionalKey(
    Schema.Array(Schema.Union([Name, SignalDecl])).annotate({
      description: 'Adds signals named <plugin>_<signal> (handler "store" unless given).',
    }),
  ),
  queries: Schema.optionalKey(
    Schema.Array(Schema.Union([Name, QueryDecl])).annotate({
      description:
        "Adds queries named <plugin>_<query>; one named after a built-in query answers for this plugin's signals only.",
    }),
  ),
  description: Schema.optionalKey(Schema.String),
}).annotate({
  identifier: 'PluginDecl',
  title: 'Plugin',
  description: 'A bundle of signals and queries under a common prefix.',
});
export type PluginDecl = typeof PluginDecl.Type;

const StepFields = Schema.Struct({
  description: Schema.optionalKey(
    Schema.String.annotate({ description: 'What the step is for (documentation only).' }),
  ),
  dependsOn: Schema.optionalKey(
    Schema.Array(Name).annotate({
      description:
        'Ids of steps in the same list that must be done first. Without it a step runs after the one before it; [] makes it a root.',
    }),
  ),
  if: Schema.optionalKey(
    Expression.annotate({
      description: 'Run the step only when this is true; otherwise it is skipped with output null.',
    }),
  ),
  onError: Schema.optionalKey(
    Schema.Union([
      Name.annotate({
        description:
          'When retries are spent: "fail" (default) fails the run, "continue" records {"error": …} as the output and goes on, or the id of a step in the same list to jump to.',
      }),
      Schema.Record(ErrorCode, Name)
        .check(Schema.isMinProperties(1, { expected: 'at least one error code (or "default")' }))
        .annotate({
          description:
            'By error code: code → "fail", "continue" or a step id of the same list; "default" for every other code (without it, other codes fail the run).',
          examples: [{ card_declined: 'notify_customer', default: 'fail' }],
        }),
    ]).annotate({
      description:
        'When retries are spent: "fail" (default), "continue", a step id to jump to, or a map from error code to one of these.',
    }),
  ),
});
/**
 * The fields every step may have, besides `id` and `type`, and the retry policy (all of it on
 * `activity` steps; `timeout` and `maxAttempts` on containers, `timeout` on `wait`; the types keep
 * it on all for the engine's sake).
 */
export type StepFields = typeof StepFields.Type & RetryPolicy;

interface WithId {
  readonly id: string;
}

/** What undoes a step when the run fails or is cancelled after it completed: a step or a list. */
interface Compensable {
  readonly compensate?: Step | readonly Step[];
}

type StepShape<T extends string, Fields> = WithId & { readonly type: T } & Fields &
  StepFields &
  Compensable;

export interface ActivityFields {
  /** An activity name, or an expression giving one. */
  readonly activity: string;
  readonly input?: Json;
}
/** A container's `timeout` bounds everything inside it; its `maxAttempts` reruns it as a whole. */
export interface ParallelFields {
  readonly branches: readonly (readonly Step[])[];
  readonly completion?: 'all' | 'first' | { readonly atLeast: number };
}
export interface ConditionFields {
  readonly when: string;
  readonly then: readonly Step[];
  readonly else?: readonly Step[];
}
export interface SwitchFields {
  readonly on: string;
  readonly cases: { readonly [value: string]: readonly Step[] };
  readonly default?: readonly Step[];
}
export interface LoopFields {
  readonly count?: number | string;
  readonly while?: string;
  readonly maxIterations?: number;
  readonly steps: readonly Step[];
}
/** A map runs `step` or `steps` per item (validation refuses both or neither). */
export interface MapFields {
  readonly over?: string;
  readonly concurrency?: number;
  readonly step?: MapItemStep;
  readonly steps?: readonly Step[];
}
/** One node per item of `over`: its id and the ids it runs after, evaluated per item. */
export interface GraphFields {
  readonly over: string;
  readonly node: string;
  readonly after?: string;
  readonly concurrency?: number;
  readonly step: MapItemStep;
}
export interface ChildFields {
  readonly blueprint?: string;
  readonly version?: number;
  readonly input?: Json;
  readonly byType?: {
    readonly on: string;
    readonly blueprints: { readonly [value: string]: string };
  };
}
/** A wait gives `signal` or `when` (validation refuses both or neither). */
export interface WaitFields {
  readonly signal?: string;
  readonly when?: string;
}
export interface FailFields {
  readonly error: { readonly code: string; readonly message: string };
  readonly output?: Json;
}
export interface SucceedFields {
  readonly output?: Json;
}
export interface SetFields {
  readonly data: { readonly [name: string]: Json };
}
export interface SleepFields {
  /** A duration, or an expression giving one. */
  readonly duration?: string;
  readonly until?: string | number;
}

export type ActivityStep = StepShape<'activity', ActivityFields>;
export type ParallelStep = StepShape<'parallel', ParallelFields>;
export type ConditionStep = StepShape<'condition', ConditionFields>;
export type SwitchStep = StepShape<'switch', SwitchFields>;
export type LoopStep = StepShape<'loop', LoopFields>;
export type MapStep = StepShape<'map', MapFields>;
export type GraphStep = StepShape<'graph', GraphFields>;
export type ChildStep = StepShape<'child', ChildFields>;
export type WaitStep = StepShape<'wait', WaitFields>;
export type SleepStep = StepShape<'sleep', SleepFields>;
export type FailStep = StepShape<'fail', FailFields>;
export type SucceedStep = StepShape<'succeed', SucceedFields>;
export type SetStep = StepShape<'set', SetFields>;

/** A step of a `steps`, branch, case, `then`/`else` or loop list; discriminated on `type`. */
export type Step =
  | ActivityStep
  | ParallelStep
  | ConditionStep
  | SwitchStep
  | LoopStep
  | MapStep
  | GraphStep
  | ChildStep
  | WaitStep
  | SleepStep
  | FailStep
  | SucceedStep
  | SetStep;

export type StepType = Step['type'];

/** The single step inside a `map`: an activity or a child step, with an optional `id`. */
export type MapItemStep = MapItemStepOf<ActivityStep> | MapItemStepOf<ChildStep>;
type MapItemStepOf<S extends Step> = Omit<S, 'id' | 'compensate'> & { readonly id?: string };

/** The step types a map may run for each item (the engine runs no other). */
export const MAP_ITEM_STEP_TYPES: readonly MapItemStep['type'][] = ['activity', 'child'];

export const STEP_TYPES: readonly StepType[] = [
  'activity',
  'parallel',
  'condition',
  'switch',
  'loop',
  'map',
  'graph',
  'child',
  'wait',
  'sleep',
  'fail',
  'succeed',
  'set',
];

const stepList = (description: string) =>
  Schema.Array(Schema.suspend((): Schema.Codec<Step> => Step))
    .check(Schema.isMinLength(1, { expected: 'at least one step' }))
    .annotate({ description });

const nameOrExpression = (description: string) =>
  Schema.Union([Name, Expression]).annotate({ description, weftCode: 'invalid_name' });

/** Fields of each step type, without `id`; shared by list steps and the map's item step. */
const variants = {
  activity: {
    fields: {
      type: Schema.Literal('activity'),
      activity: nameOrExpression('The activity to run: its name, or an expression giving one.'),
      ...retryFields,
      input: Schema.optionalKey(
        JsonValue.annotate({
          description:
            'The activity input (default: the run input for a first root step, the output of its single dependency, or an object keyed by dependency id).',
        }),
      ),
    },
    description:
      "Runs the named activity on a worker, with retries per maxAttempts/backoff. Output: the activity's result.",
  },
  parallel: {
    fields: {
      type: Schema.Literal('parallel'),
      timeout: Schema.optionalKey(containerTimeout),
      maxAttempts: Schema.optionalKey(containerAttempts),
      branches: Schema.Array(
        stepList('One branch: a list of steps run in order (or per dependsOn).'),
      )
        .check(Schema.isMinLength(1, { expected: 'at least one branch' }))
        .annotate({
          description: 'Branches run at the same time; the step is done per its completion.',
        }),
      completion: Schema.optionalKey(
        Schema.Union([
          Schema.Literals(['all', 'first']),
          Schema.Struct({ atLeast: PositiveInt }),
        ]).annotate({
          description:
            '"all" (default): done when every branch is, output the array of their outputs. "first": the first branch to finish wins, output its output, the others are stopped; a failing branch drops out (as Promise.any), and if all fail the step fails with quorum_not_met. {"atLeast": n}: a failing branch ends alone (output null); once all have ended, done if at least n succeeded, else fails with quorum_not_met.',
        }),
      ),
    },
    description:
      "Runs branches at once and joins them per its completion. Output: the array of branch outputs (a branch's output is its last step's); with completion \"first\", the winning branch's output.",
  },
  condition: {
    fields: {
      type: Schema.Literal('condition'),
      timeout: Schema.optionalKey(containerTimeout),
      maxAttempts: Schema.optionalKey(containerAttempts),
      when: Expression.annotate({
        description: 'Decides the branch: truthy runs then, otherwise else.',
      }),
      then: stepList('Steps run when the condition holds.'),
      else: Schema.optionalKey(stepList('Steps run when it does not.')),
    },
    description: "Two-way branch. Output: the taken branch's output, or null.",
  },
  switch: {
    fields: {
      type: Schema.Literal('switch'),
      timeout: Schema.optionalKey(containerTimeout),
      maxAttempts: Schema.optionalKey(containerAttempts),
      on: Expression.annotate({ description: 'Its value (as a string) selects the case.' }),
      cases: Schema.Record(Schema.String, stepList('Steps run for this case.')).annotate({
        description: 'Case value → steps.',
      }),
      default: Schema.optionalKey(stepList('Steps run when no case matches.')),
    },
    description: "Multi-way branch. Output: the taken case's output, or null.",
  },
  loop: {
    fields: {
      type: Schema.Literal('loop'),
      timeout: Schema.optionalKey(containerTimeout),
      maxAttempts: Schema.optionalKey(containerAttempts),
      count: Schema.optionalKey(
        Schema.Union([NonNegativeInt, Expression]).annotate({
          description: 'Repeat this many times (a number or an expression giving one).',
        }),
      ),
      while: Schema.optionalKey(
        Expression.annotate({
          description:
            'Repeat while this holds (checked before each iteration); needs maxIterations.',
        }),
      ),
      maxIterations: Schema.optionalKey(
        PositiveInt.annotate({
          description:
            'Upper bound of a while loop; reaching it with the condition still true fails with max_iterations.',
        }),
      ),
      steps: stepList('The loop body; $iteration counts from 0.'),
    },
    description:
      "Repeats its steps, count times or while a condition holds. Output: the array of the iterations' outputs.",
  },
  map: {
    fields: {
      type: Schema.Literal('map'),
      timeout: Schema.optionalKey(containerTimeout),
      maxAttempts: Schema.optionalKey(containerAttempts),
      over: Schema.optionalKey(
        Expression.annotate({
          description:
            "The array to map over (default: the single dependency's output, or the run input).",
        }),
      ),
      concurrency: Schema.optionalKey(
        PositiveInt.annotate({ description: 'How many items run at once (default: all).' }),
      ),
      step: Schema.optionalKey(Schema.suspend((): Schema.Codec<MapItemStep> => MapItemStep)),
      steps: Schema.optionalKey(
        stepList(
          "Instead of step: a list of steps of any type run for each item, as a run of its own (a child run, its input the item), with $item and $index bound throughout; the item's output is the list's output (its last step's, or its leaves by id). The blueprint's defaults apply inside.",
        ),
      ),
    },
    description:
      'Fans out over an array and fans in: runs `step` (an activity or a child step, id optional), or the list `steps`, once per item with $item and $index bound. Retries and timeouts go on that step. Output: the array of the item outputs, in item order.',
  },
  graph: {
    fields: {
      type: Schema.Literal('graph'),
      timeout: Schema.optionalKey(containerTimeout),
      maxAttempts: Schema.optionalKey(containerAttempts),
      over: Expression.annotate({
        description: 'The items, one node each, e.g. "{% $input.jobs %}".',
      }),
      node: Expression.annotate({
        description:
          'The node id of an item (evaluated with $item and $index): a name, unique in the graph.',
        examples: ['{% $item.name %}'],
      }),
      after: Schema.optionalKey(
        Expression.annotate({
          description:
            'The node ids this item runs after (an array, evaluated with $item and $index; none by default). A node runs as soon as all of them are done; a cycle fails the step with graph_cycle.',
          examples: ['{% $item.after %}'],
        }),
      ),
      concurrency: Schema.optionalKey(
        PositiveInt.annotate({ description: 'How many nodes run at once (default: all ready).' }),
      ),
      step: Schema.suspend((): Schema.Codec<MapItemStep> => MapItemStep),
    },
    description:
      'Runs `step` once per item of `over` as a dependency graph: each node as soon as the nodes it runs after are done, with $item, $index and $after (the outputs of those nodes, by id). Output: an object keyed by node id.',
  },
  child: {
    fields: {
      type: Schema.Literal('child'),
      timeout: Schema.optionalKey(containerTimeout),
      maxAttempts: Schema.optionalKey(containerAttempts),
      blueprint: Schema.optionalKey(
        nameOrExpression('The child blueprint: its name, or an expression giving one.'),
      ),
      version: Schema.optionalKey(
        PositiveInt.annotate({ description: 'Pin a blueprint version (default: the latest).' }),
      ),
      input: Schema.optionalKey(
        JsonValue.annotate({ description: "The child run's input (default as for activities)." }),
      ),
      byType: Schema.optionalKey(
        Schema.Struct({
          on: Expression.annotate({
            description: 'Its value (as a string) selects the blueprint.',
          }),
          blueprints: Schema.Record(Schema.String, Name).annotate({
            description: 'Value → blueprint name.',
          }),
        }).annotate({
          description: 'Choose the child blueprint by a value, instead of `blueprint`.',
        }),
      ),
    },
    description:
      "Starts a child run (of `blueprint`, or chosen by `byType`) and waits for it. Output: the child run's output.",
  },
  wait: {
    fields: {
      type: Schema.Literal('wait'),
      signal: Schema.optionalKey(
        Name.annotate({
          description:
            'The signal to wait for; one that arrived before the step started counts. Give signal or when.',
        }),
      ),
      when: Schema.optionalKey(
        Expression.annotate({
          description:
            'Wait until this is true, checked at the start and whenever a signal arrives or a set step stores data (over $signals, $data, $steps). The signals it looks at must be declared in signals. Give signal or when.',
          examples: ["{% $count($signals[name = 'vote']) >= 3 %}"],
        }),
      ),
      timeout: Schema.optionalKey(
        Duration.annotate({
          description:
            'How long to wait; then the step fails with code timeout (onError applies). Without it the step waits for as long as the run lives.',
        }),
      ),
    },
    description:
      "Waits for a signal, or until a condition holds, without a time limit unless timeout is given. Output: the signal's payload, or the condition's value.",
  },
  sleep: {
    fields: {
      type: Schema.Literal('sleep'),
      duration: Schema.optionalKey(
        Schema.Union([Duration, Expression]).annotate({
          description: 'How long to sleep (a duration, or an expression giving one).',
        }),
      ),
      until: Schema.optionalKey(
        Schema.Union([Expression, Timestamp, NonNegativeInt]).annotate({
          description:
            'Sleep until this time: an RFC 3339 timestamp, epoch milliseconds, or an expression giving either.',
        }),
      ),
    },
    description: 'A durable timer: give exactly one of duration or until. Output: null.',
  },
  fail: {
    fields: {
      type: Schema.Literal('fail'),
      error: Schema.Struct({
        code: Schema.Union([ErrorCode, Expression]).annotate({
          description:
            'The run\'s error code (or an expression giving one), e.g. "payment_declined".',
          weftCode: 'invalid_name',
        }),
        message: Schema.String.annotate({
          description: 'What went wrong: text, or an expression giving it ("{% … %}").',
        }),
      }).annotate({ description: 'The error the run fails with.' }),
      output: Schema.optionalKey(
        JsonValue.annotate({ description: "The failed run's output (default: none)." }),
      ),
    },
    description:
      'Ends the run as failed, on purpose, with this error code and message (and output, if given). Steps still running are stopped; compensations and finally steps run.',
  },
  succeed: {
    fields: {
      type: Schema.Literal('succeed'),
      output: Schema.optionalKey(
        JsonValue.annotate({
          description: "The run output (default: the blueprint's output, as at the end of a run).",
        }),
      ),
    },
    description:
      'Ends the run as completed now, skipping whatever has not run yet; steps still running are stopped.',
  },
  set: {
    fields: {
      type: Schema.Literal('set'),
      data: Schema.Record(Name, JsonValue)
        .check(Schema.isMinProperties(1, { expected: 'at least one value to set' }))
        .annotate({
          description:
            'Name → value (usually an expression); each is stored as $data.<name> for the steps after it, replacing what was there.',
        }),
    },
    description: 'Stores computed values in $data. Output: the values set.',
  },
} as const;

const titleOf = (type: string): string => `${type.charAt(0).toUpperCase()}${type.slice(1)}Step`;

const stepId = Name.annotate({
  description: 'The step id, unique in the whole blueprint; $steps.<id> holds its output.',
});
const itemStepId = Schema.optionalKey(
  Name.annotate({ description: 'Optional id, unique in the whole blueprint.' }),
);

const compensate = Schema.optionalKey(
  Schema.Union([
    Schema.suspend((): Schema.Codec<Step> => Step),
    stepList('Steps run in order to undo this one.'),
  ] as const).annotate({
    description:
      "What undoes this step (a step or a list of steps): when the run fails or is cancelled after this step completed, the compensations of the completed steps run in reverse order of completion, before finally. They see $steps (this step's output too) and $error (why the run unwinds: the failure, or {code: cancelled} or {code: timed_out}).",
  }),
);

const variant = <
  Id extends typeof stepId | typeof itemStepId,
  F extends Schema.Struct.Fields,
  E extends Schema.Struct.Fields,
>(
  id: Id,
  type: StepType,
  spec: { readonly fields: F; readonly description: string },
  prefix: string,
  extra: E,
) =>
  Schema.Struct({ id, ...spec.fields, ...StepFields.fields, ...extra }).annotate({
    identifier: `${prefix}${titleOf(type)}`,
    title: `${type} step`,
    description: spec.description,
  });

export const Step: Schema.Codec<Step> = Schema.Union([
  variant(stepId, 'activity', variants.activity, '', { compensate }),
  variant(stepId, 'parallel', variants.parallel, '', { compensate }),
  variant(stepId, 'condition', variants.condition, '', { compensate }),
  variant(stepId, 'switch', variants.switch, '', { compensate }),
  variant(stepId, 'loop', variants.loop, '', { compensate }),
  variant(stepId, 'map', variants.map, '', { compensate }),
  variant(stepId, 'graph', variants.graph, '', { compensate }),
  variant(stepId, 'child', variants.child, '', { compensate }),
  variant(stepId, 'wait', variants.wait, '', { compensate }),
  variant(stepId, 'sleep', variants.sleep, '', { compensate }),
  variant(stepId, 'fail', variants.fail, '', { compensate }),
  variant(stepId, 'succeed', variants.succeed, '', { compensate }),
  variant(stepId, 'set', variants.set, '', { compensate }),
]).annotate({
  identifier: 'Step',
  title: 'Step',
  description:
    'A step; "type" selects its kind. Common fields: id, dependsOn, if, onError, compensate; activity steps also maxAttempts, timeout, scheduleTimeout, backoff, nonRetryable; containers (parallel, condition, switch, loop, map, graph, child) timeout and maxAttempts for everything inside them; wait steps timeout.',
  weftStepUnion: STEP_TYPES,
});

const {
  timeout: _itemTimeout,
  maxAttempts: _itemAttempts,
  ...itemChildFields
} = variants.child.fields;

export const MapItemStep: Schema.Codec<MapItemStep> = Schema.Union([
  variant(itemStepId, 'activity', variants.activity, 'MapItem', {}),
  // A map's child item has no timeout or attempts of its own: the map's bound every item.
  variant(itemStepId, 'child', { ...variants.child, fields: itemChildFields }, 'MapItem', {}),
]).annotate({
  identifier: 'MapItemStep',
  title: 'MapItemStep',
  description: 'The step a map runs for each item: an activity or a child step, id optional.',
  weftStepUnion: MAP_ITEM_STEP_TYPES,
});

export interface Blueprint {
  readonly name: string;
  readonly description?: string;
  readonly defaults?: Defaults;
  readonly signals?: readonly SignalDecl[];
  readonly queries?: readonly QueryDecl[];
  readonly plugins?: readonly PluginDecl[];
  readonly steps: readonly Step[];
  readonly output?: Json;
  readonly timeout?: Duration;
  readonly finally?: readonly Step[];
}

export const Blueprint: Schema.Codec<Blueprint> = Schema.Struct({
  name: Name.annotate({ description: 'The blueprint name; versions are kept per name.' }),
  description: Schema.optionalKey(
    Schema.String.annotate({ description: 'What the workflow does.' }),
  ),
  defaults: Schema.optionalKey(Defaults),
  signals: Schema.optionalKey(
    Schema.Array(SignalDecl).annotate({ description: 'Signals runs of this blueprint accept.' }),
  ),
  queries: Schema.optionalKey(
    Schema.Array(QueryDecl).annotate({
      description: 'Queries runs of this blueprint answer, besides the built-ins.',
    }),
  ),
  plugins: Schema.optionalKey(
    Schema.Array(PluginDecl).annotate({
      description: 'Plugins: prefixed bundles of signals and queries.',
    }),
  ),
  steps: stepList(
    'The steps. Each runs after the one before it unless it says dependsOn (then after all of those; [] makes it a root).',
  ),
  output: Schema.optionalKey(
    JsonValue.annotate({
      description:
        'The run output, usually an expression like "{% $steps.last_step %}" (default: the output of the single leaf step, or an object keyed by leaf id).',
    }),
  ),
  timeout: Schema.optionalKey(
    Duration.annotate({
      description:
        'How long the whole run may take (none by default); then it ends with status timed_out (its activities are aborted, its child runs cancelled).',
    }),
  ),
  finally: Schema.optionalKey(
    stepList(
      "Steps run when the run ends, however it ends (completed, failed, cancelled, timed out), after any compensations and before the run's end is recorded. A failing finally step does not stop the others; its error is recorded on the end event (cleanupErrors).",
    ),
  ),
}).annotate({
  identifier: 'Blueprint',
  title: 'weft blueprint',
  description:
    'A dynamic workflow for weft: named steps (activities, branches, loops, maps, child runs, waits, sleeps) with dependencies, retries and JSONata expressions.',
});
