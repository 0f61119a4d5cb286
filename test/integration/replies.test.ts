import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/wait.ts';
import {
  act,
  startStack,
  type HistoryEvent,
  type Stack,
  type Summary,
  type TestClient,
  weftNode,
} from '../support/weft.ts';

const run = promisify(execFile);
const BIN = fileURLToPath(new URL('../../bin/weft.js', import.meta.url));

/**
 * Every reply fits the connection's max_payload, and every bad input is named (issue 11 item 8):
 * a real nats-server (default max_payload, 1 MiB), `weft serve` and `weft worker` as processes.
 */

let stack: Stack;
let client: TestClient;

const TRUNCATED = '$truncated';
/** A 700 KB string: echoed as an activity's output, it makes every event and summary large. */
const big = () => 'x'.repeat(700 * 1024);

const isTruncated = (value: unknown): value is { bytes: number; preview: string } =>
  value !== null &&
  typeof value === 'object' &&
  (value as Record<string, unknown>)[TRUNCATED] === true;

const execute = (body: Record<string, unknown>) =>
  client.call<Summary>('weft.runs.execute', { timeoutMs: 20_000, ...body }, 25_000);

interface HistoryPage {
  readonly events: HistoryEvent[];
  readonly next?: number;
}

beforeAll(async () => {
  stack = await startStack();
  client = stack.client;
});

afterAll(() => stack.stop());

/** The run with a 700 KB input and output, and the one whose ~1.4 MB output is one event. */
let runId: string;
let hugeRunId: string;

describe('replies that would exceed max_payload', () => {
  beforeAll(async () => {
    runId = `big-${randomUUID()}`;
    const result = await execute({
      runId,
      blueprint: { name: 'big_echo', steps: [act('echo_it', 'echo')] },
      input: { blob: big() },
    });
    expect(result.status).toBe('completed');
  });

  it('get answers with input and output truncated, with the marker and their sizes', async () => {
    const summary = await client.call<Summary>(`weft.runs.${runId}.get`);
    expect(summary).toMatchObject({ runId, status: 'completed' });
    // input + output are about 1.4 MB together: at least one is truncated, none is lost silently.
    const truncated = [summary.input, summary.output].filter(isTruncated);
    expect(truncated.length).toBeGreaterThanOrEqual(1);
    for (const t of truncated) {
      expect(t.bytes).toBeGreaterThan(700 * 1024);
      expect(t.preview.length).toBeGreaterThan(0);
    }
    expect(isTruncated(summary.output)).toBe(true);
  });

  it('history pages through every event with next, truncating none that fits on its own', async () => {
    const events: HistoryEvent[] = [];
    let from = 0;
    for (let pages = 0; pages < 20; pages++) {
      const page = await client.call<HistoryPage>(`weft.runs.${runId}.history`, { from });
      expect(page.events.length).toBeGreaterThan(0);
      events.push(...page.events);
      if (page.next === undefined) break;
      expect(page.next).toBe((page.events.at(-1)?.revision ?? -2) + 1);
      from = page.next;
    }
    expect(events.map((e) => e.type)).toEqual([
      'RunStarted',
      'StepScheduled',
      'StepCompleted',
      'RunCompleted',
    ]);
    expect(events.map((e) => e.revision)).toEqual([0, 1, 2, 3]);
    // Each of these events is ~700 KB: under 1 MiB alone, so each arrives whole on a page of its own.
    const completed = events[2]?.data as { output: { got: { blob: string } } } | undefined;
    expect(completed?.output.got.blob).toBe(big());
  });

  it('runs.list answers summaries whose large values are truncated', async () => {
    const small = await execute({
      blueprint: { name: 'small_echo', steps: [act('e', 'echo')] },
      input: { n: 1 },
    });
    const list = await client.call<{ runs: Summary[] }>('weft.runs.list', {});
    const mine = list.runs.find((r) => r.runId === runId);
    expect(mine).toMatchObject({ status: 'completed', blueprint: { name: 'big_echo' } });
    expect(isTruncated(mine?.input)).toBe(true);
    expect(isTruncated(mine?.output)).toBe(true);
    expect(list.runs.find((r) => r.runId === small.runId)).toMatchObject({
      input: { n: 1 },
      output: { step: 'e', got: { n: 1 } },
    });
  });
});

describe('a value larger than max_payload on its own', () => {
  it('execute, get and history send its marker, and later events still page whole', async () => {
    // Two 700 KB branches: the run's output (the parallel's array) is ~1.4 MB, over 1 MiB.
    hugeRunId = `huge-${randomUUID()}`;
    const runId = hugeRunId;
    const published: HistoryEvent[] = [];
    const sub = client.nc.subscribe(`weft.runs.${runId}.events`, {
      callback: (error, msg) => {
        if (error === null) published.push(msg.json<HistoryEvent>());
      },
    });
    await client.nc.flush();
    const result = await execute({
      runId,
      blueprint: {
        name: 'huge_output',
        steps: [
          {
            id: 'both',
            type: 'parallel',
            branches: [[act('left', 'echo')], [act('right', 'echo')]],
          },
        ],
      },
      input: { blob: big() },
    });
    expect(result.status).toBe('completed');
    expect(isTruncated(result.output)).toBe(true);
    expect((result.output as { bytes: number }).bytes).toBeGreaterThan(1024 * 1024);

    const summary = await client.call<Summary>(`weft.runs.${runId}.get`);
    expect(isTruncated(summary.output)).toBe(true);

    const events: HistoryEvent[] = [];
    let next: number | undefined = 0;
    while (next !== undefined && events.length < 50) {
      const page: HistoryPage = await client.call<HistoryPage>(`weft.runs.${runId}.history`, {
        from: next,
      });
      events.push(...page.events);
      next = page.next;
    }
    const last = events.at(-1);
    expect(last?.type).toBe('RunCompleted');
    expect(isTruncated(last?.data.output)).toBe(true);
    expect(events.map((e) => e.revision)).toEqual(events.map((_, i) => i));
    // Every event that fits on its own arrives whole.
    for (const e of events.slice(0, -1)) expect(JSON.stringify(e.data)).not.toContain(TRUNCATED);
    // The same event published on runs.<id>.events carries the marker instead of being lost.
    await waitFor(() => published.some((e) => e.type === 'RunCompleted'), {
      timeoutMs: 5_000,
      message: 'RunCompleted published',
    });
    sub.unsubscribe();
    expect(isTruncated(published.find((e) => e.type === 'RunCompleted')?.data.output)).toBe(true);
  });
});

describe('the CLI on large runs', () => {
  const weft = async (...args: string[]) => {
    try {
      const { stdout } = await run(weftNode(), [BIN, ...args, '--nats', stack.nats.url], {
        maxBuffer: 64 * 1024 * 1024,
      });
      return { code: 0, stdout, stderr: '' };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };

  it('get shows a truncated value with its size and where the whole value is', async () => {
    const { code, stdout } = await weft('get', runId);
    expect(code).toBe(0);
    expect(stdout).toMatch(
      /^output +\(truncated, \d+ bytes; whole: the last event of weft history /m,
    );
  });

  it('history says where the next page starts', async () => {
    const { code, stdout } = await weft('history', runId);
    expect(code).toBe(0);
    expect(stdout).toContain('RunStarted');
    expect(stdout).toMatch(/^more: --from 1$/m);
  });

  it('replay follows the pages and rebuilds the whole run', async () => {
    const { code, stdout } = await weft('replay', runId);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^#3 RunCompleted .*→ completed/m);
  });

  it('replay refuses a run with an event that cannot travel whole, naming it', async () => {
    const { code, stderr } = await weft('replay', hugeRunId);
    expect(code).not.toBe(0);
    expect(stderr).toMatch(/payload_too_large.*event \d+ of run huge-.* arrived truncated/);
  });
});

describe('bad input is named at the gateway', () => {
  it('input nested 10,000 deep is invalid_request naming the depth limit', async () => {
    const runId = `deep-${randomUUID()}`;
    const deep = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
    const reply = await client.raw(
      'weft.runs.start',
      `{"runId":"${runId}","blueprint":{"name":"deep","steps":[{"id":"a","type":"activity","activity":"echo"}]},"input":${deep}}`,
    );
    expect(reply.ok).toBe(false);
    expect(reply.error?.code).toBe('invalid_request');
    expect(reply.error?.message).toMatch(/nest.*200/);
    expect(reply.error?.details).toMatchObject({ maxDepth: 200 });
    expect((await client.request(`weft.runs.${runId}.get`)).error?.code).toBe('run_not_found');
  });

  it('invalid UTF-8 inside a JSON string is refused and nothing is stored', async () => {
    const runId = `utf8-${randomUUID()}`;
    const head = Buffer.from(
      `{"runId":"${runId}","blueprint":{"name":"utf","steps":[{"id":"a","type":"activity","activity":"echo"}]},"input":{"s":"ab`,
    );
    const payload = Buffer.concat([head, Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('"}}')]);
    const reply = await client.raw('weft.runs.start', payload);
    expect(reply.ok).toBe(false);
    expect(reply.error?.code).toBe('invalid_request');
    expect(reply.error?.message).toMatch(/UTF-8/);
    expect(reply.error?.details).toMatchObject({ offset: head.length });
    expect((await client.request(`weft.runs.${runId}.get`)).error?.code).toBe('run_not_found');
  });

  it('the runtime is still up and running runs afterwards', async () => {
    const result = await execute({
      blueprint: { name: 'after_bad', steps: [act('e', 'echo')] },
      input: { ok: true },
    });
    expect(result).toMatchObject({ status: 'completed', output: { step: 'e', got: { ok: true } } });
    expect(stack.runtime.child.exitCode).toBeNull();
  });
});
