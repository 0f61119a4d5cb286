import { child, isRecord, own, pathText, type Raw, type Segment } from './diagnostics.ts';
import { formatDuration } from './duration.ts';
import { RETRY_FIELDS } from './schema.ts';

/**
 * The words of two refusals that replace settings the engine used to ignore or misread: a bare
 * number as a duration (`duration_unit`) and a retry setting on a step that never retries. Pure.
 */

/** `duration_unit`: message and hint for a bare number where a duration is expected. */
export const durationUnit = (value: number): { message: string; hint: string } => {
  const message = `a duration needs a unit; got the bare number ${value}`;
  if (!Number.isSafeInteger(value) || value < 0)
    return { message, hint: 'Write a duration with a unit, e.g. "30s", "500ms" or "2m".' };
  if (value < 1000)
    return {
      message,
      hint: `Write "${value}s" for ${value} seconds, or "${value}ms" for ${value} milliseconds.`,
    };
  return {
    message,
    hint: `Write "${formatDuration(value)}" or "${value}ms" for ${value} milliseconds, or "${value}s" for seconds.`,
  };
};

/**
 * Steps whose `timeout` bounds everything inside them, and whose `maxAttempts` reruns them as a
 * whole (language 2); their other retry settings have no effect.
 */
export const CONTAINER_TYPES: readonly string[] = [
  'parallel',
  'condition',
  'switch',
  'loop',
  'map',
  'graph',
  'child',
];

const isRetryField = (key: string): key is (typeof RETRY_FIELDS)[number] =>
  (RETRY_FIELDS as readonly string[]).includes(key);

/**
 * When `key` of the step at `stepPath` is a retry setting its step type does not use: what to
 * say instead of "unknown field" (where the setting belongs). Undefined otherwise.
 */
export const misplacedSetting = (
  step: unknown,
  stepPath: readonly Segment[],
  key: string,
): { message: string; hint: string } | undefined => {
  if (!isRecord(step) || !isRetryField(key)) return undefined;
  const type = own(step, 'type');
  if (typeof type !== 'string' || type === 'activity') return undefined;
  const mapItem = stepPath[stepPath.length - 1] === 'step';
  if (key === 'timeout' && (type === 'wait' || (CONTAINER_TYPES.includes(type) && !mapItem)))
    return undefined;
  if (key === 'maxAttempts' && CONTAINER_TYPES.includes(type) && !mapItem) return undefined;
  if (key === 'timeout' && mapItem)
    return {
      message: `"timeout" has no effect on a map's ${type} step`,
      hint: `The map's own "timeout" bounds all its items: write it at ${pathText(stepPath.slice(0, -1))}.timeout.`,
    };
  const message = `"${key}" has no effect on a ${type} step`;
  return { message, hint: whereInstead(step, type, stepPath, key) };
};

const whereInstead = (step: Raw, type: string, stepPath: readonly Segment[], key: string) => {
  const inside =
    'on the activity steps inside it, or in the blueprint\'s "defaults" (they apply to every activity)';
  switch (type) {
    case 'map':
    case 'graph': {
      const inner = own(step, 'step');
      const innerType = isRecord(inner) ? own(inner, 'type') : undefined;
      return innerType === 'child'
        ? `A map's items are retried by the step it runs; a child step is not: put "${key}" on the activities of the child blueprint, or in its "defaults". (A map's own "timeout" bounds the whole map.)`
        : `A map's items are retried by the step it runs: write it at ${child(pathText(stepPath), 'step')}.${key}. (A map's own "timeout" bounds the whole map.)`;
    }
    case 'child':
      // A map's child step has no retries at all; a child step of its own reruns with maxAttempts.
      return stepPath[stepPath.length - 1] === 'step'
        ? `A child run is not retried as a whole: put "${key}" on the activities of the child blueprint, or in its "defaults".`
        : `A child step's "maxAttempts" starts the child run afresh, with no ${key}: put "${key}" on the activities of the child blueprint, or in its "defaults". (A child step's own "timeout" bounds the child run.)`;
    case 'wait':
      return `A wait step is not retried: when its "timeout" passes it fails with code timeout, and its onError applies.`;
    case 'sleep':
      return `A sleep step is a timer: it is neither retried nor timed out.`;
    case 'fail':
    case 'succeed':
    case 'set':
      return `A ${type} step runs no activity: it is neither retried nor timed out.`;
    default:
      return `A ${type} step's "maxAttempts" reruns it as a whole, with no ${key}: put "${key}" ${inside}. (Its own "timeout" bounds everything inside it.)`;
  }
};
