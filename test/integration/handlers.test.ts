import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as Effect from 'effect/Effect';
import type { Json } from '../../src/blueprints/json.ts';
import { eventId } from '../../src/store/eventId.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/wait.ts';
import {
  startStack,
  startWorker,
  type Stack,
  type TestClient,
  type Summary,
  weftNode,
} from '../support/weft.ts';
import { withStore } from '../support/stores.ts';

/**
 * Temporal's fourth seed on real NATS: signal and query handlers from configuration, plugins,
 * handlers added by the start request for one run, the events subject, and list paging.
 */

let stack: Stack;
let client: TestClient;

const blueprint = JSON.parse(
  readFileSync('examples/dynamic_handlers/blueprint.json', 'utf8'),
) as Record<string, unknown>;

const q = <T = unknown>(runId: string, name: string, args?: unknown) =>
  client.call<T>(`weft.runs.${runId}.query.${name}`, args === undefined ? {} : { args });
const signal = (runId: string, name: string, payload: unknown) =>
  client.call(`weft.runs.${runId}.signal.${name}`, payload);

beforeAll(async () => {
  stack = await startStack({ workerModule: 'examples/worker.ts' });
  client = stack.client;
  await client.call('weft.blueprints.put', { blueprint });
});

afterAll(() => stack.stop());

describe('handlers from configuration and plugins', () => {
  it('applies store, append and trigger, answers declared, plugin and built-in queries, during and after the run', async () => {
    const { runId } = await client.call<{ runId: string }>('weft.runs.start', {
      blueprint: 'dynamic_handlers',
      input: { customer: 'ada' },
    });
    await signal(runId, 'update_data', { phase: 1 });
    await signal(runId, 'update_data', { phase: 2 });
    await signal(runId, 'add_item', { amount: 5 });
    await signal(runId, 'add_item', { amount: 7 });
    await signal(runId, 'analytics_track_event', { event: 'viewed' });
    await signal(runId, 'notifications_notify', 'first');
    await signal(runId, 'notifications_notify', 'second');

    expect(await q(runId, 'get_total')).toBe(12);
    expect(await q(runId, 'notifications_count')).toBe(2);
    expect(await q(runId, 'analytics_get_data')).toEqual({
      analytics_track_event: { event: 'viewed' },
    });
    const analyticsSignals = await q<{ name: string }[]>(runId, 'analytics_get_signals');
    expect(analyticsSignals.map((s) => s.name)).toEqual(['analytics_track_event']);
    expect(await q(runId, 'get_data')).toEqual({
      update_data: { phase: 2 },
      add_item: [{ amount: 5 }, { amount: 7 }],
      analytics_track_event: { event: 'viewed' },
      notifications_notify: ['first', 'second'],
    });
    const handlers = await q<{ signals: string[]; queries: string[] }>(runId, 'get_handlers');
    expect(handlers.signals.sort()).toEqual([
      'add_item',
      'analytics_track_event',
      'complete',
      'notifications_notify',
      'update_data',
    ]);
    expect(handlers.queries.sort()).toEqual(
      [
        'analytics_get_data',
        'analytics_get_signals',
        'get_data',
        'get_handlers',
        'get_signals',
        'get_status',
        'get_total',
        'notifications_count',
      ].sort(),
    );
    expect(await q(runId, 'get_status')).toEqual({
      status: 'running',
      activeSteps: ['wait_complete'],
      waitingFor: ['complete'],
      tasks: [],
    });

    await signal(runId, 'complete', { by: 'ops' });
    await waitFor(
      async () => (await client.call<Summary>(`weft.runs.${runId}.get`)).status === 'completed',
    );
    expect((await client.call<Summary>(`weft.runs.${runId}.get`)).output).toEqual({
      items: 2,
      total: 12,
      keys: ['add_item', 'analytics_track_event', 'notifications_notify', 'update_data'],
      completedBy: { by: 'ops' },
    });
    expect(await q(runId, 'get_status')).toEqual({
      status: 'completed',
      activeSteps: [],
      waitingFor: [],
      tasks: [],
    });
    expect(await q(runId, 'get_handlers')).toMatchObject({ signals: [] });
    expect(
      (await client.request(`weft.runs.${runId}.signal.add_item`, { amount: 1 })).error?.code,
    ).toBe('run_not_running');

    await stack.worker?.stop();
    await stack.restartRuntime();
    expect(await q(runId, 'get_total')).toBe(12);
    expect((await q<unknown[]>(runId, 'get_signals')).length).toBe(8);
    stack.worker = await startWorker(stack.nats.url, 'examples/worker.ts');
  });

  it('accepts signals, queries and plugins added by the start request for that run alone', async () => {
    const { runId } = await client.call<{ runId: string }>('weft.runs.start', {
      blueprint: 'dynamic_handlers',
      signals: [{ name: 'priority', handler: 'store' }],
      queries: [{ name: 'get_priority', expr: '{% $data.priority %}' }],
      plugins: [{ name: 'audit', signals: ['log'], queries: ['get_data'] }],
    });
    await signal(runId, 'priority', 'high');
    await signal(runId, 'audit_log', 'seen');
    expect(await q(runId, 'get_priority')).toBe('high');
    expect(await q(runId, 'audit_get_data')).toEqual({ audit_log: 'seen' });

    const plain = await client.call<{ runId: string }>('weft.runs.start', {
      blueprint: 'dynamic_handlers',
    });
    expect(
      (await client.request(`weft.runs.${plain.runId}.signal.priority`, 'x')).error?.code,
    ).toBe('unknown_signal');
    expect((await client.request(`weft.runs.${plain.runId}.query.get_priority`)).error?.code).toBe(
      'unknown_query',
    );

    const bad = await client.request('weft.runs.start', {
      blueprint: 'dynamic_handlers',
      queries: [{ name: 'broken', expr: '{% $sum( %}' }],
    });
    expect(bad.error?.code).toBe('invalid_blueprint');
    await signal(runId, 'complete', null);
    await signal(plain.runId, 'complete', null);
  });
});

describe('events and lists', () => {
  it('publishes every appended event on the run events subject, in order', async () => {
    const runId = 'watched-run-1';
    const seen: { revision: number; type: string }[] = [];
    const sub = client.nc.subscribe(`weft.runs.${runId}.events`, {
      callback: (_error, msg) => {
        seen.push(msg.json<{ revision: number; type: string }>());
      },
    });
    await client.nc.flush();
    await client.call('weft.runs.start', { blueprint: 'dynamic_handlers', runId });
    await signal(runId, 'complete', 'now');
    await waitFor(() => seen.some((e) => e.type === 'RunCompleted'));
    sub.unsubscribe();
    const { events } = await client.call<{ events: { revision: number; type: string }[] }>(
      `weft.runs.${runId}.history`,
    );
    expect(seen.map((e) => [e.revision, e.type])).toEqual(events.map((e) => [e.revision, e.type]));
  });

  it('lists runs by status and blueprint, a page at a time', async () => {
    for (let i = 0; i < 5; i++)
      await client.call('weft.runs.start', { blueprint: 'dynamic_handlers', runId: `paged-${i}` });
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 10; page++) {
      const reply: { runs: (Summary & { blueprint: { name: string } })[]; cursor?: string } =
        await client.call('weft.runs.list', {
          status: 'running',
          blueprint: 'dynamic_handlers',
          limit: 2,
          ...(cursor === undefined ? {} : { cursor }),
        });
      expect(reply.runs.length).toBeLessThanOrEqual(2);
      expect(
        reply.runs.every((r) => r.status === 'running' && r.blueprint.name === 'dynamic_handlers'),
      ).toBe(true);
      seen.push(...reply.runs.map((r) => r.runId));
      cursor = reply.cursor;
      if (cursor === undefined) break;
    }
    expect(seen.filter((id) => id.startsWith('paged-')).sort()).toEqual([
      'paged-0',
      'paged-1',
      'paged-2',
      'paged-3',
      'paged-4',
    ]);
    expect(new Set(seen).size).toBe(seen.length);
  });
});

describe('replay from the command line', () => {
  const weft = (...args: string[]) =>
    spawnSync(weftNode(), ['bin/weft.js', ...args], { encoding: 'utf8', timeout: 30_000 });

  it('shows a real run event by event, and checks the whole store, finding an edited stream', async () => {
    const runId = 'replayed-run-1';
    await client.call('weft.runs.start', { blueprint: 'dynamic_handlers', runId });
    await signal(runId, 'add_item', { amount: 3 });
    await signal(runId, 'complete', 'done');
    await waitFor(
      async () => (await client.call<Summary>(`weft.runs.${runId}.get`)).status === 'completed',
    );

    const shown = weft('replay', runId, '--nats', stack.nats.url);
    expect(shown.status).toBe(0);
    expect(shown.stdout).toMatch(/#0 RunStarted/);
    expect(shown.stdout).toMatch(/SignalReceived[\s\S]*data\.add_item = \[\{"amount":3\}\]/);
    expect(shown.stdout).toMatch(/RunCompleted/);
    const upTo = weft('replay', runId, '--to', '1', '--nats', stack.nats.url, '--json');
    expect((JSON.parse(upTo.stdout) as unknown[]).length).toBe(2);

    const clean = weft('replay', '--check', '--store', stack.store);
    expect(clean.stdout).toMatch(/no divergence/);
    expect(clean.status).toBe(0);

    const edited = JSON.parse(
      readFileSync('test/replay/fixtures/streams/diverged-data-pipeline.json', 'utf8'),
    ) as {
      events: { type: string; data: Json }[];
    };
    const stream = 'run-edited-run';
    await withStore(stack.store, (store) =>
      Effect.runPromise(
        store.append(
          stream,
          edited.events.map((e, i) => ({
            id: eventId(stream, i, e.type, e.data),
            type: e.type,
            data: e.data,
          })),
          'no_stream',
        ),
      ),
    );
    const diverged = weft('replay', '--check', '--store', stack.store);
    expect(diverged.status).toBe(1);
    expect(diverged.stdout).toMatch(/DIVERGED edited-run: at revision 3/);
    expect(diverged.stdout).toMatch(/1 diverged/);
  });
});
