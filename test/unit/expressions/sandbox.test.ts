import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Json } from '../../../src/blueprints/json.ts';
import {
  compileExpression,
  containsExpression,
  evaluateExpression,
  evaluateTemplate,
  ExpressionCache,
  hasNestedQuantifier,
  isExpression,
  type ExpressionBindings,
  type ExpressionErrorCode,
  type ExpressionLimits,
  type ExpressionResult,
} from '../../../src/expressions/sandbox.ts';

/** `expect.stringMatching`, typed so it can sit inside object literals. */
const matching = (pattern: RegExp): unknown => expect.stringMatching(pattern) as unknown;

const bindings: ExpressionBindings = {
  input: { amount: 120, items: [1, 2, 3], user: { name: 'ada' } },
  steps: {
    fetch: {
      rows: [
        { id: 'a', n: 2 },
        { id: 'b', n: 5 },
      ],
    },
    total: 7,
  },
};

const evaluate = async (
  src: string,
  b: ExpressionBindings = bindings,
  limits?: Partial<ExpressionLimits>,
): Promise<ExpressionResult> => {
  const compiled = compileExpression(src, limits);
  if (!compiled.ok) return compiled;
  return evaluateExpression(compiled.expression, b, limits);
};

const valueOf = async (src: string, b?: ExpressionBindings): Promise<Json> => {
  const result = await evaluate(src, b);
  if (!result.ok) throw new Error(`${src}: ${result.error.code} ${result.error.message}`);
  return result.value;
};

const errorOf = async (src: string, b?: ExpressionBindings, limits?: Partial<ExpressionLimits>) => {
  const result = await evaluate(src, b, limits);
  if (result.ok) throw new Error(`${src} evaluated to ${JSON.stringify(result.value)}`);
  return result.error;
};

const EXPRESSION_ERROR_CODES: readonly ExpressionErrorCode[] = [
  'expression_syntax',
  'expression_error',
  'expression_limit',
  'expression_result',
];

describe('isExpression', () => {
  it.each([
    ['{% 1 %}', true],
    ['  {% $input %}\n', true],
    ['{%%}', true],
    ['{% a %} and more', false],
    ['x {% a %}', false],
    ['{ % a % }', false],
    ['{%}', false],
    [42, false],
    [null, false],
  ])('%j → %s', (value, expected) => {
    expect(isExpression(value)).toBe(expected);
  });
});

describe('compileExpression', () => {
  it('compiles "{% … %}" and bare bodies alike', () => {
    const wrapped = compileExpression('{% $input.amount %}');
    const bare = compileExpression('$input.amount');
    expect(wrapped.ok && wrapped.expression.source.trim()).toBe('$input.amount');
    expect(bare.ok && bare.expression.source).toBe('$input.amount');
  });

  it('returns syntax errors as values, with a position', () => {
    const result = compileExpression('{% $sum( %}');
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.error.code).toBe('expression_syntax');
      expect(result.error.position).toBeTypeOf('number');
      expect(result.error.message).toMatch(/position/u);
    }
    expect(compileExpression('{%   %}')).toEqual({
      ok: false,
      error: { code: 'expression_syntax', message: 'the expression is empty' },
    });
  });

  it('refuses sources longer than the limit', () => {
    const result = compileExpression(`{% ${'1 + '.repeat(3_000)}1 %}`);
    expect(result).toMatchObject({ ok: false, error: { code: 'expression_limit' } });
    expect(compileExpression('{% 1 + 1 %}', { maxSourceLength: 3 })).toMatchObject({
      ok: false,
      error: { code: 'expression_limit' },
    });
  });

  it('refuses sources nested deeper than the parser can go with expression_limit, not a crash', () => {
    // 50,000 levels overflow JSONata's recursive parser on any stack Node gives a thread.
    const depth = 50_000;
    const result = compileExpression(`${'('.repeat(depth)}1${')'.repeat(depth)}`, {
      maxSourceLength: 2 * depth + 1,
    });
    expect(result).toEqual({
      ok: false,
      error: { code: 'expression_limit', message: 'the expression is nested too deeply to parse' },
    });
  });

  it('evaluates sources nested within the parser but deeper than maxDepth to expression_limit', async () => {
    const nested = (depth: number): string => `${'('.repeat(depth)}1${')'.repeat(depth)}`;
    expect(await valueOf(nested(50))).toBe(1);
    expect(await errorOf(nested(1_000), bindings, { maxSourceLength: 2_001 })).toEqual({
      code: 'expression_limit',
      message: 'the expression nested deeper than 200 evaluations (runaway recursion?)',
    });
  });

  it('refuses $eval, $random, $shuffle and nested-quantifier regexes at compile time', () => {
    for (const [src, named] of [
      ['$eval("1")', /^\$eval is not available/u],
      ['( $e := $eval; $e("1") )', /^\$eval is not available/u],
      ['$random()', /^\$random is not available/u],
      ['$shuffle([1,2])', /^\$shuffle is not available/u],
      ['$match("a", /(a+)+$/)', /^regular expression \/\(a\+\)\+\$\/ repeats a group/u],
      ['$replace("a", /(?:x*y)*/, "")', /^regular expression .* repeats a group/u],
    ] as const) {
      expect(compileExpression(src), src).toEqual({
        ok: false,
        error: { code: 'expression_syntax', message: matching(named) },
      });
    }
  });

  it.each([
    ['(a+)+', true],
    ['(?:x*y)*', true],
    ['((a)+b)+', true],
    ['(?<n>a+){2,}', true],
    ['(a|b)*', false],
    ['a+b+', false],
    ['(\\d+)-(\\d+)', false],
    ['[(+]+', false],
    ['(a{1,3})+', false],
    ['\\(a+\\)+', false],
  ])('hasNestedQuantifier(%j) = %s', (source, expected) => {
    expect(hasNestedQuantifier(source)).toBe(expected);
  });
});

describe('evaluateExpression: bindings', () => {
  it('exposes every binding under its $ name', async () => {
    const all: ExpressionBindings = {
      input: { a: 1 },
      steps: { s: 2 },
      item: { k: 'v' },
      index: 3,
      iteration: 4,
      data: { d: 5 },
      signals: [{ name: 'go' }],
      run: { id: 'r1', blueprint: 'bp', version: 2 },
      error: { message: 'boom' },
    };
    expect(
      await valueOf(
        '[$input.a, $steps.s, $item.k, $index, $iteration, $data.d, $signals[0].name, $run.id, $run.version, $error.message]',
        all,
      ),
    ).toEqual([1, 2, 'v', 3, 4, 5, 'go', 'r1', 2, 'boom']);
  });

  it('uses input as the context $, unless a context is given', async () => {
    expect(await valueOf('amount')).toBe(120);
    expect(await valueOf('$.user.name')).toBe('ada');
    expect(await valueOf('$', { ...bindings, context: { other: true } })).toEqual({ other: true });
    expect(await valueOf('$', { ...bindings, context: null })).toBeNull();
  });

  it('computes over steps', async () => {
    expect(await valueOf('$sum($steps.fetch.rows.n)')).toBe(7);
    expect(await valueOf('$steps.fetch.rows[n > 3].id')).toBe('b');
    expect(await valueOf("{'total': $steps.total, 'big': $input.amount > 100}")).toEqual({
      total: 7,
      big: true,
    });
  });

  it('turns undefined into null and sequences into plain arrays', async () => {
    expect(await valueOf('$input.missing')).toBeNull();
    expect(await valueOf('$nothing')).toBeNull();
    const seq = await valueOf('$steps.fetch.rows.id');
    expect(seq).toEqual(['a', 'b']);
    expect(Object.keys(seq as object)).toEqual(['0', '1']);
    expect(Array.isArray(seq) && Object.getPrototypeOf(seq)).toBe(Array.prototype);
  });

  it('$now() and $millis() answer bindings.now, and fail without it', async () => {
    const at: ExpressionBindings = { ...bindings, now: Date.UTC(2030, 0, 2, 3, 4, 5) };
    expect(await valueOf('$millis()', at)).toBe(Date.UTC(2030, 0, 2, 3, 4, 5));
    expect(await valueOf('$now()', at)).toBe('2030-01-02T03:04:05.000Z');
    expect(await errorOf('$now()')).toMatchObject({
      code: 'expression_error',
      message: matching(/not available/u),
    });
    expect(await errorOf('$millis()')).toMatchObject({
      code: 'expression_error',
      message: matching(/not available/u),
    });
  });

  it('is deterministic: date pictures without a date use bindings.now, not the clock', async () => {
    expect(await valueOf('$toMillis("10:00", "[H]:[m]")')).toBe(10 * 3_600_000);
    const at: ExpressionBindings = { ...bindings, now: Date.UTC(2030, 5, 1) };
    expect(await valueOf('$toMillis("10:00", "[H]:[m]")', at)).toBe(Date.UTC(2030, 5, 1, 10));
  });

  it('reports runtime errors as expression_error', async () => {
    expect(await errorOf('$error("custom failure")')).toMatchObject({
      code: 'expression_error',
      message: matching(/custom failure/u),
    });
    expect(await errorOf('$string(1/0)')).toMatchObject({ code: 'expression_error' });
    expect(await errorOf('"a" + 1')).toMatchObject({ code: 'expression_error' });
  });

  it('rejects results that are not JSON', async () => {
    expect(await errorOf('function($x){ $x }')).toMatchObject({ code: 'expression_result' });
    expect(await errorOf('$sum')).toMatchObject({ code: 'expression_result' });
    expect(await errorOf('/abc/')).toMatchObject({ code: 'expression_result' });
    expect(await errorOf('1/0')).toMatchObject({
      code: 'expression_result',
      message: matching(/Infinity/u),
    });
    expect(await errorOf('{"f": function(){1}}')).toMatchObject({ code: 'expression_result' });
  });

  it('never rejects and never throws, whatever the source (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 40 }), async (src) => {
        // A throw or a rejection fails the property; every answer is a value or a typed error.
        const result = await evaluate(src);
        if (result.ok) expect(result.value).toEqual(JSON.parse(JSON.stringify(result.value)));
        else expect(EXPRESSION_ERROR_CODES).toContain(result.error.code);
      }),
      { numRuns: 200 },
    );
  });
});

describe('evaluateExpression: security', () => {
  it('$eval does not work, and expression text that arrives at run time stays data', async () => {
    expect(compileExpression('$eval("1 + 1")')).toMatchObject({
      ok: false,
      error: { code: 'expression_syntax', message: matching(/^\$eval is not available/u) },
    });
    // JSONata has no other way to run a string: one built or read at run time is only a string.
    const smuggled = '{% $eval("1 + 1") %}';
    expect(await valueOf('$steps.s', { input: null, steps: { s: smuggled } })).toBe(smuggled);
    expect(await valueOf('"{% " & "1 + 1" & " %}"')).toBe('{% 1 + 1 %}');
    expect(
      await evaluateTemplate({ out: '{% $steps.s %}' }, { input: null, steps: { s: smuggled } }),
    ).toEqual({ ok: true, value: { out: smuggled } });
  });

  it('$random and $shuffle are refused', () => {
    expect(compileExpression('$random()')).toMatchObject({
      ok: false,
      error: { code: 'expression_syntax', message: matching(/^\$random is not available/u) },
    });
    expect(compileExpression('$shuffle($input.items)')).toMatchObject({
      ok: false,
      error: { code: 'expression_syntax', message: matching(/^\$shuffle is not available/u) },
    });
  });

  it('prototypes are out of reach', async () => {
    for (const src of [
      '$input.__proto__',
      '$input.constructor',
      '$input.constructor.constructor',
      '$lookup($input, "constructor")',
      '$lookup($input, "__proto__")',
      '$input.items.constructor',
      '$input.user.name.constructor',
      '$keys($input.__proto__)',
      '$steps.toString',
    ]) {
      expect(await valueOf(src), src).toBeNull();
    }
    // The Function constructor is not reached: `$f` is undefined, and calling it is an error.
    expect(
      await errorOf('( $f := $input.constructor.constructor; $f("return process")() )'),
    ).toMatchObject({ code: 'expression_error', message: matching(/non-function/u) });
  });

  it('__proto__ keys stay plain data and pollute nothing', async () => {
    const value = await valueOf('{"__proto__": {"polluted": true}, "a": 1}');
    expect(JSON.stringify(value)).toBe('{"__proto__":{"polluted":true},"a":1}');
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    const merged = await valueOf('$merge([{"__proto__": {"polluted": true}}, {"b": 2}])');
    expect(JSON.stringify(merged)).toBe('{"__proto__":{"polluted":true},"b":2}');
    const fromInput = JSON.parse('{"__proto__": {"polluted": true}}') as Json;
    expect(JSON.stringify(await valueOf('$input', { input: fromInput, steps: {} }))).toBe(
      '{"__proto__":{"polluted":true}}',
    );
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('does not mutate its bindings', async () => {
    const input: Json = { items: [3, 1, 2], nested: { a: [1] } };
    const before = JSON.stringify(input);
    await valueOf('$sort($input.items)', { input, steps: {} });
    await valueOf('$input ~> |nested|{"a": [9]}|', { input, steps: {} });
    expect(JSON.stringify(input)).toBe(before);
  });

  it('works on deeply frozen bindings', async () => {
    const freeze = <T>(value: T): T => {
      if (typeof value === 'object' && value !== null) {
        Object.values(value).forEach(freeze);
        Object.freeze(value);
      }
      return value;
    };
    const frozen = freeze<ExpressionBindings>({
      input: { items: [3, 1, 2], rows: [{ a: [1] }, { a: [2] }] },
      steps: { s: [[1], [2]] },
    });
    expect(await valueOf('$sort($input.items)', frozen)).toEqual([1, 2, 3]);
    expect(await valueOf('$input.rows.a', frozen)).toEqual([1, 2]);
    expect(await valueOf('$input ~> |rows|{"b": 1}|', frozen)).toEqual({
      items: [3, 1, 2],
      rows: [
        { a: [1], b: 1 },
        { a: [2], b: 1 },
      ],
    });
    expect(await valueOf('$append($steps.s, [[3]])', frozen)).toEqual([[1], [2], [3]]);
  });
});

describe('evaluateExpression: limits', () => {
  it('endless tail recursion ends with expression_limit (fuel), not a hang', async () => {
    expect(await errorOf('( $f := function($x){ $f($x) }; $f(1) )')).toEqual({
      code: 'expression_limit',
      message: 'the expression took more than 100000 evaluation steps',
    });
  });

  it('endless deep recursion ends with expression_limit (depth), not a stack overflow', async () => {
    expect(await errorOf('( $f := function($x){ 1 + $f($x) }; $f(1) )')).toEqual({
      code: 'expression_limit',
      message: 'the expression nested deeper than 200 evaluations (runaway recursion?)',
    });
  });

  it('bounded recursion within the limits works', async () => {
    expect(
      await valueOf('( $fact := function($n){ $n <= 1 ? 1 : $n * $fact($n - 1) }; $fact(10) )'),
    ).toBe(3_628_800);
  });

  it('fuel and depth limits are configurable and deterministic', async () => {
    const src = '$sum($map([1..50], function($v){ $v * 2 }))';
    expect(await valueOf(src)).toBe(2_550);
    const tight = await errorOf(src, bindings, { maxSteps: 50 });
    expect(tight).toEqual({
      code: 'expression_limit',
      message: 'the expression took more than 50 evaluation steps',
    });
    expect(await errorOf(src, bindings, { maxSteps: 50 })).toEqual(tight);
    const recursive = '( $f := function($n){ $n = 0 ? 0 : 1 + $f($n - 1) }; $f(30) )';
    expect(await valueOf(recursive)).toBe(30);
    expect(await errorOf(recursive, bindings, { maxDepth: 20 })).toEqual({
      code: 'expression_limit',
      message: 'the expression nested deeper than 20 evaluations (runaway recursion?)',
    });
  });

  it('results larger than maxResultBytes are refused', async () => {
    expect(await errorOf('$pad("", 2000, "x")', bindings, { maxResultBytes: 1_000 })).toMatchObject(
      { code: 'expression_limit' },
    );
    expect(await errorOf('[1..600]', bindings, { maxResultBytes: 1_000 })).toMatchObject({
      code: 'expression_limit',
    });
    expect(await valueOf('$pad("", 500, "x")')).toHaveLength(500);
  });

  it('memory bombs stop early: huge pads, ranges and doubling strings', async () => {
    // This message comes only from the width check that runs before $pad allocates anything.
    expect(await errorOf('$pad("x", 500000000)')).toEqual({
      code: 'expression_limit',
      message: '$pad width 500000000 is larger than 1000000',
    });
    expect(await errorOf('[1..5000000]')).toMatchObject({ code: 'expression_limit' });
    expect(await errorOf('[1..100000000]')).toMatchObject({ code: 'expression_limit' });
    const doubling = `( $s := "${'x'.repeat(100)}"; ${'$s := $s & $s; '.repeat(30)} $length($s) )`;
    expect(await errorOf(doubling)).toMatchObject({ code: 'expression_limit' });
  });

  it('results nested deeper than maxDepth are refused, not recursed into', async () => {
    let deep: Json = 1;
    for (let i = 0; i < 10_000; i++) deep = [deep];
    expect(await errorOf('$input', { input: deep, steps: {} })).toMatchObject({
      code: 'expression_limit',
    });
  });
});

describe('evaluateTemplate', () => {
  it('replaces whole-string expressions anywhere and leaves other strings alone', async () => {
    const template: Json = {
      amount: '{% $input.amount %}',
      list: ['plain', '{% $steps.total %}', { deep: '  {% $input.user.name %}  ' }],
      text: 'total: {% $steps.total %}',
      n: 1,
      t: true,
      z: null,
    };
    expect(await evaluateTemplate(template, bindings)).toEqual({
      ok: true,
      value: {
        amount: 120,
        list: ['plain', 7, { deep: 'ada' }],
        text: 'total: {% $steps.total %}',
        n: 1,
        t: true,
        z: null,
      },
    });
  });

  it('keeps key order and __proto__ keys', async () => {
    const template = JSON.parse('{"b": "{% 1 %}", "__proto__": "{% 2 %}", "a": 3}') as Json;
    const result = await evaluateTemplate(template, bindings);
    expect(result.ok && JSON.stringify(result.value)).toBe('{"b":1,"__proto__":2,"a":3}');
  });

  it('evaluates a whole-string template to the value itself', async () => {
    expect(await evaluateTemplate('{% $input.items %}', bindings)).toEqual({
      ok: true,
      value: [1, 2, 3],
    });
    expect(await evaluateTemplate('no expression', bindings)).toEqual({
      ok: true,
      value: 'no expression',
    });
  });

  it('returns the first error with its path', async () => {
    const result = await evaluateTemplate(
      { a: 1, b: [0, '{% $error("nope") %}'], c: '{% 1 + %}' },
      bindings,
    );
    expect(result).toMatchObject({
      ok: false,
      error: { code: 'expression_error', message: matching(/^\$\.b\[1\]: nope/u) },
    });
  });

  it('passes limits down to every expression', async () => {
    const result = await evaluateTemplate({ x: '{% [1..100] %}' }, bindings, {
      maxResultBytes: 50,
    });
    expect(result).toMatchObject({ ok: false, error: { code: 'expression_limit' } });
  });

  it('is the identity (same reference) on JSON without expressions (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), async (value) => {
        const json = value as Json;
        fc.pre(!containsExpression(json));
        const result = await evaluateTemplate(json, bindings);
        expect(result.ok).toBe(true);
        if (result.ok) expect(result.value).toBe(json);
      }),
      { numRuns: 300 },
    );
  });

  it('evaluates constant expressions to themselves inside any JSON (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue({ maxDepth: 4 }), async (value) => {
        const json = value as Json;
        fc.pre(!containsExpression(json));
        const result = await evaluateTemplate(
          { wrapped: `{% ${JSON.stringify(json)} %}` },
          { input: null, steps: {} },
        );
        expect(result).toEqual({
          ok: true,
          value: { wrapped: JSON.parse(JSON.stringify(json)) as Json },
        });
      }),
      { numRuns: 200 },
    );
  });
});

describe('ExpressionCache', () => {
  it('returns the same compiled expression for the same source and stays bounded', () => {
    const cache = new ExpressionCache(2);
    const a1 = cache.compile('{% 1 %}');
    expect(cache.compile('{%1%}')).not.toBe(a1);
    expect(cache.compile('{% 1 %}')).toBe(a1);
    cache.compile('{% 2 %}');
    cache.compile('{% 3 %}');
    expect(cache.size).toBe(2);
  });

  it('evicts the least recently used entry', () => {
    const cache = new ExpressionCache(2);
    const one = cache.compile('1');
    const two = cache.compile('2');
    expect(cache.compile('1')).toBe(one);
    // '2' was inserted after '1' but used less recently: adding '3' evicts '2', not '1'.
    const three = cache.compile('3');
    expect(cache.compile('1')).toBe(one);
    expect(cache.compile('3')).toBe(three);
    const twoAgain = cache.compile('2');
    expect(twoAgain).toEqual(two);
    expect(twoAgain).not.toBe(two);
    expect(cache.size).toBe(2);
  });

  it('is shared safely by concurrent evaluations with different bindings and limits', async () => {
    const cache = new ExpressionCache();
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        evaluateTemplate(
          '{% $sum($map([1..$input], function($v){ $v })) %}',
          { input: (i + 1) * 10, steps: {} },
          { cache, maxSteps: i % 2 === 0 ? 100_000 : 15 },
        ),
      ),
    );
    results.forEach((r, i) => {
      const n = (i + 1) * 10;
      if (i % 2 === 0) expect(r).toEqual({ ok: true, value: (n * (n + 1)) / 2 });
      else expect(r).toMatchObject({ ok: false, error: { code: 'expression_limit' } });
    });
    expect(cache.size).toBe(1);
  });
});
