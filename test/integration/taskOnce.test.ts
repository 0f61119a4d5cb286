import { join } from 'node:path';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { headers } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESEND_HEADER, STALE_TASK_MS, type TaskMessage } from '../../src/wire/protocol.ts';
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
 * README "Guarantees", "A task executes once per attempt": the tasks of an ended run leave the
 * queue, and a worker asks a runtime before it runs a task that may be stale (older than
 * STALE_TASK_MS, redelivered, or a re-dispatched copy), skipping one whose attempt was decided or
 * whose run has ended. The activity `recorded` writes every execution to a file.
 */

const subjects = new Subjects('weft');
let stack: Stack;
let jsm: JetStreamManager;
let worker: WeftProcess | undefined;
let log: string;

beforeAll(async () => {
  // The stack's own worker serves the support activities, not `recorded`.
  stack = await startStack();
  jsm = await jetstreamManager(stack.client.nc);
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

/** The task of the run's scheduled step `stepId`, as the runtime published it. */
const scheduledTask = async (runId: string, stepId: string): Promise<TaskMessage> => {
  const event = await waitFor(
    async () =>
      (await history(runId)).find((e) => e.type === 'StepScheduled' && e.data['stepId'] === stepId),
    { message: `${stepId} of ${runId} scheduled` },
  );
  if (event === undefined) throw new Error('not scheduled');
  const d = event.data;
  return {
    taskId: String(d['taskId']),
    runId,
    stepId,
    attempt: Number(d['attempt']),
    activity: String(d['activity']),
    input: d['input'] as TaskMessage['input'],
    timeoutMs: Number(d['timeoutMs']),
  };
};

/** The stored message of this attempt in WEFT_TASKS, or null. */
const stored = (task: TaskMessage) =>
  jsm.streams.getMessage(subjects.tasksStream, { last_by_subj: subjects.task(task) });

/** Publishes a copy of a task into the tasks stream, as a lost or late publish would land. */
const publishCopy = async (task: TaskMessage, resend: boolean): Promise<void> => {
  const h = headers();
  if (resend) h.set(RESEND_HEADER, '1');
  stack.client.nc.publish(subjects.task(task), JSON.stringify(task), { headers: h });
  await waitFor(async () => (await stored(task)) !== null, { message: 'the copy is stored' });
};

const lineOf = (task: TaskMessage) => `${task.taskId}/${task.attempt}`;

describe('a task executes once per attempt', () => {
  it("a cancelled run's queued tasks leave the queue and a worker started later runs none of them", async () => {
    const blueprint = {
      name: 'once_cancelled',
      steps: [{ id: 'only', type: 'activity', activity: 'recorded', input: { log } }],
    };
    await stack.client.call('weft.runs.start', { blueprint, runId: 'once-cancelled' });
    const task = await scheduledTask('once-cancelled', 'only');
    await waitFor(async () => (await stored(task)) !== null, { message: 'the task is queued' });

    await stack.client.call('weft.runs.once-cancelled.cancel', { reason: 'test' });
    await waitFor(async () => (await stored(task)) === null, {
      message: "the cancelled run's task was purged from WEFT_TASKS",
    });

    // A copy that escaped the purge (e.g. a publish still on its way) waits longer than
    // STALE_TASK_MS, so the worker asks before running it.
    await publishCopy(task, false);
    await waitFor(
      async () => Date.now() - ((await stored(task))?.time.getTime() ?? Date.now()) > STALE_TASK_MS,
      { message: 'the copy is older than STALE_TASK_MS' },
    );

    worker = await startWorker(stack.nats.url, 'test/support/executions.ts');
    await waitFor(async () => (await stored(task)) === null, {
      message: 'the worker took the stale copy off the queue',
    });
    // A run started after it completes on the same worker: the queue is served, and only it ran.
    await stack.client.call('weft.runs.start', {
      blueprint: { ...blueprint, name: 'once_after' },
      runId: 'once-after',
    });
    expect((await runEnded(stack.client, 'once-after')).status).toBe('completed');
    const after = await scheduledTask('once-after', 'only');
    expect(executionsIn(log)).toEqual([lineOf(after)]);
    expect(worker.output()).toContain(`skipping ${task.taskId} attempt 1`);
  });

  it('a worker skips a re-dispatched copy of an attempt that was already decided', async () => {
    const blueprint = {
      name: 'once_decided',
      steps: [
        { id: 'first', type: 'activity', activity: 'recorded', input: { log } },
        { id: 'gate', type: 'wait', signal: 'go' },
      ],
    };
    await stack.client.call('weft.runs.start', { blueprint, runId: 'once-decided' });
    const task = await scheduledTask('once-decided', 'first');
    await waitFor(
      async () => (await history('once-decided')).some((e) => e.type === 'StepCompleted'),
      { message: 'the first step completed' },
    );

    // The run still runs (it waits for `go`), but this attempt is decided.
    await publishCopy(task, true);
    await waitFor(async () => (await stored(task)) === null, {
      message: 'the worker took the copy off the queue',
    });
    await stack.client.call('weft.runs.once-decided.signal.go', {});
    expect((await runEnded(stack.client, 'once-decided')).status).toBe('completed');
    expect(executionsIn(log).filter((line) => line === lineOf(task))).toHaveLength(1);
    expect(worker?.output()).toContain(`skipping ${task.taskId} attempt 1`);
  });
});
