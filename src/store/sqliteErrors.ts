import type { RefusalReason } from './errors.ts';

/*
 * How the sqlite adapter classifies an SQLite error (node:sqlite puts the extended result code in
 * `errcode`; its low byte is the primary code):
 *
 * | primary code                                   | class                     |
 * | ---------------------------------------------- | ------------------------- |
 * | BUSY 5, LOCKED 6 (another writer holds a lock)  | transient (retry)         |
 * | NOMEM 7, IOERR 10, FULL 13 (disk full), CANTOPEN 14, PROTOCOL 15 | transient |
 * | PERM 3, READONLY 8, AUTH 23                     | refused: `access_denied`  |
 * | CORRUPT 11, NOTADB 26                           | refused: `damaged`        |
 * | TOOBIG 18                                       | refused: `too_large`      |
 * | CONSTRAINT 19, MISMATCH 20, RANGE 25            | refused: `invalid`        |
 * | anything else, or no code                       | transient                 |
 *
 * A UNIQUE violation on `events.id` never reaches this table: the batch writer reports it as an id
 * taken elsewhere (a defect), as the port says.
 */
const REFUSED: ReadonlyMap<number, RefusalReason> = new Map([
  [3, 'access_denied'],
  [8, 'access_denied'],
  [23, 'access_denied'],
  [11, 'damaged'],
  [26, 'damaged'],
  [18, 'too_large'],
  [19, 'invalid'],
  [20, 'invalid'],
  [25, 'invalid'],
]);

/** The refusal an SQLite error means, or undefined when it may pass. Pure. */
export const classifySqliteError = (error: unknown): RefusalReason | undefined => {
  if (typeof error !== 'object' || error === null || !('errcode' in error)) return undefined;
  const code = error.errcode;
  return typeof code === 'number' ? REFUSED.get(code & 0xff) : undefined;
};
