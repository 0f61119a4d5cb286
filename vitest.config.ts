import { defaultClientConditions, defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

/**
 * `weft`, `weft/client`, … (the package's own entry points, as examples import them) resolve to the
 * TypeScript source in tests, as `bin/weft.js` resolves them in a checkout: the exports'
 * `weft-source` condition.
 */
const SOURCE = 'weft-source';

/**
 * The integration files whose runtime works the store hardest (start and execute, every step
 * kind, map, child runs, signals, cancel, restart recovery, replay of the store): the
 * `integration-postgres` project runs them a second time with the runtime on PostgreSQL.
 */
const ON_POSTGRES = [
  'test/integration/runs.test.ts',
  'test/integration/steps.test.ts',
  'test/integration/handlers.test.ts',
  'test/integration/history.test.ts',
  'test/integration/recovery.test.ts',
  'test/integration/signalsOnce.test.ts',
  'test/integration/cluster.test.ts',
];

// Vitest 5: pool options are top level (`maxWorkers`); the v3 `poolOptions` block is gone.
// Two projects, reported as `|default|` and `|integration-postgres|` before each file: every test
// on its usual store (sqlite for the stacks), and the files above again with each stack in a fresh
// schema of one PostgreSQL server that the project's globalSetup starts (a private cluster,
// stopped by pid at the end) or that `WEFT_TEST_POSTGRES` names.
export default defineConfig({
  resolve: { conditions: [SOURCE, ...defaultClientConditions] },
  ssr: {
    resolve: {
      conditions: [SOURCE, ...defaultServerConditions],
      externalConditions: [SOURCE],
    },
  },
  test: {
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 30_000,
    projects: [
      { extends: true, test: { name: 'default', include: ['test/**/*.test.ts'] } },
      {
        extends: true,
        test: {
          name: 'integration-postgres',
          include: ON_POSTGRES,
          env: { WEFT_TEST_STORE: 'postgres' },
          globalSetup: ['test/support/postgresSetup.ts'],
        },
      },
    ],
  },
});
