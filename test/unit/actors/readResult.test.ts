import { describe, expect, it } from 'vitest';
import { readResult } from '../../../src/actors/readResult.ts';

/**
 * README "Security", Limits: a worker's result over `--max-payload` fails its attempt with
 * `payload_too_large` (not retried), as a result too large for the store does; its value is
 * never passed on to be stored.
 */

const message = (result: Record<string, unknown>) => ({
  data: new TextEncoder().encode(JSON.stringify(result)),
});
const ids = { taskId: 'r:a:1', runId: 'r', stepId: 'a', attempt: 2, offerId: 'o1' };

describe("a worker's result", () => {
  it('within the cap is passed on as sent', () => {
    const result = { ...ids, ok: true, output: 'x'.repeat(100) };
    expect(readResult(message(result), 102)).toEqual(result);
  });

  it('whose output is over the cap becomes its attempt failing with payload_too_large, naming the size and the cap', () => {
    const read = readResult(message({ ...ids, ok: true, output: 'x'.repeat(101) }), 102);
    expect(read).toEqual({
      ...ids,
      ok: false,
      error: {
        code: 'payload_too_large',
        message:
          "the worker's result cannot be recorded: the activity's output is 103 bytes, over the cap of 102 bytes (--max-payload)",
        retryable: false,
      },
    });
  });

  it('whose error is over the cap fails the same way', () => {
    const error = { message: 'y'.repeat(200), code: 'boom', retryable: true };
    expect(readResult(message({ ...ids, ok: false, error }), 150)).toMatchObject({
      ...ids,
      ok: false,
      error: { code: 'payload_too_large', retryable: false },
    });
  });
});
