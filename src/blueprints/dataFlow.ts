import { expressionBody, isExpression } from '../expressions/sandbox.ts';
import { fieldOf, mismatchInside, mismatches, type Known } from './conforms.ts';
import { child, isRecord, own, type Diagnostics, type Segment } from './diagnostics.ts';
import type { Json } from './json.ts';
import { rawDependencies, type RawList } from './rawSteps.ts';
import { isName } from './schema.ts';

/**
 * `input_mismatch` warnings: an activity step's input that certainly does not fit the JSON Schema
 * its activity declares as input. What is checked (`conforms.ts` says how):
 * - a literal `input`, and the literal parts of an `input` object or array with expressions in it;
 * - a value taken wholesale from another activity step, `"{% $steps.x %}"` or
 *   `"{% $steps.x.field.sub %}"`, against the output schema that step's activity declares;
 * - a step without `input` whose one dependency is such a step (it gets that step's output).
 * A source step with `if` or a non-`fail` `onError` may output something else (null, an error
 * record), so it is not used. Computed activity names and other expressions are not checked. Pure.
 */

/** The JSON Schemas an activity declares (`weft.activities.list`'s `input`/`output`). */
export interface ActivitySchemas {
  readonly input?: Json;
  readonly output?: Json;
}

/** `$steps.<id>` followed by plain field names, nothing else. */
const STEPS_PATH = /^\s*\$steps\.([A-Za-z_][A-Za-z0-9_]*)((?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*$/u;

/**
 * The declared output schema of each activity step whose output is certain (no `if`, `onError`
 * absent or `fail`), by step id.
 */
const sourcesOf = (
  lists: readonly RawList[],
  declared: ReadonlyMap<string, ActivitySchemas>,
): Map<string, Json> => {
  const sources = new Map<string, Json>();
  for (const list of lists)
    for (const step of list.steps) {
      const activity = own(step.value, 'activity');
      const onError = own(step.value, 'onError');
      if (
        step.id === undefined ||
        own(step.value, 'type') !== 'activity' ||
        !isName(activity) ||
        own(step.value, 'if') !== undefined ||
        (onError !== undefined && onError !== 'fail')
      )
        continue;
      const schema = declared.get(activity)?.output;
      if (schema !== undefined) sources.set(step.id, schema);
    }
  return sources;
};

/** What is known of a value taken from a source step's output (`$steps.id` and fields). */
const fromSource = (
  sources: ReadonlyMap<string, Json>,
  id: string,
  fields: readonly string[],
): Known => {
  const schema = sources.get(id);
  if (schema === undefined) return { kind: 'unknown' };
  const name = ['$steps', id, ...fields].join('.');
  let known: Known = { kind: 'schema', schema, root: schema, source: name };
  for (const field of fields) known = fieldOf(known, field) ?? { kind: 'unknown' };
  return known;
};

/** What is known of a step's `input` template before a run. Recursion bounded by preflight depth. */
const knownOf = (value: unknown, sources: ReadonlyMap<string, Json>): Known => {
  if (typeof value === 'string') {
    if (!isExpression(value)) return { kind: 'value', value };
    const match = STEPS_PATH.exec(expressionBody(value));
    if (match === null) return { kind: 'unknown' };
    const fields = (match[2] ?? '').split('.').filter((f) => f !== '');
    return fromSource(sources, match[1] ?? '', fields);
  }
  if (Array.isArray(value)) {
    const items = value.map((v) => knownOf(v, sources));
    return items.every((k) => k.kind === 'value')
      ? { kind: 'value', value }
      : { kind: 'array', items };
  }
  if (isRecord(value)) {
    const fields = new Map<string, Known>();
    for (const key of Object.keys(value)) fields.set(key, knownOf(own(value, key), sources));
    return [...fields.values()].every((k) => k.kind === 'value')
      ? { kind: 'value', value }
      : { kind: 'object', fields };
  }
  return { kind: 'value', value };
};

/** The document path `path` extended by `segments`. */
const below = (path: string, segments: readonly Segment[]): string =>
  segments.reduce<string>((p, s) => child(p, s), path);

const report = (
  out: Diagnostics,
  activity: string,
  schema: Json,
  known: Known,
  at: string,
  what: 'input' | 'default input',
): void => {
  // One diagnostic per path (the collector keeps one per path and code): its misfits joined.
  const byPath = new Map<string, string[]>();
  for (const found of mismatches(schema, known)) {
    const inside = mismatchInside(found);
    const path = below(at, found.at);
    const messages = byPath.get(path) ?? [];
    messages.push(`${inside === '' ? '' : `at ${inside}: `}${found.message}`);
    byPath.set(path, messages);
  }
  for (const [path, messages] of byPath)
    out.warn(
      path,
      'input_mismatch',
      `${what} of activity "${activity}": ${messages.join('; ')}`,
      "The JSON Schema is the one the activity's workers announce (weft.activities.list). The step still runs; a worker that checks its input fails it with invalid_input.",
    );
};

/** Adds an `input_mismatch` warning for every certain misfit (see the file comment). Pure. */
export const dataFlowDiagnostics = (
  lists: readonly RawList[],
  declared: ReadonlyMap<string, ActivitySchemas>,
  out: Diagnostics,
): void => {
  if (declared.size === 0) return;
  const sources = sourcesOf(lists, declared);
  for (const list of lists) {
    const dependencies = rawDependencies(list);
    list.steps.forEach((step, index) => {
      const activity = own(step.value, 'activity');
      if (own(step.value, 'type') !== 'activity' || !isName(activity)) return;
      const schema = declared.get(activity)?.input;
      if (schema === undefined) return;
      if (Object.hasOwn(step.value, 'input')) {
        const input = own(step.value, 'input');
        report(out, activity, schema, knownOf(input, sources), child(step.path, 'input'), 'input');
        return;
      }
      // No input: a step with one dependency gets its output (CONTRACT §2).
      const ids = dependencies.get(index)?.ids ?? [];
      const [only] = ids;
      if (ids.length !== 1 || only === undefined || list.mapItem) return;
      const known = fromSource(sources, only, []);
      if (known.kind === 'unknown') return;
      report(out, activity, schema, known, step.path, 'default input');
    });
  }
};
