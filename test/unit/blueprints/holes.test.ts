import { describe, expect, it } from 'vitest';
import { validateBlueprint, type Diagnostic } from '../../../src/blueprints/validate.ts';

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
const diagnosticsOf = (input: unknown): readonly Diagnostic[] => {
  const result = validateBlueprint(input);
  return result.ok ? [] : result.diagnostics;
};
const only = (input: unknown): Diagnostic => {
  const diagnostics = diagnosticsOf(input);
  expect(diagnostics).toHaveLength(1);
  return diagnostics[0] as Diagnostic;
};

describe('onError cycles', () => {
  it('a handler earlier in the list (the run would deadlock) is the error cycle at onError, naming the path', () => {
    const d = only(bp([act('handler'), act('charge', { onError: 'handler' })]));
    expect(d).toMatchObject({ path: '$.steps[1].onError', code: 'cycle', severity: 'error' });
    expect(d.message).toBe(
      'onError cycle: "charge" runs only after "handler", its error handler, which waits for "charge": charge → handler → charge',
    );
    expect(d.hint).toMatch(/move "handler" after "charge"/u);
  });

  it('through dependsOn and other steps', () => {
    const d = only(
      bp([
        act('a'),
        act('h', { dependsOn: ['a'] }),
        act('b', { dependsOn: ['h'] }),
        act('s', { dependsOn: ['b'], onError: 'h' }),
      ]),
    );
    expect(d.path).toBe('$.steps[3].onError');
    expect(d.message).toMatch(/: s → b → h → s$/u);
  });

  it('through two handlers, each waiting for the other', () => {
    // s1 runs after h2 (list order), h2 waits for s2 (its source), s2 runs after h1, h1 waits for s1.
    const diagnostics = diagnosticsOf(
      bp([
        act('h2', { dependsOn: [] }),
        act('s1', { onError: 'h1' }),
        act('h1', { dependsOn: [] }),
        act('s2', { onError: 'h2' }),
      ]),
    );
    expect(diagnostics.map((d) => [d.code, d.path, d.message.split(': ').pop()])).toEqual([
      ['cycle', '$.steps[1].onError', 's1 → h2 → s2 → h1 → s1'],
      ['cycle', '$.steps[3].onError', 's2 → h1 → s1 → h2 → s2'],
    ]);
  });

  it('in nested lists too', () => {
    const d = only(
      bp([{ id: 'l', type: 'loop', count: 2, steps: [act('h'), act('s', { onError: 'h' })] }]),
    );
    expect(d.path).toBe('$.steps[0].steps[1].onError');
  });

  it("a handler that does not lie on its source's dependencies is fine, wherever it is in the list", () => {
    for (const steps of [
      [act('s', { onError: 'h' }), act('h')],
      [act('h', { dependsOn: [] }), act('s', { dependsOn: [], onError: 'h' })],
      [act('a'), act('h', { dependsOn: [] }), act('s', { dependsOn: ['a'], onError: 'h' })],
    ])
      expect(diagnosticsOf(bp(steps))).toEqual([]);
  });

  it('each step jumping back is reported; the first 20 of a list spell out their path', () => {
    const steps = Array.from({ length: 30 }, (_, i) =>
      act(`s${i}`, i === 0 ? {} : { onError: `s${i - 1}` }),
    );
    const diagnostics = diagnosticsOf(bp(steps));
    expect(diagnostics).toHaveLength(29);
    expect(diagnostics.every((d) => d.code === 'cycle')).toBe(true);
    expect(diagnostics[19]?.message).toMatch(/: s20 → s19 → s20$/u);
    expect(diagnostics[20]?.message).toBe(
      'onError cycle: "s21" runs only after "s20", its error handler, which waits for "s21"',
    );
  });

  it('a pure dependsOn cycle is still reported once, by the dependency check', () => {
    const diagnostics = diagnosticsOf(
      bp([act('a', { dependsOn: ['b'] }), act('b', { dependsOn: ['a'] })]),
    );
    expect(diagnostics.map((d) => [d.code, d.path])).toEqual([['cycle', '$.steps[1].dependsOn']]);
  });
});

describe('retry settings on steps that never retry', () => {
  it('maxAttempts on a container is accepted (the whole step is run again); backoff on a map is refused, pointing at its inner step', () => {
    const map = (extra: Record<string, unknown>) =>
      bp([
        {
          id: 'm',
          type: 'map',
          timeout: '1m',
          step: { type: 'activity', activity: 'x' },
          ...extra,
        },
      ]);
    expect(diagnosticsOf(map({ maxAttempts: 3 }))).toEqual([]);
    expect(diagnosticsOf(map({ backoff: {} }))).toEqual([
      {
        path: '$.steps[0].backoff',
        code: 'schema',
        message: '"backoff" has no effect on a map step',
        hint: 'A map\'s items are retried by the step it runs: write it at $.steps[0].step.backoff. (A map\'s own "timeout" bounds the whole map.)',
        severity: 'error',
      },
    ]);
  });

  it("…and accepted on the map's inner activity", () => {
    const step = { type: 'activity', activity: 'x', maxAttempts: 3, timeout: '1m', backoff: {} };
    expect(diagnosticsOf(bp([{ id: 'm', type: 'map', step }]))).toEqual([]);
  });

  it('on a child step, a map of child steps, and every composite step, each with where to put it', () => {
    const cases: [unknown, string, RegExp][] = [
      [
        { id: 'c', type: 'child', blueprint: 'k', backoff: {} },
        '$.steps[0].backoff',
        /child blueprint/u,
      ],
      [
        { id: 'm', type: 'map', step: { type: 'child', blueprint: 'k', maxAttempts: 2 } },
        '$.steps[0].step.maxAttempts',
        /A child run is not retried as a whole/u,
      ],
      [
        { id: 'm', type: 'map', step: { type: 'child', blueprint: 'k', timeout: '1m' } },
        '$.steps[0].step.timeout',
        /The map's own "timeout" bounds all its items: write it at \$\.steps\[0\]\.timeout/u,
      ],
      [
        { id: 'm', type: 'map', step: { type: 'child', blueprint: 'k', backoff: {} } },
        '$.steps[0].step.backoff',
        /^A child run is not retried as a whole: put "backoff" on the activities of the child blueprint, or in its "defaults"\.$/u,
      ],
      [
        { id: 'p', type: 'parallel', scheduleTimeout: '1s', branches: [[act('x')]] },
        '$.steps[0].scheduleTimeout',
        /activity steps inside it, or in the blueprint's "defaults"/u,
      ],
      [
        { id: 'c', type: 'condition', when: '{% true %}', nonRetryable: ['x'], then: [act('x')] },
        '$.steps[0].nonRetryable',
        /activity steps inside it/u,
      ],
      [
        { id: 's', type: 'switch', on: '{% 1 %}', backoff: {}, cases: { a: [act('x')] } },
        '$.steps[0].backoff',
        /activity steps inside it/u,
      ],
      [
        { id: 'l', type: 'loop', count: 1, backoff: {}, steps: [act('x')] },
        '$.steps[0].backoff',
        /activity steps inside it/u,
      ],
      [
        { id: 'w', type: 'wait', signal: 'go', maxAttempts: 2 },
        '$.steps[0].maxAttempts',
        /A wait step is not retried/u,
      ],
      [
        { id: 'z', type: 'sleep', duration: '1s', timeout: '1m' },
        '$.steps[0].timeout',
        /neither retried nor timed out/u,
      ],
    ];
    for (const [step, path, hint] of cases) {
      const d = only(bp([step]));
      expect(d.path).toBe(path);
      expect(d.code).toBe('schema');
      expect(d.message).toMatch(/^"\w+" has no effect on a (map's )?\w+ step$/u);
      expect(d.hint).toMatch(hint);
    }
  });

  it('a wait step and the containers keep their timeout; defaults still reach the activities inside composite steps', () => {
    expect(
      diagnosticsOf(
        bp(
          [
            { id: 'w', type: 'wait', signal: 'go', timeout: '10m' },
            { id: 'c', type: 'child', blueprint: 'k', timeout: '1m' },
            { id: 'm', type: 'map', timeout: '1m', step: { type: 'child', blueprint: 'k' } },
            { id: 'p', type: 'parallel', timeout: '1m', branches: [[act('y')]] },
            { id: 'l', type: 'loop', count: 2, steps: [act('x')] },
          ],
          { defaults: { maxAttempts: 5, timeout: '1m', backoff: { initial: '1s' } } },
        ),
      ),
    ).toEqual([]);
  });
});

describe('duration_unit: a bare number where a duration goes', () => {
  it('is an error at every duration position, with the fix in the hint', () => {
    const diagnostics = diagnosticsOf(
      bp(
        [
          act('a', { timeout: 60, backoff: { initial: 200, max: 30_000 } }),
          { id: 'z', type: 'sleep', duration: 1500 },
          { id: 'w', type: 'wait', signal: 'go', timeout: 600_000 },
          { id: 'm', type: 'map', step: { type: 'activity', activity: 'x', timeout: 5 } },
        ],
        { defaults: { timeout: 30, backoff: { initial: 1, max: 2 } } },
      ),
    );
    expect(diagnostics.map((d) => [d.path, d.code, d.severity])).toEqual(
      [
        '$.defaults.timeout',
        '$.defaults.backoff.initial',
        '$.defaults.backoff.max',
        '$.steps[0].timeout',
        '$.steps[0].backoff.initial',
        '$.steps[0].backoff.max',
        '$.steps[1].duration',
        '$.steps[2].timeout',
        '$.steps[3].step.timeout',
      ].map((path) => [path, 'duration_unit', 'error']),
    );
    const at = (path: string) => diagnostics.find((d) => d.path === path);
    expect(at('$.steps[0].timeout')).toMatchObject({
      message: 'a duration needs a unit; got the bare number 60',
      hint: 'Write "60s" for 60 seconds, or "60ms" for 60 milliseconds.',
    });
    expect(at('$.steps[2].timeout')?.hint).toBe(
      'Write "10m" or "600000ms" for 600000 milliseconds, or "600000s" for seconds.',
    );
  });

  it('negative and fractional numbers get the error too, with a general example', () => {
    for (const value of [-5, 1.5]) {
      const d = only(bp([act('a', { timeout: value })]));
      expect(d).toMatchObject({ path: '$.steps[0].timeout', code: 'duration_unit' });
      expect(d.hint).toMatch(/e\.g\. "30s"/u);
    }
  });

  it('strings with a unit are fine; a bad string is still invalid_duration', () => {
    expect(diagnosticsOf(bp([act('a', { timeout: '60s' })]))).toEqual([]);
    expect(only(bp([act('a', { timeout: '60' })])).code).toBe('invalid_duration');
  });
});

describe('a map runs only activity and child steps', () => {
  it('any other step type inside a map is refused with what to do instead', () => {
    for (const step of [
      { type: 'loop', count: 1, steps: [act('x')] },
      { type: 'sleep', duration: '1s' },
      { type: 'parallel', branches: [[act('x')]] },
      { type: 'map', step: { type: 'activity', activity: 'x' } },
    ]) {
      const d = only(bp([{ id: 'm', type: 'map', step }]));
      expect(d).toMatchObject({
        path: '$.steps[0].step.type',
        code: 'schema',
        message: `a map runs an activity or a child step for each item, not a ${step.type} step`,
      });
      expect(d.hint).toMatch(/map over a child step/u);
    }
  });

  it('a misspelt inner type gets a did-you-mean among the two', () => {
    const d = only(bp([{ id: 'm', type: 'map', step: { type: 'chld', blueprint: 'k' } }]));
    expect(d.hint).toBe('Did you mean "child"? Step types: activity, child.');
  });
});

describe('recorded blueprints (options.recorded) still load', () => {
  const old = bp(
    [
      act('handler'),
      act('a', { timeout: 500, backoff: { initial: 100, max: 2000 }, onError: 'handler' }),
      {
        id: 'm',
        type: 'map',
        maxAttempts: 3,
        timeout: 100,
        step: { type: 'activity', activity: 'x' },
      },
      { id: 'c', type: 'child', blueprint: 'k', maxAttempts: 2, backoff: { initial: 5 } },
      { id: 'w', type: 'wait', signal: 'go', timeout: 60_000, maxAttempts: 2 },
      { id: 'z', type: 'sleep', duration: 1500 },
    ],
    { defaults: { timeout: 30_000 } },
  );

  it('refused as new, accepted as recorded: numbers mean milliseconds, unused settings are dropped', () => {
    expect(validateBlueprint(old).ok).toBe(false);
    const result = validateBlueprint(old, undefined, { recorded: true });
    if (!result.ok) throw new Error(JSON.stringify(result.diagnostics));
    expect(result.diagnostics).toEqual([]);
    expect(result.blueprint).toEqual(
      bp(
        [
          act('handler'),
          act('a', {
            timeout: '500ms',
            backoff: { initial: '100ms', max: '2000ms' },
            onError: 'handler',
          }),
          // A container's maxAttempts means something now (the whole step is run again): kept.
          { id: 'm', type: 'map', maxAttempts: 3, step: { type: 'activity', activity: 'x' } },
          { id: 'c', type: 'child', blueprint: 'k', maxAttempts: 2 },
          { id: 'w', type: 'wait', signal: 'go', timeout: '60000ms' },
          { id: 'z', type: 'sleep', duration: '1500ms' },
        ],
        { defaults: { timeout: '30000ms' } },
      ),
    );
  });

  it('leaves its input unchanged, and still refuses what was never accepted', () => {
    const before = JSON.stringify(old);
    validateBlueprint(old, undefined, { recorded: true });
    expect(JSON.stringify(old)).toBe(before);
    const broken = { ...old, steps: [...old.steps, act('a')] };
    const result = validateBlueprint(broken, undefined, { recorded: true });
    expect(result.ok).toBe(false);
    expect(result.diagnostics.map((d) => d.code)).toEqual(['duplicate_id']);
  });
});
