import * as Schema from 'effect/Schema';
import * as SchemaAST from 'effect/SchemaAST';
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { Json } from '../../../src/blueprints/json.ts';
import { blueprintJsonSchema, JSON_SCHEMA_DIALECT } from '../../../src/blueprints/jsonSchema.ts';
import { rawLists } from '../../../src/blueprints/rawSteps.ts';
import {
  Backoff,
  Blueprint as BlueprintSchema,
  Defaults,
  MAP_ITEM_STEP_TYPES,
  MapItemStep as MapItemStepSchema,
  PluginDecl,
  QueryDecl,
  SignalDecl,
  Step as StepSchema,
  STEP_TYPES,
  type ActivityStep,
  type Blueprint,
  type MapItemStep,
  type MapStep,
  type Step,
  type StepType,
} from '../../../src/blueprints/schema.ts';
import { validateBlueprint } from '../../../src/blueprints/validate.ts';
import {
  compileBlueprintSchema,
  pointerOf,
  preciseErrorAt,
  schemaErrors,
  shippedBlueprints,
} from './schemaValidator.ts';

/**
 * The compact blueprint JSON Schema (`jsonSchema.ts`): small, compiled by ajv in strict mode, in
 * step with the Effect Schema it is written beside (step types, fields, required fields,
 * patterns), accepting every blueprint the repository ships, agreeing with `validateBlueprint`
 * on what a schema can say, and giving errors that name the field and step at fault.
 */

type Obj = { readonly [key: string]: Json };
const isObj = (v: Json | undefined): v is Obj =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const schema = blueprintJsonSchema();
const defs = schema['$defs'] as Obj;
const def = (name: string): Obj => {
  const found = defs[name];
  if (!isObj(found)) throw new Error(`no $defs/${name}`);
  return found;
};
const validate = compileBlueprintSchema();
const accepts = (value: Json): boolean => schemaErrors(validate, value).length === 0;

/** Under 25 KB serialized without indentation: it goes into LLM prompts and NATS replies. */
const MAX_BYTES = 25_000;

const titleOf = (type: string): string => `${type.charAt(0).toUpperCase()}${type.slice(1)}Step`;

/** The fields of an Effect `Struct` and which of them are required. */
const effectFields = (ast: SchemaAST.AST) => {
  if (ast._tag !== 'Objects') throw new Error(`expected a struct, got ${ast._tag}`);
  return {
    fields: ast.propertySignatures.map((p) => String(p.name)).sort(),
    required: ast.propertySignatures
      .filter((p) => !SchemaAST.isOptional(p.type))
      .map((p) => String(p.name))
      .sort(),
  };
};
const jsonFields = (object: Obj) => ({
  fields: Object.keys(object['properties'] as Obj).sort(),
  required: [...((object['required'] as readonly string[] | undefined) ?? [])].sort(),
});

/** The step type a member of an Effect step union is for. */
const literalType = (ast: SchemaAST.AST): string => {
  if (ast._tag !== 'Objects') throw new Error('expected a struct');
  const type = ast.propertySignatures.find((p) => p.name === 'type')?.type;
  if (type?._tag !== 'Literal') throw new Error('expected a type literal');
  return String(type.literal);
};
const unionMembers = (ast: SchemaAST.AST): readonly SchemaAST.AST[] => {
  if (ast._tag !== 'Union') throw new Error('expected a union');
  return ast.types;
};

/**
 * Compares an Effect struct with a JSON Schema object, and the struct-valued fields of both
 * (`fail.error`, `child.byType`, `completion`'s object form…) one level down, recursively.
 */
const expectSameFields = (ast: SchemaAST.AST, object: Obj, where: string): void => {
  expect(jsonFields(object), where).toEqual(effectFields(ast));
  if (ast._tag !== 'Objects') return;
  for (const p of ast.propertySignatures) {
    const inner = (object['properties'] as Obj)[String(p.name)];
    if (!isObj(inner)) continue;
    const structs = (p.type._tag === 'Union' ? p.type.types : [p.type]).filter(
      (t) => t._tag === 'Objects' && t.propertySignatures.length > 0,
    );
    const objects = (Array.isArray(inner['anyOf']) ? (inner['anyOf'] as Json[]) : [inner]).filter(
      (o): o is Obj => isObj(o) && isObj(o['properties']),
    );
    if (structs.length === 0 || objects.length === 0) continue;
    expect(objects.length, `${where}.${String(p.name)}`).toBe(structs.length);
    structs.forEach((s, i) => {
      expectSameFields(s, objects[i] as Obj, `${where}.${String(p.name)}`);
    });
  }
};

/** Every value under `key` anywhere in a JSON document. */
const collect = (value: Json, key: string): Json[] => {
  const found: Json[] = [];
  const stack: Json[] = [value];
  while (stack.length > 0) {
    const v = stack.pop() as Json;
    if (Array.isArray(v)) stack.push(...(v as readonly Json[]));
    else if (isObj(v))
      for (const [k, inner] of Object.entries(v)) {
        if (k === key) found.push(inner);
        stack.push(inner);
      }
  }
  return found;
};

/** The value at a JSON Pointer of a document (a fresh copy is edited in place by the caller). */
const at = (document: Json, pointer: string): Json => {
  let current: Json = document;
  for (const token of pointer.split('/').slice(1)) {
    const key = token.replaceAll('~1', '/').replaceAll('~0', '~');
    current = Array.isArray(current)
      ? ((current as readonly Json[])[Number(key)] ?? null)
      : isObj(current)
        ? (current[key] ?? null)
        : null;
  }
  return current;
};

describe('the compact blueprint JSON Schema', () => {
  it(`is under ${MAX_BYTES} bytes serialized`, () => {
    const bytes = new TextEncoder().encode(JSON.stringify(schema)).length;
    expect(bytes).toBeLessThan(MAX_BYTES);
  });

  it('is a draft 2020-12 document, the blueprint object at its root, plain JSON, the same on every call', () => {
    expect(schema['$schema']).toBe(JSON_SCHEMA_DIALECT);
    expect(JSON_SCHEMA_DIALECT).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(schema).toMatchObject({
      type: 'object',
      required: ['name', 'steps'],
      additionalProperties: false,
    });
    expect(typeof schema['description']).toBe('string');
    expect(JSON.parse(JSON.stringify(schema))).toEqual(schema);
    expect(blueprintJsonSchema()).toEqual(schema);
  });

  it('defines each part once: every $ref resolves and every definition is used', () => {
    const refs = new Set(collect(schema, '$ref').map(String));
    for (const r of refs) expect(defs[r.replace('#/$defs/', '')], r).toBeDefined();
    expect([...refs].sort()).toEqual(
      Object.keys(defs)
        .map((name) => `#/$defs/${name}`)
        .sort(),
    );
  });

  it('closes every object it describes (additionalProperties: false)', () => {
    // Step and MapItemStep only dispatch on type: the definition each `then` picks is closed.
    const dispatchers = new Set(['Step', 'MapItemStep']);
    const stack: { value: Json; where: string }[] = [{ value: schema, where: '#' }];
    let objects = 0;
    while (stack.length > 0) {
      const { value, where } = stack.pop() as { value: Json; where: string };
      if (Array.isArray(value)) {
        (value as readonly Json[]).forEach((v, i) =>
          stack.push({ value: v, where: `${where}/${i}` }),
        );
        continue;
      }
      if (!isObj(value)) continue;
      if (isObj(value['properties']) && value['type'] === 'object' && !where.endsWith('/if')) {
        const name = where.replace('#/$defs/', '');
        if (!dispatchers.has(name)) {
          expect(value['additionalProperties'], where).toBe(false);
          objects += 1;
        }
      }
      for (const [key, inner] of Object.entries(value)) {
        if (key !== 'enum' && key !== 'const' && key !== 'required' && key !== 'examples')
          stack.push({ value: inner, where: `${where}/${key}` });
      }
    }
    expect(objects).toBeGreaterThan(20);
  });

  it('has the step types of the Effect Schema, each with its fields and required fields', () => {
    const members = unionMembers(StepSchema.ast);
    expect(members.map(literalType)).toEqual(STEP_TYPES);
    expect((def('Step')['properties'] as Obj)['type']).toEqual({ enum: STEP_TYPES });
    for (const member of members) {
      const type = literalType(member);
      expectSameFields(member, def(titleOf(type)), type);
    }
    const items = unionMembers(MapItemStepSchema.ast);
    expect(items.map(literalType)).toEqual(MAP_ITEM_STEP_TYPES);
    expect(((def('MapItemStep')['properties'] as Obj)['type'] as Obj)['enum']).toEqual(
      MAP_ITEM_STEP_TYPES,
    );
    for (const member of items) {
      const type = literalType(member);
      expectSameFields(member, def(`MapItem${titleOf(type)}`), `map item ${type}`);
    }
  });

  it('has the blueprint, defaults, backoff, signal, query and plugin fields of the Effect Schema', () => {
    expectSameFields(BlueprintSchema.ast, schema, 'blueprint');
    expectSameFields(Defaults.ast, def('Defaults'), 'defaults');
    expectSameFields(Backoff.ast, def('Backoff'), 'backoff');
    expectSameFields(SignalDecl.ast, def('Signal'), 'signal');
    expectSameFields(QueryDecl.ast, def('Query'), 'query');
    expectSameFields(PluginDecl.ast, def('Plugin'), 'plugin');
  });

  it('uses the patterns of the Effect Schema (names, expressions, durations, timestamps)', () => {
    const generated = Schema.toJsonSchemaDocument(BlueprintSchema, { onExcessProperty: 'error' });
    const effectPatterns = new Set(
      collect(JSON.parse(JSON.stringify(generated)) as Json, 'pattern'),
    );
    expect(new Set(collect(schema, 'pattern'))).toEqual(effectPatterns);
  });

  it('accepts every blueprint the repository ships that the validator accepts', () => {
    const shipped = shippedBlueprints().filter(([, b]) => validateBlueprint(b).ok);
    expect(shipped.length).toBeGreaterThanOrEqual(20);
    for (const [where, blueprint] of shipped)
      expect(schemaErrors(validate, blueprint), where).toEqual([]);
  });

  it('and, like the validator, refuses each of their steps with an unknown field or without a required one', () => {
    let mutations = 0;
    for (const [where, blueprint] of shippedBlueprints()) {
      if (!validateBlueprint(blueprint).ok) continue;
      for (const list of rawLists(blueprint as Obj)) {
        for (const step of list.steps) {
          const pointer = pointerOf(step.path);
          const type = String(step.value['type']);
          const stepDef = def(`${list.mapItem ? 'MapItem' : ''}${titleOf(type)}`);
          const edits: [string, (s: Record<string, Json>) => void][] = [
            [
              'an unknown field',
              (s) => {
                s['bogus_field'] = 1;
              },
            ],
            ...jsonFields(stepDef).required.map(
              (field): [string, (s: Record<string, Json>) => void] => [
                `no ${field}`,
                (s) => {
                  Reflect.deleteProperty(s, field);
                },
              ],
            ),
          ];
          for (const [what, edit] of edits) {
            const copy = structuredClone(blueprint);
            edit(at(copy, pointer) as Record<string, Json>);
            const label = `${where} ${step.path} with ${what}`;
            expect(validateBlueprint(copy).ok, label).toBe(false);
            expect(preciseErrorAt(schemaErrors(validate, copy), pointer), label).toBeDefined();
            mutations += 1;
          }
        }
      }
    }
    expect(mutations).toBeGreaterThan(100);
  });
});

describe('errors that name the field and the step at fault', () => {
  it.each([
    ['a top-level step', (s: Obj): Obj => s, '/steps/0'],
    [
      'a step in a parallel branch',
      (s: Obj): Obj => ({ id: 'p', type: 'parallel', branches: [[s]] }),
      '/steps/0/branches/0/0',
    ],
    [
      "a map's item step",
      (s: Obj): Obj => {
        const { id: _id, ...item } = s;
        return { id: 'm', type: 'map', step: item };
      },
      '/steps/0/step',
    ],
  ])(
    '"activty" in an activity step: an additional property of that activity step (%s)',
    (_, place, pointer) => {
      const errors = schemaErrors(validate, {
        name: 'bp',
        steps: [place({ id: 'a', type: 'activity', activity: 'x', activty: 'y' })],
      });
      const precise = errors.filter((e) => preciseErrorAt([e], '') !== undefined);
      expect(precise).toHaveLength(1);
      const [error] = precise;
      expect(error).toMatchObject({
        instancePath: pointer,
        keyword: 'additionalProperties',
        params: { additionalProperty: 'activty' },
      });
      // The definition that refused it is the activity step's (ajv's `verbose` parentSchema).
      expect(((error?.parentSchema as Obj)['properties'] as Obj)['type']).toEqual({
        const: 'activity',
      });
      expect(errors.map((e) => e.message)).not.toContain('must match exactly one schema in oneOf');
      expect(errors.map((e) => e.message)).not.toContain('must match a schema in anyOf');
    },
  );

  it('an unknown step type is an error at its type, listing the types', () => {
    const errors = schemaErrors(validate, {
      name: 'bp',
      steps: [{ id: 'a', type: 'activty', activity: 'x' }],
    });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({
      instancePath: '/steps/0/type',
      keyword: 'enum',
      params: { allowedValues: STEP_TYPES },
    });
  });

  it('a loop inside a map is an error at the item step type', () => {
    const errors = schemaErrors(validate, {
      name: 'bp',
      steps: [{ id: 'm', type: 'map', step: { type: 'loop', count: 1, steps: [] } }],
    });
    const precise = errors.filter((e) => preciseErrorAt([e], '') !== undefined);
    expect(precise).toHaveLength(1);
    expect(precise[0]).toMatchObject({ instancePath: '/steps/0/step/type', keyword: 'enum' });
  });

  const act = { id: 'a', type: 'activity', activity: 'x' };
  const rules: readonly (readonly [string, Obj, string])[] = [
    ['a loop with neither count nor while', { type: 'loop', steps: [act] }, ''],
    ['a while loop without maxIterations', { type: 'loop', while: '{% true %}', steps: [act] }, ''],
    [
      'a loop with count and while',
      { type: 'loop', count: 1, while: '{% true %}', maxIterations: 2, steps: [act] },
      '/count',
    ],
    ['a sleep with neither duration nor until', { type: 'sleep' }, ''],
    ['a sleep with duration and until', { type: 'sleep', duration: '1s', until: 0 }, '/until'],
    ['a child with neither blueprint nor byType', { type: 'child' }, ''],
    [
      'a child with blueprint and byType',
      { type: 'child', blueprint: 'k', byType: { on: '{% 1 %}', blueprints: {} } },
      '/byType',
    ],
    ['a wait with neither signal nor when', { type: 'wait' }, ''],
    ['a wait with signal and when', { type: 'wait', signal: 's', when: '{% 1 %}' }, '/when'],
    ['a map with neither step nor steps', { type: 'map' }, ''],
    [
      'a map with step and steps',
      { type: 'map', step: { type: 'activity', activity: 'x' }, steps: [act] },
      '/steps',
    ],
    ['a sleep of a bare number', { type: 'sleep', duration: 1500 }, '/duration'],
    ['a sleep of "5 minutes"', { type: 'sleep', duration: '5 minutes' }, '/duration'],
  ];
  it.each(rules)('%s: refused at the field or step', (_, fields, inside) => {
    const blueprint: Json = { name: 'bp', steps: [{ id: 'z', ...fields }] };
    expect(validateBlueprint(blueprint).ok).toBe(false);
    const errors = schemaErrors(validate, blueprint);
    const error = preciseErrorAt(errors, `/steps/0${inside}`);
    expect(error, JSON.stringify(errors)).toBeDefined();
    // Only that step's own definition speaks: no error from another step type's.
    for (const e of errors) expect(e.instancePath.startsWith('/steps/0')).toBe(true);
  });
});

describe('the JSON Schema and the validator agree on what a schema can say', () => {
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
    expect(accepts(blueprint)).toBe(valid);
    expect(validateBlueprint(blueprint).ok).toBe(valid);
  });

  it('an onError cycle is beyond a schema (shape only): the schema takes it, the validator refuses it', () => {
    const cyclic = bp([act('h'), act('s', { onError: 'h' })]);
    expect(accepts(cyclic)).toBe(true);
    expect(validateBlueprint(cyclic).diagnostics.map((d) => d.code)).toEqual(['cycle']);
  });

  it('does not claim a default timeout for a wait: without one it waits as long as the run lives', () => {
    const wait = def('WaitStep');
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
