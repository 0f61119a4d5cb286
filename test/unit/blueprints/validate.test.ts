import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Step } from '../../../src/blueprints/schema.ts';
import {
  DEFAULT_BLUEPRINT_LIMITS,
  dependenciesOf,
  stepIndex,
  validateBlueprint,
  type Diagnostic,
} from '../../../src/blueprints/validate.ts';

/** `expect.stringMatching`, typed so it can sit inside object literals. */
const matching = (pattern: RegExp): unknown => expect.stringMatching(pattern) as unknown;

/** CONTRACT §2's example blueprint, verbatim. */
const contractExample = {
  name: 'ai_data_pipeline',
  description: 'optional',
  defaults: {
    maxAttempts: 3,
    timeout: '30s',
    backoff: { initial: '200ms', factor: 2, max: '30s' },
  },
  signals: [
    { name: 'update_data', handler: 'store' },
    { name: 'complete', handler: 'trigger' },
  ],
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

const act = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  type: 'activity',
  activity: 'work',
  ...extra,
});
const bp = (steps: unknown[], extra: Record<string, unknown> = {}) => ({
  name: 'bp',
  steps,
  ...extra,
});

const diagnosticsOf = (
  input: unknown,
  limits?: Parameters<typeof validateBlueprint>[1],
): readonly Diagnostic[] => {
  const result = validateBlueprint(input, limits);
  return result.ok ? [] : result.diagnostics;
};

const expectDiagnostic = (
  input: unknown,
  code: string,
  path: string,
  message?: RegExp,
  limits?: Parameters<typeof validateBlueprint>[1],
): Diagnostic => {
  const diagnostics = diagnosticsOf(input, limits);
  const found = diagnostics.find((d) => d.code === code && d.path === path);
  if (found === undefined)
    throw new Error(`no ${code} at ${path}; got ${JSON.stringify(diagnostics, null, 2)}`);
  if (message !== undefined) expect(found.message).toMatch(message);
  return found;
};

describe('validateBlueprint: valid blueprints', () => {
  it('accepts the example of CONTRACT §2 and returns it decoded', () => {
    const result = validateBlueprint(contractExample);
    expect(result).toEqual({ ok: true, blueprint: contractExample, diagnostics: [] });
  });

  it('accepts every step type, nested', () => {
    const result = validateBlueprint(
      bp([
        act('a', {
          input: { x: '{% $input.x %}', list: [1, 2, '{% $index %}'] },
          if: '{% $input.go %}',
          onError: 'continue',
        }),
        {
          id: 'p',
          type: 'parallel',
          branches: [[act('p1')], [act('p2'), act('p3', { onError: 'p2', dependsOn: [] })]],
        },
        {
          id: 'c',
          type: 'condition',
          when: '{% $steps.a.ok %}',
          then: [act('c1')],
          else: [act('c2')],
        },
        {
          id: 's',
          type: 'switch',
          on: '{% $input.kind %}',
          cases: { x: [act('s1')], 'y z': [act('s2')] },
          default: [act('s3')],
        },
        { id: 'l1', type: 'loop', count: 3, steps: [act('l1a')] },
        {
          id: 'l2',
          type: 'loop',
          while: '{% $iteration < 3 %}',
          maxIterations: 10,
          steps: [act('l2a')],
        },
        {
          id: 'm',
          type: 'map',
          over: '{% $steps.a.items %}',
          dependsOn: ['a', 'p'],
          step: { id: 'm_item', type: 'activity', activity: '{% $item.kind %}' },
        },
        { id: 'ch', type: 'child', blueprint: 'other', version: 2, input: { v: 1 } },
        {
          id: 'ch2',
          type: 'child',
          byType: { on: '{% $input.kind %}', blueprints: { a: 'flow_a' } },
        },
        { id: 'w', type: 'wait', signal: 'approve', timeout: '1d' },
        { id: 'z1', type: 'sleep', duration: '5m' },
        { id: 'z2', type: 'sleep', until: '2030-01-01T00:00:00Z' },
        { id: 'z3', type: 'sleep', duration: '1500ms' },
        act('z4', {
          timeout: '1m30s',
          backoff: { initial: '100ms', factor: 1.5, max: '10s' },
          maxAttempts: 1,
        }),
      ]),
    );
    expect(result.ok ? [] : result.diagnostics).toEqual([]);
  });

  it('accepts dependsOn DAGs (property: random DAGs in canonical order validate)', () => {
    const dag = fc.integer({ min: 1, max: 25 }).chain((n) =>
      fc.tuple(
        ...Array.from({ length: n }, (_, i) =>
          fc.option(fc.uniqueArray(fc.nat({ max: Math.max(0, i - 1) }), { maxLength: i }), {
            nil: undefined,
          }),
        ),
      ),
    );
    fc.assert(
      fc.property(dag, (deps) => {
        const steps = deps.map((d, i) =>
          act(`s${i}`, d === undefined ? {} : { dependsOn: i === 0 ? [] : d.map((j) => `s${j}`) }),
        );
        const result = validateBlueprint(bp(steps));
        expect(result.ok ? [] : result.diagnostics).toEqual([]);
      }),
      { numRuns: 200 },
    );
  });

  it('never throws, whatever the input (property)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.anything(),
          fc.jsonValue(),
          fc.record({ name: fc.string(), steps: fc.array(fc.jsonValue()) }),
        ),
        (input) => {
          const result = validateBlueprint(input);
          expect(typeof result.ok).toBe('boolean');
          if (!result.ok) expect(result.diagnostics.length).toBeGreaterThan(0);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('validateBlueprint: each diagnostic, at its path', () => {
  it('schema: wrong type, missing field, unknown field, unknown step type', () => {
    const input = bp([
      act('a', { maxAttempts: 'three' }),
      { id: 'b', type: 'fail' },
      act('c', { dependson: ['a'] }),
      { id: 'd', type: 'actvity', activity: 'x' },
    ]);
    expectDiagnostic(input, 'schema', '$.steps[0].maxAttempts', /expected .*; got "three"/u);
    expectDiagnostic(input, 'schema', '$.steps[1].error', /missing required field "error"/u);
    const unknown = expectDiagnostic(
      input,
      'schema',
      '$.steps[2].dependson',
      /unknown field "dependson"/u,
    );
    expect(unknown.hint).toMatch(/Did you mean "dependsOn"/u);
    const type = expectDiagnostic(
      input,
      'schema',
      '$.steps[3].type',
      /unknown step type "actvity"/u,
    );
    expect(type.hint).toMatch(/Did you mean "activity"/u);
  });

  it('schema: the document must be an object with steps', () => {
    for (const input of [null, 42, 'blueprint', [], true]) {
      expect(diagnosticsOf(input)).toEqual([
        expect.objectContaining({
          path: '$',
          code: 'schema',
          message: matching(/must be a JSON object/u),
        }),
      ]);
    }
    expectDiagnostic({ name: 'x' }, 'schema', '$.steps', /missing required field/u);
    expectDiagnostic(bp([]), 'schema', '$.steps', /at least one step/u);
  });

  it('schema: a step inside a list needs an id, the map item step does not', () => {
    expectDiagnostic(
      bp([{ type: 'activity', activity: 'x' }]),
      'schema',
      '$.steps[0].id',
      /missing required field "id"/u,
    );
    expect(
      validateBlueprint(bp([{ id: 'm', type: 'map', step: { type: 'activity', activity: 'x' } }]))
        .ok,
    ).toBe(true);
  });

  it('schema: exclusive fields of sleep and child, and a loop without count or while', () => {
    expectDiagnostic(
      bp([{ id: 's', type: 'sleep' }]),
      'schema',
      '$.steps[0]',
      /needs duration or until/u,
    );
    expectDiagnostic(
      bp([{ id: 's', type: 'sleep', duration: '1s', until: 5 }]),
      'schema',
      '$.steps[0]',
      /not both/u,
    );
    expectDiagnostic(
      bp([{ id: 'c', type: 'child' }]),
      'schema',
      '$.steps[0]',
      /needs blueprint or byType/u,
    );
    expectDiagnostic(
      bp([{ id: 'l', type: 'loop', steps: [act('x')] }]),
      'schema',
      '$.steps[0]',
      /needs count or while/u,
    );
  });

  it.each(['a.b', 'a*', 'a>b', 'has space', '1abc', 'x'.repeat(65), 'ünï', ''])(
    'invalid_name: %j, with the name in the message',
    (name) => {
      const input = {
        name,
        steps: [act(name, { activity: name }), { id: 'w', type: 'wait', signal: name }],
      };
      const shown = JSON.stringify(name.length > 60 ? name.slice(0, 60) : name).slice(0, -1);
      for (const path of ['$.name', '$.steps[0].id', '$.steps[0].activity', '$.steps[1].signal']) {
        const d = expectDiagnostic(input, 'invalid_name', path);
        expect(d.message).toContain(shown);
        expect(d.hint).toMatch(/NATS/u);
      }
    },
  );

  it('invalid_name: plugin names that would grow past 64 characters', () => {
    const input = bp([act('a')], { plugins: [{ name: 'p'.repeat(60), signals: ['long_name'] }] });
    expectDiagnostic(input, 'invalid_name', '$.plugins[0].signals[0]', /p{60}_long_name/u);
  });

  it('duplicate_id: across nested lists', () => {
    const input = bp([
      act('a'),
      { id: 'p', type: 'parallel', branches: [[act('b')], [act('a')]] },
      { id: 'm', type: 'map', step: { id: 'b', type: 'activity', activity: 'x' } },
    ]);
    expectDiagnostic(
      input,
      'duplicate_id',
      '$.steps[1].branches[1][0].id',
      /"a" is already used at \$\.steps\[0\]/u,
    );
    expectDiagnostic(
      input,
      'duplicate_id',
      '$.steps[2].step.id',
      /"b" is already used at \$\.steps\[1\]\.branches\[0\]\[0\]/u,
    );
  });

  it('duplicate_name: signals and queries, built-in queries included', () => {
    const input = bp([act('a')], {
      signals: [{ name: 'go' }, { name: 'go', handler: 'append' }],
      queries: [{ name: 'get_status', expr: '{% 1 %}' }],
    });
    expectDiagnostic(input, 'duplicate_name', '$.signals[1].name', /"go" is already declared/u);
    expectDiagnostic(input, 'duplicate_name', '$.queries[0].name', /built-in/u);
  });

  it('unknown_dependency: missing ids, and ids of another list', () => {
    const input = bp([
      act('a', { dependsOn: ['nope'] }),
      {
        id: 'c',
        type: 'condition',
        when: '{% true %}',
        then: [act('inner', { dependsOn: ['a'] })],
      },
    ]);
    expectDiagnostic(input, 'unknown_dependency', '$.steps[0].dependsOn[0]', /"nope"/u);
    expectDiagnostic(
      input,
      'unknown_dependency',
      '$.steps[1].then[0].dependsOn[0]',
      /not in this list \(it is at \$\.steps\[0\]\)/u,
    );
  });

  it('self_dependency', () => {
    expectDiagnostic(
      bp([act('a'), act('b', { dependsOn: ['a', 'b'] })]),
      'self_dependency',
      '$.steps[1].dependsOn[1]',
      /"b" depends on itself/u,
    );
  });

  it('cycle: explicit, through the implicit order, and nested; the message names the cycle', () => {
    expectDiagnostic(
      bp([
        act('a', { dependsOn: ['c'] }),
        act('b', { dependsOn: ['a'] }),
        act('c', { dependsOn: ['b'] }),
      ]),
      'cycle',
      '$.steps[1].dependsOn',
      /a → c → b → a/u,
    );
    // b follows a implicitly; a waits for b.
    expectDiagnostic(
      bp([act('a', { dependsOn: ['b'] }), act('b')]),
      'cycle',
      '$.steps[1]',
      /a → b → a|b → a → b/u,
    );
    expectDiagnostic(
      bp([
        {
          id: 'l',
          type: 'loop',
          count: 2,
          steps: [act('x', { dependsOn: ['y'] }), act('y', { dependsOn: ['x'] })],
        },
      ]),
      'cycle',
      '$.steps[0].steps[1].dependsOn',
      /x → y → x/u,
    );
  });

  it('cycle: a long chain closed at the end is found without recursion', () => {
    // 20,000 steps deep: a recursive walk would overflow the stack (a RangeError) long before.
    const n = 20_000;
    const steps = Array.from({ length: n }, (_, i) =>
      act(`s${i}`, i === 0 ? { dependsOn: [`s${n - 1}`] } : {}),
    );
    const limits = { maxSteps: n, maxArrayItems: n, maxBytes: 10_000_000 };
    const diagnostics = diagnosticsOf(bp(steps), limits);
    expect(diagnostics.map((d) => [d.code, d.path])).toEqual([['cycle', '$.steps[1]']]);
    // s0 → s19999 → … → s1 → s0: every step, walked along its dependencies.
    const cycle = ['s0', ...Array.from({ length: n - 1 }, (_, i) => `s${n - 1 - i}`), 's0'];
    expect(diagnostics[0]?.message === `dependency cycle: ${cycle.join(' → ')}`).toBe(true);
  });

  it('map_dependencies: several dependencies need `over`', () => {
    const map = {
      id: 'm',
      type: 'map',
      dependsOn: ['a', 'b'],
      step: { type: 'activity', activity: 'x' },
    };
    expectDiagnostic(
      bp([act('a'), act('b'), map]),
      'map_dependencies',
      '$.steps[2]',
      /depends on 2 steps/u,
    );
    expect(validateBlueprint(bp([act('a'), act('b'), { ...map, over: '{% $steps.a %}' }])).ok).toBe(
      true,
    );
  });

  it('while_without_max and loop_count_and_while', () => {
    const input = bp([
      { id: 'l1', type: 'loop', while: '{% true %}', steps: [act('x')] },
      {
        id: 'l2',
        type: 'loop',
        while: '{% true %}',
        count: 2,
        maxIterations: 3,
        steps: [act('y')],
      },
    ]);
    expectDiagnostic(input, 'while_without_max', '$.steps[0]', /maxIterations/u);
    expectDiagnostic(input, 'loop_count_and_while', '$.steps[1]');
  });

  it('unknown_on_error_target: not fail/continue and not in the same list', () => {
    const input = bp([
      act('a', { onError: 'recover' }),
      act('b', { onError: 'b' }),
      { id: 'p', type: 'parallel', branches: [[act('x', { onError: 'a' })]] },
      act('c', { onError: 'contineu' }),
    ]);
    expectDiagnostic(input, 'unknown_on_error_target', '$.steps[0].onError', /"recover"/u);
    expectDiagnostic(input, 'unknown_on_error_target', '$.steps[1].onError', /itself/u);
    expectDiagnostic(input, 'unknown_on_error_target', '$.steps[2].branches[0][0].onError');
    expect(expectDiagnostic(input, 'unknown_on_error_target', '$.steps[3].onError').hint).toMatch(
      /continue/u,
    );
    expect(
      validateBlueprint(
        bp([
          act('a', { onError: 'b' }),
          act('b', { onError: 'fail' }),
          act('c', { onError: 'continue' }),
        ]),
      ).ok,
    ).toBe(true);
  });

  it('expression_syntax: in every place an expression may stand', () => {
    const bad = '{% $x( %}';
    const input = bp(
      [
        act('a', { activity: bad, if: bad, input: { deep: [{ x: bad }] } }),
        { id: 'c', type: 'condition', when: bad, then: [act('c1')] },
        { id: 's', type: 'switch', on: bad, cases: { a: [act('s1')] } },
        { id: 'l', type: 'loop', while: bad, maxIterations: 2, steps: [act('l1')] },
        { id: 'm', type: 'map', over: bad, step: { type: 'activity', activity: 'x', input: bad } },
        { id: 'ch', type: 'child', blueprint: bad, input: bad },
        { id: 'ch2', type: 'child', byType: { on: bad, blueprints: { a: 'b' } } },
        { id: 'z', type: 'sleep', until: bad },
      ],
      {
        output: { r: bad },
        queries: [{ name: 'q', expr: bad }],
        plugins: [{ name: 'p', queries: [{ name: 'pq', expr: bad }] }],
      },
    );
    for (const path of [
      '$.steps[0].activity',
      '$.steps[0].if',
      '$.steps[0].input.deep[0].x',
      '$.steps[1].when',
      '$.steps[2].on',
      '$.steps[3].while',
      '$.steps[4].over',
      '$.steps[4].step.input',
      '$.steps[5].blueprint',
      '$.steps[5].input',
      '$.steps[6].byType.on',
      '$.steps[7].until',
      '$.output.r',
      '$.queries[0].expr',
      '$.plugins[0].queries[0].expr',
    ]) {
      expectDiagnostic(input, 'expression_syntax', path, /position/u);
    }
  });

  it('expression_syntax: an expression field without {% %}', () => {
    const d = expectDiagnostic(
      bp([{ id: 'c', type: 'condition', when: '$input.x > 1', then: [act('a')] }]),
      'expression_syntax',
      '$.steps[0].when',
    );
    expect(d.hint).toMatch(/\{% … %\}/u);
  });

  it('invalid_duration', () => {
    const input = bp(
      [act('a', { timeout: '5 minutes' }), act('b', { backoff: { initial: '-1s' } })],
      { defaults: { timeout: '1w' } },
    );
    expectDiagnostic(input, 'invalid_duration', '$.steps[0].timeout', /"5 minutes"/u);
    expectDiagnostic(input, 'invalid_duration', '$.steps[1].backoff.initial', /"-1s"/u);
    expectDiagnostic(input, 'invalid_duration', '$.defaults.timeout', /"1w"/u);
  });

  it('too_many_steps counts nested steps', () => {
    const steps = Array.from({ length: 6 }, (_, i) => ({
      id: `l${i}`,
      type: 'loop',
      count: 1,
      steps: [act(`x${i}`)],
    }));
    expectDiagnostic(bp(steps), 'too_many_steps', '$.steps', /12 steps; at most 10 /u, {
      maxSteps: 10,
    });
    expect(validateBlueprint(bp(steps), { maxSteps: 12 }).ok).toBe(true);
  });

  it('too_deep, too_large and array_too_large honour the limits given', () => {
    expectDiagnostic(
      bp([act('a', { input: { a: { b: { c: 1 } } } })]),
      'too_deep',
      '$.steps[0].input.a.b',
      /5 levels/u,
      { maxDepth: 5 },
    );
    expect(
      diagnosticsOf(bp([act('a', { input: { a: { b: { c: 1 } } } })]), { maxDepth: 5 }).map(
        (d) => d.code,
      ),
    ).toEqual(['too_deep']);
    expect(
      diagnosticsOf(bp([act('a', { input: 'x'.repeat(200) })]), { maxBytes: 100 }).map(
        (d) => d.code,
      ),
    ).toEqual(['too_large']);
    expect(diagnosticsOf(bp([act('a', { input: [1, 2, 3, 4] })]), { maxArrayItems: 3 })).toEqual([
      expect.objectContaining({ code: 'array_too_large', path: '$.steps[0].input' }),
    ]);
  });

  it('reports several problems at once, each with its own path', () => {
    const diagnostics = diagnosticsOf({
      name: 'bad name',
      steps: [
        act('a', { dependsOn: ['ghost'], timeout: 'soon' }),
        act('a'),
        { id: 'l', type: 'loop', while: '{% true %}', steps: [act('x', { input: '{% 1 + %}' })] },
      ],
    });
    expect(diagnostics.map((d) => [d.code, d.path])).toEqual(
      expect.arrayContaining([
        ['invalid_name', '$.name'],
        ['invalid_duration', '$.steps[0].timeout'],
        ['unknown_dependency', '$.steps[0].dependsOn[0]'],
        ['duplicate_id', '$.steps[1].id'],
        ['while_without_max', '$.steps[2]'],
        ['expression_syntax', '$.steps[2].steps[0].input'],
      ]),
    );
  });

  it('caps the number of diagnostics', () => {
    const steps = Array.from({ length: 900 }, (_, i) => act(`bad.${i}`, { activity: `bad.${i}` }));
    const diagnostics = diagnosticsOf(bp(steps));
    expect(diagnostics.length).toBeLessThanOrEqual(501);
    expect(diagnostics.at(-1)).toMatchObject({
      code: 'too_many_diagnostics',
      message: matching(/1300 more/u),
    });
  });
});

describe('validateBlueprint: hostile input', () => {
  const deepObject = (depth: number): unknown => {
    let value: unknown = {};
    for (let i = 0; i < depth; i++) value = { a: value };
    return value;
  };
  const deepArray = (depth: number): unknown => {
    let value: unknown = [];
    for (let i = 0; i < depth; i++) value = [value];
    return value;
  };

  // The default depth limit is 32: the walk stops at the 33rd nested object or array.
  it.each([
    ['10,000-deep objects', () => deepObject(10_000), `$${'.a'.repeat(32)}`],
    [
      '10,000-deep objects in an input',
      () => bp([act('a', { input: deepObject(10_000) })]),
      `$.steps[0].input${'.a'.repeat(29)}`,
    ],
    ['10,000-deep arrays as steps', () => bp([deepArray(10_000)]), `$.steps${'[0]'.repeat(31)}`],
    [
      'a JS object that contains itself',
      () => {
        const self: Record<string, unknown> = { name: 'x' };
        self['steps'] = [self];
        return self;
      },
      `$${'.steps[0]'.repeat(16)}`,
    ],
  ])('%s: too_deep where the depth limit is crossed, and nothing else', (_, make, path) => {
    expect(diagnosticsOf(make()).map((d) => [d.code, d.path])).toEqual([['too_deep', path]]);
  });

  it('a 100,000-item literal array: array_too_large, and nothing else', () => {
    const input = bp([act('a', { input: Array.from({ length: 100_000 }, (_, i) => i) })]);
    expect(diagnosticsOf(input)).toEqual([
      expect.objectContaining({
        code: 'array_too_large',
        path: '$.steps[0].input',
        message:
          'this array has 100000 items; literal arrays in a blueprint may have at most 10000',
      }),
    ]);
  });

  it('100,000 steps: too_large, and nothing else', () => {
    const input = bp(
      Array.from({ length: 100_000 }, (_, i) => ({ id: `s${i}`, type: 'sleep', duration: 1 })),
    );
    expect(diagnosticsOf(input, { maxArrayItems: 1_000_000 }).map((d) => d.code)).toEqual([
      'too_large',
    ]);
  });

  it('a string and a key longer than maxBytes: too_large where they are, and nothing else', () => {
    const huge = 'x'.repeat(20_000_000);
    for (const input of [
      bp([act('a', { input: huge })]),
      bp([act('a', { input: { [huge]: 1 } })]),
    ]) {
      expect(diagnosticsOf(input).map((d) => [d.code, d.path])).toEqual([
        ['too_large', '$.steps[0].input'],
      ]);
    }
  });

  it('an oversized document made of many small values: too_large', () => {
    const input = bp([act('a', { input: Array.from({ length: 9_000 }, () => 'y'.repeat(200)) })]);
    expect(diagnosticsOf(input).map((d) => d.code)).toEqual(['too_large']);
  });

  it('__proto__ keys: an unknown field at the top, plain data in inputs, no pollution', () => {
    const top = JSON.parse(
      '{"name":"x","__proto__":{"polluted":true},"steps":[{"id":"a","type":"activity","activity":"x"}]}',
    ) as unknown;
    expectDiagnostic(top, 'schema', '$.__proto__', /unknown field "__proto__"/u);
    const nested = JSON.parse(
      '{"name":"x","steps":[{"id":"a","type":"activity","activity":"x","input":{"__proto__":{"polluted":true}}}]}',
    ) as unknown;
    const result = validateBlueprint(nested);
    expect(result.ok).toBe(true);
    if (result.ok) {
      const step = result.blueprint.steps[0];
      expect(step?.type === 'activity' && JSON.stringify(step.input)).toBe(
        '{"__proto__":{"polluted":true}}',
      );
    }
    const stepProto = JSON.parse(
      '{"name":"x","steps":[{"__proto__":{"id":"a"},"type":"activity","activity":"x"}]}',
    ) as unknown;
    expectDiagnostic(stepProto, 'schema', '$.steps[0].id', /missing/u);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
  });

  it('names with ".", "*", ">" and spaces never pass', () => {
    for (const name of ['a.b', 'orders.*', 'orders.>', 'a b', 'a\tb', 'a\nb']) {
      expect(validateBlueprint({ name, steps: [act('a')] }).ok).toBe(false);
      expect(validateBlueprint(bp([act(name)])).ok).toBe(false);
      expect(validateBlueprint(bp([act('a', { activity: name })])).ok).toBe(false);
      expect(validateBlueprint(bp([act('a')], { signals: [{ name }] })).ok).toBe(false);
    }
  });

  it('$eval, $random and catastrophic regexes are refused at validation', () => {
    for (const expr of [
      '{% $eval("1 + 1") %}',
      '{% $random() %}',
      '{% $match($input.s, /(a+)+$/) %}',
    ]) {
      expectDiagnostic(bp([act('a', { input: expr })]), 'expression_syntax', '$.steps[0].input');
    }
  });

  it('non-JSON values are refused', () => {
    for (const value of [
      () => 1,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      10n,
      Symbol('s'),
      new Date(0),
      new Map(),
      undefined,
    ]) {
      const diagnostics = diagnosticsOf(bp([act('a', { input: value })]));
      expect(diagnostics).toEqual([
        expect.objectContaining({ code: 'schema', path: '$.steps[0].input' }),
      ]);
    }
  });

  it('objects that are not data (throwing getters, proxies) give a diagnostic, not an exception', () => {
    const getter = { name: 'x', steps: [] as unknown[] };
    Object.defineProperty(getter, 'name', {
      enumerable: true,
      get: () => {
        throw new Error('gotcha');
      },
    });
    const proxy = new Proxy(
      {},
      {
        ownKeys: () => {
          throw new Error('trap');
        },
      },
    );
    for (const input of [getter, proxy, bp([act('a', { input: proxy })])]) {
      expect(diagnosticsOf(input)).toEqual([
        expect.objectContaining({ path: '$', code: 'schema' }),
      ]);
    }
  });

  it('many cycles at once: one cycle diagnostic per back edge, and nothing else', () => {
    const steps = Array.from({ length: 500 }, (_, i) =>
      act(`s${i}`, { dependsOn: [`s${(i + 1) % 500}`, `s${(i + 7) % 500}`] }),
    );
    const diagnostics = diagnosticsOf(bp(steps));
    expect(diagnostics.length).toBeGreaterThan(1);
    for (const d of diagnostics) {
      expect(d).toMatchObject({ code: 'cycle', message: matching(/^dependency cycle: s\d+ → /u) });
      // Each names a closed path: it ends where it starts.
      const names = d.message.slice('dependency cycle: '.length).split(' → ');
      expect(names.at(-1)).toBe(names[0]);
    }
  });
});

describe('stepIndex', () => {
  it('indexes every step with an id, with its path, list path and parent', () => {
    const result = validateBlueprint(
      bp([
        act('a'),
        { id: 'p', type: 'parallel', branches: [[act('b')], [act('c'), act('d')]] },
        {
          id: 's',
          type: 'switch',
          on: '{% 1 %}',
          cases: { 'x.y': [act('e')] },
          default: [act('f')],
        },
        { id: 'm', type: 'map', step: { id: 'g', type: 'child', blueprint: 'kid' } },
        { id: 'm2', type: 'map', step: { type: 'activity', activity: 'x' } },
      ]),
    );
    if (!result.ok) throw new Error(JSON.stringify(result.diagnostics));
    const index = stepIndex(result.blueprint);
    const rows = [...index.entries()].map(([id, e]) => [id, e.path, e.listPath, e.parentId]);
    expect(rows).toEqual([
      ['a', '$.steps[0]', '$.steps', undefined],
      ['p', '$.steps[1]', '$.steps', undefined],
      ['s', '$.steps[2]', '$.steps', undefined],
      ['m', '$.steps[3]', '$.steps', undefined],
      ['m2', '$.steps[4]', '$.steps', undefined],
      ['b', '$.steps[1].branches[0][0]', '$.steps[1].branches[0]', 'p'],
      ['c', '$.steps[1].branches[1][0]', '$.steps[1].branches[1]', 'p'],
      ['d', '$.steps[1].branches[1][1]', '$.steps[1].branches[1]', 'p'],
      ['e', '$.steps[2].cases["x.y"][0]', '$.steps[2].cases["x.y"]', 's'],
      ['f', '$.steps[2].default[0]', '$.steps[2].default', 's'],
      ['g', '$.steps[3].step', '$.steps[3].step', 'm'],
    ]);
    expect(index.get('g')?.step.type).toBe('child');
  });
});

describe('dependenciesOf', () => {
  it('implements the order rule: previous step, explicit dependsOn, [] for a root', () => {
    const steps: Step[] = [
      { id: 'a', type: 'activity', activity: 'x' },
      { id: 'b', type: 'activity', activity: 'x' },
      { id: 'c', type: 'activity', activity: 'x', dependsOn: [] },
      { id: 'd', type: 'activity', activity: 'x', dependsOn: ['a', 'c'] },
      { id: 'e', type: 'wait', signal: 's' },
    ];
    expect([...dependenciesOf(steps)]).toEqual([
      ['a', []],
      ['b', ['a']],
      ['c', []],
      ['d', ['a', 'c']],
      ['e', ['d']],
    ]);
  });

  it('exports the run-time map limit with the others', () => {
    expect(DEFAULT_BLUEPRINT_LIMITS).toEqual({
      maxSteps: 1_000,
      maxDepth: 32,
      maxBytes: 1_000_000,
      maxArrayItems: 10_000,
      maxMapItems: 100_000,
    });
  });
});
