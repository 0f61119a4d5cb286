import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Subjects } from '../../src/wire/subjects.ts';
import { executionsIn } from '../support/executionLog.ts';
import { waitFor } from '../support/wait.ts';
import {
  runEnded,
  startStack,
  startWorker,
  type HistoryEvent,
  type Stack,
  type WeftProcess,
} from '../support/weft.ts';

/**
 * README "Guarantees", "Every attempt has a deadline": a step's `scheduleTimeout` (no worker took
 * the attempt in time → `no_worker`) and its `timeout` (a worker took it and gave no result in
 * time → `timeout`) are enforced by the runtime, and both follow the step's retry policy and
 * `onError`. The activities of `test/support/executions.ts` write every execution to a file; the
 * stack's own worker does not serve them, so until this file starts one, no worker does.
 */

const subjects = new Subjects('weft');
let stack: Stack;
let worker: WeftProcess | undefined;
let log: string;

beforeAll(async () => {
  stack = await startStack();
  log = join(stack.dir, 'executions.log');
});

afterAll(async () => {
  await worker?.stop();
  await stack.stop();
});

const history = async (runId: string): Promise<HistoryEvent[]> =>
  (
    await stack.client.call<{ events: HistoryEvent[] }>(`weft.runs.${runId}.history`, {
      limit: 1000,
    })
  ).events;

const failures = (events: readonly HistoryEvent[]) =>
  events
    .filter((e) => e.type === 'StepFailed')
    .map((e) => {
      const error = e.data['error'] as { code: string; message: string };
      return { attempt: e.data['attempt'], code: error.code, message: error.message };
    });

describe('the runtime enforces every attempt deadline', () => {
  it('a run on an activity no worker serves fails with no_worker after scheduleTimeout, each attempt retried', async () => {
    const blueprint = {
      name: 'unserved',
      steps: [
        {
          id: 'lonely',
          type: 'activity',
          activity: 'recorded',
          scheduleTimeout: '1s',
          maxAttempts: 2,
          backoff: { initial: '100ms' },
          input: { log },
        },
      ],
    };
    await stack.client.call('weft.runs.start', { blueprint, runId: 'unserved-1' });
    const summary = await runEnded(stack.client, 'unserved-1');
    expect(summary.status).toBe('failed');
    expect(summary.error?.code).toBe('step_failed');
    expect((summary.error?.details as { error: { code: string } }).error.code).toBe('no_worker');
    const events = await history('unserved-1');
    expect(failures(events).map(({ attempt, code }) => ({ attempt, code }))).toEqual([
      { attempt: 1, code: 'no_worker' },
      { attempt: 2, code: 'no_worker' },
    ]);
    expect(events.some((e) => e.type === 'StepStarted')).toBe(false);
    // Nothing of it is left for a worker that starts later (the run's tasks were purged).
    const jsm = await jetstreamManager(stack.client.nc);
    await waitFor(async () => (await jsm.streams.info(subjects.tasksStream)).state.messages === 0, {
      message: "the failed run's tasks left WEFT_TASKS",
    });
  });

  it('a no_worker failure goes to onError like any failure', async () => {
    const blueprint = {
      name: 'unserved_continue',
      steps: [
        {
          id: 'lonely',
          type: 'activity',
          activity: 'recorded',
          scheduleTimeout: '500ms',
          maxAttempts: 1,
          onError: 'continue',
          input: { log },
        },
      ],
    };
    await stack.client.call('weft.runs.start', { blueprint, runId: 'unserved-2' });
    const summary = await runEnded(stack.client, 'unserved-2');
    expect(summary.status).toBe('completed');
    expect(summary.output).toMatchObject({ error: { code: 'no_worker', retryable: true } });
  });

  it('completes when a worker starts within scheduleTimeout, and that worker runs nothing of the runs that failed', async () => {
    const blueprint = {
      name: 'served_in_time',
      steps: [
        {
          id: 'taken',
          type: 'activity',
          activity: 'recorded',
          scheduleTimeout: '30s',
          maxAttempts: 1,
          input: { log },
        },
      ],
    };
    await stack.client.call('weft.runs.start', { blueprint, runId: 'in-time' });
    await waitFor(async () => (await history('in-time')).some((e) => e.type === 'StepScheduled'), {
      message: 'the step was scheduled',
    });
    worker = await startWorker(stack.nats.url, 'test/support/executions.ts');
    const summary = await runEnded(stack.client, 'in-time');
    expect(summary.status).toBe('completed');
    const types = (await history('in-time')).map((e) => e.type);
    // The start was recorded before the result (the step opted in with scheduleTimeout).
    expect(types.indexOf('StepStarted')).toBeGreaterThan(types.indexOf('StepScheduled'));
    expect(types.indexOf('StepCompleted')).toBeGreaterThan(types.indexOf('StepStarted'));
    expect(executionsIn(log)).toEqual(['in-time:taken:1/1']);
  });

  it('get_status says, for each active step, whether a worker serves it, whether one took it and how long it has waited', async () => {
    interface Status {
      readonly activeSteps: readonly string[];
      readonly tasks: readonly {
        stepId: string;
        attempt: number;
        activity: string;
        served?: boolean;
        started: boolean;
        waitedMs: number;
      }[];
    }
    const status = (runId: string) =>
      stack.client.call<Status>(`weft.runs.${runId}.query.get_status`, {});
    const blueprint = {
      name: 'status_of_tasks',
      steps: [
        { id: 'orphan', type: 'activity', activity: 'nobody_serves_this', dependsOn: [] },
        // Served by the worker started above; it hangs until the run is cancelled.
        { id: 'busy', type: 'activity', activity: 'recorded_hang', dependsOn: [], input: { log } },
      ],
    };
    worker ??= await startWorker(stack.nats.url, 'test/support/executions.ts');
    await stack.client.call('weft.runs.start', { blueprint, runId: 'status-1' });
    const first = await waitFor(
      async () => {
        const s = await status('status-1');
        return s.tasks.find((t) => t.stepId === 'busy')?.started === true ? s : undefined;
      },
      { message: 'the busy step was taken by the worker' },
    );
    expect(first?.tasks.map(({ waitedMs: _, ...t }) => t)).toEqual([
      {
        stepId: 'orphan',
        attempt: 1,
        activity: 'nobody_serves_this',
        served: false,
        started: false,
      },
      { stepId: 'busy', attempt: 1, activity: 'recorded_hang', served: true, started: true },
    ]);
    const waited = (s: Status | undefined) => s?.tasks.find((t) => t.stepId === 'orphan')?.waitedMs;
    const before = waited(first) ?? -1;
    expect(before).toBeGreaterThanOrEqual(0);
    // The wait keeps counting while no worker takes it.
    await waitFor(async () => (waited(await status('status-1')) ?? -1) > before, {
      message: "the orphan's waitedMs grew",
    });
    await stack.client.call('weft.runs.status-1.cancel', { reason: 'test over' });
    expect((await status('status-1')).tasks).toEqual([]);
  });

  it('a step whose worker hangs past timeout fails with timeout by the runtime and is retried', async () => {
    const blueprint = {
      name: 'hung_worker',
      steps: [
        {
          id: 'stuck',
          type: 'activity',
          activity: 'recorded_block',
          timeout: '1s',
          maxAttempts: 2,
          backoff: { initial: '100ms' },
          input: { log, blockMs: 4000 },
        },
      ],
    };
    await stack.client.call('weft.runs.start', { blueprint, runId: 'hung-1' });
    const summary = await runEnded(stack.client, 'hung-1', 30_000);
    expect(summary.status).toBe('completed');
    expect(summary.output).toEqual({ taskId: 'hung-1:stuck:1', attempt: 2 });
    const events = await history('hung-1');
    const failed = failures(events);
    expect(failed.map(({ attempt, code }) => ({ attempt, code }))).toEqual([
      { attempt: 1, code: 'timeout' },
    ]);
    // The runtime's verdict, not the worker's (its own timer could not run while it hung).
    expect(failed[0]?.message).toContain('enforced by the runtime');
  });

  it('a run whose blueprint timeout passes ends timed_out with RunTimedOut, and its activity is aborted', async () => {
    worker ??= await startWorker(stack.nats.url, 'test/support/executions.ts');
    const blueprint = {
      name: 'run_timeout',
      timeout: '1s',
      steps: [{ id: 'forever', type: 'activity', activity: 'recorded_hang', input: { log } }],
    };
    await stack.client.call('weft.runs.start', { blueprint, runId: 'run-timeout-1' });
    const summary = await runEnded(stack.client, 'run-timeout-1');
    expect(summary.status).toBe('timed_out');
    expect(summary.error?.code).toBe('timed_out');
    const events = await history('run-timeout-1');
    expect(events.at(-1)).toMatchObject({ type: 'RunTimedOut', data: { timeoutMs: 1000 } });
    // It ended by the deadline, not by its step: the activity was taken and never answered.
    expect(events.map((e) => e.type)).not.toContain('StepCompleted');
    const listed = await stack.client.call<{ runs: { runId: string }[] }>('weft.runs.list', {
      status: 'timed_out',
    });
    expect(listed.runs.map((r) => r.runId)).toEqual(['run-timeout-1']);
    // The worker running it was told to abort it.
    await waitFor(() => executionsIn(`${log}.aborted`).includes('run-timeout-1:forever:1/1'), {
      message: 'the activity was aborted',
    });
  });
});
