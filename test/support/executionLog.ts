import { existsSync, readFileSync } from 'node:fs';

/** The executions an `executions.ts` activity wrote to `path`, as `<taskId>/<attempt>` lines. */
export const executionsIn = (path: string): string[] =>
  existsSync(path)
    ? readFileSync(path, 'utf8')
        .split('\n')
        .filter((line) => line !== '')
    : [];

/** How many times each `<taskId>/<attempt>` ran. */
export const countsOf = (lines: readonly string[]): Map<string, number> => {
  const counts = new Map<string, number>();
  for (const line of lines) counts.set(line, (counts.get(line) ?? 0) + 1);
  return counts;
};
