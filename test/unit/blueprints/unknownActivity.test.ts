import { describe, expect, it } from 'vitest';
import { formatDiagnostic } from '../../../src/cli/format.ts';
import {
  hasErrors,
  MAX_DIAGNOSTICS,
  validateBlueprint,
  type Diagnostic,
} from '../../../src/blueprints/validate.ts';

const act = (id: string, activity: string, extra: Record<string, unknown> = {}) => ({
  id,
  type: 'activity',
  activity,
  ...extra,
});
const bp = (steps: unknown[]) => ({ name: 'bp', steps });
const served = ['fetch_data', 'save_results', 'double'];

describe('diagnostics carry a severity', () => {
  it('every diagnostic of a broken blueprint is an error, and the result is not ok', () => {
    const result = validateBlueprint(
      bp([act('a', 'x', { dependsOn: ['nope'] }), act('a', 'y'), { id: 'b', type: 'teleport' }]),
    );
    expect(result.ok).toBe(false);
    expect(result.diagnostics.length).toBeGreaterThanOrEqual(3);
    for (const d of result.diagnostics) expect(d.severity).toBe('error');
    expect(hasErrors(result.diagnostics)).toBe(true);
  });

  it('hasErrors: warnings alone never block', () => {
    const warning: Diagnostic = { path: '$', code: 'c', message: 'm', severity: 'warning' };
    expect(hasErrors([warning])).toBe(false);
    expect(hasErrors([warning, { ...warning, severity: 'error' }])).toBe(true);
    expect(hasErrors([])).toBe(false);
  });
});

describe('unknown_activity (validateBlueprint with options.activities)', () => {
  it('is a warning at the name, with a did-you-mean and the served names; the result stays ok', () => {
    const input = bp([act('a', 'fetch_dta'), act('b', 'save_results')]);
    const result = validateBlueprint(input, undefined, { activities: served });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.blueprint).toEqual(input);
    expect(result.diagnostics).toEqual([
      {
        path: '$.steps[0].activity',
        code: 'unknown_activity',
        message: 'no worker serves activity "fetch_dta"',
        hint: expect.stringMatching(
          /^Did you mean "fetch_data"\? Served now: double, fetch_data, save_results\./u,
        ) as unknown,
        severity: 'warning',
      },
    ]);
  });

  it('checks the map item step and nested lists; computed names are not checked', () => {
    const result = validateBlueprint(
      bp([
        act('a', '{% $input.which %}'),
        { id: 'm', type: 'map', step: { type: 'activity', activity: 'doubel' } },
        { id: 'l', type: 'loop', count: 2, steps: [act('inner', 'zzz_unknown')] },
      ]),
      undefined,
      { activities: served },
    );
    expect(result.ok).toBe(true);
    expect(result.diagnostics.map((d) => [d.path, d.code, d.severity])).toEqual([
      ['$.steps[1].step.activity', 'unknown_activity', 'warning'],
      ['$.steps[2].steps[0].activity', 'unknown_activity', 'warning'],
    ]);
    const [mapped, nested] = result.diagnostics;
    expect(mapped?.hint).toMatch(/^Did you mean "double"\?/u);
    expect(nested?.hint).not.toMatch(/Did you mean/u);
    expect(nested?.hint).toMatch(/Served now: double, fetch_data, save_results\./u);
  });

  it('says so when no worker serves anything', () => {
    const result = validateBlueprint(bp([act('a', 'work')]), undefined, { activities: [] });
    expect(result.ok).toBe(true);
    expect(result.diagnostics[0]?.hint).toMatch(/^No worker has announced any activity\./u);
  });

  it('lists at most 50 served names in a hint', () => {
    const many = Array.from({ length: 60 }, (_, i) => `act_${String(i).padStart(2, '0')}`);
    const result = validateBlueprint(bp([act('a', 'zzz')]), undefined, { activities: many });
    const hint = result.diagnostics[0]?.hint ?? '';
    expect(hint).toContain('act_49, and 10 more.');
    expect(hint).not.toContain('act_50');
  });

  it('is not checked without options.activities, nor for served names', () => {
    expect(validateBlueprint(bp([act('a', 'anything')]))).toMatchObject({
      ok: true,
      diagnostics: [],
    });
    expect(
      validateBlueprint(bp([act('a', 'double')]), undefined, { activities: served }),
    ).toMatchObject({ ok: true, diagnostics: [] });
  });

  it('with errors as well: not ok, and both errors and warnings are reported', () => {
    const result = validateBlueprint(
      bp([act('a', 'nope'), act('b', 'double', { dependsOn: ['zz'] })]),
      undefined,
      { activities: served },
    );
    expect(result.ok).toBe(false);
    expect(result.diagnostics.map((d) => [d.code, d.severity])).toEqual(
      expect.arrayContaining([
        ['unknown_dependency', 'error'],
        ['unknown_activity', 'warning'],
      ]),
    );
  });

  it('limits still apply beside options (the second argument)', () => {
    const result = validateBlueprint(
      bp([act('a', 'x'), act('b', 'y')]),
      { maxSteps: 1 },
      {
        activities: ['x', 'y'],
      },
    );
    expect(result.ok).toBe(false);
    expect(result.diagnostics.map((d) => d.code)).toEqual(['too_many_steps']);
  });

  it('many warnings are capped like errors, and the summary is a warning when only warnings were left out', () => {
    const steps = Array.from({ length: MAX_DIAGNOSTICS + 5 }, (_, i) => act(`s${i}`, `u${i}`));
    const result = validateBlueprint(bp(steps), { maxSteps: 10_000 }, { activities: [] });
    expect(result.ok).toBe(true);
    expect(result.diagnostics).toHaveLength(MAX_DIAGNOSTICS + 1);
    expect(result.diagnostics[MAX_DIAGNOSTICS]).toMatchObject({
      code: 'too_many_diagnostics',
      message: '5 more problems were found and left out',
      severity: 'warning',
    });
  });
});

describe('the CLI prints a diagnostic on one line', () => {
  it('marks a warning, and prints an error (or one without a severity) as before', () => {
    const base = { path: '$.steps[0].activity', code: 'unknown_activity', message: 'm', hint: 'h' };
    expect(formatDiagnostic({ ...base, severity: 'warning' })).toBe(
      '$.steps[0].activity  unknown_activity (warning)  m (hint: h)',
    );
    expect(formatDiagnostic({ ...base, severity: 'error' })).toBe(
      '$.steps[0].activity  unknown_activity  m (hint: h)',
    );
    expect(formatDiagnostic({ path: '$', code: 'c', message: 'm' })).toBe('$  c  m');
  });
});
