import { randomUUID } from 'node:crypto';
import { Effect } from 'effect';
import { describe, expect, it } from 'vitest';
import { StoreUnavailable } from '../../src/store/errors.ts';
import { makeKurrentStore } from '../../src/store/kurrentdb.ts';
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
      const unavailable = async <A, E>(effect: Effect.Effect<A, E>): Promise<void> => {
        expect(await Effect.runPromise(Effect.flip(effect))).toBeInstanceOf(StoreUnavailable);
      };
      await unavailable(
        store.append('s', [{ id: randomUUID(), type: 'T', data: {} }], 'no_stream'),
      );
      await unavailable(store.read('s'));
      await unavailable(store.revision('s'));
      await unavailable(store.readAll({ limit: 1 }));
      await Effect.runPromise(store.close());
    },
  );

  it('throws at once on a malformed connection string', () => {
    expect(() => makeKurrentStore('kurrentdb://')).toThrow(/expected kurrentdb:\/\//u);
  });
});
