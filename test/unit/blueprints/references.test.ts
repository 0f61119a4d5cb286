import { describe, expect, it } from 'vitest';
import { validateBlueprint } from '../../../src/blueprints/validate.ts';
import { expressionReferences } from '../../../src/expressions/references.ts';

/**
 * What an expression reads that cannot be there (README "Blueprints", validation): `$steps.<id>`
 * naming no step (`unknown_step`), and `$error` where no error is bound (`error_unbound`), where
 * JSONata's own `$error()` function answers instead. Both are warnings: the blueprint is valid.
 */

const act = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  type: 'activity',
  activity: 'work',
  ...extra,
});

/** The blueprint's warnings of the two codes, as `path code`, sorted. */
const warned = (blueprint: unknown): string[] => {
  const result = validateBlueprint(blueprint);
  expect(result.ok).toBe(true);
  return result.diagnostics
    .filter((d) => d.code === 'unknown_step' || d.code === 'error_unbound')
    .map((d) => {
      expect(d.severity).toBe('warning');
      return `${d.path} ${d.code}`;
    })
    .toSorted();
};

describe('expressionReferences', () => {
  it('finds the ids after $steps and every variable, anywhere in the expression', () => {
    const refs = expressionReferences(
      '{% {"a": $count($steps.fetch.items), "b": $steps.`odd id`[0], "c": $map($input, function($v) { $v + $steps.k }), "d": $error.code} %}',
    );
    expect(refs?.steps.toSorted()).toEqual(['fetch', 'k', 'odd id']);
    expect([...(refs?.variables ?? [])].toSorted()).toEqual([
      'count',
      'error',
      'input',
      'map',
      'steps',
      'v',
    ]);
    expect(expressionReferences('{% $steps %}')?.steps).toEqual([]);
    expect(expressionReferences('{% $steps[0] %}')?.steps).toEqual([]);
    expect(expressionReferences('{% ( %}')).toBeUndefined();
  });
});

describe('unknown_step', () => {
  it('warns at the expression, with the nearest id, for a $steps.<id> that names no step', () => {
    const result = validateBlueprint({
      name: 'b',
      steps: [act('fetch'), act('use', { input: '{% $steps.fecth.items %}' })],
    });
    expect(result.ok).toBe(true);
    expect(result.diagnostics).toEqual([
      {
        path: '$.steps[1].input',
        code: 'unknown_step',
        message: '$steps.fecth names no step of this blueprint, so it is always nothing',
        hint: 'Did you mean $steps.fetch?',
        severity: 'warning',
      },
    ]);
  });

  it('knows nested steps, a map item step by its own id or `<map>_item`, and looks in every expression', () => {
    expect(
      warned({
        name: 'b',
        queries: [{ name: 'q', expr: '{% $steps.nope %}' }],
        steps: [
          {
            id: 'p',
            type: 'parallel',
            branches: [[act('x')], [act('y', { input: '{% $steps.x %}' })]],
          },
          {
            id: 'm',
            type: 'map',
            over: '{% [1, 2] %}',
            step: { type: 'activity', activity: 'work' },
          },
          act('after', {
            if: '{% $count($steps.m) = 2 and $exists($steps.m_item) %}',
            input: { deep: ['{% $steps.p %}', '{% $steps.ghost %}'] },
          }),
        ],
        output: '{% $steps.after %}',
      }),
    ).toEqual(['$.queries[0].expr unknown_step', '$.steps[2].input.deep[1] unknown_step']);
  });
});

describe('error_unbound', () => {
  it('is quiet in a handler, every step inside a container handler, compensations and finally', () => {
    expect(
      warned({
        name: 'b',
        steps: [
          act('charge', {
            onError: { card_declined: 'recover', default: 'review' },
            compensate: act('refund', { input: '{% $error %}' }),
          }),
          act('receipt'),
          act('review', { input: '{% $error %}' }),
          {
            id: 'recover',
            type: 'parallel',
            branches: [
              [act('notify', { input: '{% $error.code %}' })],
              [
                {
                  id: 'known',
                  type: 'condition',
                  when: '{% $error.code = "card_declined" %}',
                  then: [act('retry_card', { input: '{% $error.message %}' })],
                },
              ],
            ],
          },
        ],
        finally: [act('log', { input: '{% $error = null ? "ok" : $error.code %}' })],
      }),
    ).toEqual([]);
  });

  it('warns after the handler, in a step no route names, and in the output', () => {
    expect(
      warned({
        name: 'b',
        steps: [
          act('charge', { onError: 'alert' }),
          act('receipt', { input: '{% $error %}' }),
          act('alert'),
          act('after', { input: '{% $error.code %}' }),
        ],
        output: '{% $error %}',
      }),
    ).toEqual([
      '$.output error_unbound',
      '$.steps[1].input error_unbound',
      '$.steps[3].input error_unbound',
    ]);
  });
});
