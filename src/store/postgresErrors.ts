import type { RefusalReason } from './errors.ts';

/*
 * How the PostgreSQL adapter classifies a failed query, by the SQLSTATE `pg` puts in `code`:
 *
 * | SQLSTATE                                              | class                     |
 * | ----------------------------------------------------- | ------------------------- |
 * | class 08 (connection), 57P01/57P02/57P03 (shutdown, crash, starting) | transient  |
 * | 40001, 40P01 (serialization failure, deadlock)         | transient                 |
 * | class 53 (insufficient resources: disk, memory, connections) | transient           |
 * | 55P03 (lock not available), 57014 (statement cancelled or timed out) | transient   |
 * | class 58 (system I/O error), 25006 (read-only: a standby before failover ends) | transient |
 * | 42501 (insufficient privilege), class 28 (authorization) | refused: `access_denied` |
 * | class 54 (program limit exceeded: a value too large)  | refused: `too_large`      |
 * | class 22 (data exception), class 23 (integrity), other class 42 (undefined table, syntax), 3D000/3F000 (no such database/schema) | refused: `invalid` |
 * | XX001, XX002 (data or index corrupted)                | refused: `damaged`        |
 * | anything else, and errors without a SQLSTATE (refused connection, timeout, lost socket) | transient |
 *
 * Conflicts and ids already used never reach this table: `append_batch` reports them as outcomes.
 */
export const classifySqlState = (code: string): RefusalReason | undefined => {
  if (code === '42501' || code.startsWith('28')) return 'access_denied';
  if (code.startsWith('54')) return 'too_large';
  if (code === 'XX001' || code === 'XX002') return 'damaged';
  if (
    code.startsWith('22') ||
    code.startsWith('23') ||
    code.startsWith('42') ||
    code === '3D000' ||
    code === '3F000'
  )
    return 'invalid';
  return undefined;
};

/** The refusal a `pg` error means, or undefined when it may pass. Pure. */
export const classifyPostgresError = (error: unknown): RefusalReason | undefined => {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  const code = error.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)
    ? classifySqlState(code)
    : undefined;
};
