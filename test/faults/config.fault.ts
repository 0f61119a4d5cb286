import { readdirSync } from 'node:fs';
import { dirname, matchesGlob } from 'node:path';
import { fileURLToPath } from 'node:url';
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
    // Checked against the files themselves, not only the patterns' text.
    const faultFiles = readdirSync(dirname(fileURLToPath(import.meta.url)))
      .filter((name) => name.endsWith('.fault.ts'))
      .map((name) => `test/faults/${name}`);
    expect(faultFiles).toContain('test/faults/config.fault.ts');
    const matches = (patterns: readonly string[] | undefined, file: string) =>
      (patterns ?? []).some((pattern) => matchesGlob(file, pattern));
    // `npm test` runs the top-level include and every project's (default, integration-postgres).
    const projects = (mainConfig.test?.projects ?? []).flatMap((project) =>
      typeof project === 'object' && 'test' in project ? [project.test.include ?? []] : [],
    );
    expect(projects.length).toBeGreaterThan(0);
    const mainIncludes = [...(mainConfig.test?.include ?? []), ...projects.flat()];
    for (const file of faultFiles) {
      expect(matches(faultsConfig.test?.include, file), `fault suite runs ${file}`).toBe(true);
      expect(matches(mainIncludes, file), `npm test runs ${file}`).toBe(false);
    }
    expect(matches(mainIncludes, 'test/unit/example.test.ts')).toBe(true);
  });
});
