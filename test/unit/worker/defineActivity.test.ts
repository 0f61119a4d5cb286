import * as Schema from 'effect/Schema';
import type { StandardSchemaV1 } from 'effect/StandardSchema';
import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  fitAnnouncement,
  MAX_ANNOUNCED_SCHEMA_BYTES,
  MAX_ANNOUNCED_SCHEMAS_BYTES,
  resolveActivity,
} from '../../../src/actors/activityDefinition.ts';
import {
  activityError,
  defineActivity,
  TerminalError,
  type ActivityContext,
  type WorkerOptions,
} from '../../../src/actors/worker.ts';

/** Typed activities: `run` typed by its schemas, inputs and outputs checked, JSON Schemas announced. */

const Charge = Schema.Struct({
  amount: Schema.Finite,
  currency: Schema.Literals(['EUR', 'USD']),
});
const Receipt = Schema.Struct({ id: Schema.String, charged: Schema.Finite });

/** A Standard Schema written by hand (no Effect, no JSON Schema): a string read as a number. */
const numeric: StandardSchemaV1<string, number> = {
  '~standard': {
    version: 1,
    vendor: 'test',
    validate: (value) =>
      typeof value === 'string' && /^\d+$/u.test(value)
        ? { value: Number(value) }
        : { issues: [{ message: 'expected digits', path: ['n'] }] },
  },
};

const ctx: ActivityContext = {
  runId: 'r',
  stepId: 's',
  taskId: 't',
  attempt: 1,
  signal: new AbortController().signal,
};

describe('defineActivity types run by its schemas', () => {
  it('an Effect schema: run gets its type and must return the output schema type', () => {
    const charge = defineActivity({
      name: 'charge',
      input: Charge,
      output: Receipt,
      run: (input) => {
        expectTypeOf(input).toEqualTypeOf<{
          readonly amount: number;
          readonly currency: 'EUR' | 'USD';
        }>();
        return { id: 'c1', charged: input.amount };
      },
    });
    expectTypeOf(charge.run).returns.toEqualTypeOf<
      | { readonly id: string; readonly charged: number }
      | PromiseLike<{ readonly id: string; readonly charged: number }>
    >();
    defineActivity({
      input: Charge,
      output: Receipt,
      // @ts-expect-error -- `charged` must be a number
      run: (input) => ({ id: 'c1', charged: String(input.amount) }),
    });
    defineActivity({
      input: Charge,
      run: (input) => {
        // @ts-expect-error -- no such field on the input
        expectTypeOf(input).toHaveProperty('amont');
        return input.amount;
      },
    });
    defineActivity({
      input: Charge,
      output: Receipt,
      // @ts-expect-error -- an async run is checked too
      run: async () => Promise.resolve({ id: 1, charged: 2 }),
    });
  });

  it('any Standard Schema: run gets its output type and returns the output schema input type', () => {
    defineActivity({
      input: Schema.toStandardSchemaV1(Schema.Struct({ n: Schema.NumberFromString })),
      output: numeric,
      run: (input) => {
        expectTypeOf(input).toEqualTypeOf<{ readonly n: number }>();
        return String(input.n);
      },
    });
    defineActivity({
      input: numeric,
      run: (input) => {
        // @ts-expect-error -- the input is a number, not a string
        const text: string = input;
        return text;
      },
    });
  });

  it('untyped definitions and plain functions keep working', () => {
    const described = defineActivity({
      name: 'charge_card',
      input: { type: 'object', properties: { amount: { type: 'number' } } },
      output: { type: 'object' },
      run: (input) => {
        expectTypeOf(input).toBeUnknown();
        return { charged: (input as { amount: number }).amount };
      },
    });
    const bare = defineActivity({ run: (input: unknown) => input });
    const typed = defineActivity({ input: Charge, run: (input) => input.amount });
    const activities = {
      described,
      bare,
      typed,
      plain: (input: unknown, context: ActivityContext) => [input, context.attempt],
    } satisfies WorkerOptions['activities'];
    expect(Object.keys(activities)).toHaveLength(4);
  });
});

describe('the worker checks inputs and outputs', () => {
  const resolved = resolveActivity(
    'charge',
    defineActivity({
      input: Charge,
      output: Receipt,
      run: (input) => ({ id: `${input.currency}-1`, charged: input.amount, extra: true }),
    }),
  );

  it('a fitting input runs with the decoded value; the output is what its schema gives', async () => {
    await expect(
      Promise.resolve(resolved.run({ amount: 5, currency: 'EUR' }, ctx)),
    ).resolves.toEqual({
      id: 'EUR-1',
      charged: 5,
    });
  });

  it('a bad input is the terminal invalid_input with every issue at its path; run is not called', async () => {
    let calls = 0;
    const counted = resolveActivity(
      'charge',
      defineActivity({ input: Charge, run: () => (calls += 1) }),
    );
    const error: unknown = await Promise.resolve(
      counted.run({ amount: 'ten', currency: 'GBP' }, ctx),
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(TerminalError);
    expect(activityError(error)).toEqual({
      code: 'invalid_input',
      retryable: false,
      message: 'invalid input: $.amount: Expected number; $.currency: Expected "EUR" | "USD"',
    });
    expect(calls).toBe(0);
  });

  it('a bad output is the terminal invalid_output', async () => {
    const wrong = resolveActivity(
      'charge',
      defineActivity({ output: Receipt, run: () => ({ id: 7 }) as never }),
    );
    const error: unknown = await Promise.resolve(wrong.run({}, ctx)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(activityError(error)).toMatchObject({ code: 'invalid_output', retryable: false });
    expect(activityError(error).message).toMatch(/^invalid output: \$\.id: Expected string/u);
  });

  it('a hand-written Standard Schema validates; a JSON Schema object is never checked', async () => {
    const digits = resolveActivity('d', defineActivity({ input: numeric, run: (n) => n + 1 }));
    await expect(Promise.resolve(digits.run('41', ctx))).resolves.toBe(42);
    await expect(Promise.resolve(digits.run('x', ctx))).rejects.toThrow(
      'invalid input: $.n: expected digits',
    );
    const json = resolveActivity(
      'j',
      defineActivity({ input: { type: 'number' }, run: (input) => input }),
    );
    await expect(Promise.resolve(json.run('not a number', ctx))).resolves.toBe('not a number');
  });
});

describe('what a worker announces', () => {
  it('the JSON Schemas of an Effect schema, input and output', () => {
    const { announced, notes } = resolveActivity(
      'charge',
      defineActivity({
        description: 'charges',
        input: Charge,
        output: Receipt,
        run: () => ({ id: '', charged: 0 }),
      }),
    );
    expect(notes).toEqual([]);
    expect(announced).toEqual({
      name: 'charge',
      description: 'charges',
      input: {
        $schema: 'https://json-schema.org/draft/2020-12/schema',
        type: 'object',
        properties: {
          amount: { type: 'number' },
          currency: { type: 'string', enum: ['EUR', 'USD'] },
        },
        required: ['amount', 'currency'],
        additionalProperties: true,
      },
      output: {
        $schema: 'https://json-schema.org/draft/2020-12/schema',
        type: 'object',
        properties: { id: { type: 'string' }, charged: { type: 'number' } },
        required: ['id', 'charged'],
        additionalProperties: true,
      },
    });
  });

  it('an Effect schema made a Standard Schema keeps its JSON Schema; plain functions announce a name', () => {
    const standard = resolveActivity(
      's',
      defineActivity({ input: Schema.toStandardSchemaV1(Charge), run: () => null }),
    );
    expect(standard.announced.input).toMatchObject({
      type: 'object',
      required: ['amount', 'currency'],
    });
    expect(resolveActivity('plain', () => 1).announced).toEqual({ name: 'plain' });
  });

  it('none for a Standard Schema without a JSON Schema; none, with a note, for a huge one', () => {
    expect(
      resolveActivity('d', defineActivity({ input: numeric, run: () => 1 })).announced,
    ).toEqual({
      name: 'd',
    });
    const many = Object.fromEntries(
      Array.from({ length: 2_000 }, (_, i) => [`field_${i}`, Schema.String]),
    );
    const huge = resolveActivity('h', defineActivity({ input: Schema.Struct(many), run: () => 1 }));
    expect(huge.announced).toEqual({ name: 'h' });
    expect(huge.notes).toEqual([
      expect.stringMatching(
        new RegExp(
          `^its input JSON Schema \\(\\d+ bytes\\) is over ${MAX_ANNOUNCED_SCHEMA_BYTES} bytes`,
          'u',
        ),
      ),
    ]);
  });

  it('all the schemas of one worker stay under a cap: the largest are left out first', () => {
    const schema = (bytes: number) => ({ description: 'x'.repeat(bytes) });
    const third = Math.floor(MAX_ANNOUNCED_SCHEMAS_BYTES / 3);
    const fitted = fitAnnouncement([
      { name: 'a', input: schema(third) },
      { name: 'b', description: 'kept', input: schema(third), output: schema(third) },
      { name: 'c', output: schema(third) },
      { name: 'd' },
    ]);
    expect(fitted.left).toEqual(['b']);
    expect(fitted.activities.map((a) => Object.keys(a))).toEqual([
      ['name', 'input'],
      ['name', 'description'],
      ['name', 'output'],
      ['name'],
    ]);
  });
});
