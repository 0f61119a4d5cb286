import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { headers } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/wait.ts';
import {
  startStack,
  type Stack,
  type TestClient,
  type Summary,
  type HistoryEvent,
  act,
} from '../support/weft.ts';

/**
 * Timeouts, cancel, durable timers, signals and queries, and hostile input — on a real
 * nats-server with `weft serve` and `weft worker` as separate processes.
 */

let stack: Stack;
let client: TestClient;

const get = (runId: string) => client.call<Summary>(`weft.runs.${runId}.get`);
const history = async (runId: string) =>
  (await client.call<{ events: HistoryEvent[] }>(`weft.runs.${runId}.history`)).events;
const statusIs = (runId: string, status: string) => async () =>
  (await get(runId)).status === status;

beforeAll(async () => {
  stack = await startStack();
  client = stack.client;
});

afterAll(() => stack.stop());

describe('timeouts and cancel', () => {
  it('aborts an activity at its timeout and counts the attempt as failed', async () => {
    const blueprint = {
      name: 'times_out',
      steps: [
        act('wait_forever', 'slow', {
          timeout: '300ms',
          maxAttempts: 2,
          backoff: { initial: '10ms' },
          input: { dir: stack.dir },
        }),
      ],
    };
    const result = await client.call<Summary>(
      'weft.runs.execute',
      { blueprint, timeoutMs: 20_000 },
      25_000,
    );
    expect(result.status).toBe('failed');
    const failures = (await history(result.runId)).filter((e) => e.type === 'StepFailed');
    expect(failures.map((e) => [e.data.attempt, (e.data.error as { code: string }).code])).toEqual([
      [1, 'timeout'],
      [2, 'timeout'],
    ]);
    await waitFor(
      () =>
        readdirSync(stack.dir).filter((f) => f.startsWith(result.runId) && f.endsWith('.aborted'))
          .length >= 1,
    );
  });

  it('cancels a run: in-flight activity aborted, child run cancelled, run ends cancelled', async () => {
    await client.call('weft.blueprints.put', {
      blueprint: {
        name: 'sleepy_child',
        steps: [act('nap', 'slow', { input: { dir: stack.dir } })],
      },
    });
    const blueprint = {
      name: 'to_cancel',
      steps: [
        {
          id: 'both',
          type: 'parallel',
          branches: [
            [act('long', 'slow', { input: { dir: stack.dir }, timeout: '1m' })],
            [{ id: 'kid', type: 'child', blueprint: 'sleepy_child' }],
          ],
        },
      ],
    };
    const { runId } = await client.call<{ runId: string }>('weft.runs.start', {
      blueprint,
      runId: 'cancel-me',
    });
    const childId = 'cancel-me-kid-1';
    await waitFor(
      async () =>
        (await client.request<Summary>(`weft.runs.${childId}.get`)).data?.status === 'running',
    );
    await waitFor(async () => {
      const steps = (
        await client.call<{ activeSteps: string[] }>(`weft.runs.${runId}.query.get_status`)
      ).activeSteps;
      return steps.includes('long') && steps.includes('kid');
    });
    expect(await client.call(`weft.runs.${runId}.cancel`, { reason: 'test' })).toEqual({
      cancelled: true,
    });
    expect((await get(runId)).status).toBe('cancelled');
    await waitFor(statusIs(childId, 'cancelled'));
    await waitFor(() => existsSync(join(stack.dir, 'cancel-me_long_1.aborted')), {
      message: 'the activity saw its abort',
    });
    const again = await client.request(`weft.runs.${runId}.cancel`, {});
    expect(again.error?.code).toBe('run_not_running');
    const events = await history(runId);
    expect(events[events.length - 1]?.type).toBe('RunCancelled');
  });
});

describe('composite steps on real NATS', () => {
  it('routes with switch (a case and the default) and loops while a condition holds', async () => {
    const blueprint = {
      name: 'switch_loop',
      steps: [
        {
          id: 'route',
          type: 'switch',
          on: '{% $input.kind %}',
          cases: { fast: [act('fast_path', 'echo', { input: "{% 'fast ' & $input.n %}" })] },
          default: [act('slow_path', 'echo', { input: "{% 'other ' & $input.n %}" })],
        },
        {
          id: 'again',
          type: 'loop',
          while: '{% $iteration < $input.n %}',
          maxIterations: 10,
          steps: [act('tick', 'echo', { input: '{% $iteration %}' })],
          dependsOn: [],
        },
      ],
      output: "{% {'route': $steps.route.got, 'ticks': $steps.again.got[]} %}",
    };
    const fast = await client.call<Summary>(
      'weft.runs.execute',
      { blueprint, input: { kind: 'fast', n: 3 }, timeoutMs: 20_000 },
      25_000,
    );
    expect(fast).toMatchObject({
      status: 'completed',
      output: { route: 'fast 3', ticks: [0, 1, 2] },
    });
    const other = await client.call<Summary>(
      'weft.runs.execute',
      { blueprint: 'switch_loop', input: { kind: 'x', n: 1 }, timeoutMs: 20_000 },
      25_000,
    );
    expect(other).toMatchObject({ status: 'completed', output: { route: 'other 1', ticks: [0] } });
  });
});

describe('durable timers', () => {
  it('fires a sleep once, from the restarted runtime, not before its due time', async () => {
    // Long enough that the old runtime has certainly exited before the timer is due (asserted
    // below). Whether the new runtime comes up before or after the due time, it alone can fire it:
    // armed again from the stream, or overdue at its recovery.
    const napMs = 4_000;
    const blueprint = {
      name: 'sleeper',
      steps: [{ id: 'nap', type: 'sleep', duration: `${napMs}ms` }, act('after', 'echo')],
    };
    const { runId } = await client.call<{ runId: string }>('weft.runs.start', {
      blueprint,
      input: 'z',
    });
    const scheduled = await waitFor(async () =>
      (await history(runId)).find((e) => e.type === 'TimerScheduled'),
    );
    const dueAt = Number(scheduled?.data['dueAt']);
    // The old runtime has exited (code 0) when this returns.
    await stack.stopRuntime();
    const oldRuntimeGoneAt = Date.now();
    expect(oldRuntimeGoneAt, 'the old runtime exited before the timer was due').toBeLessThan(dueAt);
    await stack.startRuntime();

    await waitFor(statusIs(runId, 'completed'), { timeoutMs: napMs + 15_000 });
    const fired = (await history(runId)).filter((e) => e.type === 'TimerFired');
    expect(fired).toHaveLength(1);
    const firedAt = Date.parse(fired[0]?.at ?? '');
    expect(firedAt).toBeGreaterThanOrEqual(dueAt);
    // Fired after the old runtime was gone: by the new one.
    expect(firedAt).toBeGreaterThan(oldRuntimeGoneAt);
    expect((await get(runId)).output).toEqual({ step: 'after', got: null });
  });
});

describe('signals and queries', () => {
  const approval = {
    name: 'approval_it',
    signals: [{ name: 'note', handler: 'append' }],
    queries: [{ name: 'notes', expr: '{% $count($data.note) %}' }],
    steps: [{ id: 'gate', type: 'wait', signal: 'approve', timeout: '1m' }, act('done', 'echo')],
  };

  it('waits for a signal, records duplicates once, and answers queries after the end', async () => {
    const { runId } = await client.call<{ runId: string }>('weft.runs.start', {
      blueprint: approval,
    });
    await waitFor(async () =>
      (
        await client.call<{ waitingFor: string[] }>(`weft.runs.${runId}.query.get_status`)
      ).waitingFor.includes('approve'),
    );
    const handlers = await client.call<{ signals: string[]; queries: string[] }>(
      `weft.runs.${runId}.query.get_handlers`,
    );
    expect(handlers.signals.sort()).toEqual(['approve', 'note']);
    expect(handlers.queries).toEqual(
      expect.arrayContaining(['get_status', 'get_data', 'get_signals', 'get_handlers', 'notes']),
    );
    const h = headers();
    h.set('Nats-Msg-Id', 'note-1');
    for (let i = 0; i < 2; i++) {
      const reply = await client.nc.request(
        `weft.runs.${runId}.signal.note`,
        JSON.stringify('first note'),
        { headers: h, timeout: 5000 },
      );
      expect(reply.json()).toEqual({ ok: true, data: { accepted: true } });
    }
    expect(await client.call(`weft.runs.${runId}.query.notes`)).toBe(1);
    const unknown = await client.request(`weft.runs.${runId}.signal.nope`, {});
    expect(unknown.error?.code).toBe('unknown_signal');
    await client.call(`weft.runs.${runId}.signal.approve`, { by: 'ada' });
    await waitFor(statusIs(runId, 'completed'));
    expect((await get(runId)).output).toEqual({ step: 'done', got: { by: 'ada' } });
    expect((await client.request(`weft.runs.${runId}.signal.approve`, {})).error?.code).toBe(
      'run_not_running',
    );
    expect(await client.call(`weft.runs.${runId}.query.get_data`)).toEqual({
      note: ['first note'],
    });
    const signals = await client.call<{ name: string; payload: unknown; at: string }[]>(
      `weft.runs.${runId}.query.get_signals`,
    );
    expect(signals.map((s) => s.name)).toEqual(['note', 'approve']);
    expect((await client.request(`weft.runs.${runId}.query.nope`)).error?.code).toBe(
      'unknown_query',
    );
  });

  it('keeps a signal published before the wait is reached', async () => {
    const blueprint = {
      name: 'early_signal',
      steps: [
        act('first', 'slow', { input: { ms: 2_000 } }),
        { id: 'gate', type: 'wait', signal: 'go' },
      ],
    };
    const { runId } = await client.call<{ runId: string }>('weft.runs.start', { blueprint });
    client.nc.publish(`weft.runs.${runId}.signal.go`, JSON.stringify({ early: true }));
    await waitFor(statusIs(runId, 'completed'), { timeoutMs: 15_000 });
    expect((await get(runId)).output).toEqual({ early: true });
    // The history, not the clock, shows that the signal came before the wait step was reached.
    const types = (await history(runId)).map((e) =>
      e.type === 'StepCompleted' ? `StepCompleted:${String(e.data['stepId'])}` : e.type,
    );
    expect(types.indexOf('SignalReceived')).toBeGreaterThan(-1);
    expect(types.indexOf('SignalReceived')).toBeLessThan(types.indexOf('StepCompleted:first'));
  });
});

describe('hostile input', () => {
  it('refuses hostile blueprints with their codes, appends nothing, and stays up', async () => {
    const deep = `${'{"nested":'.repeat(10_000)}{}${'}'.repeat(10_000)}`;
    const cases: [unknown, string][] = [
      [{ name: 'bad.name', steps: [act('a', 'echo')] }, 'invalid_name'],
      [{ name: 'self', steps: [act('a', 'echo', { dependsOn: ['a'] })] }, 'self_dependency'],
      [
        { name: 'evil', steps: [act('a', 'echo', { input: '{% $eval("1") %}' })] },
        'expression_syntax',
      ],
      [
        {
          name: 'big',
          steps: [act('a', 'echo', { input: Array.from({ length: 100_000 }, () => 1) })],
        },
        'array_too_large',
      ],
      [
        {
          name: 'nested',
          steps: [{ id: 'l', type: 'loop', while: '{% true %}', steps: [act('x', 'echo')] }],
        },
        'while_without_max',
      ],
    ];
    for (const [blueprint, code] of cases) {
      const reply = await client.request('weft.runs.start', {
        blueprint,
        runId: `hostile-${code}`,
      });
      expect(reply.error?.code, code).toBe('invalid_blueprint');
      const diagnostics = (reply.error?.details as { diagnostics: { code: string }[] }).diagnostics;
      expect(
        diagnostics.map((d) => d.code),
        code,
      ).toContain(code);
      expect((await client.request(`weft.runs.hostile-${code}.get`)).error?.code).toBe(
        'run_not_found',
      );
    }
    // Past the gateway's nesting limit (200) a request is refused before it is parsed; below it, a
    // blueprint deeper than its own limit (32) is a diagnostic.
    const deepReply = await client.raw('weft.blueprints.validate', `{"blueprint":${deep}}`);
    expect(deepReply.error).toMatchObject({ code: 'invalid_request', details: { maxDepth: 200 } });
    const nested40 = `${'{"nested":'.repeat(40)}{}${'}'.repeat(40)}`;
    const tooDeep = await client.raw('weft.blueprints.validate', `{"blueprint":${nested40}}`);
    expect(tooDeep.ok).toBe(true);
    expect(
      (tooDeep.data as { diagnostics: { code: string }[] }).diagnostics.map((d) => d.code),
    ).toContain('too_deep');
    const huge = await client.raw(
      'weft.runs.start',
      `{"blueprint":"x","input":"${'a'.repeat(1_000_000)}"}`,
    );
    expect(huge.error?.code).toBe('payload_too_large');
    const { blueprints } = await client.call<{ blueprints: { name: string }[] }>(
      'weft.blueprints.list',
    );
    expect(blueprints.map((b) => b.name)).not.toContain('self');
    expect(
      (
        await client.call<Summary>('weft.runs.execute', {
          blueprint: { name: 'still_up', steps: [act('a', 'echo')] },
          input: 1,
        })
      ).status,
    ).toBe('completed');
  });

  it('fails a step, not the runtime, on a runaway expression', async () => {
    const blueprint = {
      name: 'runaway',
      steps: [act('a', 'echo', { input: '{% ($f := function($x) { $f($x + 1) }; $f(0)) %}' })],
    };
    const result = await client.call<Summary>('weft.runs.execute', {
      blueprint,
      timeoutMs: 10_000,
    });
    expect(result.status).toBe('failed');
    expect(result.error?.message).toMatch(/limit|depth|steps/i);
  });
});
