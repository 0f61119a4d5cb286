import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import {
  createClient,
  InvalidBlueprintError,
  RunNotFoundError,
  RunNotRunningError,
  UnknownQueryError,
  WeftClientError,
  type RunEvent,
  type RunSummary,
  type WeftClient,
} from 'weft/client';
import { startStack, type Stack } from '../support/weft.ts';

/**
 * The typed client (`weft/client`) against a real runtime and worker on a real nats-server:
 * every method does what its NATS request does, pages and events arrive as async iterators, and
 * each error code is its own error class.
 */

let stack: Stack;
let client: WeftClient;

const gate = {
  name: 'client_gate',
  signals: [{ name: 'go', handler: 'store' as const }],
  queries: [{ name: 'seen', expr: '{% $data.go %}' }],
  steps: [
    { id: 'hello', type: 'activity' as const, activity: 'echo', input: '{% $input %}' },
    { id: 'gate', type: 'wait' as const, signal: 'go' },
  ],
  output: '{% $steps.gate %}',
};

beforeAll(async () => {
  stack = await startStack();
  client = await createClient({ servers: stack.nats.url, prefix: 'weft' });
});

afterAll(async () => {
  await (client as WeftClient | undefined)?.close();
  await (stack as Stack | undefined)?.stop();
});

const collect = async <T>(items: AsyncIterable<T>): Promise<T[]> => {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
};

describe('the typed client', () => {
  it('puts a blueprint, starts a run, watches it to its end through a signal, and reads it back', async () => {
    const put = await client.blueprints.put(gate);
    expect(put).toMatchObject({ name: 'client_gate', version: 1, created: true });
    const started = await client.start({ blueprint: 'client_gate', runId: 'c-1', input: { n: 1 } });
    expect(started).toMatchObject({ runId: 'c-1', existing: false });

    const events: RunEvent[] = [];
    const watching = (async () => {
      for await (const event of client.watch('c-1')) events.push(event);
    })();
    // A declared query answers while the run waits; the signal then releases it.
    await expect(client.query('c-1', 'seen')).resolves.toBeNull();
    expect(await client.signal('c-1', 'go', { by: 'client' })).toEqual({ accepted: true });
    await watching;
    // Every event once, in order, from the first to the last.
    expect(events.map((e) => e.revision)).toEqual(events.map((_, i) => i));
    expect(events[0]?.type).toBe('RunStarted');
    expect(events.at(-1)?.type).toBe('RunCompleted');
    expect(events.map((e) => e.type)).toContain('SignalReceived');

    const summary = await client.get('c-1');
    expectTypeOf(summary).toEqualTypeOf<RunSummary>();
    expect(summary).toMatchObject({ status: 'completed', output: { by: 'client' } });
    expect(await collect(client.history('c-1'))).toEqual(events);
    expect((await collect(client.history('c-1', { from: 2 }))).map((e) => e.revision)[0]).toBe(2);
  });

  it('lists runs a page at a time as it iterates', async () => {
    for (let i = 0; i < 5; i++)
      await client.execute({
        blueprint: {
          name: 'client_quick',
          steps: [{ id: 'a', type: 'activity', activity: 'echo' }],
        },
        runId: `c-list-${i}`,
      });
    const pages: number[] = [];
    let page = await client.listPage({ blueprint: 'client_quick', pageSize: 2 });
    pages.push(page.runs.length);
    while (page.cursor !== undefined) {
      page = await client.listPage({ blueprint: 'client_quick', pageSize: 2, cursor: page.cursor });
      pages.push(page.runs.length);
    }
    expect(pages).toEqual([2, 2, 1]);
    const listed = await collect(client.list({ blueprint: 'client_quick', pageSize: 2 }));
    expect(listed.map((r) => r.runId).sort()).toEqual([0, 1, 2, 3, 4].map((i) => `c-list-${i}`));
  });

  it('executes a run and waits for its output', async () => {
    const done = await client.execute<{ step: string }>({
      blueprint: {
        name: 'client_exec',
        steps: [{ id: 'only', type: 'activity', activity: 'echo', input: 7 }],
      },
      input: null,
    });
    expect(done.status).toBe('completed');
    expectTypeOf(done.output).toEqualTypeOf<{ step: string } | undefined>();
    expect(done.output).toMatchObject({ step: 'only', got: 7 });
  });

  it('cancels a running run, and answers a cancel of an ended one with RunNotRunningError', async () => {
    await client.start({ blueprint: 'client_gate', runId: 'c-cancel' });
    expect(await client.cancel('c-cancel', 'test')).toEqual({ cancelled: true });
    const ended = await collect(client.watch('c-cancel'));
    expect(ended.at(-1)?.type).toBe('RunCancelled');
    await expect(client.signal('c-cancel', 'go')).rejects.toBeInstanceOf(RunNotRunningError);
  });

  it('throws one error class per code, with the code and details', async () => {
    const missing = await client.get('no-such-run').catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(RunNotFoundError);
    expect(missing).toBeInstanceOf(WeftClientError);
    expect((missing as RunNotFoundError).code).toBe('run_not_found');

    const invalid = await client.blueprints
      .put({
        name: 'client_bad',
        steps: [{ id: 'a', type: 'activity', activity: 'echo', dependsOn: ['nope'] }],
      })
      .catch((e: unknown) => e);
    expect(invalid).toBeInstanceOf(InvalidBlueprintError);
    expect((invalid as InvalidBlueprintError).diagnostics.map((d) => d.code)).toContain(
      'unknown_dependency',
    );

    await client.start({ blueprint: 'client_gate', runId: 'c-errors' });
    await expect(client.query('c-errors', 'no_such_query')).rejects.toBeInstanceOf(
      UnknownQueryError,
    );
    await client.cancel('c-errors');
  });

  it('validates blueprints and lists, gets and deletes them', async () => {
    const checked = await client.blueprints.validate({
      name: 'x',
      steps: [{ id: 'a', type: 'sleep' }],
    });
    expect(checked.valid).toBe(false);
    expect(checked.diagnostics.length).toBeGreaterThan(0);
    expect((await client.blueprints.list()).map((b) => b.name)).toContain('client_gate');
    const stored = await client.blueprints.get('client_gate');
    expect(stored).toMatchObject({ version: 1, blueprint: { name: 'client_gate' } });
    expect(await client.blueprints.delete('client_gate')).toEqual({ deleted: true });
    const schema = (await client.blueprints.schema()) as { $defs?: Record<string, unknown> };
    expect(schema.$defs).toHaveProperty('Step');
    const served = await client.activities();
    expect(served.find((a) => a.name === 'echo')).toMatchObject({ workers: 1 });
  });
});
