/**
 * Durations in blueprints: a string of one or more `<number><unit>` parts (`"200ms"`, `"30s"`,
 * `"1h30m"`, `"1.5h"`; units `ms`, `s`, `m`, `h`, `d`) or a non-negative integer of milliseconds.
 * Pure functions; results are whole milliseconds (fractions round to the nearest one).
 */

/** The accepted string form, anchored. Also used by the blueprint Schema and its JSON Schema. */
export const DURATION_PATTERN = /^(?:\d{1,15}(?:\.\d{1,9})?(?:ms|s|m|h|d))+$/u;

const PART = /(\d{1,15}(?:\.\d{1,9})?)(ms|s|m|h|d)/gu;

const UNIT_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/**
 * Milliseconds of a duration, or `undefined` when it is not one (wrong syntax, negative, not an
 * integer number of milliseconds, or above `Number.MAX_SAFE_INTEGER`). Pure.
 */
export const parseDuration = (value: string | number): number | undefined => {
  if (typeof value === 'number') {
    return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  }
  if (value.length > 256 || !DURATION_PATTERN.test(value)) return undefined;
  let total = 0;
  for (const match of value.matchAll(PART)) {
    const amount = Number(match[1]);
    const unit = UNIT_MS[match[2] ?? ''];
    if (unit === undefined) return undefined;
    total += amount * unit;
  }
  const ms = Math.round(total);
  return Number.isSafeInteger(ms) ? ms : undefined;
};

const FORMAT_UNITS: readonly (readonly [string, number])[] = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1_000],
  ['ms', 1],
];

/**
 * The shortest canonical string for a whole number of milliseconds, largest unit first
 * (`90_000` → `"1m30s"`, `0` → `"0ms"`). `parseDuration(formatDuration(n)) === n` for every
 * non-negative safe integer. Negative or fractional input is a defect: it throws RangeError.
 */
export const formatDuration = (ms: number): string => {
  if (!Number.isSafeInteger(ms) || ms < 0)
    throw new RangeError(`not a duration in milliseconds: ${ms}`);
  if (ms === 0) return '0ms';
  let rest = ms;
  let out = '';
  for (const [unit, size] of FORMAT_UNITS) {
    const amount = Math.floor(rest / size);
    if (amount > 0) {
      out += `${amount}${unit}`;
      rest -= amount * size;
    }
  }
  return out;
};
