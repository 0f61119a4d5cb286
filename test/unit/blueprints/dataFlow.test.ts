import { Ajv2020 } from 'ajv/dist/2020.js';
import * as fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mismatches } from '../../../src/blueprints/conforms.ts';
import type { Json } from '../../../src/blueprints/json.ts';
import {
  validateBlueprint,
  type ActivitySchemas,
  type Diagnostic,
} from '../../../src/blueprints/validate.ts';

/** `input_mismatch`: step inputs checked against the JSON Schemas activities declare. */

const act = (id: string, activity: string, extra: Record<string, unknown> = {}) => ({
  id,
  type: 'activity',
  activity,
  ...extra,
});
const bp = (steps: unknown[]) => ({ name: 'bp', steps });

const CHARGE_INPUT = {
  type: 'object',
  properties: {
    amount: { type: 'number' },
    currency: { type: 'string', enum: ['EUR', 'USD'] },
    items: { type: 'array', items: { type: 'object', properties: { sku: { type: 'string' } } } },
  },
  required: ['amount', 'currency'],
} as const;

const schemas = new Map<string, ActivitySchemas>([
  [
    'charge',
    { input: CHARGE_INPUT, output: { type: 'object', properties: { id: { type: 'string' } } } },
  ],
  [
    'quote',
    {
      output: {
        type: 'object',
        properties: {
          total: { type: 'number' },
          label: { type: 'string' },
          currency: { type: 'string', enum: ['EUR', 'GBP'] },
        },
        required: ['total'],
      },
    },
  ],
  ['count', { input: { type: 'integer' }, output: { type: 'string' } }],
  ['free', {}],
]);

const warnings = (steps: unknown[]): readonly Diagnostic[] => {
  const result = validateBlueprint(bp(steps), undefined, { activitySchemas: schemas });
  expect(result.ok).toBe(true);
  return result.diagnostics.filter((d) => d.code === 'input_mismatch');
};
const brief = (ds: readonly Diagnostic[]) => ds.map((d) => [d.path, d.message]);

describe('literal inputs', () => {
  it('a field of the wrong type is a warning at its path, naming expected and given', () => {
    const found = warnings([act('pay', 'charge', { input: { amount: 'ten', currency: 'EUR' } })]);
    expect(found).toEqual([
      {
        path: '$.steps[0].input.amount',
        code: 'input_mismatch',
        message: 'input of activity "charge": expected number, got "ten"',
        hint: expect.stringContaining('weft.activities.list') as unknown,
        severity: 'warning',
      },
    ]);
  });

  it('missing required fields, enum values, nested items and a wholly wrong type', () => {
    expect(
      brief(
        warnings([
          act('a', 'charge', { input: { amount: 1 } }),
          act('b', 'charge', { input: { amount: 1, currency: 'GBP' } }),
          act('c', 'charge', {
            input: { amount: 1, currency: 'EUR', items: [{ sku: 'x' }, { sku: 7 }] },
          }),
          act('d', 'charge', { input: [1, 2] }),
          act('e', 'count', { input: 1.5 }),
        ]),
      ),
    ).toEqual([
      ['$.steps[0].input', 'input of activity "charge": "currency" is required but missing'],
      [
        '$.steps[1].input.currency',
        'input of activity "charge": expected one of "EUR", "USD", got "GBP"',
      ],
      ['$.steps[2].input.items[1].sku', 'input of activity "charge": expected string, got 7'],
      ['$.steps[3].input', 'input of activity "charge": expected object, got an array of 2'],
      ['$.steps[4].input', 'input of activity "count": expected integer, got 1.5'],
    ]);
  });

  it('a fitting literal, an integer where a number is expected, and undeclared activities pass', () => {
    expect(
      warnings([
        act('a', 'charge', { input: { amount: 3, currency: 'USD', extra: true } }),
        act('b', 'count', { input: 4 }),
        act('c', 'free', { input: 'anything' }),
        act('d', 'unknown_one', { input: 1 }),
      ]),
    ).toEqual([]);
  });

  it('the literal parts of an input with expressions are checked; the computed parts are not', () => {
    expect(
      brief(
        warnings([
          act('a', 'charge', { input: { amount: '{% $input.amount %}', currency: 'JPY' } }),
          act('b', 'charge', { input: { amount: '{% $input.amount %}' } }),
          act('c', 'charge', { input: '{% $input %}' }),
          act('d', 'charge', { input: { amount: 1, currency: 'EUR', items: ['{% $item %}', 3] } }),
        ]),
      ),
    ).toEqual([
      [
        '$.steps[0].input.currency',
        'input of activity "charge": expected one of "EUR", "USD", got "JPY"',
      ],
      ['$.steps[1].input', 'input of activity "charge": "currency" is required but missing'],
      ['$.steps[3].input.items[1]', 'input of activity "charge": expected object, got 3'],
    ]);
  });

  it('a computed activity name is not checked', () => {
    expect(warnings([act('a', '{% "charge" %}', { input: { amount: 'x' } })])).toEqual([]);
  });
});

describe('inputs taken from a step whose activity declares its output', () => {
  it('wholesale: a declared field of another type, or a required field not declared', () => {
    expect(
      brief(warnings([act('q', 'quote'), act('pay', 'charge', { input: '{% $steps.q %}' })])),
    ).toEqual([
      [
        '$.steps[1].input',
        'input of activity "charge": "amount" is required, and $steps.q does not declare it; ' +
          'at currency: expected one of "EUR", "USD", got one of "EUR", "GBP" ($steps.q.currency)',
      ],
    ]);
  });

  it('a field of a step output, inside a literal object', () => {
    expect(
      brief(
        warnings([
          act('q', 'quote'),
          act('pay', 'charge', {
            input: { amount: '{% $steps.q.label %}', currency: '{% $steps.q.currency %}' },
          }),
          act('ok', 'charge', { input: { amount: '{% $steps.q.total %}', currency: 'EUR' } }),
          act('n', 'count', { input: '{% $steps.q.total %}' }),
          act('s', 'count', { input: '{%$steps.pay.id%}' }),
        ]),
      ),
    ).toEqual([
      [
        '$.steps[1].input.amount',
        'input of activity "charge": expected number, got string ($steps.q.label)',
      ],
      [
        '$.steps[1].input.currency',
        'input of activity "charge": expected one of "EUR", "USD", got one of "EUR", "GBP" ($steps.q.currency)',
      ],
      [
        '$.steps[4].input',
        'input of activity "count": expected integer, got string ($steps.pay.id)',
      ],
    ]);
  });

  it("a step without input gets its one dependency's output", () => {
    expect(brief(warnings([act('q', 'quote'), act('n', 'count')]))).toEqual([
      ['$.steps[1]', 'default input of activity "count": expected integer, got object ($steps.q)'],
    ]);
    // Two dependencies: an object keyed by id; a root step: the run input. Neither is known.
    expect(
      warnings([
        act('q', 'quote'),
        act('r', 'quote', { dependsOn: [] }),
        act('n', 'count', { dependsOn: ['q', 'r'] }),
      ]),
    ).toEqual([]);
  });

  it('a source whose output is not certain, or other expressions, are not checked', () => {
    expect(
      warnings([
        act('q', 'quote', { if: '{% $input.go %}' }),
        act('r', 'quote', { onError: 'continue', dependsOn: [] }),
        act('a', 'count', { input: '{% $steps.q %}', dependsOn: [] }),
        act('b', 'count', { input: '{% $steps.r %}', dependsOn: [] }),
        act('c', 'count', { input: '{% $steps.q.total + 1 %}', dependsOn: [] }),
        act('d', 'count', { input: '{% $steps.nope %}', dependsOn: [] }),
        act('e', 'count', { input: '{% $steps.pay.undeclared %}', dependsOn: [] }),
      ]),
    ).toEqual([]);
  });
});

describe('the JSON Schema subset checker', () => {
  it('follows local $refs, anyOf and allOf; a number may be written in anyOf with its edge strings', () => {
    const effectNumber = {
      anyOf: [{ type: 'number' }, { type: 'string', enum: ['Infinity', '-Infinity', 'NaN'] }],
    };
    const schema = {
      $ref: '#/$defs/Order',
      $defs: {
        Order: {
          type: 'object',
          properties: { n: effectNumber, next: { $ref: '#/$defs/Order' } },
          allOf: [{ required: ['n'] }],
        },
      },
    };
    expect(mismatches(schema, { kind: 'value', value: { n: 1, next: { n: 'NaN' } } })).toEqual([]);
    expect(
      mismatches(schema, { kind: 'value', value: { next: { n: 'x', next: {} } } }).map((m) => [
        m.at.join('.'),
        m.message,
      ]),
    ).toEqual([
      ['', '"n" is required but missing'],
      ['next.n', 'expected number or one of "Infinity", "-Infinity", "NaN", got "x"'],
      ['next.next', '"n" is required but missing'],
    ]);
  });

  it('is bounded on recursive schemas and never reports a value ajv accepts', () => {
    // ajv's deep equality (enum, const) calls a value's own `valueOf`/`toString` when it has one:
    // `{"valueOf": false}` equals nothing there. Values with keys of Object.prototype are left out.
    const plain = (value: unknown): boolean =>
      Array.isArray(value)
        ? value.every(plain)
        : typeof value !== 'object' ||
          value === null ||
          Object.entries(value).every(([k, v]) => !(k in Object.prototype) && plain(v));
    const json = (maxDepth: number) => fc.jsonValue({ maxDepth }).filter(plain);
    const loop = { $ref: '#' };
    expect(mismatches(loop, { kind: 'value', value: 1 })).toEqual([]);
    const ajv = new Ajv2020({ strict: false });
    const subset = fc.letrec((tie) => ({
      schema: fc.oneof(
        { depthSize: 'small' },
        fc.record({ type: fc.constantFrom('string', 'number', 'integer', 'boolean', 'null') }),
        fc.record({
          enum: fc.array(json(1), { minLength: 1, maxLength: 3 }),
        }),
        fc.record({ const: json(1) }),
        fc.record({ type: fc.constant('array'), items: tie('schema') }),
        fc.record({
          type: fc.constant('object'),
          properties: fc.dictionary(fc.constantFrom('a', 'b', 'c'), tie('schema')),
          required: fc.subarray(['a', 'b', 'c']),
        }),
        fc.record({ anyOf: fc.array(tie('schema'), { minLength: 1, maxLength: 3 }) }),
      ),
    }));
    fc.assert(
      fc.property(subset.schema, json(3), (schema, value) => {
        const valid = ajv.validate(schema as object, value);
        if (valid) expect(mismatches(schema as Json, { kind: 'value', value })).toEqual([]);
        else expect(mismatches(schema as Json, { kind: 'value', value }).length).toBeGreaterThan(0);
      }),
      { numRuns: 500 },
    );
  });
});
