import { defineConfig } from 'vitest/config';

// Fault-injection scenarios (`npm run test:faults`): each file starts its own nats-server, runtime(s)
// and worker(s) and kills some of them. They are timing-sensitive and heavy, so they run one file
// at a time, and they are named *.fault.ts so that `npm test` (test/**/*.test.ts) does not run them.
export default defineConfig({
  test: {
    include: ['test/faults/**/*.fault.ts'],
    pool: 'forks',
    maxWorkers: 1,
    fileParallelism: false,
    testTimeout: 240_000,
    hookTimeout: 60_000,
  },
});
