import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Subjects } from '../../src/wire/subjects.ts';
import { sleep, waitFor } from '../support/wait.ts';
import {
  act,
  runEnded,
  startStack,
  type HistoryEvent,
  type Reply,
  type Stack,
} from '../support/weft.ts';

/**
 * README "Security", Limits: what one request may cost. A start's input, a signal's payload, a
 * query's args and an activity's result over `--max-payload` (`WEFT_MAX_PAYLOAD`) are refused
 * with `payload_too_large` before anything is stored (a result fails its attempt); a run stores at
 * most `--max-signals` signals; `--max-starts-per-second` and `--max-running` answer a start past
 * them with a fast `unavailable`; a result for a task its run never sent is refused, nothing
 * appended, while a late repeat of a settled one is still acknowledged.
 */

const subjects = new Subjects('weft');
const MODULE = 'test/support/limitsActivities.ts';
const CAP = 4096;
const MAX_SIGNALS = 5;

const waiting = {
  name: 'waiting',
  signals: [{ name: 'note', handler: 'append' }],
  queries: [{ name: 'notes', expr: '{% $data.note %}' }],
  steps: [{ id: 'w', type: 'wait', signal: 'go' }],
};

const history = async (stack: Stack, runId: string): Promise<HistoryEvent[]> =>
  (await stack.client.call<{ events: HistoryEvent[] }>(subjects.run(runId, 'history'), {})).events;

const expectNoRun = async (stack: Stack, runId: string) => {
  expect((await stack.client.request(subjects.run(runId, 'get'))).error?.code).toBe(
    'run_not_found',
  );
  expect((await stack.client.request(subjects.run(runId, 'history'))).error?.code).toBe(
    'run_not_found',
  );
};

describe('payload caps, the signals cap and results for tasks never sent', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({
      workerModule: MODULE,
      env: { WEFT_MAX_PAYLOAD: String(CAP), WEFT_MAX_SIGNALS: String(MAX_SIGNALS) },
    });
  });

  afterAll(() => stack.stop());

  it('refuses a start or execute whose input is over the cap, naming its size and the cap, and stores no run', async () => {
    const input = { data: 'x'.repeat(CAP) };
    const bytes = JSON.stringify(input).length;
    for (const verb of ['start', 'execute'] as const) {
      const runId = `big-input-${verb}`;
      const reply = await stack.client.request(subjects.runs(verb), {
        blueprint: waiting,
        runId,
        input,
      });
      expect(reply.error).toMatchObject({
        code: 'payload_too_large',
        details: { bytes, maxPayload: CAP },
      });
      expect(reply.error?.message).toContain(`${bytes} bytes, over the cap of ${CAP} bytes`);
      expect(reply.headers?.get('Nats-Service-Error-Code')).toBe('413');
      await expectNoRun(stack, runId);
    }
    // Within the cap, the same start is taken.
    const ok = await stack.client.call<{ runId: string }>(subjects.runs('start'), {
      blueprint: waiting,
      runId: 'small-input',
      input: { data: 'x'.repeat(CAP - 100) },
    });
    expect(ok.runId).toBe('small-input');
  });

  it('refuses a signal payload or query args over the cap; the run history is unchanged', async () => {
    const runId = 'capped-signals';
    await stack.client.call(subjects.runs('start'), { blueprint: waiting, runId });
    const before = await history(stack, runId);
    const signal = await stack.client.request(subjects.signal(runId, 'note'), {
      data: 'y'.repeat(CAP),
    });
    expect(signal.error).toMatchObject({
      code: 'payload_too_large',
      details: { maxPayload: CAP },
    });
    expect(signal.error?.message).toContain("the payload of signal 'note'");
    const query = await stack.client.request(subjects.query(runId, 'notes'), {
      args: { data: 'z'.repeat(CAP) },
    });
    expect(query.error).toMatchObject({ code: 'payload_too_large', details: { maxPayload: CAP } });
    expect(query.error?.message).toContain('the query args');
    expect(await history(stack, runId)).toEqual(before);
  });

  it('fails an attempt whose result is over the cap with payload_too_large, not retried, and never stores the output', async () => {
    const runId = 'big-result';
    await stack.client.call(subjects.runs('start'), {
      blueprint: {
        name: 'big_result',
        steps: [act('make', 'blob', { input: { bytes: CAP * 4 }, maxAttempts: 3 })],
      },
      runId,
    });
    const summary = await runEnded(stack.client, runId);
    expect(summary.status).toBe('failed');
    const events = await history(stack, runId);
    expect(events.filter((e) => e.type === 'StepCompleted')).toEqual([]);
    const failed = events.filter((e) => e.type === 'StepFailed');
    expect(failed).toHaveLength(1);
    expect(failed[0]?.data).toMatchObject({
      stepId: 'make',
      attempt: 1,
      error: { code: 'payload_too_large', retryable: false },
    });
    const message = (failed[0]?.data.error as { message: string }).message;
    expect(message).toContain(`${CAP * 4 + 2} bytes, over the cap of ${CAP} bytes`);
    expect(JSON.stringify(events)).not.toContain('x'.repeat(CAP));
  });

  it(`refuses the signal past --max-signals (${MAX_SIGNALS}) with payload_too_large, appending nothing; a repeated one is still accepted`, async () => {
    const runId = 'many-signals';
    await stack.client.call(subjects.runs('start'), { blueprint: waiting, runId });
    for (let i = 1; i <= MAX_SIGNALS; i++)
      await stack.client.call(subjects.signal(runId, 'note'), { signalId: `n${i}`, i });
    const before = await history(stack, runId);
    const refused = await stack.client.request(subjects.signal(runId, 'note'), {
      signalId: 'one-too-many',
    });
    expect(refused.error).toMatchObject({
      code: 'payload_too_large',
      details: { runId, signals: MAX_SIGNALS, maxSignals: MAX_SIGNALS },
    });
    // A signal already recorded, sent again, is answered as before.
    expect(
      await stack.client.call(subjects.signal(runId, 'note'), { signalId: 'n2', i: 2 }),
    ).toEqual({ accepted: true });
    const after = await history(stack, runId);
    expect(after).toEqual(before);
    expect(after.filter((e) => e.type === 'SignalReceived')).toHaveLength(MAX_SIGNALS);
  });

  it('refuses a result for a task its run never sent, on either path, appending nothing; a late repeat of a settled result is acknowledged', async () => {
    const runId = 'forged';
    await stack.client.call(subjects.runs('start'), {
      blueprint: { name: 'unserved', steps: [act('only', 'served_by_nobody', { maxAttempts: 3 })] },
      runId,
    });
    const scheduled = await waitFor(async () =>
      (await history(stack, runId)).find((e) => e.type === 'StepScheduled'),
    );
    const { taskId, attempt } = scheduled?.data as { taskId: string; attempt: number };
    const before = await history(stack, runId);
    const result = (fields: Record<string, unknown>) =>
      JSON.stringify({
        taskId,
        runId,
        stepId: 'only',
        attempt,
        ok: true,
        output: 'forged',
        ...fields,
      });
    const report = async (body: string) =>
      (await stack.client.nc.request(subjects.report(runId), body, { timeout: 5000 })).json<
        Reply & { error?: unknown; message?: string }
      >();

    for (const forged of [
      { taskId: `${runId}:only:2` },
      { taskId: 'made-up' },
      { taskId: `other:only:1` },
      { attempt: attempt + 1 },
    ]) {
      const reply = await report(result(forged));
      expect(reply, JSON.stringify(forged)).toMatchObject({ ok: false, error: 'not_sent' });
      expect(reply.message).toContain('was sent');
    }
    expect(
      await report(result({ runId: 'no-such-run', taskId: 'no-such-run:only:1' })),
    ).toMatchObject({ ok: false, error: 'not_sent' });
    // The results stream: refused too (terminated: there is no reply to give), and logged.
    stack.client.nc.publish(subjects.result(runId), result({ taskId: `${runId}:only:7` }));
    await waitFor(() =>
      stack.runtime.output().includes(`refused a result on ${subjects.result(runId)}`)
        ? true
        : undefined,
    );
    expect(stack.runtime.output()).toContain(`refused a result on ${subjects.report(runId)}`);
    expect(await history(stack, runId)).toEqual(before);

    // The real result, then the same again (a worker retrying after a lost reply): both acknowledged.
    expect(await report(result({ output: 'real' }))).toEqual({ ok: true });
    expect(await report(result({ output: 'real' }))).toEqual({ ok: true });
    const summary = await runEnded(stack.client, runId);
    expect(summary).toMatchObject({ status: 'completed', output: 'real' });
    expect((await history(stack, runId)).filter((e) => e.type === 'StepCompleted')).toHaveLength(1);
  });

  it('a worker given a task no run sent (forged into the tasks stream) is told not_sent, says so and sends the result nowhere else', async () => {
    const runId = 'never-started';
    const task = {
      taskId: `${runId}:only:1`,
      runId,
      stepId: 'only',
      attempt: 1,
      activity: 'echo',
      input: { forged: true },
      timeoutMs: 5_000,
    };
    const jsm = await jetstreamManager(stack.client.nc);
    const results = async () => (await jsm.streams.info(subjects.resultsStream)).state.last_seq;
    const before = await results();
    await jetstream(stack.client.nc).publish(subjects.task(task), JSON.stringify(task));
    const said = `result of ${task.taskId} attempt 1 refused: result refused`;
    await waitFor(() => (stack.worker?.output().includes(said) === true ? true : undefined), {
      message: 'the worker says its result was refused',
    });
    // Not handed to the results stream as well (where it would only be refused again), and the
    // task is acknowledged: no longer in the tasks stream for anyone.
    expect(await results()).toBe(before);
    const left = async () =>
      (await jsm.streams.info(subjects.tasksStream, { subjects_filter: subjects.task(task) })).state
        .subjects?.[subjects.task(task)] ?? 0;
    await waitFor(async () => ((await left()) === 0 ? true : undefined), {
      message: 'the forged task is gone from the tasks stream',
    });
    await expectNoRun(stack, runId);
  });
});

describe('start limits', () => {
  const RATE = 3;
  const MAX_RUNNING = 2;
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({
      workerModule: MODULE,
      env: {
        WEFT_MAX_STARTS_PER_SECOND: String(RATE),
        WEFT_MAX_RUNNING: String(MAX_RUNNING),
      },
    });
  });

  afterAll(() => stack.stop());

  /** A start and how long its answer took. */
  const timedStart = async (runId: string, blueprint: unknown) => {
    const began = performance.now();
    const reply = await stack.client.request(subjects.runs('start'), { blueprint, runId });
    return { runId, reply, ms: performance.now() - began };
  };

  it(`answers starts past ${RATE} per second with a fast unavailable saying when to retry, storing nothing`, async () => {
    const done = { name: 'done_at_once', steps: [{ id: 'end', type: 'succeed' }] };
    await sleep(1100);
    const answers = await Promise.all(
      Array.from({ length: 4 * RATE }, (_, i) => timedStart(`burst-${i}`, done)),
    );
    const taken = answers.filter((a) => a.reply.ok);
    const refused = answers.filter((a) => !a.reply.ok);
    // The burst, and whatever the bucket refilled while the requests were being answered.
    expect(taken.length).toBeGreaterThanOrEqual(RATE);
    expect(refused.length).toBeGreaterThanOrEqual(2 * RATE);
    for (const { reply, ms } of refused) {
      expect(reply.error).toMatchObject({
        code: 'unavailable',
        details: { limit: 'max-starts-per-second' },
      });
      expect(reply.error?.message).toContain('--max-starts-per-second');
      const { retryAfterMs } = reply.error?.details as { retryAfterMs: number };
      expect(retryAfterMs).toBeGreaterThan(0);
      expect(retryAfterMs).toBeLessThanOrEqual(1000);
      expect(ms).toBeLessThan(2000);
    }
    for (const { runId } of refused) await expectNoRun(stack, runId);
    for (const { runId } of taken)
      expect((await runEnded(stack.client, runId)).status).toBe('completed');

    // After the wait it names, a start is taken again.
    const wait = Math.max(
      ...refused.map((a) => (a.reply.error?.details as { retryAfterMs: number }).retryAfterMs),
    );
    await sleep(wait);
    expect((await timedStart('after-wait', done)).reply.ok).toBe(true);
  });

  it(`answers a start past ${MAX_RUNNING} running runs with a fast unavailable, until one ends`, async () => {
    await sleep(1100);
    for (let i = 0; i < MAX_RUNNING; i++)
      expect((await timedStart(`running-${i}`, waiting)).reply.ok).toBe(true);
    const refused = await timedStart('one-more', waiting);
    expect(refused.reply.error).toMatchObject({
      code: 'unavailable',
      details: { limit: 'max-running', running: MAX_RUNNING, maxRunning: MAX_RUNNING },
    });
    expect(refused.reply.error?.message).toContain(`--max-running ${MAX_RUNNING}`);
    expect((refused.reply.error?.details as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(
      0,
    );
    expect(refused.ms).toBeLessThan(2000);
    await expectNoRun(stack, 'one-more');
    // A start of a run that exists is answered with it.
    expect((await timedStart('running-0', waiting)).reply).toMatchObject({
      ok: true,
      data: { runId: 'running-0', existing: true },
    });

    await stack.client.call(subjects.run('running-0', 'cancel'), {});
    expect((await timedStart('one-more', waiting)).reply).toMatchObject({
      ok: true,
      data: { runId: 'one-more', existing: false },
    });
  });
});
