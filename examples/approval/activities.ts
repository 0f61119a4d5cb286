import { TerminalError, type ActivityContext } from 'weft/worker';
import { asNumber, asObject, asString, pause } from '../lib.ts';

/** Activities of `approval`. Deterministic; `delayMs` in the input makes the first step slow on purpose. */

/** `{requestId, amount, delayMs?}` → the request to approve, after `delayMs` (at most 10 s) of work. */
export const approval_prepare = async (
  input: unknown,
  ctx: ActivityContext,
): Promise<{ requestId: string; amount: number }> => {
  const { requestId, amount, delayMs } = asObject(input);
  if (typeof requestId !== 'string' || requestId === '')
    throw new TerminalError('approval_prepare needs a requestId');
  await pause(Math.min(10_000, asNumber(delayMs)), ctx.signal);
  return { requestId, amount: asNumber(amount) };
};

/** `{request, decision, slept}` → the outcome, quoting the approver's payload. */
export const approval_finalize = (
  input: unknown,
): { requestId: string; amount: number; status: string; decision: unknown; cooledOff: boolean } => {
  const { request, decision, slept } = asObject(input);
  const r = asObject(request);
  return {
    requestId: asString(r.requestId),
    amount: asNumber(r.amount),
    status: asObject(decision).approved === true ? 'approved' : 'rejected',
    decision: decision ?? null,
    cooledOff: slept === null,
  };
};
