import * as Effect from 'effect/Effect';
import * as Layer from 'effect/Layer';
import { EventStore, type EventStoreShape } from './EventStore.ts';
import { StoreUnavailable } from './errors.ts';
import { makeMemoryStore } from './memory.ts';
import { parsePostgresUrl } from './postgresConfig.ts';
import { redactStoreUrl } from './redact.ts';
import { makeSqliteStore } from './sqlite.ts';

export type StoreConfig =
  | { readonly kind: 'memory' }
  | { readonly kind: 'sqlite'; readonly path: string }
  | { readonly kind: 'kurrentdb'; readonly connectionString: string }
  | { readonly kind: 'postgres'; readonly url: string };

const KURRENT_SCHEMES = /^(kurrentdb|kurrent|kdb|esdb)(\+discover)?:\/\//;

const POSTGRES_SCHEMES = /^postgres(ql)?:\/\//;

const redact = redactStoreUrl;

/**
 * Reads a store URL: `memory:`, `sqlite:<path>` (relative paths are relative to the working
 * directory), `postgres://user:password@host:port/db[?schema=name]` (also `postgresql://`), or a KurrentDB connection string (`kurrentdb://`, `kurrentdb+discover://`, and the
 * older `esdb://`, `esdb+discover://`, which are passed on as `kurrentdb`). Pure; throws an Error
 * naming the accepted forms for anything else.
 */
export const parseStoreUrl = (url: string): StoreConfig => {
  if (url === 'memory:') return { kind: 'memory' };
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length);
    if (path.trim() === '')
      throw new Error(`store URL ${JSON.stringify(url)} has no file path (sqlite:<path>)`);
    return { kind: 'sqlite', path };
  }
  if (POSTGRES_SCHEMES.test(url)) {
    parsePostgresUrl(url);
    return { kind: 'postgres', url };
  }
  const kurrent = KURRENT_SCHEMES.exec(url);
  if (kurrent !== null) {
    // The client warns on every `esdb` string; it means the same as `kurrentdb`.
    const connectionString = kurrent[1] === 'esdb' ? `kurrentdb${url.slice('esdb'.length)}` : url;
    return { kind: 'kurrentdb', connectionString };
  }
  throw new Error(
    `unsupported store URL ${JSON.stringify(redact(url))}: expected memory:, sqlite:<path>, postgres://user:password@host:port/db (also postgresql://), or kurrentdb://host:port (also kurrentdb+discover://, esdb://)`,
  );
};

/**
 * Opens a store. The KurrentDB client (gRPC, ~80 MB resident) and the PostgreSQL driver are
 * imported only when a URL asks for them.
 */
const open = async (config: StoreConfig): Promise<EventStoreShape> => {
  switch (config.kind) {
    case 'memory':
      return makeMemoryStore();
    case 'sqlite':
      return makeSqliteStore(config.path);
    case 'kurrentdb':
      return (await import('./kurrentdb.ts')).makeKurrentStore(config.connectionString);
    case 'postgres':
      return (await import('./postgres.ts')).makePostgresStore(config.url);
  }
};

/** Opens the store a URL names. Throws if the URL is malformed or the store cannot be opened. */
export const makeStore = (url: string): Promise<EventStoreShape> => open(parseStoreUrl(url));

/**
 * Provides `EventStore` from a store URL and closes the store when the layer is released. A
 * malformed URL is a defect (a configuration bug); a store that cannot be opened fails the layer
 * with `StoreUnavailable`.
 */
export const storeLayer = (url: string): Layer.Layer<EventStore, StoreUnavailable> =>
  Layer.effect(
    EventStore,
    Effect.acquireRelease(
      Effect.sync(() => parseStoreUrl(url)).pipe(
        Effect.andThen((config) =>
          Effect.tryPromise({
            try: () => open(config),
            catch: (cause) =>
              new StoreUnavailable({
                message: `cannot open store ${redact(url)}: ${cause instanceof Error ? cause.message : String(cause)}`,
                cause,
              }),
          }),
        ),
      ),
      (store) => store.close(),
    ),
  );
