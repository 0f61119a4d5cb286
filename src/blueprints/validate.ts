import * as Schema from 'effect/Schema';
import { activityDiagnostics } from './activities.ts';
import { dataFlowDiagnostics, type ActivitySchemas } from './dataFlow.ts';
import { Diagnostics, isRecord, type Diagnostic } from './diagnostics.ts';
import { findErrorCycles } from './cycles.ts';
import { schemaDiagnostics } from './issues.ts';
import { DEFAULT_BLUEPRINT_LIMITS, preflight, type BlueprintLimits } from './limits.ts';
import { rawLists } from './rawSteps.ts';
import { recordedForm } from './recorded.ts';
import { Blueprint } from './schema.ts';
import { referenceDiagnostics } from './references.ts';
import { semanticDiagnostics } from './semantic.ts';

export {
  hasErrors,
  MAX_DIAGNOSTICS,
  type Diagnostic,
  type DiagnosticCode,
  type Severity,
} from './diagnostics.ts';
export { DEFAULT_BLUEPRINT_LIMITS, type BlueprintLimits } from './limits.ts';
export type { ActivitySchemas } from './dataFlow.ts';
export { dependenciesOf, stepIndex, type IndexedStep } from './stepIndex.ts';

/**
 * Blueprint validation, like a compiler: every problem is reported at once, each with a JSON path
 * (`$.steps[2].dependsOn[0]`), a stable code, a message that names the offending value and a
 * severity (`error` blocks, `warning` never does).
 *
 * Pure and total: no I/O, no clock, never throws for any input. Hostile input is bounded before
 * anything recursive touches it: a first iterative pass (`limits.ts`) rejects documents that are
 * too deep (`too_deep`), too large (`too_large`), hold huge literal arrays (`array_too_large`) or
 * are not JSON at all, and only then does the Effect Schema decode run (`issues.ts`). The semantic
 * checks (`semantic.ts`: ids, dependencies, cycles, expressions) walk the raw document
 * iteratively, so they also report on parts that failed to decode.
 */

/** What the validator knows besides the document. */
export interface ValidateOptions {
  /**
   * The activity names workers serve now. Given, every literal activity name not among them is
   * the warning `unknown_activity`; undefined, names are not checked.
   */
  readonly activities?: readonly string[];
  /**
   * The JSON Schemas activities declare, by activity name. Given, step inputs that certainly do
   * not fit their activity's input schema (literal parts, and values taken from steps whose
   * activity declares its output) are the warning `input_mismatch` (see `dataFlow.ts`).
   */
  readonly activitySchemas?: ReadonlyMap<string, ActivitySchemas>;
  /**
   * The blueprint was admitted before: a stored version, or the content a run pinned in
   * `RunStarted`. What earlier versions of weft accepted is accepted again, meaning what it meant
   * then (see `recorded.ts`): bare-number durations (milliseconds), retry settings on steps that
   * never used them, `onError` cycles. Everything else is checked as usual.
   */
  readonly recorded?: boolean;
}

/**
 * `ok: true` when no diagnostic is an error: the decoded blueprint, with the warnings found (to
 * show on success). `ok: false` otherwise: every diagnostic, errors and warnings.
 */
export type ValidationResult =
  | {
      readonly ok: true;
      readonly blueprint: Blueprint;
      /** Warnings only (empty when there are none). */
      readonly diagnostics: readonly Diagnostic[];
    }
  | { readonly ok: false; readonly diagnostics: readonly Diagnostic[] };

/**
 * Validates an untrusted blueprint under `limits` (default `DEFAULT_BLUEPRINT_LIMITS`). Pure and
 * total: returns every diagnostic found (at most `MAX_DIAGNOSTICS`), and the decoded blueprint
 * when none is an error. Never throws.
 */
export const validateBlueprint = (
  input: unknown,
  limits?: Partial<BlueprintLimits>,
  options: ValidateOptions = {},
): ValidationResult => {
  const resolved: BlueprintLimits = { ...DEFAULT_BLUEPRINT_LIMITS, ...limits };
  const out = new Diagnostics();
  try {
    if (!preflight(input, resolved, out)) return { ok: false, diagnostics: out.result() };
    const document = options.recorded === true ? recordedForm(input) : input;
    const decoded = Schema.decodeUnknownResult(Blueprint)(document, {
      errors: 'all',
      onExcessProperty: 'error',
    });
    if (decoded._tag === 'Failure') schemaDiagnostics(decoded.failure.issue, document, out);
    if (isRecord(document)) {
      const lists = rawLists(document);
      semanticDiagnostics(document, lists, resolved, out);
      if (options.recorded !== true) {
        for (const list of lists) findErrorCycles(list, out);
        referenceDiagnostics(document, lists, out);
      }
      if (options.activities !== undefined) activityDiagnostics(lists, options.activities, out);
      if (options.activitySchemas !== undefined)
        dataFlowDiagnostics(lists, options.activitySchemas, out);
    }
    if (decoded._tag === 'Success' && out.errors === 0) {
      return { ok: true, blueprint: decoded.success, diagnostics: out.result() };
    }
    return { ok: false, diagnostics: out.result() };
  } catch (error) {
    // Only reachable with inputs that are not data (throwing getters, proxies): JSON never gets here.
    out.add('$', 'schema', `the input could not be read as JSON: ${String(error)}`);
    return { ok: false, diagnostics: out.result() };
  }
};
