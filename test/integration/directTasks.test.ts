import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Subjects } from '../../src/wire/subjects.ts';
import { executionsOf, openGate } from '../support/recoveryActivities.ts';
import { waitFor } from '../support/wait.ts';
import {
  act,
  runEnded,
  spawnWeft,
  startStack,
  type HistoryEvent,
  type Stack,
} from '../support/weft.ts';

/**
 * README "Guarantees", the direct path: a new attempt is offered to its activity's workers by
 * core NATS first (`<p>.tasks.offer.<activity>`); a worker with a free slot takes it and nothing
 * is stored in the tasks stream; when every worker is busy (or none listens) it goes to the stream
 * as before, and is run from there once a slot frees. `WEFT_DIRECT_TASKS=0` keeps every task on
 * the stream. The worker here runs one task at a time (`--concurrency 1`), so a held task makes it
 * busy.
 */

const subjects = new Subjects('weft');
const MODULE = 'test/support/recoveryActivities.ts';

const history = async (stack: Stack, runId: string): Promise<HistoryEvent[]> =>
  (await stack.client.call<{ events: HistoryEvent[] }>(`weft.runs.${runId}.history`, {})).events;

/** One step of `activity` held at gate `key` (the activity returns `{key, execution}`). */
const held = (stack: Stack, activity: string, key: string) => ({
  name: `direct_${key}`,
  steps: [act('held', activity, { input: { dir: stack.dir, key }, timeout: '5m' })],
});

const start = async (stack: Stack, blueprint: unknown): Promise<string> =>
  (await stack.client.call<{ runId: string }>('weft.runs.start', { blueprint })).runId;

/** How many messages the tasks stream has ever stored (its last sequence number). */
const storedTasks = async (jsm: JetStreamManager): Promise<number> =>
  (await jsm.streams.info(subjects.tasksStream)).state.last_seq;

const withStack = (env: NodeJS.ProcessEnv) => {
  const ctx = {} as { stack: Stack; jsm: JetStreamManager };
  beforeAll(async () => {
    ctx.stack = await startStack({ workerModule: MODULE, env });
    // The stack's worker is replaced by one that runs a single task at a time.
    await ctx.stack.worker?.stop();
    ctx.stack.worker = await spawnWeft(
      ['worker', MODULE, '--nats', ctx.stack.nats.url, '--concurrency', '1'],
      /worker serving/,
    );
    ctx.jsm = await jetstreamManager(ctx.stack.client.nc);
  });
  afterAll(() => ctx.stack.stop());
  return ctx;
};

describe('the direct path', () => {
  const ctx = withStack({});

  it('hands a task to a listening worker without the tasks stream, and records its result once', async () => {
    const { stack, jsm } = ctx;
    const runId = await start(stack, held(stack, 'gate_direct', 'direct'));
    await waitFor(() => executionsOf(stack.dir, 'direct') === 1, { message: 'the task running' });
    expect(await storedTasks(jsm), 'nothing stored in the tasks stream').toBe(0);
    openGate(stack.dir, 'direct');
    const summary = await runEnded(stack.client, runId);
    expect(summary.status).toBe('completed');
    const completed = (await history(stack, runId)).filter((e) => e.type === 'StepCompleted');
    expect(completed.map((e) => e.data['output'])).toEqual([{ key: 'direct', execution: 1 }]);
    expect(await storedTasks(jsm)).toBe(0);
  });

  it('puts a task no free worker takes on the tasks stream, where the worker takes it once a slot frees', async () => {
    const { stack, jsm } = ctx;
    const before = await storedTasks(jsm);
    const first = await start(stack, held(stack, 'gate_busy', 'busy_first'));
    await waitFor(() => executionsOf(stack.dir, 'busy_first') === 1, {
      message: 'the first task holding the only slot',
    });
    const second = await start(stack, held(stack, 'gate_busy', 'busy_second'));
    // Refused by the busy worker: stored in the stream, and not run yet.
    await waitFor(async () => (await storedTasks(jsm)) === before + 1, {
      message: 'the second task stored in the tasks stream',
    });
    expect(executionsOf(stack.dir, 'busy_second')).toBe(0);
    openGate(stack.dir, 'busy_first');
    openGate(stack.dir, 'busy_second');
    for (const runId of [first, second])
      expect((await runEnded(stack.client, runId)).status).toBe('completed');
    expect(executionsOf(stack.dir, 'busy_second'), 'run once, from the stream').toBe(1);
    const consumer = () =>
      jsm.consumers.info(subjects.tasksStream, subjects.activityConsumer('gate_busy'));
    expect((await consumer()).delivered.consumer_seq).toBe(1);
    // The worker acknowledges the stream's message once the runtime answered its report, so the
    // run may be seen completed a moment before the acknowledgement lands.
    await waitFor(async () => ((await consumer()).num_ack_pending === 0 ? true : undefined), {
      message: 'the task acknowledged on the stream',
    });
  });
});

describe('a restart while a worker runs a task it took directly', () => {
  const ctx = withStack({});

  it('does not dispatch the task again (the worker says it is running it): it runs once and its result is recorded once', async () => {
    const { stack, jsm } = ctx;
    const runId = await start(stack, held(stack, 'gate_direct', 'restart'));
    await waitFor(() => executionsOf(stack.dir, 'restart') === 1, { message: 'the task running' });
    await stack.runtime.kill9();
    await stack.startRuntime();
    // The new runtime recovered the run (it answers for it) before the gate opens.
    expect((await stack.client.call<{ status: string }>(`weft.runs.${runId}.get`)).status).toBe(
      'running',
    );
    openGate(stack.dir, 'restart');
    expect((await runEnded(stack.client, runId)).status).toBe('completed');
    expect(executionsOf(stack.dir, 'restart'), 'run once').toBe(1);
    expect(await storedTasks(jsm), 'never dispatched again through the stream').toBe(0);
    const completed = (await history(stack, runId)).filter((e) => e.type === 'StepCompleted');
    expect(completed).toHaveLength(1);
  });
});

describe('WEFT_DIRECT_TASKS=0', () => {
  const ctx = withStack({ WEFT_DIRECT_TASKS: '0' });

  it('puts every task on the tasks stream', async () => {
    const { stack, jsm } = ctx;
    const runId = await start(stack, held(stack, 'gate_streamed', 'streamed'));
    await waitFor(() => executionsOf(stack.dir, 'streamed') === 1, { message: 'the task running' });
    expect(await storedTasks(jsm)).toBe(1);
    openGate(stack.dir, 'streamed');
    expect((await runEnded(stack.client, runId)).status).toBe('completed');
  });
});

describe('a task the tasks stream did not take', () => {
  const ctx = withStack({ WEFT_DIRECT_TASKS: '0' });

  it('is published again until JetStream stores it: dispatched while the stream is gone, it runs once a worker makes the stream again, long before its timeout', async () => {
    const { stack, jsm } = ctx;
    // No worker (which would make the stream again at once), and no tasks stream.
    await stack.worker?.stop();
    await jsm.streams.delete(subjects.tasksStream);
    // The step's timeout (and so the reconciler's re-dispatch) is 10 minutes away: only the
    // runtime's own re-publishing can bring the task to the worker within the wait below.
    const runId = await start(stack, {
      name: 'unstored',
      steps: [
        act('only', 'gate_direct', {
          input: { dir: stack.dir, key: 'unstored' },
          timeout: '10m',
        }),
      ],
    });
    openGate(stack.dir, 'unstored');
    // Dispatched (published into no stream) before any stream exists again.
    await waitFor(
      async () =>
        (await history(stack, runId)).some((e) => e.type === 'StepScheduled') || undefined,
      { message: 'the attempt dispatched' },
    );
    await expect(jsm.streams.info(subjects.tasksStream)).rejects.toThrow();
    // A worker starts: it makes the stream and its consumer.
    stack.worker = await spawnWeft(
      ['worker', MODULE, '--nats', stack.nats.url, '--concurrency', '1'],
      /worker serving/,
    );
    await waitFor(
      async () =>
        (await stack.client.call<{ status: string }>(`weft.runs.${runId}.get`)).status ===
          'completed' || undefined,
      { timeoutMs: 30_000, message: 'the run completed' },
    );
    expect(executionsOf(stack.dir, 'unstored'), 'run once').toBe(1);
    expect(await storedTasks(jsm), 'stored once').toBe(1);
  });
});
