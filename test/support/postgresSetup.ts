import type { TestProject } from 'vitest/node';
import { startPostgres } from './postgres.ts';

/**
 * globalSetup of the `integration-postgres` vitest project: one PostgreSQL server for the whole
 * project (a private cluster, or `WEFT_TEST_POSTGRES`), handed to the test files as
 * `inject('weftTestPostgres')`; each stack works in a fresh schema of it (test/support/stores.ts).
 * The private cluster is stopped by pid when the project ends.
 */
declare module 'vitest' {
  interface ProvidedContext {
    /** URL of the PostgreSQL server the `integration-postgres` project's globalSetup started. */
    weftTestPostgres: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const server = await startPostgres();
  project.provide('weftTestPostgres', server.url);
  return () => server.stop();
}
