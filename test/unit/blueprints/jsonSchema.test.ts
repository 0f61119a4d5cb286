import { describe, expect, expectTypeOf, it } from 'vitest';
import type { Json } from '../../../src/blueprints/json.ts';
import { blueprintJsonSchema, JSON_SCHEMA_DIALECT } from '../../../src/blueprints/jsonSchema.ts';
import type {
  ActivityStep,
  Blueprint,
  MapItemStep,
  MapStep,
  Step,
  StepType,
} from '../../../src/blueprints/schema.ts';

type Obj = { readonly [key: string]: Json };
const isObj = (v: Json | undefined): v is Obj =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** The draft 2020-12 keywords (core, applicator, validation, meta-data) the generator may use. */
const KEYWORDS = new Set([
  '$schema',
  '$id',
  '$ref',
  '$defs',
  '$comment',
  '$anchor',
  '$dynamicRef',
  '$dynamicAnchor',
  'type',
  'enum',
  'const',
  'properties',
  'required',
  'additionalProperties',
  'patternProperties',
  'propertyNames',
  'items',
  'prefixItems',
  'minItems',
  'maxItems',
  'uniqueItems',
  'contains',
  'anyOf',
  'allOf',
  'oneOf',
  'not',
  'if',
  'then',
  'else',
  'pattern',
  'minLength',
  'maxLength',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'multipleOf',
  'format',
  'title',
  'description',
  'examples',
  'default',
  'readOnly',
  'writeOnly',
  'deprecated',
  'minProperties',
  'maxProperties',
]);
/** Keywords whose value is a map of names → subschemas (its keys are not keywords). */
const NAMED_SUBSCHEMAS = new Set(['properties', '$defs', 'patternProperties']);
/** Keywords whose value is data, not a schema. */
const DATA = new Set(['enum', 'const', 'examples', 'default', 'required']);

const schema = blueprintJsonSchema();
const defs = schema['$defs'] as Obj;

const resolve = (s: Obj): Obj => {
  const ref = s['$ref'];
  if (typeof ref !== 'string') return s;
  if (ref === '#') return schema;
  const target = defs[ref.replace('#/$defs/', '')];
  if (!isObj(target)) throw new Error(`unresolved ${ref}`);
  return target;
};

/** A small validator for the keywords above: enough to check the generated schema means what it says. */
const accepts = (s: Obj, value: Json): boolean => {
  const target = resolve(s);
  if (target !== s) return accepts(target, value);
  const type = s['type'];
  if (typeof type === 'string') {
    const actual = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
    const ok =
      type === 'integer' ? typeof value === 'number' && Number.isInteger(value) : actual === type;
    if (!ok) return false;
  }
  const anyOf = s['anyOf'];
  if (
    Array.isArray(anyOf) &&
    !(anyOf as readonly Json[]).some((sub) => isObj(sub) && accepts(sub, value))
  )
    return false;
  const allOf = s['allOf'];
  if (
    Array.isArray(allOf) &&
    !(allOf as readonly Json[]).every((sub) => isObj(sub) && accepts(sub, value))
  )
    return false;
  const en = s['enum'];
  if (Array.isArray(en) && !en.some((e) => JSON.stringify(e) === JSON.stringify(value)))
    return false;
  if (typeof value === 'string') {
    const pattern = s['pattern'];
    if (typeof pattern === 'string' && !new RegExp(pattern, 'u').test(value)) return false;
    const max = s['maxLength'];
    if (typeof max === 'number' && value.length > max) return false;
  }
  if (typeof value === 'number') {
    const min = s['minimum'];
    if (typeof min === 'number' && value < min) return false;
  }
  if (Array.isArray(value)) {
    const minItems = s['minItems'];
    if (typeof minItems === 'number' && value.length < minItems) return false;
    const items = s['items'];
    if (isObj(items) && !value.every((v: Json) => accepts(items, v))) return false;
  }
  if (isObj(value)) {
    const properties = isObj(s['properties']) ? s['properties'] : {};
    const required = Array.isArray(s['required']) ? s['required'] : [];
    if (!required.every((k) => typeof k === 'string' && Object.hasOwn(value, k))) return false;
    for (const [k, v] of Object.entries(value)) {
      const p = properties[k];
      if (isObj(p)) {
        if (!accepts(p, v)) return false;
      } else if (s['additionalProperties'] === false) {
        return false;
      } else if (isObj(s['additionalProperties']) && !accepts(s['additionalProperties'], v)) {
        return false;
      }
    }
  }
  return true;
};

describe('blueprintJsonSchema', () => {
  it('is a draft 2020-12 document with the blueprint object at its root', () => {
    expect(schema['$schema']).toBe(JSON_SCHEMA_DIALECT);
    expect(JSON_SCHEMA_DIALECT).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(schema['type']).toBe('object');
    expect(schema['required']).toEqual(['name', 'steps']);
    expect(schema['additionalProperties']).toBe(false);
    expect(typeof schema['description']).toBe('string');
  });

  it('describes steps: a non-empty list of the nine step types, each needing id and type', () => {
    const steps = (schema['properties'] as Obj)['steps'] as Obj;
    expect(steps).toMatchObject({ type: 'array', minItems: 1, items: { $ref: '#/$defs/Step' } });
    const step = defs['Step'] as Obj;
    const variants = (step['anyOf'] as Obj[]).map(resolve);
    expect(variants.map((v) => ((v['properties'] as Obj)['type'] as Obj)['enum'])).toEqual(
      ['activity', 'parallel', 'condition', 'switch', 'loop', 'map', 'child', 'wait', 'sleep'].map(
        (t) => [t],
      ),
    );
    for (const v of variants) {
      expect(v['required']).toEqual(expect.arrayContaining(['id', 'type']));
      expect(v['additionalProperties']).toBe(false);
      expect(typeof v['description']).toBe('string');
    }
    const mapItem = (defs['MapItemStep'] as Obj)['anyOf'] as Obj[];
    for (const v of mapItem.map(resolve)) expect(v['required']).not.toContain('id');
  });

  it('uses only 2020-12 keywords, and every $ref resolves', () => {
    const stack: { value: Json; where: string }[] = [{ value: schema, where: '#' }];
    while (stack.length > 0) {
      const { value, where } = stack.pop() as { value: Json; where: string };
      if (Array.isArray(value)) {
        (value as readonly Json[]).forEach((v, i) =>
          stack.push({ value: v, where: `${where}/${i}` }),
        );
        continue;
      }
      if (!isObj(value)) continue;
      for (const [key, v] of Object.entries(value)) {
        expect(KEYWORDS.has(key), `${where}/${key}`).toBe(true);
        if (key === '$ref') expect(() => resolve(value)).not.toThrow();
        if (DATA.has(key)) continue;
        if (NAMED_SUBSCHEMAS.has(key) && isObj(v)) {
          for (const [name, sub] of Object.entries(v))
            stack.push({ value: sub, where: `${where}/${key}/${name}` });
        } else {
          stack.push({ value: v, where: `${where}/${key}` });
        }
      }
    }
  });

  it('is plain JSON and the same on every call', () => {
    expect(JSON.parse(JSON.stringify(schema))).toEqual(schema);
    expect(blueprintJsonSchema()).toEqual(schema);
  });

  it('accepts the CONTRACT example and rejects bad names, unknown fields and unknown step types', () => {
    const example: Json = {
      name: 'ai_data_pipeline',
      defaults: {
        maxAttempts: 3,
        timeout: '30s',
        backoff: { initial: '200ms', factor: 2, max: '30s' },
      },
      signals: [{ name: 'update_data', handler: 'store' }],
      queries: [{ name: 'get_total', expr: '{% $sum($steps.process_batch.processed) %}' }],
      plugins: [{ name: 'analytics', signals: ['track_event'], queries: ['get_data'] }],
      steps: [
        { id: 'fetch_data', type: 'activity', activity: 'fetch_data' },
        {
          id: 'process_batch',
          type: 'map',
          concurrency: 10,
          step: { type: 'activity', activity: 'double', input: "{% {'item': $item} %}" },
        },
        {
          id: 'save_results',
          type: 'activity',
          activity: 'save_results',
          maxAttempts: 5,
          timeout: '2m',
        },
      ],
      output: '{% $steps.save_results %}',
    };
    expect(accepts(schema, example)).toBe(true);
    expect(accepts(schema, { ...example, name: 'a.b' })).toBe(false);
    expect(accepts(schema, { ...example, extra: 1 })).toBe(false);
    expect(accepts(schema, { name: 'x', steps: [{ id: 'a', type: 'teleport' }] })).toBe(false);
    expect(
      accepts(schema, {
        name: 'x',
        steps: [{ id: 'a', type: 'activity', activity: 'x', timeout: '5 minutes' }],
      }),
    ).toBe(false);
    expect(accepts(schema, { name: 'x', steps: [] })).toBe(false);
  });
});

describe('blueprint types', () => {
  it('Step is a union discriminated on type; the map item step has an optional id', () => {
    expectTypeOf<StepType>().toEqualTypeOf<
      'activity' | 'parallel' | 'condition' | 'switch' | 'loop' | 'map' | 'child' | 'wait' | 'sleep'
    >();
    expectTypeOf<Extract<Step, { type: 'map' }>>().toEqualTypeOf<MapStep>();
    expectTypeOf<MapStep['step']>().toEqualTypeOf<MapItemStep>();
    expectTypeOf<ActivityStep['id']>().toEqualTypeOf<string>();
    expectTypeOf<MapItemStep['id']>().toEqualTypeOf<string | undefined>();
    expectTypeOf<Blueprint['steps']>().toEqualTypeOf<readonly Step[]>();
  });
});
