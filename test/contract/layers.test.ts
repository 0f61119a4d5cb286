import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Context, Effect, Layer } from 'effect';
import { afterEach, describe, expect, it } from 'vitest';
import { EventStore } from '../../src/store/EventStore.ts';
import { StoreUnavailable } from '../../src/store/errors.ts';
import { makeStore, parseStoreUrl, storeLayer } from '../../src/store/layers.ts';
import { parsePostgresUrl } from '../../src/store/postgresConfig.ts';
import { redactStoreUrl } from '../../src/store/redact.ts';
import { defectOf } from './eventStore.contract.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
const tempDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-layer-'));
  dirs.push(dir);
  return dir;
};

describe('parseStoreUrl', () => {
  it('reads memory, sqlite and KurrentDB URLs', () => {
    expect(parseStoreUrl('memory:')).toEqual({ kind: 'memory' });
    expect(parseStoreUrl('sqlite:./data/weft.db')).toEqual({
      kind: 'sqlite',
      path: './data/weft.db',
    });
    expect(parseStoreUrl('sqlite:/abs/weft.db')).toEqual({ kind: 'sqlite', path: '/abs/weft.db' });
    for (const url of [
      'kurrentdb://localhost:2113?tls=false',
      'kurrentdb+discover://admin:changeit@cluster.local:2113',
    ]) {
      expect(parseStoreUrl(url)).toEqual({ kind: 'kurrentdb', connectionString: url });
    }
    expect(parseStoreUrl('esdb://localhost:2113?tls=false')).toEqual({
      kind: 'kurrentdb',
      connectionString: 'kurrentdb://localhost:2113?tls=false',
    });
    expect(parseStoreUrl('esdb+discover://h:2113')).toEqual({
      kind: 'kurrentdb',
      connectionString: 'kurrentdb+discover://h:2113',
    });
  });

  it('rejects anything else with a message naming the accepted forms', () => {
    for (const url of ['', 'memory', 'sqlite:', 'http://localhost:2113', 'file:weft.db']) {
      expect(() => parseStoreUrl(url)).toThrow(/memory:|sqlite:<path>/);
    }
  });

  it('reads postgres:// and postgresql:// URLs, checking the schema name', () => {
    for (const url of [
      'postgres://weft:secret@db.local:5433/events',
      'postgresql://weft@localhost/weft?schema=weft_prod&sslmode=disable',
    ]) {
      expect(parseStoreUrl(url)).toEqual({ kind: 'postgres', url });
    }
    expect(parsePostgresUrl('postgresql://u:p@db.local/events?schema=s1&sslmode=disable')).toEqual({
      connectionString: 'postgresql://u:p@db.local/events?sslmode=disable',
      schema: 's1',
      target: 'db.local:5432/events',
    });
    expect(() => parseStoreUrl('postgres://u:secret@h/db?schema=Bad-Name')).toThrow(
      /^invalid schema name "Bad-Name"(?!.*secret)/s,
    );
  });

  it('redacts passwords wherever a store URL is printed', () => {
    expect(redactStoreUrl('postgres://weft:s3cr%40t@db:5432/weft?schema=a')).toBe(
      'postgres://weft:***@db:5432/weft?schema=a',
    );
    expect(redactStoreUrl('postgresql://db/weft?user=u&password=p&x=1')).toBe(
      'postgresql://db/weft?user=u&password=***&x=1',
    );
    expect(redactStoreUrl('sqlite:./.weft/events.db')).toBe('sqlite:./.weft/events.db');
  });

  it('keeps passwords out of its messages', () => {
    expect(() => parseStoreUrl('kurentdb://admin:secret@host:2113')).toThrow(/^(?!.*secret).*$/s);
  });
});

describe('makeStore', () => {
  it('opens the store the URL names', async () => {
    const store = await makeStore(`sqlite:${join(tempDir(), 'a', 'weft.db')}`);
    await Effect.runPromise(store.append('s', [{ id: 'e', type: 'T', data: 1 }], 'no_stream'));
    expect(await Effect.runPromise(store.revision('s'))).toBe(0);
    await Effect.runPromise(store.close());
  });
});

describe('storeLayer', () => {
  it('provides EventStore and closes it when the layer is released', async () => {
    for (const url of ['memory:', `sqlite:${join(tempDir(), 'weft.db')}`]) {
      const store = await Effect.runPromise(
        Effect.scoped(
          Effect.gen(function* () {
            const context = yield* Layer.build(storeLayer(url));
            const store = Context.get(context, EventStore);
            yield* store.append('s', [{ id: 'e', type: 'T', data: 1 }], 'no_stream');
            expect(yield* store.revision('s')).toBe(0);
            return store;
          }),
        ),
      );
      const error = await Effect.runPromise(Effect.flip(store.revision('s')));
      expect(error).toBeInstanceOf(StoreUnavailable);
    }
  });

  it('serves programs through Effect.provide', async () => {
    const program = Effect.gen(function* () {
      const store = yield* EventStore;
      yield* store.append('s', [{ id: 'e', type: 'T', data: 'x' }], 'no_stream');
      return yield* store.read('s');
    });
    const read = await Effect.runPromise(Effect.provide(program, storeLayer('memory:')));
    expect(read.map((e) => e.data)).toEqual(['x']);
  });

  it('fails with StoreUnavailable when the store cannot be opened', async () => {
    // A directory cannot be opened as a database file.
    const error = await Effect.runPromise(
      Effect.flip(Layer.build(storeLayer(`sqlite:${tempDir()}`)).pipe(Effect.scoped)),
    );
    expect(error).toBeInstanceOf(StoreUnavailable);
  });

  it('dies on a malformed URL: a configuration bug, not an outage', async () => {
    const defect = await defectOf(Layer.build(storeLayer('nope')).pipe(Effect.scoped));
    expect(defect).toBeInstanceOf(Error);
    expect((defect as Error).message).toMatch(/^unsupported store URL "nope"/u);
  });
});
