import { spawnSync } from 'node:child_process';
import * as Effect from 'effect/Effect';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Json } from '../../src/blueprints/json.ts';
import { eventId } from '../../src/store/eventId.ts';
import {
  act,
  runEnded,
  SKIPS_BLUEPRINT,
  spawnWeft,
  startStack,
  weftNode,
  type HistoryEvent,
  type Stack,
} from '../support/weft.ts';
import { testStoreKind, withStore } from '../support/stores.ts';

/**
 * What a run's history holds by itself, on real NATS with `weft serve` and `weft worker`: the
 * limits the run was admitted with (pinned in `RunStarted`, used after a restart under other
 * limits), the time each reaction was decided at (so `weft replay --check` reproduces `$now()`
 * exactly), and why each step that did not run was skipped.
 */

const RAISED = { maxSteps: 2_000 };
let stack: Stack;

interface Page {
  readonly events: HistoryEvent[];
  readonly next?: number;
}

const page = (runId: string, from: number, limit?: number): Promise<Page> =>
  stack.client.call<Page>(`weft.runs.${runId}.history`, {
    from,
    ...(limit === undefined ? {} : { limit }),
  });

/** The whole history, page by page (`next`). */
const history = async (runId: string): Promise<HistoryEvent[]> => {
  const events: HistoryEvent[] = [];
  for (let from: number | undefined = 0; from !== undefined;) {
    const next: Page = await page(runId, from);
    events.push(...next.events);
    from = next.next;
  }
  return events;
};

const weft = (...args: string[]) =>
  spawnSync(weftNode(), ['bin/weft.js', ...args], { encoding: 'utf8', timeout: 60_000 });

beforeAll(async () => {
  stack = await startStack({ env: { WEFT_LIMITS: JSON.stringify(RAISED) } });
});

afterAll(async () => {
  await stack.stop();
});

describe('limits pinned in RunStarted', () => {
  // Its cost is CPU, the same on every store: the runtime folding 1,500 steps (and `replay --check`
  // below replaying them). The integration-postgres project leaves it to sqlite.
  it.skipIf(testStoreKind() === 'postgres')(
    '--limits raised to 2,000 steps lets a 1,500-step run start, survive a restart under the default limits and complete',
    async () => {
      // A gate that waits for a signal, then 1,499 steps: 12 conditions of 11 conditions of 10
      // activities, and one condition of 34 (a nested shape: the machine's cost per event grows
      // with the number of steps active at once, and 1,499 side by side take minutes to fold).
      let next = 0;
      const leaves = (n: number) =>
        Array.from({ length: n }, () => act(`a${next++}`, 'echo', { dependsOn: [] }));
      const condition = (then: unknown[]) => ({
        id: `c${next++}`,
        type: 'condition',
        when: '{% true %}',
        then,
      });
      const steps = [
        { id: 'gate', type: 'wait', signal: 'go' },
        ...Array.from({ length: 12 }, () =>
          condition(Array.from({ length: 11 }, () => condition(leaves(10)))),
        ),
        condition(leaves(34)),
      ];
      expect(JSON.stringify(steps).match(/"id":/g)).toHaveLength(1_500);
      const blueprint = { name: 'wide_1500', steps };
      const runId = 'wide-1500';
      const started = await stack.client.call<{ runId: string }>('weft.runs.start', {
        blueprint,
        runId,
      });
      expect(started.runId).toBe(runId);
      const [first] = (await page(runId, 0, 1)).events;
      expect(first?.type).toBe('RunStarted');
      expect(first?.data.limits).toEqual(RAISED);

      // The runtime comes back with the default limits (1,000 steps): only the pinned ones admit it.
      await stack.stopRuntime();
      stack.runtime = await spawnWeft(
        ['serve', '--nats', stack.nats.url, '--store', stack.store, '--limits', '{}'],
        /runtime serving/,
      );
      const refused = await stack.client.request('weft.runs.start', {
        blueprint: 'wide_1500',
        runId: 'wide-1500-new',
      });
      expect(refused.ok).toBe(false);
      expect(JSON.stringify(refused.error)).toMatch(/1500 steps; at most 1000/);

      await stack.client.call(`weft.runs.${runId}.signal.go`, { ok: true });
      const ended = await runEnded(stack.client, runId, 240_000);
      expect(ended.status).toBe('completed');
      const completed = (await history(runId)).filter((e) => e.type === 'StepCompleted');
      expect(completed).toHaveLength(1_354);
    },
    300_000,
  );
});

describe('decision time and skips in the history', () => {
  it('a run using $now() passes weft replay --check exactly; the same stream with a decision time 1 ms off does not', async () => {
    const runId = 'now-run';
    await stack.client.call('weft.runs.start', {
      runId,
      input: { order: 1 },
      blueprint: {
        name: 'uses_now',
        steps: [
          act('before', 'echo', { input: '{% {"at": $now()} %}' }),
          { id: 'nap', type: 'sleep', duration: '200ms' },
          act('after', 'echo', { input: '{% {"at": $now()} %}' }),
        ],
      },
    });
    expect((await runEnded(stack.client, runId)).status).toBe('completed');
    const events = await history(runId);
    const time = (e: HistoryEvent | undefined) => e?.data.time as number;
    const scheduled = events.filter((e) => e.type === 'StepScheduled');
    expect((scheduled[0]?.data.input as { at: string }).at).toBe(
      new Date(time(events[0])).toISOString(),
    );

    const clean = weft('replay', '--check', '--store', stack.store);
    expect(clean.stdout).toMatch(/no divergence/);
    expect(clean.status).toBe(0);

    // The same run, its start decided 1 ms later than recorded, as another run in the store.
    const stream = 'run-now-run-edited';
    await withStore(stack.store, (store) =>
      Effect.runPromise(
        store.append(
          stream,
          events.map((e, i) => {
            const data = (
              i === 0 ? { ...e.data, runId: 'now-run-edited', time: time(e) + 1 } : e.data
            ) as Json;
            return { id: eventId(stream, i, e.type, data), type: e.type, data };
          }),
          'no_stream',
        ),
      ),
    );
    const diverged = weft('replay', '--check', '--store', stack.store);
    expect(diverged.stdout).toMatch(/DIVERGED now-run-edited: at revision 1 /);
    expect(diverged.status).toBe(1);
  }, 90_000);

  it('records why each step that did not run was skipped, once each', async () => {
    const runId = 'skips-run';
    await stack.client.call('weft.runs.start', {
      runId,
      input: { audit: false, express: false },
      blueprint: SKIPS_BLUEPRINT,
    });
    expect((await runEnded(stack.client, runId)).status).toBe('completed');
    const skips = (await history(runId)).filter((e) => e.type === 'StepSkipped').map((e) => e.data);
    expect(skips).toEqual([
      { stepId: 'ship', reason: 'dependency_failed' },
      { stepId: 'audit', reason: 'if_false' },
      { stepId: 'express', reason: 'not_taken' },
      { stepId: 'fix', reason: 'handler_unused' },
    ]);
  });
});
