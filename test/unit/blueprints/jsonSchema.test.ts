import { describe, expect, expectTypeOf, it } from 'vitest';
import type { Json } from '../../../src/blueprints/json.ts';
import { blueprintJsonSchema, JSON_SCHEMA_DIALECT } from '../../../src/blueprints/jsonSchema.ts';
import { validateBlueprint } from '../../../src/blueprints/validate.ts';
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
    const minProperties = s['minProperties'];
    if (typeof minProperties === 'number' && Object.keys(value).length < minProperties)
      return false;
    const names = s['propertyNames'];
    if (isObj(names) && !Object.keys(value).every((k) => accepts(names, k))) return false;
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

  it('describes steps: a non-empty list of the thirteen step types, each needing id and type', () => {
    const steps = (schema['properties'] as Obj)['steps'] as Obj;
    expect(steps).toMatchObject({ type: 'array', minItems: 1, items: { $ref: '#/$defs/Step' } });
    const step = defs['Step'] as Obj;
    const variants = (step['anyOf'] as Obj[]).map(resolve);
    expect(variants.map((v) => ((v['properties'] as Obj)['type'] as Obj)['enum'])).toEqual(
      [
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
      ].map((t) => [t]),
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

describe('the JSON Schema describes what the engine compiles: it and the validator agree', () => {
  const act = (id: string, extra: Obj = {}): Obj => ({
    id,
    type: 'activity',
    activity: 'w',
    ...extra,
  });
  const bp = (steps: Json[], extra: Obj = {}): Json => ({ name: 'bp', steps, ...extra });
  const map = (step: Json, extra: Obj = {}): Obj => ({ id: 'm', type: 'map', step, ...extra });
  const cases: readonly (readonly [string, Json, boolean])[] = [
    ['map of an activity', bp([map({ type: 'activity', activity: 'x' })]), true],
    ['a fail step', bp([{ id: 'f', type: 'fail', error: { code: 'no', message: 'm' } }]), true],
    [
      'a fail step with a computed code and an output',
      bp([{ id: 'f', type: 'fail', error: { code: '{% "x" %}', message: 'm' }, output: 1 }]),
      true,
    ],
    [
      'a fail step without a message',
      bp([{ id: 'f', type: 'fail', error: { code: 'no' } }]),
      false,
    ],
    [
      'a fail step with a bad code',
      bp([{ id: 'f', type: 'fail', error: { code: 'a b', message: 'm' } }]),
      false,
    ],
    ['a succeed step', bp([{ id: 's', type: 'succeed', output: '{% 1 %}' }]), true],
    ['a set step', bp([{ id: 's', type: 'set', data: { n: '{% 1 %}' } }]), true],
    ['a set step setting nothing', bp([{ id: 's', type: 'set', data: {} }]), false],
    ['onError by code', bp([act('a', { onError: { e1: 'continue', default: 'fail' } })]), true],
    ['onError by code, empty', bp([act('a', { onError: {} })]), false],
    ['nonRetryable on an activity', bp([act('a', { nonRetryable: ['e1'] })]), true],
    ['nonRetryable in defaults', bp([act('a')], { defaults: { nonRetryable: ['e1'] } }), true],
    [
      'nonRetryable on a sleep',
      bp([{ id: 'z', type: 'sleep', duration: '1s', nonRetryable: ['e'] }]),
      false,
    ],
    ['map of a child', bp([map({ type: 'child', blueprint: 'k' })]), true],
    ['map of a loop', bp([map({ type: 'loop', count: 1, steps: [act('x')] })]), false],
    ['map of a sleep', bp([map({ type: 'sleep', duration: '1s' })]), false],
    ['map of a wait', bp([map({ type: 'wait', signal: 'go' })]), false],
    ['map of a map', bp([map({ type: 'map', step: { type: 'activity', activity: 'x' } })]), false],
    ['duration with a unit', bp([act('a', { timeout: '60s' })]), true],
    ['bare number as a step timeout', bp([act('a', { timeout: 60 })]), false],
    ['bare number as a backoff', bp([act('a', { backoff: { initial: 100 } })]), false],
    ['bare number as a sleep', bp([{ id: 'z', type: 'sleep', duration: 1500 }]), false],
    [
      'bare number as a wait timeout',
      bp([{ id: 'w', type: 'wait', signal: 'go', timeout: 9 }]),
      false,
    ],
    ['bare number in defaults', bp([act('a')], { defaults: { timeout: 30 } }), false],
    [
      'bare number in defaults.backoff',
      bp([act('a')], { defaults: { backoff: { max: 3 } } }),
      false,
    ],
    [
      'sleep until epoch milliseconds (a time, not a duration)',
      bp([{ id: 'z', type: 'sleep', until: 1_900_000_000_000 }]),
      true,
    ],
    [
      'retry settings on an activity',
      bp([act('a', { maxAttempts: 2, timeout: '1s', backoff: {} })]),
      true,
    ],
    [
      "retry settings on a map's inner activity",
      bp([map({ type: 'activity', activity: 'x', maxAttempts: 2, timeout: '1s' })]),
      true,
    ],
    [
      'maxAttempts on a map',
      bp([map({ type: 'activity', activity: 'x' }, { maxAttempts: 2 })]),
      true,
    ],
    ['timeout on a map', bp([map({ type: 'activity', activity: 'x' }, { timeout: '1s' })]), true],
    [
      'maxAttempts on a child',
      bp([{ id: 'c', type: 'child', blueprint: 'k', maxAttempts: 2 }]),
      true,
    ],
    ['timeout on a child', bp([{ id: 'c', type: 'child', blueprint: 'k', timeout: '1s' }]), true],
    [
      "timeout on a map's inner child",
      bp([map({ type: 'child', blueprint: 'k', timeout: '1s' })]),
      false,
    ],
    [
      'backoff on a parallel',
      bp([{ id: 'p', type: 'parallel', backoff: {}, branches: [[act('x')]] }]),
      false,
    ],
    [
      'maxAttempts on a loop',
      bp([{ id: 'l', type: 'loop', count: 1, maxAttempts: 2, steps: [act('x')] }]),
      true,
    ],
    [
      'timeout on a condition',
      bp([{ id: 'c', type: 'condition', when: '{% 1 %}', timeout: '1s', then: [act('x')] }]),
      true,
    ],
    [
      'timeout on a switch',
      bp([{ id: 's', type: 'switch', on: '{% 1 %}', timeout: '1s', cases: { a: [act('x')] } }]),
      true,
    ],
    ['timeout on a sleep', bp([{ id: 'z', type: 'sleep', duration: '1s', timeout: '1s' }]), false],
    [
      'graph',
      bp([
        {
          id: 'g',
          type: 'graph',
          over: '{% $input %}',
          node: '{% $item.id %}',
          after: '{% $item.deps %}',
          step: { type: 'activity', activity: 'x' },
        },
      ]),
      true,
    ],
    [
      'graph without node',
      bp([
        { id: 'g', type: 'graph', over: '{% $input %}', step: { type: 'activity', activity: 'x' } },
      ]),
      false,
    ],
    [
      'graph of a loop',
      bp([
        {
          id: 'g',
          type: 'graph',
          over: '{% $input %}',
          node: '{% $item %}',
          step: { type: 'loop', count: 1, steps: [act('x')] },
        },
      ]),
      false,
    ],
    [
      'map of steps',
      bp([{ id: 'm', type: 'map', steps: [act('x'), { id: 'w', type: 'wait', signal: 'go' }] }]),
      true,
    ],
    ['compensate: one step', bp([act('a', { compensate: act('u') })]), true],
    ['compensate: a list', bp([act('a', { compensate: [act('u'), act('v')] })]), true],
    ['compensate: an empty list', bp([act('a', { compensate: [] })]), false],
    [
      "compensate on a map's item",
      bp([map({ type: 'activity', activity: 'x', compensate: act('u') })]),
      false,
    ],
    [
      'compensate on a map',
      bp([map({ type: 'activity', activity: 'x' }, { compensate: act('u') })]),
      true,
    ],
    ['finally', bp([act('a')], { finally: [act('f')] }), true],
    ['finally not a list', bp([act('a')], { finally: act('f') }), false],
    [
      'parallel completion first',
      bp([{ id: 'p', type: 'parallel', completion: 'first', branches: [[act('x')]] }]),
      true,
    ],
    [
      'parallel completion atLeast',
      bp([{ id: 'p', type: 'parallel', completion: { atLeast: 1 }, branches: [[act('x')]] }]),
      true,
    ],
    [
      'parallel completion atLeast 0',
      bp([{ id: 'p', type: 'parallel', completion: { atLeast: 0 }, branches: [[act('x')]] }]),
      false,
    ],
    [
      'parallel completion any',
      bp([{ id: 'p', type: 'parallel', completion: 'any', branches: [[act('x')]] }]),
      false,
    ],
    ['timeout on a wait', bp([{ id: 'w', type: 'wait', signal: 'go', timeout: '1s' }]), true],
    ['maxAttempts on a wait', bp([{ id: 'w', type: 'wait', signal: 'go', maxAttempts: 2 }]), false],
  ];
  it.each(cases)('%s: schema and validator both say %s', (_, blueprint, valid) => {
    expect(accepts(schema, blueprint)).toBe(valid);
    expect(validateBlueprint(blueprint).ok).toBe(valid);
  });

  it('an onError cycle is beyond a schema (shape only): the schema takes it, the validator refuses it', () => {
    const cyclic = bp([act('h'), act('s', { onError: 'h' })]);
    expect(accepts(schema, cyclic)).toBe(true);
    expect(validateBlueprint(cyclic).diagnostics.map((d) => d.code)).toEqual(['cycle']);
  });

  it('offers only activity and child steps inside a map', () => {
    const mapStep = resolve((defs['MapStep'] as Obj)['properties'] as Obj);
    const inner = resolve(mapStep['step'] as Obj);
    const types = (inner['anyOf'] as Obj[])
      .map(resolve)
      .map((v) => ((v['properties'] as Obj)['type'] as Obj)['enum']);
    expect(types).toEqual([['activity'], ['child']]);
  });

  it('offers durations as strings with a unit only, and retry settings only where they are used', () => {
    const durations: Json[] = [];
    const stack: Json[] = [schema];
    while (stack.length > 0) {
      const value = stack.pop() as Json;
      if (Array.isArray(value)) stack.push(...(value as readonly Json[]));
      else if (isObj(value)) {
        if (value['title'] === 'Duration') durations.push(value);
        stack.push(...Object.values(value));
      }
    }
    expect(durations.length).toBeGreaterThanOrEqual(7);
    for (const d of durations)
      expect(d).toMatchObject({ type: 'string', pattern: expect.any(String) as unknown });
    const fieldsOf = (name: string) => Object.keys((defs[name] as Obj)['properties'] as Obj);
    for (const name of ['ActivityStep', 'MapItemActivityStep'])
      expect(fieldsOf(name)).toEqual(expect.arrayContaining(['maxAttempts', 'timeout', 'backoff']));
    expect(fieldsOf('WaitStep')).toContain('timeout');
    const timed = new Set([
      'GraphStep',
      'ParallelStep',
      'ConditionStep',
      'SwitchStep',
      'LoopStep',
      'MapStep',
      'ChildStep',
      'WaitStep',
    ]);
    const containers = new Set([
      'GraphStep',
      'ParallelStep',
      'ConditionStep',
      'SwitchStep',
      'LoopStep',
      'MapStep',
      'ChildStep',
    ]);
    for (const name of [
      'GraphStep',
      'ParallelStep',
      'ConditionStep',
      'SwitchStep',
      'LoopStep',
      'MapStep',
      'ChildStep',
      'MapItemChildStep',
      'WaitStep',
      'SleepStep',
      'FailStep',
      'SucceedStep',
      'SetStep',
    ]) {
      const fields = fieldsOf(name);
      // A container is run again as a whole per its maxAttempts.
      if (containers.has(name)) expect(fields, name).toContain('maxAttempts');
      else expect(fields, name).not.toContain('maxAttempts');
      expect(fields, name).not.toContain('backoff');
      expect(fields, name).not.toContain('nonRetryable');
      // A container's timeout bounds everything inside it; a wait's is how long it waits.
      if (timed.has(name)) expect(fields, name).toContain('timeout');
      else expect(fields, name).not.toContain('timeout');
    }
  });

  it('does not claim a default timeout for a wait: without one it waits as long as the run lives', () => {
    const wait = defs['WaitStep'] as Obj;
    const text = JSON.stringify([
      wait['description'],
      ((wait['properties'] as Obj)['timeout'] as Obj)['description'],
    ]);
    expect(text).not.toMatch(/30\s*s|default/iu);
    expect(text).toMatch(/waits for as long as the run lives/u);
  });
});

describe('blueprint types', () => {
  it('Step is a union discriminated on type; the map item step has an optional id', () => {
    expectTypeOf<StepType>().toEqualTypeOf<
      | 'activity'
      | 'parallel'
      | 'condition'
      | 'switch'
      | 'loop'
      | 'map'
      | 'graph'
      | 'child'
      | 'wait'
      | 'sleep'
      | 'fail'
      | 'succeed'
      | 'set'
    >();
    expectTypeOf<Extract<Step, { type: 'map' }>>().toEqualTypeOf<MapStep>();
    expectTypeOf<MapStep['step']>().toEqualTypeOf<MapItemStep | undefined>();
    expectTypeOf<ActivityStep['id']>().toEqualTypeOf<string>();
    expectTypeOf<MapItemStep['id']>().toEqualTypeOf<string | undefined>();
    expectTypeOf<Blueprint['steps']>().toEqualTypeOf<readonly Step[]>();
  });
});
