import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import type { Json } from '../../../src/blueprints/json.ts';
import { blueprintJsonSchema } from '../../../src/blueprints/jsonSchema.ts';

/**
 * The blueprint JSON Schema compiled by ajv (draft 2020-12), and the blueprints the repository
 * ships, for the tests that hold the schema to the validator.
 *
 * ajv runs in strict mode with one relaxation: `strictRequired` is off, because the rules between
 * fields (`anyOf: [{required: ["count"]}, {required: ["while"]}]`) name properties that the
 * enclosing step definition declares, not the subschema itself (ajv only looks there).
 */

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export const compileBlueprintSchema = (): ValidateFunction => {
  const ajv = new Ajv2020({ strict: true, strictRequired: false, allErrors: true, verbose: true });
  return ajv.compile(blueprintJsonSchema());
};

/** The errors of `validate` on `value` (none when it is valid). */
export const schemaErrors = (validate: ValidateFunction, value: unknown): ErrorObject[] =>
  validate(value) ? [] : [...(validate.errors ?? [])];

/** A validator diagnostic's path (`$.steps[0]["a b"]`) as a JSON Pointer (`/steps/0/a b`). */
export const pointerOf = (path: string): string => {
  const segments: string[] = [];
  const token = /\.([A-Za-z_$][A-Za-z0-9_$]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]/gu;
  for (const match of path.slice(1).matchAll(token))
    segments.push(match[1] ?? match[2] ?? (JSON.parse(match[3] ?? '""') as string));
  return segments.map((s) => `/${s.replaceAll('~', '~0').replaceAll('/', '~1')}`).join('');
};

/** The combinators whose error only says that an inner one failed. */
const SUMMARIES = new Set(['if', 'anyOf', 'oneOf', 'allOf']);

/**
 * Where an error is: its `instancePath`, and for an unknown or a missing field the field's own
 * path (ajv reports those at the object, naming the field in `params`), as the validator does.
 */
export const placeOf = (error: ErrorObject): string => {
  const params = error.params as { additionalProperty?: string; missingProperty?: string };
  const field =
    error.keyword === 'additionalProperties'
      ? params.additionalProperty
      : error.keyword === 'required' || error.keyword === 'dependentRequired'
        ? params.missingProperty
        : undefined;
  return field === undefined
    ? error.instancePath
    : `${error.instancePath}/${field.replaceAll('~', '~0').replaceAll('/', '~1')}`;
};

/** An error at `pointer` or inside it that names the problem itself (not a summary). */
export const preciseErrorAt = (
  errors: readonly ErrorObject[],
  pointer: string,
): ErrorObject | undefined =>
  errors.find((e) => {
    const place = placeOf(e);
    return !SUMMARIES.has(e.keyword) && (place === pointer || place.startsWith(`${pointer}/`));
  });

const isBlueprintShaped = (value: unknown): value is { readonly [key: string]: Json } =>
  typeof value === 'object' &&
  value !== null &&
  !Array.isArray(value) &&
  typeof (value as Record<string, unknown>)['name'] === 'string' &&
  Array.isArray((value as Record<string, unknown>)['steps']);

const jsonFiles = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return jsonFiles(path);
    return entry.name.endsWith('.json') ? [path] : [];
  });

/**
 * Every blueprint the repository ships, by where it is: the JSON files under examples/ that are
 * blueprints (not inputs), and the blueprint each golden stream's `RunStarted` pinned.
 */
export const shippedBlueprints = (): (readonly [string, Json])[] => {
  const found: (readonly [string, Json])[] = [];
  for (const file of jsonFiles(join(ROOT, 'examples'))) {
    const value = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    if (isBlueprintShaped(value)) found.push([relative(ROOT, file), value]);
  }
  for (const file of jsonFiles(join(ROOT, 'test/replay/fixtures/streams'))) {
    const stream = JSON.parse(readFileSync(file, 'utf8')) as {
      readonly events?: readonly {
        readonly type: string;
        readonly data: { readonly blueprint?: { readonly content?: unknown } };
      }[];
    };
    for (const event of stream.events ?? []) {
      const content = event.data.blueprint?.content;
      if (event.type === 'RunStarted' && isBlueprintShaped(content))
        found.push([relative(ROOT, file), content]);
    }
  }
  return found;
};
