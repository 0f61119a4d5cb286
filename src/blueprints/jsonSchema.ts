import * as Schema from 'effect/Schema';
import type { Json } from './json.ts';
import { Blueprint } from './schema.ts';

export const JSON_SCHEMA_DIALECT = 'https://json-schema.org/draft/2020-12/schema';

type JsonObject = { readonly [key: string]: Json };

const isObject = (value: Json | undefined): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Rewrites every `$ref` through `rename`. Recursive: generated schema documents are shallow. */
const mapRefs = (value: Json, rename: (ref: string) => string): Json => {
  if (Array.isArray(value)) return (value as readonly Json[]).map((v) => mapRefs(v, rename));
  if (!isObject(value)) return value;
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [
      k,
      k === '$ref' && typeof v === 'string' ? rename(v) : mapRefs(v, rename),
    ]),
  );
};

/**
 * The JSON Schema (draft 2020-12) of blueprints, generated from the Effect Schema in
 * `schema.ts`, as one self-contained document: the blueprint object at the root (LLM
 * structured-output APIs want an object there, not a `$ref`), shared parts under `$defs`, closed
 * objects (`additionalProperties: false`), and the descriptions written for people and models.
 * Pure; returns a fresh object on each call.
 *
 * It describes what the engine compiles (a map runs an activity or a child, durations carry a
 * unit, retry settings only where something retries), as shape: unique ids, dependencies, cycles
 * (`onError` ones included) and expression syntax are checked by `validateBlueprint`.
 */
export const blueprintJsonSchema = (): JsonObject => {
  const document = Schema.toJsonSchemaDocument(Blueprint, { onExcessProperty: 'error' });
  const definitions = JSON.parse(JSON.stringify(document.definitions)) as Record<string, Json>;
  const root = JSON.parse(JSON.stringify(document.schema)) as Json;

  // Definitions that only point at another one (Effect names some `Schema.suspend` nodes so) are
  // folded into their target.
  const aliases = new Map<string, string>();
  for (const [name, definition] of Object.entries(definitions)) {
    if (
      isObject(definition) &&
      Object.keys(definition).length === 1 &&
      typeof definition['$ref'] === 'string'
    ) {
      aliases.set(`#/$defs/${name}`, definition['$ref']);
    }
  }
  const follow = (ref: string): string => {
    let current = ref;
    for (let hops = 0; hops < 16 && aliases.has(current); hops++)
      current = aliases.get(current) ?? current;
    return current;
  };
  const rootRef =
    isObject(root) && typeof root['$ref'] === 'string' ? follow(root['$ref']) : undefined;
  const rootName = rootRef?.replace('#/$defs/', '');
  const rootDefinition = rootName === undefined ? undefined : definitions[rootName];
  const resolve = (ref: string): string => {
    const target = follow(ref);
    return target === rootRef && isObject(rootDefinition) ? '#' : target;
  };
  const defs: Record<string, Json> = {};
  for (const [name, definition] of Object.entries(definitions)) {
    if (!aliases.has(`#/$defs/${name}`) && name !== rootName)
      defs[name] = mapRefs(definition, resolve);
  }
  const body = isObject(rootDefinition) ? mapRefs(rootDefinition, resolve) : mapRefs(root, resolve);

  return {
    $schema: JSON_SCHEMA_DIALECT,
    ...(isObject(body) ? body : { allOf: [body] }),
    $defs: defs,
  };
};
