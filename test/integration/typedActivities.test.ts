import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executionsIn } from '../support/executionLog.ts';
import { waitFor } from '../support/wait.ts';
import {
  act,
  startStack,
  type HistoryEvent,
  type Stack,
  type Summary,
  type TestClient,
} from '../support/weft.ts';

/**
 * Typed activities end to end, with real processes (nats-server, `weft serve`, `weft worker
 * test/support/typedActivities.ts`): the worker checks a step's input against the activity's Effect
 * schema before running it, announces the schemas' JSON Schemas, and validation warns about a
 * literal input that does not fit them.
 */

let stack: Stack;
let client: TestClient;

interface Listed {
  readonly name: string;
  readonly workers: number;
  readonly input?: unknown;
  readonly output?: unknown;
}

const history = async (runId: string) =>
  (await client.call<{ events: HistoryEvent[] }>(`weft.runs.${runId}.history`)).events;

/** A run of `typed_charge` with `input`, allowed three attempts with a short backoff. */
const execute = (name: string, input: unknown) =>
  client.call<Summary>(
    'weft.runs.execute',
    {
      blueprint: {
        name,
        steps: [
          act('pay', 'typed_charge', {
            input: '{% $input %}',
            maxAttempts: 3,
            backoff: { initial: '10ms' },
          }),
        ],
      },
      input,
      timeoutMs: 20_000,
    },
    25_000,
  );

beforeAll(async () => {
  stack = await startStack({ workerModule: 'test/support/typedActivities.ts' });
  client = stack.client;
  await waitFor(
    async () =>
      (await client.call<{ activities: Listed[] }>('weft.activities.list')).activities.some(
        (a) => a.name === 'typed_charge' && a.workers === 1,
      ),
    { message: 'typed_charge announced' },
  );
});

afterAll(() => stack.stop());

describe('a typed activity', () => {
  it('a bad input fails the step with invalid_input and the schema message, in one attempt', async () => {
    const log = join(stack.dir, 'bad.log');
    const result = await execute('typed_bad', { amount: 'ten', currency: 'GBP', log });
    expect(result.status).toBe('failed');
    // The run fails as any run whose step failed; the step's own error is in its details.
    expect(result.error).toMatchObject({
      code: 'step_failed',
      stepId: 'pay',
      details: { error: { code: 'invalid_input', retryable: false } },
    });
    expect(result.error?.message).toContain('$.amount: Expected number');
    expect(result.error?.message).toContain('$.currency: Expected "EUR" | "USD"');
    const events = await history(result.runId);
    const attempts = events.filter((e) => e.type === 'StepScheduled');
    const failures = events.filter((e) => e.type === 'StepFailed');
    expect(attempts).toHaveLength(1);
    expect(failures.map((e) => e.data.error)).toEqual([
      expect.objectContaining({ code: 'invalid_input', retryable: false }),
    ]);
    // The activity itself never ran.
    expect(executionsIn(log)).toEqual([]);
  });

  it('a good input runs once and completes with the validated output', async () => {
    const log = join(stack.dir, 'good.log');
    const result = await execute('typed_good', { amount: 12.5, currency: 'EUR', log });
    expect(result.status).toBe('completed');
    expect(result.output).toEqual({ charged: 12.5, currency: 'EUR' });
    expect(executionsIn(log)).toHaveLength(1);
  });

  it('weft.activities.list shows the JSON Schemas of its input and output', async () => {
    const { activities } = await client.call<{ activities: Listed[] }>('weft.activities.list');
    expect(activities.find((a) => a.name === 'typed_charge')).toMatchObject({
      workers: 1,
      input: {
        type: 'object',
        properties: {
          amount: { type: 'number' },
          currency: { type: 'string', enum: ['EUR', 'USD'] },
          log: { type: 'string' },
        },
        required: ['amount', 'currency', 'log'],
      },
      output: {
        type: 'object',
        properties: { charged: { type: 'number' }, currency: { type: 'string' } },
        required: ['charged', 'currency'],
      },
    });
  });

  it('validating a literal input of the wrong type warns at its path; the blueprint stays valid', async () => {
    const checked = await client.call<{
      valid: boolean;
      diagnostics: { path: string; code: string; message: string; severity: string }[];
    }>('weft.blueprints.validate', {
      blueprint: {
        name: 'typed_literal',
        steps: [
          act('pay', 'typed_charge', {
            input: { amount: '12.50', currency: 'EUR', log: '{% $input.log %}' },
          }),
        ],
      },
    });
    expect(checked.valid).toBe(true);
    expect(checked.diagnostics).toEqual([
      {
        path: '$.steps[0].input.amount',
        code: 'input_mismatch',
        message: 'input of activity "typed_charge": expected number, got "12.50"',
        hint: expect.any(String) as unknown,
        severity: 'warning',
      },
    ]);
  });
});
