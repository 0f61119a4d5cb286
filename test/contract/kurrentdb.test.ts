import { randomUUID } from 'node:crypto';
import { Effect } from 'effect';
import { describe, expect, it } from 'vitest';
import { StoreUnavailable } from '../../src/store/errors.ts';
import { makeKurrentStore } from '../../src/store/kurrentdb.ts';
import { parseKurrentConnection } from '../../src/store/kurrentdbConfig.ts';
import { eventStoreContract } from './eventStore.contract.ts';

// Runs only against a server named by WEFT_TEST_KURRENTDB, e.g. kurrentdb://localhost:2113?tls=false.
// Stream names carry a prefix unique to this run, so a shared server is fine.
const connectionString = process.env['WEFT_TEST_KURRENTDB'];

describe.skipIf(connectionString === undefined || connectionString === '')('kurrentdb', () => {
  const prefix = `weft-test-${randomUUID().slice(0, 8)}-`;
  eventStoreContract('kurrentdb', () => makeKurrentStore(connectionString ?? ''), {
    streamPrefix: prefix,
    propertyRuns: 10,
    timeout: 60_000,
  });
});

// These need no server: they check how the adapter reports an unreachable one.
describe('kurrentdb adapter without a server', () => {
  const unreachable = 'kurrentdb://127.0.0.1:1?tls=false&maxDiscoverAttempts=1';

  it(
    'reports an unreachable server as StoreUnavailable on every operation',
    { timeout: 30_000 },
    async () => {
      const store = makeKurrentStore(unreachable);
      // Each names the operation, the server and the cause (the client's reads report none).
      const unavailable = async <A, E>(
        what: string,
        effect: Effect.Effect<A, E>,
      ): Promise<void> => {
        const error = await Effect.runPromise(Effect.flip(effect));
        expect(error).toBeInstanceOf(StoreUnavailable);
        expect((error as StoreUnavailable).message).toMatch(
          new RegExp(
            `^kurrentdb kurrentdb://127\\.0\\.0\\.1:1\\S* ${what}: .*ECONNREFUSED 127\\.0\\.0\\.1:1`,
          ),
        );
      };
      // Four in a row: the third replaces the client (RECREATE_AFTER), which must go on working.
      for (let i = 0; i < 4; i++)
        await unavailable(
          'append',
          store.append('s', [{ id: randomUUID(), type: 'T', data: {} }], 'no_stream'),
        );
      await unavailable('read', store.read('s'));
      await unavailable('revision', store.revision('s'));
      await unavailable('readAll', store.readAll({ limit: 1 }));
      await Effect.runPromise(store.close());
    },
  );

  it('states its limits from the server default MaxAppendSize less a 64 KiB margin, or from maxAppendSize=, which the client never sees', () => {
    const plain = parseKurrentConnection('kurrentdb://admin:changeit@db.example:2113?tls=false');
    expect(plain.limits).toEqual({ maxEventBytes: 983_040, maxAppendBytes: 983_040 });
    expect(plain.connectionString).toBe('kurrentdb://admin:changeit@db.example:2113?tls=false');
    expect(plain).toMatchObject({ host: 'db.example', port: 2113, tls: false });
    expect(plain.redacted).toBe('kurrentdb://admin:***@db.example:2113?tls=false');
    const sized = parseKurrentConnection(
      'kurrentdb+discover://u:p@a:2113,b:2114?maxAppendSize=4194304&tlsCAFile=%2Fetc%2Fca.pem',
    );
    expect(sized.limits.maxAppendBytes).toBe(4_194_304 - 65_536);
    expect(sized.connectionString).toBe(
      'kurrentdb+discover://u:p@a:2113,b:2114?tlsCAFile=%2Fetc%2Fca.pem',
    );
    expect(sized).toMatchObject({ host: 'a', port: 2113, tls: true, caFile: '/etc/ca.pem' });
    expect(
      makeKurrentStore('kurrentdb://127.0.0.1:1?tls=false&maxAppendSize=2097152').limits
        .maxAppendBytes,
    ).toBe(2_097_152 - 65_536);
    expect(() => parseKurrentConnection('kurrentdb://h?maxAppendSize=lots')).toThrow(
      /maxAppendSize/,
    );
    // The client would print an unknown option with the whole string, password included.
    expect(() =>
      parseKurrentConnection('kurrentdb://u:pw-123@h?Tls_Verify-Cert=false&tlss=false'),
    ).toThrow(/^kurrentdb connection string: unknown option "tlss"(?!.*pw-123)/s);
  });

  it('throws at once on a malformed connection string', () => {
    expect(() => makeKurrentStore('kurrentdb://')).toThrow(/expected kurrentdb:\/\//u);
  });
});
