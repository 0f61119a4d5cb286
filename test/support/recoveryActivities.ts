import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ActivityContext } from '../../src/index.ts';

/**
 * Activities a test holds open (`weft worker test/support/recoveryActivities.ts`), so it can stop
 * and start processes around a task in flight. The input names a directory and a key:
 * `<dir>/<key>.runs` gets one line per execution (written when it starts), and the activity
 * returns only once the test has created `<dir>/<key>.open`.
 */

const POLL_MS = 20;

export const executionsOf = (dir: string, key: string): number => {
  const file = join(dir, `${key}.runs`);
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).length : 0;
};

export const openGate = (dir: string, key: string): void =>
  appendFileSync(join(dir, `${key}.open`), '');

/** Records its execution, waits for the gate, returns `{key, execution}` (1 on the first run). */
const gate = async (input: unknown, ctx: ActivityContext) => {
  const { dir, key } = input as { dir: string; key: string };
  appendFileSync(join(dir, `${key}.runs`), `${ctx.taskId} attempt ${ctx.attempt}\n`);
  const execution = executionsOf(dir, key);
  const open = join(dir, `${key}.open`);
  await new Promise<void>((resolve, reject) => {
    const poll = setInterval(() => {
      if (!existsSync(open)) return;
      clearInterval(poll);
      resolve();
    }, POLL_MS);
    ctx.signal.addEventListener('abort', () => {
      clearInterval(poll);
      reject(new Error('aborted'));
    });
  });
  return { key, execution };
};

/**
 * What the worker serves (the helpers above are not activities). One name per test, so each test's
 * tasks consumer (`activity_<name>`) counts only its own task.
 */
export const activities = {
  gate_fallback: gate,
  gate_unrecorded: gate,
  gate_refused: gate,
  gate_direct: gate,
  gate_busy: gate,
  gate_streamed: gate,
};
