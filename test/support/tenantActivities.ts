import { appendFileSync } from 'node:fs';
import type { ActivityContext } from '../../src/index.ts';

/**
 * The activities every tenant's worker serves under the same names (`weft worker
 * test/support/tenantActivities.ts`), so a task of one tenant could match a worker of another.
 * Each writes the run id of every task it runs to the file `WEFT_TEST_EXECUTIONS` names, one line
 * each, for counting which tenant's tasks a worker received. Only activities are exported.
 */

const noteRun = (ctx: ActivityContext): void => {
  const file = process.env['WEFT_TEST_EXECUTIONS'];
  if (file !== undefined && file !== '') appendFileSync(file, `${ctx.runId}\n`);
};

/** Notes the task, then returns its input with the run and step it ran for. */
export const work = (input: unknown, ctx: ActivityContext) => {
  noteRun(ctx);
  return { runId: ctx.runId, step: ctx.stepId, got: input ?? null };
};
