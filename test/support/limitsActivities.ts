/** Activities of test/integration/limits.test.ts's worker (`weft worker test/support/limitsActivities.ts`). */

/** A string of `bytes` characters `x` (its JSON is `bytes + 2` bytes). */
export const blob = (input: unknown) => {
  const { bytes } = (input ?? {}) as { bytes?: number };
  return 'x'.repeat(bytes ?? 0);
};

/** Its input, back. */
export const echo = (input: unknown) => input;
