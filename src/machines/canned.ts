import * as Result from 'effect/Result';
import * as Schema from 'effect/Schema';
import type { ChildResult } from './messages.ts';
import type { TaskAnswer } from './simulate.ts';

/**
 * The canned results of `weft blueprint simulate` (README "Simulating a blueprint"): what each
 * activity, step and child blueprint answers, which signals arrive, whether timers fire. A result
 * is `{"output": …}` or `{"error": {code?, message?, retryable?, details?}}`; a list of them is
 * taken in order, one per call (attempts and map items in the order they are made). Pure.
 */

const CannedError = Schema.Struct({
  code: Schema.optionalKey(Schema.String),
  message: Schema.optionalKey(Schema.String),
  /** Default true for an activity (a thrown error), false for a child run. */
  retryable: Schema.optionalKey(Schema.Boolean),
  details: Schema.optionalKey(Schema.Json),
});

const CannedResult = Schema.Union([
  Schema.Struct({ output: Schema.Json }),
  Schema.Struct({ error: CannedError }),
]);
export type CannedResult = typeof CannedResult.Type;

/** One result for every call, or a list taken in order. */
const CannedResults = Schema.Union([CannedResult, Schema.Array(CannedResult)]);

const CannedSignal = Schema.Struct({
  name: Schema.String,
  payload: Schema.optionalKey(Schema.Json),
  /** `"start"`: sent as the run starts, before any step's result. */
  at: Schema.optionalKey(Schema.Literal('start')),
  /** A step id: sent as soon as that step is done. */
  after: Schema.optionalKey(Schema.String),
});
export type CannedSignal = typeof CannedSignal.Type;

export const Canned = Schema.Struct({
  /** The simulated clock's start (ISO time); default 2026-01-01T00:00:00Z. */
  start: Schema.optionalKey(Schema.String),
  /** Activity name → result(s). */
  activities: Schema.optionalKey(Schema.Record(Schema.String, CannedResults)),
  /** Step id → result(s): overrides `activities` for an activity step (all items of a map) and `children` for a child step. */
  steps: Schema.optionalKey(Schema.Record(Schema.String, CannedResults)),
  /** Child blueprint name → result(s). */
  children: Schema.optionalKey(Schema.Record(Schema.String, CannedResults)),
  /** Sent in order, each when the run has nothing else to do (or `at` start, or `after` a step). */
  signals: Schema.optionalKey(Schema.Array(CannedSignal)),
  /** `"fire"` (default): when nothing else can happen, the earliest timer fires. `"never"`: none does. */
  timers: Schema.optionalKey(Schema.Literals(['fire', 'never'])),
  /** The result of an activity that has none above. */
  default: Schema.optionalKey(CannedResult),
});
export type Canned = typeof Canned.Type;

const decodeCanned = Schema.decodeUnknownResult(Canned);

/** The simulated clock's start when the file gives none. */
export const DEFAULT_START = Date.UTC(2026, 0, 1);

/** A results file that is not of the documented shape. */
export class CannedInvalid extends Error {
  override readonly name = 'CannedInvalid';
}

/** A canned results document, checked; throws `CannedInvalid` (with the path of each problem). */
export const cannedFrom = (value: unknown): Canned => {
  const decoded = decodeCanned(value, { onExcessProperty: 'error', errors: 'all' });
  if (Result.isFailure(decoded)) throw new CannedInvalid(decoded.failure.message);
  const canned = decoded.success;
  if (canned.start !== undefined && !Number.isFinite(Date.parse(canned.start)))
    throw new CannedInvalid(`start: ${JSON.stringify(canned.start)} is not an ISO time`);
  return canned;
};

/** The simulated clock's start (ms since the epoch). */
export const startOf = (canned: Canned): number =>
  canned.start === undefined ? DEFAULT_START : Date.parse(canned.start);

/** What had no canned result: the simulation cannot go on. */
export class Unanswered extends Error {
  override readonly name = 'Unanswered';
  readonly step: string;
  readonly item: number | undefined;

  constructor(message: string, at: { readonly stepId: string; readonly item?: number }) {
    super(message);
    this.step = at.stepId;
    this.item = at.item;
  }
}

type Section = 'activities' | 'steps' | 'children';

const where = (step: string, item: number | undefined) =>
  item === undefined ? `step '${step}'` : `item ${item} of step '${step}'`;

/**
 * The answers of one simulation, shared by the run and its child runs: each section's lists are
 * taken in order across all of them. Throws `Unanswered` when an activity has no result.
 */
export class CannedAnswers {
  readonly canned: Canned;
  /** `<section>.<name>` → results taken. */
  readonly #taken = new Map<string, number>();

  constructor(canned: Canned) {
    this.canned = canned;
  }

  /** The next result of `name` in `section`: undefined when none is given, 'spent' when a list ran out. */
  #take(section: Section, name: string): CannedResult | 'spent' | undefined {
    const given = this.canned[section]?.[name];
    if (given === undefined) return undefined;
    const key = `${section}.${name}`;
    const taken = this.#taken.get(key) ?? 0;
    this.#taken.set(key, taken + 1);
    if (!Array.isArray(given)) return given as CannedResult;
    return (given as readonly CannedResult[])[taken] ?? 'spent';
  }

  #spent(section: Section, name: string, what: string): string {
    const list = this.canned[section]?.[name];
    const count = Array.isArray(list) ? list.length : 1;
    return `the ${count} canned result${count === 1 ? '' : 's'} of ${section}.${name} ran out at ${what}: add more to the list, or give one result (an object) for every call`;
  }

  /** The result of an activity attempt: `steps.<id>`, else `activities.<name>`, else `default`. */
  activity(task: {
    readonly stepId: string;
    readonly item?: number;
    readonly attempt: number;
    readonly activity: string;
  }): TaskAnswer {
    const what = `${where(task.stepId, task.item)} (activity '${task.activity}', attempt ${task.attempt})`;
    const bySection = (section: Section, name: string) => {
      const result = this.#take(section, name);
      if (result === 'spent') throw new Unanswered(this.#spent(section, name, what), task);
      return result;
    };
    const result =
      bySection('steps', task.stepId) ??
      bySection('activities', task.activity) ??
      this.canned.default;
    if (result === undefined)
      throw new Unanswered(
        `no canned result for activity '${task.activity}' at ${what}: add "activities": {"${task.activity}": {"output": …}} to the results file, or give --default-output`,
        task,
      );
    if ('output' in result) return { ok: true, output: result.output };
    const retryable = result.error.retryable ?? true;
    return {
      ok: false,
      error: {
        message: result.error.message ?? `canned error at ${what}`,
        code: result.error.code ?? (retryable ? 'activity_error' : 'terminal'),
        retryable,
      },
    };
  }

  /**
   * How a child run ends: `steps.<id>`, else `children.<blueprint>`; undefined when neither is
   * given (the caller may run the child itself).
   */
  child(request: {
    readonly stepId: string;
    readonly item?: number;
    readonly blueprint: string;
  }): ChildResult | undefined {
    const what = `${where(request.stepId, request.item)} (child blueprint '${request.blueprint}')`;
    const bySection = (section: Section, name: string) => {
      const result = this.#take(section, name);
      if (result === 'spent') throw new Unanswered(this.#spent(section, name, what), request);
      return result;
    };
    const result = bySection('steps', request.stepId) ?? bySection('children', request.blueprint);
    if (result === undefined) return undefined;
    if ('output' in result) return { ok: true, output: result.output };
    return {
      ok: false,
      error: {
        code: result.error.code ?? 'child_failed',
        message: result.error.message ?? `child run failed (canned) at ${what}`,
        retryable: result.error.retryable ?? false,
      },
    };
  }

  /** Entries of the results file no call took (a misspelt name, a step that never ran). */
  unused(): readonly string[] {
    const sections: readonly Section[] = ['activities', 'steps', 'children'];
    return sections.flatMap((section) =>
      Object.keys(this.canned[section] ?? {})
        .filter((name) => !this.#taken.has(`${section}.${name}`))
        .map((name) => `${section}.${name}`),
    );
  }
}
