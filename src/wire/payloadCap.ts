import { weftError, type WeftError } from './errors.ts';
import { jsonBytes } from './fit.ts';
import { REPLY_RESERVE_BYTES } from './pages.ts';

/**
 * The payload cap (`--max-payload`, README "Security"): the largest start input, signal payload,
 * query `args` and activity result weft takes, in bytes of the value's JSON as weft stores it
 * (UTF-8 of `JSON.stringify`). Pure.
 */

/** `--max-payload`'s default: 1 MB. */
export const DEFAULT_MAX_PAYLOAD = 1_000_000;

/**
 * The cap in force on a connection whose server allows `natsMaxPayload` bytes per message: the
 * configured cap, but never more than one message can carry with a reply's envelope around it.
 * An accepted value must travel whole again: in `execute`'s and `get`'s replies, in a query's
 * answer, in the history and on `runs.<id>.events`, and inside a call one runtime forwards to the
 * run's owner.
 */
export const payloadCap = (configured: number, natsMaxPayload: number): number =>
  Math.min(configured, natsMaxPayload - REPLY_RESERVE_BYTES);

/**
 * One JSON token can grow on the way through `JSON.parse` and `JSON.stringify` (`9e20` is written
 * out as 21 digits), never more than this many times: a message at most `cap / MAX_GROWTH` bytes
 * long holds no value over `cap`, and is not measured.
 */
const MAX_GROWTH = 6;

/**
 * `payload_too_large` naming `what`, its size and the cap (`details: {bytes, maxPayload}`), or
 * undefined when `value` fits. `messageBytes`, when given, is the length of the message `value`
 * was parsed from: a short message is let through without measuring anything.
 */
export const overCap = (
  what: string,
  value: unknown,
  cap: number,
  messageBytes?: number,
): WeftError | undefined => {
  if (messageBytes !== undefined && messageBytes * MAX_GROWTH <= cap) return undefined;
  const bytes = jsonBytes(value);
  return bytes <= cap
    ? undefined
    : weftError(
        'payload_too_large',
        `${what} is ${bytes} bytes, over the cap of ${cap} bytes (--max-payload)`,
        { bytes, maxPayload: cap },
      );
};
