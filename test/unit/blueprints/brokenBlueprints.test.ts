import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BlueprintLimits } from '../../../src/blueprints/limits.ts';
import {
  validateBlueprint,
  type DiagnosticCode,
  type ValidateOptions,
} from '../../../src/blueprints/validate.ts';
import {
  compileBlueprintSchema,
  pointerOf,
  preciseErrorAt,
  ROOT,
  schemaErrors,
} from './schemaValidator.ts';

/**
 * test/fixtures/broken-blueprints/: one blueprint per diagnostic code of `validateBlueprint`,
 * `<code>.json`, the smallest that gets exactly that code. For each, the validator reports the
 * code, and the JSON Schema either refuses the blueprint with an error at the diagnostic's path
 * (or inside it), or the code is one a JSON Schema cannot express, listed below with the reason.
 * A new `DiagnosticCode` without a file here fails this test.
 */

const DIR = join(ROOT, 'test/fixtures/broken-blueprints');

/** The codes a JSON Schema cannot express, and why. */
const SEMANTIC_ONLY: Readonly<Partial<Record<DiagnosticCode, string>>> = {
  duplicate_id: 'ids must be unique across every list of the document, nested ones included',
  duplicate_name:
    'signal and query names (plugin ones prefixed, built-in queries included) are compared across lists',
  unknown_dependency: 'a dependsOn id must name a step of the same list: a reference, not a shape',
  self_dependency: 'a step naming its own id compares two values of the document',
  cycle: 'a dependsOn or onError cycle is a property of the graph of steps',
  unknown_on_error_target: 'an onError jump must name a step of the same list: a reference',
  invalid_completion: 'completion.atLeast is compared with the number of branches',
  expression_limit:
    'the limits of a JSONata expression (source length, parse depth) also apply inside input templates',
  unknown_activity: 'which activities workers serve is known at run time only (a warning)',
  input_mismatch: 'needs the JSON Schemas that activities declare (a warning)',
  unknown_step: 'a $steps.<id> inside an expression names a step: a reference (a warning)',
  error_unbound: 'where $error is bound depends on which steps onError routes name (a warning)',
  too_many_steps: 'counts the steps of every list of the document together',
  too_deep: 'nesting depth of the whole document, data included',
  too_large: 'size in bytes of the whole document',
  array_too_large:
    'applies to every literal array, data included (maxItems could say it only for known fields)',
  too_many_diagnostics: 'a summary of the other diagnostics, not a property of the blueprint',
};

/** What some codes need besides the blueprint: the options or small limits that trigger them. */
const SETTINGS: Readonly<
  Partial<
    Record<
      DiagnosticCode,
      { readonly limits?: Partial<BlueprintLimits>; readonly options?: ValidateOptions }
    >
  >
> = {
  unknown_activity: { options: { activities: [] } },
  input_mismatch: {
    options: { activitySchemas: new Map([['x', { input: { type: 'object' } }]]) },
  },
  too_many_steps: { limits: { maxSteps: 1 } },
  too_large: { limits: { maxBytes: 64 } },
  array_too_large: { limits: { maxArrayItems: 2 } },
};

/** Codes that never come alone: too_many_diagnostics sums up a flood of others. */
const COMPANIONS: Readonly<Partial<Record<DiagnosticCode, readonly DiagnosticCode[]>>> = {
  too_many_diagnostics: ['unknown_dependency'],
};

/**
 * Every code of the `DiagnosticCode` union, read from its source: a code added there is a code
 * this corpus must cover.
 */
const declaredCodes = (): string[] => {
  const source = readFileSync(join(ROOT, 'src/blueprints/diagnostics.ts'), 'utf8');
  const union = /export type DiagnosticCode =([^;]*);/u.exec(source)?.[1];
  if (union === undefined) throw new Error('DiagnosticCode not found in diagnostics.ts');
  return [...union.matchAll(/'([a-z_]+)'/gu)].map((m) => m[1] as string).sort();
};

const files = readdirSync(DIR)
  .filter((f) => f.endsWith('.json'))
  .map((f) => f.slice(0, -'.json'.length))
  .sort();

const validate = compileBlueprintSchema();

describe('the broken-blueprint corpus', () => {
  it('has one file per diagnostic code, and nothing else', () => {
    expect(files).toEqual(declaredCodes());
  });

  it('lists as semantic-only and as needing settings only codes that exist', () => {
    const codes = new Set(declaredCodes());
    for (const code of [
      ...Object.keys(SEMANTIC_ONLY),
      ...Object.keys(SETTINGS),
      ...Object.keys(COMPANIONS),
    ])
      expect(codes.has(code), code).toBe(true);
  });

  it.each(files)('%s.json: the validator reports exactly that code', (code) => {
    const blueprint = JSON.parse(readFileSync(join(DIR, `${code}.json`), 'utf8')) as unknown;
    const settings = SETTINGS[code as DiagnosticCode];
    const { diagnostics } = validateBlueprint(blueprint, settings?.limits, settings?.options);
    expect(new Set(diagnostics.map((d) => d.code))).toEqual(
      new Set([code, ...(COMPANIONS[code as DiagnosticCode] ?? [])]),
    );
  });

  it.each(files)(
    '%s.json: the JSON Schema refuses it at the same place, or the code is semantic-only',
    (code) => {
      const blueprint = JSON.parse(readFileSync(join(DIR, `${code}.json`), 'utf8')) as unknown;
      const settings = SETTINGS[code as DiagnosticCode];
      const { diagnostics } = validateBlueprint(blueprint, settings?.limits, settings?.options);
      const errors = schemaErrors(validate, blueprint);
      if (SEMANTIC_ONLY[code as DiagnosticCode] !== undefined) {
        // Nothing here is wrong in shape: the schema has nothing to say.
        expect(errors).toEqual([]);
        return;
      }
      const mine = diagnostics.filter((d) => d.code === code);
      expect(mine.length).toBeGreaterThan(0);
      for (const d of mine) {
        const pointer = pointerOf(d.path);
        expect(
          preciseErrorAt(errors, pointer),
          `${d.path}: ${JSON.stringify(errors)}`,
        ).toBeDefined();
      }
    },
  );
});
