import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testStoreKind } from '../support/stores.ts';
import { waitFor } from '../support/wait.ts';
import {
  startStack,
  startWorker,
  type Stack,
  type TestClient,
  type Summary,
  type HistoryEvent,
  act,
  runEnded,
} from '../support/weft.ts';

/**
 * The first durable run end to end: a real nats-server on a random loopback port, the runtime and
 * a worker as separate `weft` processes, the store on disk (sqlite, or PostgreSQL in the
 * integration-postgres project).
 */

let stack: Stack;
let client: TestClient;

const execute = (body: Record<string, unknown>) =>
  client.call<Summary>('weft.runs.execute', { timeoutMs: 20_000, ...body }, 25_000);
const history = async (runId: string) =>
  (await client.call<{ events: HistoryEvent[] }>(`weft.runs.${runId}.history`, {})).events;

beforeAll(async () => {
  stack = await startStack();
  client = stack.client;
});

afterAll(() => stack.stop());

describe(`runs on real NATS and ${testStoreKind()}`, () => {
  it('runs a 3-step pipeline to the right output', async () => {
    const blueprint = {
      name: 'pipeline3',
      steps: [act('first', 'add_field'), act('second', 'add_field'), act('third', 'add_field')],
    };
    const result = await execute({ blueprint, input: { start: 1 } });
    expect(result).toMatchObject({
      status: 'completed',
      output: { start: 1, first: true, second: true, third: true },
    });
    const types = (await history(result.runId)).map((e) => e.type);
    expect(types).toEqual([
      'RunStarted',
      'StepScheduled',
      'StepCompleted',
      'StepScheduled',
      'StepCompleted',
      'StepScheduled',
      'StepCompleted',
      'RunCompleted',
    ]);
  });

  it('gives a diamond DAG its default inputs and output', async () => {
    const blueprint = {
      name: 'diamond',
      steps: [
        act('root', 'echo'),
        act('left', 'echo', { dependsOn: ['root'] }),
        act('right', 'echo', { dependsOn: ['root'] }),
        act('join', 'echo', { dependsOn: ['left', 'right'] }),
      ],
    };
    const result = await execute({ blueprint, input: { x: 1 } });
    const root = { step: 'root', got: { x: 1 } };
    expect(result.status).toBe('completed');
    expect(result.output).toEqual({
      step: 'join',
      got: { left: { step: 'left', got: root }, right: { step: 'right', got: root } },
    });
  });

  it('retries a step that fails twice and succeeds on the third attempt, with one task id', async () => {
    const blueprint = {
      name: 'flaky3',
      defaults: { backoff: { initial: '10ms' } },
      steps: [act('try', 'flaky', { maxAttempts: 3 })],
    };
    const result = await execute({ blueprint, input: 7 });
    expect(result.status).toBe('completed');
    expect(result.output).toMatchObject({ attempt: 3, input: 7, taskId: `${result.runId}:try:1` });
    const events = await history(result.runId);
    expect(events.filter((e) => e.type === 'StepFailed').map((e) => e.data.attempt)).toEqual([
      1, 2,
    ]);
    expect(events.filter((e) => e.type === 'StepCompleted')).toHaveLength(1);
  });

  it('fails the run on a TerminalError without retrying', async () => {
    const blueprint = { name: 'charge', steps: [act('charge', 'declined', { maxAttempts: 5 })] };
    const result = await execute({ blueprint });
    expect(result.status).toBe('failed');
    expect(result.error).toMatchObject({ code: 'step_failed', stepId: 'charge' });
    expect(result.error?.message).toContain('card declined');
    const events = await history(result.runId);
    expect(events.filter((e) => e.type === 'StepScheduled')).toHaveLength(1);
    expect(events[events.length - 1]?.type).toBe('RunFailed');
  });

  it('makes one run when the same run id is started twice', async () => {
    const blueprint = { name: 'once', steps: [act('a', 'echo')] };
    const first = await client.call<{ runId: string; existing: boolean }>('weft.runs.start', {
      blueprint,
      runId: 'same-id-1',
    });
    const second = await client.call<{ runId: string; existing: boolean }>('weft.runs.start', {
      blueprint,
      runId: 'same-id-1',
    });
    expect(first).toMatchObject({ runId: 'same-id-1', existing: false });
    expect(second).toMatchObject({ runId: 'same-id-1', existing: true });
    await waitFor(
      async () => (await client.call<Summary>('weft.runs.same-id-1.get')).status === 'completed',
    );
    expect((await history('same-id-1')).filter((e) => e.type === 'RunStarted')).toHaveLength(1);
  });

  it('starts a run from a plain publish with no reply subject', async () => {
    await client.call('weft.blueprints.put', {
      blueprint: { name: 'published', steps: [act('a', 'echo')] },
    });
    client.nc.publish(
      'weft.runs.start',
      JSON.stringify({ blueprint: 'published', runId: 'plain-publish-1', input: 5 }),
    );
    await waitFor(async () => {
      const reply = await client.request<Summary>('weft.runs.plain-publish-1.get');
      return reply.ok && reply.data?.status === 'completed';
    });
    expect((await client.call<Summary>('weft.runs.plain-publish-1.get')).output).toEqual({
      step: 'a',
      got: 5,
    });
  });
});

describe('results handed straight to the runtime (tasks.report)', () => {
  it('records a reported result once, also when the same result reaches the results stream, and refuses a malformed one', async () => {
    const blueprint = { name: 'reported', steps: [act('only', 'served_by_nobody')] };
    const started = await client.call<{ runId: string }>('weft.runs.start', {
      blueprint,
      input: {},
    });
    const scheduled = await waitFor(async () =>
      (await history(started.runId)).find((e) => e.type === 'StepScheduled'),
    );
    if (scheduled === undefined) throw new Error('no StepScheduled');
    const { taskId, attempt } = scheduled.data as { taskId: string; attempt: number };

    const malformed = await client.nc.request(
      `weft.tasks.report.${started.runId}`,
      JSON.stringify({ taskId }),
      { timeout: 5000 },
    );
    expect(malformed.json()).toMatchObject({ ok: false });

    const result = {
      taskId,
      runId: started.runId,
      stepId: 'only',
      attempt,
      ok: true,
      output: { reported: true },
    };
    const accepted = await client.nc.request(
      `weft.tasks.report.${started.runId}`,
      JSON.stringify(result),
      { timeout: 5000 },
    );
    expect(accepted.json()).toEqual({ ok: true });
    // The same result again through the stream (a worker whose reply was lost falls back to it).
    client.nc.publish(`weft.tasks.result.${started.runId}`, JSON.stringify(result));
    const again = await client.nc.request(
      `weft.tasks.report.${started.runId}`,
      JSON.stringify(result),
      { timeout: 5000 },
    );
    expect(again.json()).toEqual({ ok: true });

    const summary = await waitFor(async () => {
      const s = await client.call<Summary>(`weft.runs.${started.runId}.get`);
      return s.status === 'completed' ? s : undefined;
    });
    expect(summary?.output).toEqual({ reported: true });
    // Let the stream's copy be consumed before counting.
    await waitFor(async () => {
      const info = await client.nc.request('$JS.API.STREAM.INFO.WEFT_RESULTS', '', {
        timeout: 5000,
      });
      return info.json<{ state: { messages: number } }>().state.messages === 0 ? true : undefined;
    });
    const completed = (await history(started.runId)).filter((e) => e.type === 'StepCompleted');
    expect(completed).toHaveLength(1);
  });

  it('fails the attempt with invalid_result when a result is nested too deep to record, instead of refusing it forever', async () => {
    const blueprint = {
      name: 'deep_result',
      steps: [act('only', 'served_by_nobody', { maxAttempts: 3 })],
    };
    const started = await client.call<{ runId: string }>('weft.runs.start', { blueprint });
    const scheduled = await waitFor(async () =>
      (await history(started.runId)).find((e) => e.type === 'StepScheduled'),
    );
    const { taskId, attempt } = scheduled?.data as { taskId: string; attempt: number };
    const deep = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
    const reply = await client.nc.request(
      `weft.tasks.report.${started.runId}`,
      `{"taskId":${JSON.stringify(taskId)},"runId":"${started.runId}","stepId":"only","attempt":${attempt},"ok":true,"output":${deep}}`,
      { timeout: 10_000 },
    );
    expect(reply.json()).toEqual({ ok: true });
    const summary = await runEnded(client, started.runId);
    expect(summary.status).toBe('failed');
    const failed = (await history(started.runId)).filter((e) => e.type === 'StepFailed');
    // Not retried: the same output would fail the same way.
    expect(failed).toHaveLength(1);
    expect(failed[0]?.data).toMatchObject({
      taskId,
      attempt,
      error: { code: 'invalid_result', retryable: false },
    });
    expect(JSON.stringify(failed[0]?.data)).toContain('more than 200 levels deep');
  });
});

describe('errors come back as documented', () => {
  it('blueprint_not_found', async () => {
    const reply = await client.request('weft.runs.start', { blueprint: 'no_such_blueprint' });
    expect(reply.ok).toBe(false);
    expect(reply.error?.code).toBe('blueprint_not_found');
    expect(reply.headers?.get('Nats-Service-Error-Code')).toBe('404');
    expect(reply.headers?.get('Nats-Service-Error')).toContain('no_such_blueprint');
  });

  it('invalid_blueprint with diagnostics, and nothing appended', async () => {
    const blueprint = {
      name: 'bad',
      steps: [act('a', 'echo', { dependsOn: ['b'] }), act('b', 'echo', { dependsOn: ['a'] })],
    };
    const reply = await client.request('weft.runs.start', { blueprint, runId: 'never-started' });
    expect(reply.error?.code).toBe('invalid_blueprint');
    const diagnostics = (reply.error?.details as { diagnostics: { code: string; path: string }[] })
      .diagnostics;
    expect(diagnostics.map((d) => d.code)).toContain('cycle');
    expect((await client.request('weft.runs.never-started.get')).error?.code).toBe('run_not_found');
    const validated = await client.call<{ valid: boolean; diagnostics: unknown[] }>(
      'weft.blueprints.validate',
      { blueprint },
    );
    expect(validated.valid).toBe(false);
  });

  it('refuses an onError that jumps back to an earlier step (it would deadlock), naming the cycle', async () => {
    const blueprint = {
      name: 'jumps_back',
      steps: [act('prepare', 'echo'), act('charge', 'declined', { onError: 'prepare' })],
    };
    for (const subject of ['weft.blueprints.put', 'weft.runs.start']) {
      const reply = await client.request(subject, { blueprint, runId: 'jumps-back' });
      expect(reply.error?.code, subject).toBe('invalid_blueprint');
      expect(
        (reply.error?.details as { diagnostics: unknown[] }).diagnostics,
        subject,
      ).toContainEqual(
        expect.objectContaining({
          path: '$.steps[1].onError',
          code: 'cycle',
          severity: 'error',
          message: expect.stringContaining('charge → prepare → charge') as unknown,
        }),
      );
    }
    expect((await client.request('weft.runs.jumps-back.get')).error?.code).toBe('run_not_found');
    expect((await client.request('weft.blueprints.get', { name: 'jumps_back' })).error?.code).toBe(
      'blueprint_not_found',
    );
  });

  it('invalid_json and invalid_request, never silence', async () => {
    for (const subject of [
      'weft.runs.start',
      'weft.blueprints.put',
      'weft.runs.list',
      'weft.runs.x1.history',
    ]) {
      const reply = await client.raw(subject, '{not json');
      expect(reply.error?.code, subject).toBe('invalid_json');
      expect(reply.headers?.get('Nats-Service-Error-Code')).toBe('400');
    }
    expect((await client.request('weft.runs.start', { blueprint: 42 })).error?.code).toBe(
      'invalid_request',
    );
    expect(
      (await client.request('weft.runs.start', { blueprint: 'x', runId: 'has space' })).error?.code,
    ).toBe('invalid_request');
    expect((await client.request('weft.blueprints.get', { name: 'a.b' })).error?.code).toBe(
      'invalid_request',
    );
    expect((await client.request('weft.runs.nope-nope.get')).error?.code).toBe('run_not_found');
    // A cursor is only what a reply gave (PostgreSQL would refuse a NUL in it as a store error).
    for (const cursor of ['2030-01-01T00:00:00.000Z|a\u0000b', 'no bar', '']) {
      const reply = await client.request('weft.runs.list', { cursor });
      expect(reply.error?.code, JSON.stringify(cursor)).toBe('invalid_request');
    }
  });
});

describe('blueprints are versioned', () => {
  it('puts, gets, lists and deletes', async () => {
    const v1 = { name: 'versioned', steps: [act('a', 'echo')] };
    const v2 = { name: 'versioned', steps: [act('a', 'echo'), act('b', 'echo')] };
    expect(await client.call('weft.blueprints.put', { blueprint: v1 })).toMatchObject({
      name: 'versioned',
      version: 1,
      created: true,
    });
    expect(await client.call('weft.blueprints.put', { blueprint: v1 })).toMatchObject({
      version: 1,
      created: false,
    });
    expect(await client.call('weft.blueprints.put', { blueprint: v2 })).toMatchObject({
      version: 2,
      created: true,
    });
    expect(
      await client.call('weft.blueprints.get', { name: 'versioned', version: 1 }),
    ).toMatchObject({ version: 1, blueprint: v1 });
    expect(await client.call('weft.blueprints.get', { name: 'versioned' })).toMatchObject({
      version: 2,
      blueprint: v2,
    });
    const pinned = await execute({ blueprint: 'versioned', version: 1, input: 1 });
    expect(pinned.output).toEqual({ step: 'a', got: 1 });
    const { blueprints } = await client.call<{
      blueprints: { name: string; latestVersion: number }[];
    }>('weft.blueprints.list');
    expect(blueprints).toContainEqual({ name: 'versioned', latestVersion: 2 });
    expect(await client.call('weft.blueprints.delete', { name: 'versioned' })).toEqual({
      deleted: true,
    });
    expect((await client.request('weft.blueprints.get', { name: 'versioned' })).error?.code).toBe(
      'blueprint_not_found',
    );
    expect((await client.call<Summary>(`weft.runs.${pinned.runId}.get`)).status).toBe('completed');
  });

  it('lists runs filtered by status and blueprint', async () => {
    const [failed, completed] = await Promise.all([
      execute({ blueprint: { name: 'listed_fail', steps: [act('charge', 'declined')] } }),
      execute({ blueprint: { name: 'listed_ok', steps: [act('a', 'echo')] } }),
    ]);
    expect([failed.status, completed.status]).toEqual(['failed', 'completed']);
    const list = async (filter: Record<string, unknown>) =>
      (await client.call<{ runs: Summary[] }>('weft.runs.list', filter)).runs;

    const failedRuns = await list({ status: 'failed' });
    expect(failedRuns.map((r) => r.runId)).toContain(failed.runId);
    expect(failedRuns.map((r) => r.runId)).not.toContain(completed.runId);
    expect(failedRuns.every((r) => r.status === 'failed')).toBe(true);
    const byBlueprint = await list({ blueprint: 'listed_ok' });
    expect(byBlueprint.map((r) => [r.runId, r.blueprint.name])).toEqual([
      [completed.runId, 'listed_ok'],
    ]);
    expect(await list({ blueprint: 'listed_ok', status: 'failed' })).toEqual([]);
  });
});

describe('durability', () => {
  it('runs a task sent while no worker is up once one comes up', async () => {
    await stack.worker?.stop();
    stack.worker = undefined;
    const started = await client.call<{ runId: string }>('weft.runs.start', {
      blueprint: { name: 'later', steps: [act('a', 'echo')] },
      input: 'queued',
    });
    expect((await client.call<Summary>(`weft.runs.${started.runId}.get`)).status).toBe('running');
    stack.worker = await startWorker(stack.nats.url);
    await waitFor(
      async () =>
        (await client.call<Summary>(`weft.runs.${started.runId}.get`)).status === 'completed',
      { timeoutMs: 20_000 },
    );
    expect((await client.call<Summary>(`weft.runs.${started.runId}.get`)).output).toEqual({
      step: 'a',
      got: 'queued',
    });
  });

  it('keeps a completed run after the runtime restarts on the same store', async () => {
    const result = await execute({
      blueprint: { name: 'durable', steps: [act('a', 'echo')] },
      input: 'kept',
      runId: 'durable-1',
    });
    expect(result.status).toBe('completed');
    const before = await history('durable-1');
    await stack.restartRuntime();
    const summary = await client.call<Summary>('weft.runs.durable-1.get');
    expect(summary).toMatchObject({
      runId: 'durable-1',
      status: 'completed',
      output: { step: 'a', got: 'kept' },
    });
    expect(await history('durable-1')).toEqual(before);
    const again = await client.call<{ existing: boolean }>('weft.runs.start', {
      blueprint: 'durable',
      runId: 'durable-1',
    });
    expect(again.existing).toBe(true);
  });
});
