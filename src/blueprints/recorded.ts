import { isRecord, own } from './diagnostics.ts';
import { rawLists } from './rawSteps.ts';
import { CONTAINER_TYPES } from './settings.ts';

type Mutable = Record<string, unknown>;

/**
 * A recorded blueprint (a stored version, or the content a run pinned in `RunStarted`) in today's
 * form, so that what was admitted before still loads: a bare number where a duration goes (it
 * meant milliseconds) becomes `"<n>ms"`, and the retry settings that steps other than activities
 * never used (`maxAttempts`, `backoff`, and `timeout` except on a wait or, as a duration, on a
 * container) are dropped. The engine
 * compiles the result exactly as it ran the original. Pure: `input` is not changed (a changed
 * copy is returned).
 */
export const recordedForm = (input: unknown): unknown => {
  if (!isRecord(input)) return input;
  const copy = structuredClone(input) as Mutable;
  const durations = (holder: unknown, keys: readonly string[]): void => {
    if (!isRecord(holder)) return;
    for (const key of keys) {
      const value = own(holder, key);
      if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0)
        (holder as Mutable)[key] = `${value}ms`;
    }
  };
  const policy = (holder: unknown): void => {
    durations(holder, ['timeout']);
    if (isRecord(holder)) durations(own(holder, 'backoff'), ['initial', 'max']);
  };
  policy(own(copy, 'defaults'));
  for (const list of rawLists(copy)) {
    for (const { value } of list.steps) {
      const step = value as Mutable;
      const type = own(step, 'type');
      if (type === 'activity') policy(step);
      else {
        // A container's `maxAttempts` and its `timeout` written as a duration are kept: runs
        // recorded before containers owned their inside compile without scopes, which ignores
        // them as they did. A bare number as a timeout dates from before durations had units,
        // when it was ignored: it is dropped, as are retry settings on any other step.
        const container = CONTAINER_TYPES.includes(String(type)) && !list.mapItem;
        if (!container || typeof own(step, 'maxAttempts') !== 'number') delete step['maxAttempts'];
        delete step['backoff'];
        if (type !== 'wait' && !(container && typeof own(step, 'timeout') === 'string'))
          delete step['timeout'];
      }
      if (own(step, 'timeout') !== undefined) durations(step, ['timeout']);
      if (type === 'sleep') durations(step, ['duration']);
    }
  }
  return copy;
};
