import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import {
  AccessDeniedError,
  CancelledError,
  DeadlineExceededError,
  InvalidArgumentError,
  MaxAppendSizeExceededError,
  NotLeaderError,
  StreamDeletedError,
  UnavailableError,
  UnknownError,
  UnsupportedError,
} from '@kurrent/kurrentdb-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseKurrentConnection } from '../../../src/store/kurrentdbConfig.ts';
import { classifyKurrentError, probeConnection } from '../../../src/store/kurrentdbErrors.ts';
import { classifyPostgresError, classifySqlState } from '../../../src/store/postgresErrors.ts';
import { classifySqliteError } from '../../../src/store/sqliteErrors.ts';

/** What `fn` threw (fails the test when it did not throw). */
const thrown = (fn: () => unknown): unknown => {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
};

describe('sqlite error classes, on errors node:sqlite really raises', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'weft-sqlite-errors-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('a write to a read-only connection is refused as access_denied', () => {
    const path = join(dir, 'ro.db');
    const setup = new DatabaseSync(path);
    setup.exec('CREATE TABLE t (x INTEGER)');
    setup.close();
    const db = new DatabaseSync(path, { readOnly: true });
    const error = thrown(() => db.exec('INSERT INTO t VALUES (1)'));
    db.close();
    expect(classifySqliteError(error)).toBe('access_denied');
  });

  it('a file that is not a database is refused as damaged', () => {
    const path = join(dir, 'junk.db');
    writeFileSync(path, 'this is not an sqlite file, only text that goes on '.repeat(200));
    const error = thrown(() => {
      const db = new DatabaseSync(path);
      try {
        db.exec('SELECT * FROM sqlite_master');
      } finally {
        db.close();
      }
    });
    expect(classifySqliteError(error)).toBe('damaged');
  });

  it('a lock held by another writer (SQLITE_BUSY) may pass: not refused', () => {
    const path = join(dir, 'busy.db');
    const holder = new DatabaseSync(path);
    holder.exec('CREATE TABLE t (x INTEGER)');
    holder.exec('BEGIN IMMEDIATE');
    const waiter = new DatabaseSync(path, { timeout: 0 });
    const error = thrown(() => waiter.exec('INSERT INTO t VALUES (1)'));
    holder.exec('ROLLBACK');
    holder.close();
    waiter.close();
    expect(error).toMatchObject({ errcode: 5 });
    expect(classifySqliteError(error)).toBeUndefined();
  });

  it('an error without an SQLite code may pass', () => {
    expect(classifySqliteError(new Error('sqlite writer thread exited'))).toBeUndefined();
  });
});

describe('PostgreSQL error classes (SQLSTATE)', () => {
  it.each([
    ['42501', 'access_denied'],
    ['28P01', 'access_denied'],
    ['54000', 'too_large'],
    ['22P02', 'invalid'],
    ['23502', 'invalid'],
    ['42P01', 'invalid'],
    ['3D000', 'invalid'],
    ['XX001', 'damaged'],
  ] as const)('%s is refused as %s', (code, reason) => {
    expect(classifySqlState(code)).toBe(reason);
  });

  it.each([
    '08006',
    '08001',
    '57P01',
    '57P02',
    '57P03',
    '40001',
    '40P01',
    '53100',
    '53300',
    '55P03',
    '57014',
    '58030',
    '25006',
  ])('%s may pass', (code) => {
    expect(classifySqlState(code)).toBeUndefined();
  });

  it('a socket error (no SQLSTATE) may pass', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), {
      code: 'ECONNREFUSED',
    });
    expect(classifyPostgresError(refused)).toBeUndefined();
    expect(
      classifyPostgresError(Object.assign(new Error('broken pipe'), { code: 'EPIPE' })),
    ).toBeUndefined();
    expect(classifyPostgresError(new Error('Connection terminated unexpectedly'))).toBeUndefined();
  });
});

describe('KurrentDB error classes (the client’s own error classes)', () => {
  it('refuses access denied, oversize, deleted streams and invalid requests for good', () => {
    expect(classifyKurrentError(new AccessDeniedError(undefined, 'Access denied'))).toBe(
      'access_denied',
    );
    expect(classifyKurrentError(MaxAppendSizeExceededError.fromMaxAppendSize(1_048_576))).toBe(
      'too_large',
    );
    expect(classifyKurrentError(StreamDeletedError.fromStreamName('run-x'))).toBe('stream_deleted');
    expect(classifyKurrentError(new InvalidArgumentError('bad event id'))).toBe('invalid');
    expect(classifyKurrentError(new UnsupportedError('batch append', '21.10'))).toBe('invalid');
  });

  it('lets unavailable, timeouts, leader changes, cancellations and unknown errors pass', () => {
    for (const error of [
      new UnavailableError(undefined, 'UnavailableError'),
      new DeadlineExceededError(undefined, 'deadline'),
      new CancelledError(undefined, 'cancelled'),
      new UnknownError(undefined, 'unknown'),
      Object.setPrototypeOf(new Error('not leader'), NotLeaderError.prototype) as Error,
      new Error('14 UNAVAILABLE: No connection established'),
    ])
      expect(classifyKurrentError(error)).toBeUndefined();
  });
});

describe('KurrentDB connection causes (probeConnection), on real sockets', () => {
  it('names a refused port, TLS spoken to an insecure server, and an unreadable CA file', async () => {
    const server = createServer((_, res) => res.end('plain'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    try {
      expect(
        await probeConnection(parseKurrentConnection('kurrentdb://127.0.0.1:1?tls=false')),
      ).toBe('connect ECONNREFUSED 127.0.0.1:1');
      const tls = await probeConnection(parseKurrentConnection(`kurrentdb://127.0.0.1:${port}`));
      expect(tls).toMatch(
        new RegExp(
          `^TLS handshake with 127\\.0\\.0\\.1:${port} failed \\(.+\\): the server may be insecure \\(then add tls=false\\)$`,
        ),
      );
      expect(
        await probeConnection(parseKurrentConnection(`kurrentdb://127.0.0.1:${port}?tls=false`)),
      ).toBeUndefined();
      expect(
        await probeConnection(
          parseKurrentConnection(`kurrentdb://127.0.0.1:${port}?tlsCAFile=%2Fno%2Fsuch%2Fca.pem`),
        ),
      ).toMatch(/^cannot read tlsCAFile: ENOENT/);
    } finally {
      server.close();
    }
  });
});
