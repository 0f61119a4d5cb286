import * as Result from 'effect/Result';
import { checkJsonText, describeTextProblem, MAX_JSON_DEPTH } from '../wire/jsonText.ts';
import { overCap } from '../wire/payloadCap.ts';
import { decodeTaskResult, type TaskResult } from '../wire/protocol.ts';
import { resultTooLarge } from './storeFit.ts';

/**
 * A worker's result from a message of either path (`<p>.tasks.report.<runId>`,
 * `<p>.tasks.result.<runId>`), or why it is not one. Pure. A result the runtime could not record
 * as sent (invalid UTF-8, an unpaired surrogate, nesting deeper than `MAX_JSON_DEPTH`, which would
 * overflow the stack when hashed) fails its attempt with `invalid_result`, not retried: refusing
 * it would have it offered again forever. One whose output (or error) is over `cap` bytes
 * (`--max-payload`) fails its attempt with `payload_too_large` (`resultTooLarge`, as one the store
 * cannot take), its value never stored.
 */
export const readResult = (
  msg: { readonly data: Uint8Array },
  cap: number,
): TaskResult | 'invalid json' | 'invalid result' => {
  const checked = checkJsonText(msg.data, MAX_JSON_DEPTH);
  let payload: unknown;
  try {
    payload = JSON.parse(checked.ok ? checked.text : new TextDecoder().decode(msg.data));
  } catch {
    return 'invalid json';
  }
  const decoded = decodeTaskResult(
    checked.ok
      ? payload
      : {
          ...resultIds(payload),
          ok: false,
          error: {
            code: 'invalid_result',
            message: describeTextProblem("the worker's result", checked.problem),
            retryable: false,
          },
        },
  );
  if (Result.isFailure(decoded)) return 'invalid result';
  const result = decoded.success;
  const over = overCap(
    result.ok ? "the activity's output" : "the activity's error",
    result.ok ? result.output : result.error,
    cap,
    msg.data.length,
  );
  if (over === undefined) return result;
  const { taskId, runId, stepId, attempt, offerId } = result;
  return {
    taskId,
    runId,
    stepId,
    attempt,
    ...(offerId === undefined ? {} : { offerId }),
    ok: false,
    error: resultTooLarge(over.message),
  };
};

/** The attempt a result names (its top-level fields only, which are shallow whatever the output). */
const resultIds = (payload: unknown): Record<string, unknown> => {
  if (typeof payload !== 'object' || payload === null) return {};
  const { taskId, runId, stepId, attempt } = payload as Record<string, unknown>;
  return { taskId, runId, stepId, attempt };
};
