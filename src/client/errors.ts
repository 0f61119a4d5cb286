import { PermissionViolationError } from '@nats-io/transport-node';
import type { Diagnostic } from '../blueprints/diagnostics.ts';
import type { ErrorCode } from '../wire/errors.ts';

/**
 * The errors a weft client sees: one class per error code of the NATS API (CONTRACT §3), each a
 * `WeftClientError` with the reply's `code`, `message` and `details`. `catch (e) { if (e instanceof
 * RunNotFoundError) … }`, or switch on `e.code`.
 */

export class WeftClientError extends Error {
  readonly code: string;
  readonly details: unknown;
  constructor(code: string, message: string, details?: unknown) {
    super(message);
    this.name = 'WeftClientError';
    this.code = code;
    this.details = details;
  }
}

const coded = <C extends ErrorCode>(code: C, name: string) =>
  class extends WeftClientError {
    declare readonly code: C;
    constructor(message: string, details?: unknown) {
      super(code, message, details);
      this.name = name;
    }
  };

export class InvalidJsonError extends coded('invalid_json', 'InvalidJsonError') {}
export class InvalidRequestError extends coded('invalid_request', 'InvalidRequestError') {}
/** The blueprint has errors: every one of them in `diagnostics`. */
export class InvalidBlueprintError extends coded('invalid_blueprint', 'InvalidBlueprintError') {
  get diagnostics(): readonly Diagnostic[] {
    const found = (this.details as { diagnostics?: readonly Diagnostic[] } | undefined)
      ?.diagnostics;
    return found ?? [];
  }
}
export class BlueprintNotFoundError extends coded(
  'blueprint_not_found',
  'BlueprintNotFoundError',
) {}
export class RunNotFoundError extends coded('run_not_found', 'RunNotFoundError') {}
export class UnknownSignalError extends coded('unknown_signal', 'UnknownSignalError') {}
export class UnknownQueryError extends coded('unknown_query', 'UnknownQueryError') {}
export class RunNotRunningError extends coded('run_not_running', 'RunNotRunningError') {}
export class PayloadTooLargeError extends coded('payload_too_large', 'PayloadTooLargeError') {}
/** No reply in time (the request may still have been carried out: a start is safe to repeat with its `runId`). */
export class TimeoutError extends coded('timeout', 'TimeoutError') {}
/** No weft runtime answers, or NATS cannot be reached. */
export class UnavailableError extends coded('unavailable', 'UnavailableError') {}
export class InternalError extends coded('internal', 'InternalError') {}

/**
 * NATS did not let this connection's user publish or subscribe a subject it needed (a NATS
 * "Permissions Violation"): the request never reached weft, and trying again will not help until
 * the user's permissions, the prefix or the inbox prefix change. A client-side code: no weft reply
 * carries it. `details`: `{operation: "publish" | "subscription", subject}`.
 */
export class ForbiddenError extends WeftClientError {
  declare readonly code: 'forbidden';
  declare readonly details: {
    readonly operation: 'publish' | 'subscription';
    readonly subject: string;
  };
  constructor(operation: 'publish' | 'subscription', subject: string) {
    const inbox = operation === 'subscription' && /^_INBOX[._]/u.test(subject);
    super(
      'forbidden',
      operation === 'publish'
        ? `NATS does not let this user publish to "${subject}" (Permissions Violation): the user's permissions must allow it`
        : inbox
          ? `NATS does not let this user read replies on "${subject}" (Permissions Violation): connect with the inbox prefix its permissions allow (--inbox-prefix, WEFT_NATS_INBOX_PREFIX, or the inboxPrefix option)`
          : `NATS does not let this user subscribe to "${subject}" (Permissions Violation): the user's permissions must allow it`,
      { operation, subject },
    );
    this.name = 'ForbiddenError';
  }
}

/** The `ForbiddenError` of a NATS Permissions Violation (itself or as a request's cause), else undefined. */
export const forbiddenOf = (error: unknown): ForbiddenError | undefined => {
  const violation =
    error instanceof PermissionViolationError
      ? error
      : (error as { cause?: unknown } | undefined)?.cause;
  return violation instanceof PermissionViolationError
    ? new ForbiddenError(violation.operation, violation.subject)
    : undefined;
};

const BY_CODE: Readonly<
  Record<ErrorCode, new (message: string, details?: unknown) => WeftClientError>
> = {
  invalid_json: InvalidJsonError,
  invalid_request: InvalidRequestError,
  invalid_blueprint: InvalidBlueprintError,
  blueprint_not_found: BlueprintNotFoundError,
  run_not_found: RunNotFoundError,
  unknown_signal: UnknownSignalError,
  unknown_query: UnknownQueryError,
  run_not_running: RunNotRunningError,
  payload_too_large: PayloadTooLargeError,
  timeout: TimeoutError,
  unavailable: UnavailableError,
  internal: InternalError,
};

/** The error for a reply's code: its own class, or `WeftClientError` for a code this SDK does not know. */
export const errorFor = (code: string, message: string, details?: unknown): WeftClientError => {
  const known = Object.hasOwn(BY_CODE, code) ? BY_CODE[code as ErrorCode] : undefined;
  return known === undefined
    ? new WeftClientError(code, message, details)
    : new known(message, details);
};
