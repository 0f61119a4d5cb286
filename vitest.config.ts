import { defineConfig } from 'vitest/config';

// Vitest 5: pool options are top level (`maxWorkers`); the v3 `poolOptions` block is gone.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
