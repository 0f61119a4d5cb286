import * as Data from 'effect/Data';

/** The error codes of CONTRACT §3. */
export type ErrorCode =
  | 'invalid_json'
  | 'invalid_request'
  | 'invalid_blueprint'
  | 'blueprint_not_found'
  | 'run_not_found'
  | 'unknown_signal'
  | 'unknown_query'
  | 'run_not_running'
  | 'payload_too_large'
  | 'timeout'
  | 'unavailable'
  | 'internal';

/** An expected failure answered to the caller as `{ok:false, error:{code, message, details}}`. */
export class WeftError extends Data.TaggedError('WeftError')<{
  readonly code: ErrorCode;
  readonly message: string;
  readonly details?: unknown;
}> {}

export const weftError = (code: ErrorCode, message: string, details?: unknown): WeftError =>
  details === undefined
    ? new WeftError({ code, message })
    : new WeftError({ code, message, details });
