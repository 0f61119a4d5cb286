import { isRecord, own, preview, segmentText, type Raw, type Segment } from './diagnostics.ts';

/**
 * A small JSON Schema checker for what validation knows of a value before any run: a literal, a
 * literal object or array with computed parts, or only a schema the value conforms to (another
 * activity's declared output). It reads `type`, `const`, `enum`, `properties`, `required`,
 * `additionalProperties: false`, `items`, `prefixItems`, `anyOf`/`oneOf`, `allOf` and local
 * `$ref`s (`#/$defs/…`, `#/definitions/…`); every other keyword is ignored.
 *
 * It reports only what is certain under those keywords: a computed part, an unknown keyword, an
 * unresolvable `$ref`, a given schema that says too little, or a search past `MAX_DEPTH` or the
 * visit budget counts as fitting. Pure and bounded (schemas come from workers' announcements).
 */

/** What is known of a value before a run. */
export type Known =
  /** A literal JSON value (no expression in it). */
  | { readonly kind: 'value'; readonly value: unknown }
  /** An object written out whose values are partly computed. */
  | { readonly kind: 'object'; readonly fields: ReadonlyMap<string, Known> }
  /** An array written out whose items are partly computed. */
  | { readonly kind: 'array'; readonly items: readonly Known[] }
  /** Only that the value conforms to `schema` (`root` resolves its `$ref`s); `source` says whose. */
  | {
      readonly kind: 'schema';
      readonly schema: unknown;
      readonly root: unknown;
      readonly source: string;
    }
  | { readonly kind: 'unknown' };

export interface Mismatch {
  /** Where the value does not fit, below the place `Known` was written (a document path). */
  readonly at: readonly Segment[];
  /** Where inside a value known only by its schema (empty otherwise), e.g. `["amount"]`. */
  readonly inside: readonly Segment[];
  readonly message: string;
}

/** Nesting followed before giving up (schemas may be recursive through `$ref`). */
const MAX_DEPTH = 32;
/** Schema nodes visited per `mismatches` call before giving up. */
const MAX_VISITS = 10_000;

type JsonType = 'null' | 'boolean' | 'integer' | 'number' | 'string' | 'array' | 'object';
const JSON_TYPES: ReadonlySet<string> = new Set([
  'null',
  'boolean',
  'integer',
  'number',
  'string',
  'array',
  'object',
]);

/** The types a JSON value has (an integer is a number too). */
const typesOfValue = (value: unknown): ReadonlySet<JsonType> => {
  if (value === null) return new Set(['null']);
  if (typeof value === 'boolean') return new Set(['boolean']);
  if (typeof value === 'number')
    return new Set(Number.isInteger(value) ? ['integer', 'number'] : ['number']);
  if (typeof value === 'string') return new Set(['string']);
  if (Array.isArray(value)) return new Set(['array']);
  return new Set(['object']);
};

/** Deep equality of JSON values. */
const same = (a: unknown, b: unknown): boolean => {
  if (a === b) return true;
  if (Array.isArray(a))
    return Array.isArray(b) && a.length === b.length && a.every((x, i) => same(x, b[i]));
  if (isRecord(a) && isRecord(b)) {
    const keys = Object.keys(a);
    return (
      keys.length === Object.keys(b).length &&
      keys.every((k) => Object.hasOwn(b, k) && same(own(a, k), own(b, k)))
    );
  }
  return false;
};

const describeValue = (value: unknown): string => preview(value);

const listText = (values: readonly unknown[]): string =>
  values.length > 6
    ? `one of ${values.slice(0, 6).map(describeValue).join(', ')}, …`
    : values.length === 1
      ? describeValue(values[0])
      : `one of ${values.map(describeValue).join(', ')}`;

const insideText = (inside: readonly Segment[]): string =>
  inside.map(segmentText).join('').replace(/^\./u, '');

interface Walk {
  visits: number;
  readonly out: Mismatch[];
}

/** `node` with local `$ref`s followed (at most a few hops); undefined when one cannot be. */
const resolved = (node: unknown, root: unknown): unknown => {
  let current = node;
  for (let hops = 0; hops < 8; hops++) {
    if (!isRecord(current)) return current;
    const ref = own(current, '$ref');
    if (typeof ref !== 'string') return current;
    if (ref === '#') {
      current = root;
      continue;
    }
    if (!ref.startsWith('#/')) return undefined;
    let target: unknown = root;
    for (const raw of ref.slice(2).split('/')) {
      const key = decodeURIComponent(raw).replaceAll('~1', '/').replaceAll('~0', '~');
      target = isRecord(target) ? own(target, key) : undefined;
    }
    if (target === undefined) return undefined;
    current = target;
  }
  return undefined;
};

const listOf = (record: Raw, key: string): readonly unknown[] | undefined => {
  const value = own(record, key);
  return Array.isArray(value) ? value : undefined;
};

/**
 * The types a schema allows, when it says (`type`, `const`, `enum`, or every branch of `anyOf`).
 * `given`: the schema describes a value that exists (a declared number may hold an integer, a
 * declared integer is a number), rather than what is expected (a number accepts an integer).
 */
const typesOfSchema = (
  node: unknown,
  root: unknown,
  depth: number,
  given: boolean,
): Set<JsonType> | undefined => {
  const schema = resolved(node, root);
  if (!isRecord(schema) || depth > MAX_DEPTH) return undefined;
  const named = declaredTypes(schema);
  if (named !== undefined) {
    const types = new Set<JsonType>(named);
    if (types.has('number')) types.add('integer');
    if (given && types.has('integer')) types.add('number');
    return types;
  }
  const values = valuesOfSchema(schema);
  if (values !== undefined) return new Set(values.flatMap((v) => [...typesOfValue(v)]));
  const branches = listOf(schema, 'anyOf') ?? listOf(schema, 'oneOf');
  if (branches === undefined) return undefined;
  const types = new Set<JsonType>();
  for (const branch of branches) {
    const of = typesOfSchema(branch, root, depth + 1, given);
    if (of === undefined) return undefined;
    for (const t of of) types.add(t);
  }
  return types;
};

/** A schema's `type`, when it names only JSON types. */
const declaredTypes = (schema: Raw): readonly JsonType[] | undefined => {
  const type = own(schema, 'type');
  const named: readonly unknown[] | undefined =
    typeof type === 'string' ? [type] : Array.isArray(type) ? type : undefined;
  if (named === undefined) return undefined;
  const types: JsonType[] = [];
  for (const t of named) {
    if (typeof t !== 'string' || !JSON_TYPES.has(t)) return undefined;
    types.push(t as JsonType);
  }
  return types;
};

/** The values a schema allows, when it lists them (`const` or `enum`). */
const valuesOfSchema = (schema: Raw): readonly unknown[] | undefined =>
  Object.hasOwn(schema, 'const') ? [own(schema, 'const')] : listOf(schema, 'enum');

/** What a schema expects, in a few words (for messages). */
const expectedText = (node: unknown, root: unknown, depth = 0): string => {
  const schema = resolved(node, root);
  if (!isRecord(schema) || depth > 3) return 'a value of another shape';
  const values = valuesOfSchema(schema);
  if (values !== undefined) return listText(values);
  const branches = listOf(schema, 'anyOf') ?? listOf(schema, 'oneOf');
  if (branches !== undefined && own(schema, 'type') === undefined)
    return branches.map((b) => expectedText(b, root, depth + 1)).join(' or ');
  const types = declaredTypes(schema);
  return types === undefined ? 'a value of another shape' : types.join(' or ');
};

/** Where a value known by its schema comes from, down to `inside` (`$steps.q.total`). */
const sourceAt = (source: string, inside: readonly Segment[]): string =>
  `${source}${inside.map(segmentText).join('')}`;

/** What is known of a value, in a few words (for messages). */
const givenText = (known: Known, root: unknown, inside: readonly Segment[]): string => {
  switch (known.kind) {
    case 'value':
      return describeValue(known.value);
    case 'object':
      return 'an object';
    case 'array':
      return `an array of ${known.items.length}`;
    case 'schema':
      return `${expectedText(known.schema, known.root)} (${sourceAt(known.source, inside)})`;
    case 'unknown':
      return 'a computed value';
  }
};

/** The part of `known` at `key`, or undefined when it is certainly absent. */
export const fieldOf = (known: Known, key: string, depth = 0): Known | undefined => {
  switch (known.kind) {
    case 'value':
      return isRecord(known.value) && Object.hasOwn(known.value, key)
        ? { kind: 'value', value: own(known.value, key) }
        : undefined;
    case 'object':
      return known.fields.get(key);
    case 'schema': {
      const schema = resolved(known.schema, known.root);
      if (!isRecord(schema) || depth > MAX_DEPTH) return { kind: 'unknown' };
      const properties = own(schema, 'properties');
      if (isRecord(properties) && Object.hasOwn(properties, key))
        return { ...known, schema: own(properties, key) };
      return { kind: 'unknown' };
    }
    case 'array':
    case 'unknown':
      return { kind: 'unknown' };
  }
};

/** Whether `known` certainly lacks `key` (a given schema lacks it only when it lists its fields). */
const lacks = (known: Known, key: string): boolean => {
  if (known.kind === 'value' || known.kind === 'object')
    return fieldOf(known, key, 0) === undefined;
  if (known.kind !== 'schema') return false;
  const schema = resolved(known.schema, known.root);
  if (!isRecord(schema)) return false;
  const properties = own(schema, 'properties');
  return isRecord(properties) && !Object.hasOwn(properties, key) && !hasBranches(schema);
};

const hasBranches = (schema: Raw): boolean =>
  ['anyOf', 'oneOf', 'allOf'].some((k) => Object.hasOwn(schema, k));

/** The item `index` of `known`, or unknown. */
const itemOf = (known: Known, index: number): Known => {
  if (known.kind === 'value' && Array.isArray(known.value))
    return { kind: 'value', value: known.value[index] as unknown };
  if (known.kind === 'array') return known.items[index] ?? { kind: 'unknown' };
  if (known.kind === 'schema') {
    const schema = resolved(known.schema, known.root);
    if (!isRecord(schema)) return { kind: 'unknown' };
    const prefix = listOf(schema, 'prefixItems');
    if (prefix !== undefined && index < prefix.length) return { ...known, schema: prefix[index] };
    const items = own(schema, 'items');
    return items === undefined ? { kind: 'unknown' } : { ...known, schema: items };
  }
  return { kind: 'unknown' };
};

/** The number of items, when the value is an array written out. */
const lengthOf = (known: Known): number | undefined =>
  known.kind === 'value' && Array.isArray(known.value)
    ? known.value.length
    : known.kind === 'array'
      ? known.items.length
      : undefined;

/** A step into `known`: in the document when it is written out, else inside the given value. */
const into = (known: Known, at: readonly Segment[], inside: readonly Segment[], s: Segment) =>
  known.kind === 'schema' ? { at, inside: [...inside, s] } : { at: [...at, s], inside };

/**
 * Checks `known` against the schema `node` (whose `$ref`s resolve in `root`), appending what
 * certainly does not fit to `walk.out`.
 */
const check = (
  node: unknown,
  root: unknown,
  known: Known,
  at: readonly Segment[],
  inside: readonly Segment[],
  depth: number,
  walk: Walk,
): void => {
  walk.visits += 1;
  if (known.kind === 'unknown' || depth > MAX_DEPTH || walk.visits > MAX_VISITS) return;
  const schema = resolved(node, root);
  if (!isRecord(schema)) return;
  const mismatch = (message: string, where = { at, inside }) =>
    walk.out.push({ at: where.at, inside: where.inside, message });
  const expected = () =>
    `expected ${expectedText(schema, root)}, got ${givenText(known, root, inside)}`;
  const fails = (branch: unknown, value: Known): boolean => {
    const trial: Walk = { visits: walk.visits, out: [] };
    check(branch, root, value, at, inside, depth + 1, trial);
    walk.visits = trial.visits;
    return trial.out.length > 0;
  };

  // A given value of several kinds fits when any of them might.
  if (known.kind === 'schema') {
    const given = resolved(known.schema, known.root);
    if (!isRecord(given)) return;
    const alternatives = listOf(given, 'anyOf') ?? listOf(given, 'oneOf');
    if (alternatives !== undefined) {
      if (
        alternatives.length > 0 &&
        alternatives.every((a) => fails(schema, { ...known, schema: a }))
      )
        mismatch(expected());
      return;
    }
  }

  for (const part of listOf(schema, 'allOf') ?? [])
    check(part, root, known, at, inside, depth + 1, walk);
  const branches = listOf(schema, 'anyOf') ?? listOf(schema, 'oneOf');
  if (branches !== undefined && branches.length > 0 && branches.every((b) => fails(b, known))) {
    mismatch(expected());
    return;
  }

  const allowed = typesOfSchema(schema, root, depth, false);
  const given =
    known.kind === 'value'
      ? typesOfValue(known.value)
      : known.kind === 'object'
        ? new Set<JsonType>(['object'])
        : known.kind === 'array'
          ? new Set<JsonType>(['array'])
          : typesOfSchema(known.schema, known.root, depth, true);
  if (
    own(schema, 'type') !== undefined &&
    allowed !== undefined &&
    given !== undefined &&
    ![...given].some((t) => allowed.has(t))
  ) {
    mismatch(expected());
    return;
  }

  const values = valuesOfSchema(schema);
  if (values !== undefined) {
    const candidates =
      known.kind === 'value'
        ? [known.value]
        : known.kind === 'schema' && isRecord(resolved(known.schema, known.root))
          ? valuesOfSchema(resolved(known.schema, known.root) as Raw)
          : undefined;
    if (candidates?.some((c) => !values.some((v) => same(c, v))) === true) {
      mismatch(expected());
      return;
    }
  }

  const isObject = given?.has('object') === true && given.size === 1;
  if (isObject) {
    const required = listOf(schema, 'required') ?? [];
    const missing = required.filter((k): k is string => typeof k === 'string' && lacks(known, k));
    for (const key of missing)
      mismatch(
        known.kind === 'schema'
          ? `"${key}" is required, and ${sourceAt(known.source, inside)} does not declare it`
          : `"${key}" is required but missing`,
      );
    const properties = own(schema, 'properties');
    if (isRecord(properties)) {
      for (const key of Object.keys(properties)) {
        const field = fieldOf(known, key, depth);
        if (field === undefined) continue;
        const where = into(known, at, inside, key);
        check(own(properties, key), root, field, where.at, where.inside, depth + 1, walk);
      }
    }
    const closed = own(schema, 'additionalProperties') === false;
    if (closed && own(schema, 'patternProperties') === undefined && known.kind !== 'schema') {
      const declared = isRecord(properties) ? properties : {};
      const keys =
        known.kind === 'value'
          ? isRecord(known.value)
            ? Object.keys(known.value)
            : []
          : known.kind === 'object'
            ? [...known.fields.keys()]
            : [];
      for (const key of keys)
        if (!Object.hasOwn(declared, key))
          mismatch(`"${key}" is not a declared field`, { at: [...at, key], inside });
    }
  }

  const isArray = given?.has('array') === true && given.size === 1;
  if (isArray) {
    const prefix = listOf(schema, 'prefixItems') ?? [];
    const items = own(schema, 'items');
    const length = lengthOf(known);
    const count = length ?? (known.kind === 'schema' ? Math.max(prefix.length, 1) : 0);
    for (let i = 0; i < count; i++) {
      const itemSchema = i < prefix.length ? prefix[i] : items;
      if (itemSchema === undefined) continue;
      const where = into(known, at, inside, i);
      check(itemSchema, root, itemOf(known, i), where.at, where.inside, depth + 1, walk);
    }
  }
};

/**
 * Everything in `known` that certainly does not fit the JSON Schema `schema` (the document the
 * schema's `$ref`s resolve in). Pure; bounded by `MAX_DEPTH` and a visit budget.
 */
export const mismatches = (schema: unknown, known: Known): readonly Mismatch[] => {
  const walk: Walk = { visits: 0, out: [] };
  check(schema, schema, known, [], [], 0, walk);
  return walk.out;
};

/** A mismatch's `inside` as text for a message (`amount`, `items[0].sku`), empty when none. */
export const mismatchInside = (mismatch: Mismatch): string => insideText(mismatch.inside);
