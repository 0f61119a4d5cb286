import { expressionReferences } from '../expressions/references.ts';
import { isExpression } from '../expressions/sandbox.ts';
import { child, closest, isRecord, own, type Diagnostics, type Raw } from './diagnostics.ts';
import { rawRoutes } from './onError.ts';
import type { RawList } from './rawSteps.ts';

/**
 * Warnings about what an expression reads that cannot be there, never blocking. Pure.
 * - `unknown_step`: `$steps.<id>` naming no step of the blueprint reads nothing.
 * - `error_unbound`: `$error` is bound in an error handler (a step an `onError` route names) and
 *   every step inside it, in compensations and in `finally`; anywhere else it is JSONata's own
 *   `$error()` function, so `$error.code` is nothing.
 */
export const referenceDiagnostics = (
  root: Raw,
  lists: readonly RawList[],
  out: Diagnostics,
): void => {
  const ids = new Set<string>();
  /** Paths under which `$error` is bound. */
  const bound: string[] = ['$.finally'];
  for (const list of lists) {
    const inList = new Map<string, string>();
    for (const step of list.steps) if (step.id !== undefined) inList.set(step.id, step.path);
    for (const step of list.steps) {
      if (step.id !== undefined) {
        ids.add(step.id);
        const type = own(step.value, 'type');
        // A map's or graph's item step, when it has no id of its own (plan.ts `mapItemId`).
        if (type === 'map' || type === 'graph') ids.add(`${step.id}_item`);
      }
      for (const { route } of rawRoutes(own(step.value, 'onError'))) {
        const handler = inList.get(route);
        if (handler !== undefined) bound.push(handler);
      }
      if (own(step.value, 'compensate') !== undefined) bound.push(child(step.path, 'compensate'));
    }
  }
  const within = (path: string) =>
    bound.some((b) => path === b || path.startsWith(`${b}.`) || path.startsWith(`${b}[`));
  const known = [...ids].sort();

  const stack: { value: unknown; path: string }[] = [{ value: root, path: '$' }];
  while (stack.length > 0) {
    const { value, path } = stack.pop() as (typeof stack)[number];
    if (Array.isArray(value))
      value.forEach((v, i) => stack.push({ value: v, path: child(path, i) }));
    else if (isRecord(value))
      for (const key of Object.keys(value))
        stack.push({ value: own(value, key), path: child(path, key) });
    if (!isExpression(value)) continue;
    const refs = expressionReferences(value);
    if (refs === undefined) continue;
    for (const id of refs.steps) {
      if (ids.has(id)) continue;
      const guess = closest(id, known);
      out.warn(
        path,
        'unknown_step',
        `$steps.${id} names no step of this blueprint, so it is always nothing`,
        guess === undefined ? 'Use the id of a step.' : `Did you mean $steps.${guess}?`,
      );
    }
    if (refs.variables.has('error') && !within(path))
      out.warn(
        path,
        'error_unbound',
        "$error is not bound here: only in an error handler (a step an onError route names) and the steps inside it, in compensations and in finally; here it is JSONata's $error() function",
        "After a handler, read the failed step's error as $steps.<failed id>.error.",
      );
  }
};
