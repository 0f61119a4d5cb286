import type { Json } from '../blueprints/json.ts';
import type { RunEvent } from '../machines/events.ts';
import type { StoreLimits } from '../store/EventStore.ts';
import { dataBytes } from '../store/shared.ts';

/*
 * How the supervisor keeps its appends within the store's `limits` (EventStore.ts): sizes are
 * measured only after the store refused an append as too large, so the usual append costs nothing
 * more. Pure.
 */

/** An event's data as the store receives it (the event without its `type`). */
export const dataOf = (event: RunEvent): Json => {
  const { type: _type, ...data } = event;
  return data as unknown as Json;
};

/** The size the store's limits count for each event (EventStore.ts `StoreLimits`). */
const sizesOf = (events: readonly RunEvent[]): number[] =>
  events.map((e) => dataBytes(JSON.stringify(dataOf(e))));

/**
 * Why `events` cannot be one append under `limits`, naming both sizes; undefined when they fit.
 */
export const overLimits = (
  events: readonly RunEvent[],
  limits: StoreLimits,
): string | undefined => {
  const sizes = sizesOf(events);
  const largest = Math.max(0, ...sizes);
  if (largest > limits.maxEventBytes) {
    const event = events[sizes.indexOf(largest)];
    return `its ${event?.type ?? 'event'} event is ${largest} bytes, over the largest event the store takes (${limits.maxEventBytes} bytes)`;
  }
  const total = sizes.reduce((a, b) => a + b, 0);
  return total > limits.maxAppendBytes
    ? `its ${events.length} events are ${total} bytes together, over the largest append the store takes (${limits.maxAppendBytes} bytes)`
    : undefined;
};

/**
 * How many messages, from the first, fit in one append: their events (`perMessage[i]`, in order)
 * each within `maxEventBytes` and together within `maxAppendBytes`. 0 when the first alone does not.
 */
export const fittingHead = (
  perMessage: readonly (readonly RunEvent[])[],
  limits: StoreLimits,
): number => {
  let total = 0;
  for (const [i, events] of perMessage.entries()) {
    const sizes = sizesOf(events);
    total += sizes.reduce((a, b) => a + b, 0);
    if (sizes.some((s) => s > limits.maxEventBytes) || total > limits.maxAppendBytes) return i;
  }
  return perMessage.length;
};

/**
 * How a worker's result too large to record fails its attempt, whichever limit it passed (the
 * payload cap, `--max-payload`, checked as it arrives; or the store's, found when an append is
 * refused): code `payload_too_large`, not retried, since the same activity would return the same
 * value again.
 */
export const resultTooLarge = (
  why: string,
): { readonly code: 'payload_too_large'; readonly message: string; readonly retryable: false } => ({
  code: 'payload_too_large',
  message: `the worker's result cannot be recorded: ${why}`,
  retryable: false,
});

/**
 * A worker's result (`StepCompleted` or `StepFailed`) that the store cannot take, as its attempt
 * failing with `resultTooLarge`; undefined for any other event.
 */
export const asOversizedResult = (event: RunEvent, why: string): RunEvent | undefined => {
  if (event.type !== 'StepCompleted' && event.type !== 'StepFailed') return undefined;
  return {
    type: 'StepFailed',
    stepId: event.stepId,
    ...(event.item === undefined ? {} : { item: event.item }),
    taskId: event.taskId,
    attempt: event.attempt,
    error: resultTooLarge(why),
    ...(event.time === undefined ? {} : { time: event.time }),
  };
};
