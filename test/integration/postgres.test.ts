import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type PostgresHandle } from '../support/postgres.ts';
import { waitFor } from '../support/wait.ts';
import {
  act,
  runEnded,
  spawnWeft,
  startStack,
  type HistoryEvent,
  type Stack,
  type Summary,
} from '../support/weft.ts';

// `weft serve --store postgres://…` on a private PostgreSQL (or WEFT_TEST_POSTGRES), with a
// worker, across a runtime restart.
let server: PostgresHandle;
let stack: Stack;
let storeUrl: string;

beforeAll(async () => {
  server = await startPostgres();
  storeUrl = server.freshSchemaUrl();
  stack = await startStack({ store: storeUrl });
}, 90_000);

afterAll(async () => {
  await stack.stop();
  await server.stop();
});

const history = async (runId: string): Promise<HistoryEvent[]> =>
  (await stack.client.call<{ events: HistoryEvent[] }>(`weft.runs.${runId}.history`, {})).events;

describe('weft serve on PostgreSQL', { timeout: 90_000 }, () => {
  it('prints the store URL without its password', () => {
    const password = decodeURIComponent(new URL(storeUrl).password);
    const line = stack.runtime
      .output()
      .split('\n')
      .find((l) => l.includes('runtime serving'));
    expect(line).toMatch(/store postgres:\/\/[^:]+:\*\*\*@/);
    if (password !== '') expect(stack.runtime.output()).not.toContain(password);
  });

  it.skipIf(process.env['WEFT_TEST_POSTGRES'] !== undefined)(
    'refuses to start on a wrong password: exit 1, one line naming the host and the cause, no password',
    async () => {
      const wrong = new URL(storeUrl);
      wrong.password = 'wrong-password-123';
      const error = await spawnWeft(
        ['serve', '--nats', stack.nats.url, '--store', wrong.toString()],
        /runtime serving/,
      ).then(
        () => undefined,
        (e: unknown) => (e instanceof Error ? e.message : String(e)),
      );
      const output = (error ?? '').split('\n').slice(1).join('\n').trim();
      expect(output.split('\n')).toHaveLength(1);
      expect(output).toContain(`postgres 127.0.0.1:${wrong.port}/weft_test: `);
      expect(output).toContain('password authentication failed');
      expect(output).not.toContain('wrong-password-123');
    },
  );

  it('never prints a KurrentDB password either: an option the client does not know (which the client would print with the whole URL) refuses to start in one line', async () => {
    const url = 'kurrentdb://admin:kdb-secret-42@127.0.0.1:1?tls=false&tlsVerifyCrt=false';
    const error = await spawnWeft(
      ['serve', '--nats', stack.nats.url, '--store', url],
      /runtime serving/,
    ).then(
      () => undefined,
      (e: unknown) => (e instanceof Error ? e.message : String(e)),
    );
    expect(error).toBeDefined();
    const output = (error ?? '').split('\n').slice(1).join('\n').trim();
    expect(output.split('\n')).toHaveLength(1);
    expect(output).toContain('unknown option "tlsVerifyCrt"');
    expect(output).toContain('kurrentdb://admin:***@127.0.0.1:1');
    expect(output).not.toContain('kdb-secret-42');
  });

  it('completes runs, keeps them across a runtime restart, and finishes runs that were waiting through it', async () => {
    const { client } = stack;
    await client.call('weft.blueprints.put', {
      blueprint: { name: 'pg_chain', steps: [act('a', 'echo'), act('b', 'add_field')] },
    });
    await client.call('weft.blueprints.put', {
      blueprint: {
        name: 'pg_gate',
        steps: [{ id: 'gate', type: 'wait', signal: 'go' }, act('after', 'echo')],
      },
    });
    const done = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        client.call<{ status: string; output: unknown }>(
          'weft.runs.execute',
          { blueprint: 'pg_chain', input: { n: i }, runId: `pg-done-${i}`, timeoutMs: 20_000 },
          25_000,
        ),
      ),
    );
    expect(done.map((r) => r.status)).toEqual(Array(5).fill('completed'));
    expect(done[3]?.output).toEqual({ step: 'a', got: { n: 3 }, b: true });
    for (let i = 0; i < 3; i++)
      await client.call('weft.runs.start', {
        blueprint: 'pg_gate',
        input: i,
        runId: `pg-gate-${i}`,
      });
    await waitFor(
      async () =>
        (
          await client.call<{ status: string; waitingFor: string[] }>(
            'weft.runs.pg-gate-2.query.get_status',
          )
        ).waitingFor.includes('go'),
      { message: 'pg-gate-2 waiting for go' },
    );
    const before = await history('pg-done-3');

    await stack.restartRuntime();

    expect(await history('pg-done-3')).toEqual(before);
    expect((await client.call<Summary>('weft.runs.pg-done-0.get')).status).toBe('completed');
    for (let i = 0; i < 3; i++) await client.call(`weft.runs.pg-gate-${i}.signal.go`, { ok: i });
    for (let i = 0; i < 3; i++) {
      const summary = await runEnded(client, `pg-gate-${i}`);
      expect(summary).toMatchObject({
        status: 'completed',
        output: { step: 'after', got: { ok: i } },
      });
    }
    const again = await client.call<{ existing: boolean }>('weft.runs.start', {
      blueprint: 'pg_chain',
      runId: 'pg-done-0',
    });
    expect(again.existing).toBe(true);

    // What PostgreSQL holds: each run once, one terminal event each.
    const url = new URL(storeUrl);
    const schema = url.searchParams.get('schema') ?? 'weft';
    url.searchParams.delete('schema');
    const client2 = new pg.Client({ connectionString: url.toString() });
    await client2.connect();
    try {
      const { rows } = await client2.query<{ stream: string; n: string }>(
        `SELECT stream, count(*) AS n FROM ${schema}.events WHERE type IN ('RunStarted', 'RunCompleted') AND stream LIKE 'run-pg-%' GROUP BY stream ORDER BY stream`,
      );
      expect(rows).toEqual(
        [
          ...[0, 1, 2, 3, 4].map((i) => `run-pg-done-${i}`),
          ...[0, 1, 2].map((i) => `run-pg-gate-${i}`),
        ]
          .sort()
          .map((stream) => ({ stream, n: '2' })),
      );
    } finally {
      await client2.end();
    }
  });

  // Last: it kills the server. The fault scenario kill-postgres does this under load.
  it.skipIf(process.env['WEFT_TEST_POSTGRES'] !== undefined)(
    'answers unavailable, naming the server, while PostgreSQL is killed, and serves again once it is back, the runtime up throughout',
    async () => {
      const { client } = stack;
      await client.call('weft.blueprints.put', {
        blueprint: { name: 'pg_outage', steps: [act('a', 'echo')] },
      });
      await server.kill9();
      const refused = [
        await client.request('weft.runs.start', { blueprint: 'pg_outage', runId: 'pg-outage' }),
        await client.request('weft.runs.pg-done-0.history', {}),
      ];
      for (const reply of refused) {
        expect(reply.error?.code, JSON.stringify(reply)).toBe('unavailable');
        expect(reply.error?.message).toMatch(/^event store: postgres 127\.0\.0\.1:\d+\/weft_test /);
      }
      expect(stack.runtime.output()).not.toContain('internal error');

      await server.restart();
      // Retried, as `unavailable` asks, until the runtime's pool has reconnected.
      const done = await waitFor(
        async () => {
          const reply = await client.request<Summary>(
            'weft.runs.execute',
            { blueprint: 'pg_outage', runId: 'pg-outage', input: 'back', timeoutMs: 10_000 },
            15_000,
          );
          return reply.ok ? reply.data : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 250, message: 'a run executed after the restart' },
      );
      expect(done).toMatchObject({ status: 'completed', output: { step: 'a', got: 'back' } });
      expect((await history('pg-done-0')).at(-1)?.type).toBe('RunCompleted');
      expect(stack.runtime.child.exitCode).toBeNull();
    },
  );
});
