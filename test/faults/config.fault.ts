import { describe, expect, it } from 'vitest';
import mainConfig from '../../vitest.config.ts';
import faultsConfig from '../../vitest.faults.config.ts';

/**
 * The fault scenarios stay out of `npm test`: they are named *.fault.ts, which the normal config
 * (test/**\/*.test.ts) does not match, and only `npm run test:faults` (vitest.faults.config.ts)
 * runs them — one file at a time, since each starts its own NATS server and weft processes and
 * several are about timing.
 */
describe('the fault suite configuration', () => {
  it('runs test/faults/**/*.fault.ts, one file at a time, and the normal suite does not', () => {
    expect(faultsConfig.test?.include).toEqual(['test/faults/**/*.fault.ts']);
    expect(faultsConfig.test?.fileParallelism).toBe(false);
    expect(faultsConfig.test?.maxWorkers).toBe(1);
    expect(mainConfig.test?.include?.some((pattern) => pattern.endsWith('.fault.ts'))).toBe(false);
  });
});
