import type { ConnectionOptions, NatsConnection, Subscription } from '@nats-io/transport-node';
import type { ActivityInfo } from '../actors/activities.ts';
import type { StartResult } from '../actors/admission.ts';
import type { Diagnostic } from '../blueprints/diagnostics.ts';
import type { Json } from '../blueprints/json.ts';
import type { Blueprint, QueryDecl, SignalDecl } from '../blueprints/schema.ts';
import type { RunError } from '../machines/events.ts';
import type { RunSummary } from '../projections/runSummary.ts';
import { connectNats, natsAuthFromEnv, type NatsAuth } from '../natsAuth.ts';
import { Subjects } from '../wire/subjects.ts';
import { errorFor, forbiddenOf, TimeoutError, UnavailableError } from './errors.ts';

export * from './errors.ts';
export type { ActivityInfo, Blueprint, Diagnostic, Json, NatsAuth, RunError, RunSummary };

/**
 * The typed weft client (`weft/client`): every request of the NATS API (CONTRACT §3) as a typed
 * method, failures thrown as one error class per code (`./errors.ts`), pages and live events as
 * async iterators. It speaks the same JSON any other-language client speaks; nothing here is
 * private to weft's own processes.
 */

export type RunStatus = RunSummary['status'];

export interface ClientOptions extends Omit<ConnectionOptions, 'servers'> {
  /** NATS URL(s); default `WEFT_NATS_URL`, else `nats://127.0.0.1:4222`. */
  readonly servers?: string | readonly string[];
  /**
   * NATS credentials, TLS files and inbox prefix, as the CLI's flags give them. Without it and
   * without nats.js's own `user`, `pass`, `token`, `authenticator` or `tls`, the `WEFT_NATS_*`
   * environment variables.
   */
  readonly auth?: NatsAuth;
  /** The subject prefix of the weft installation; default `WEFT_PREFIX`, else `weft`. */
  readonly prefix?: string;
  /** How long a request waits for its reply; default 10 s. */
  readonly timeoutMs?: number;
  /** Use this connection instead of opening one (it is not closed by `close()`). */
  readonly connection?: NatsConnection;
}

export interface StartRequest<I extends Json = Json> {
  /** A blueprint's name (its latest version unless `version`), or a whole blueprint inline. */
  readonly blueprint: string | Blueprint;
  readonly version?: number;
  readonly input?: I;
  /** Your id for the run; starting an id that exists returns that run with `existing: true`. */
  readonly runId?: string;
  /** Signals, queries and plugins added for this run alone. */
  readonly signals?: readonly (string | SignalDecl)[];
  readonly queries?: readonly (string | QueryDecl)[];
  readonly plugins?: readonly Json[];
}

export type Started = StartResult;

export interface Executed<O extends Json = Json> {
  readonly runId: string;
  readonly status: RunStatus;
  readonly output?: O;
  readonly error?: RunError;
  readonly warnings?: readonly Diagnostic[];
}

export interface ListFilter {
  readonly status?: RunStatus;
  readonly blueprint?: string;
  /** Runs per page (default 100, at most 1000). */
  readonly pageSize?: number;
}

export interface RunPage {
  readonly runs: readonly RunSummary[];
  /** Give it back as `cursor` for the next page; absent on the last. */
  readonly cursor?: string;
}

/** One event of a run as its stream holds it. */
export interface RunEvent {
  readonly revision: number;
  readonly type: string;
  readonly data: Readonly<Record<string, Json>>;
  /** When it was committed (ISO time). */
  readonly at: string;
}

export interface Validated {
  readonly valid: boolean;
  readonly diagnostics: readonly Diagnostic[];
}

export interface PutBlueprint {
  readonly name: string;
  readonly version: number;
  readonly hash: string;
  readonly created: boolean;
  readonly warnings?: readonly Diagnostic[];
}

export interface StoredBlueprint {
  readonly blueprint: Blueprint;
  readonly version: number;
  readonly hash: string;
}

export interface WeftClient {
  /** The NATS connection, for anything this client does not wrap. */
  readonly nc: NatsConnection;
  start<I extends Json = Json>(request: StartRequest<I>): Promise<Started>;
  /** Starts a run and waits for its end (`timeoutMs`: how long; a `TimeoutError` leaves it running). */
  execute<O extends Json = Json, I extends Json = Json>(
    request: StartRequest<I> & { readonly timeoutMs?: number },
  ): Promise<Executed<O>>;
  get(runId: string): Promise<RunSummary>;
  /** Every run that matches, newest first, read a page at a time as you iterate. */
  list(filter?: ListFilter): AsyncIterable<RunSummary>;
  /** One page of runs (`cursor` from the page before). */
  listPage(filter?: ListFilter & { readonly cursor?: string }): Promise<RunPage>;
  /** A run's events from `from` (default 0) on, read a page at a time as you iterate. */
  history(runId: string, options?: { readonly from?: number }): AsyncIterable<RunEvent>;
  /** Sends a signal; resolves once the run has recorded it. */
  signal(runId: string, name: string, payload?: Json): Promise<{ readonly accepted: true }>;
  query<T = Json>(runId: string, name: string, args?: Json): Promise<T>;
  cancel(runId: string, reason?: string): Promise<{ readonly cancelled: boolean }>;
  /**
   * The run's events as they happen: those already recorded first (from `from`, default 0), then
   * each new one, in order, none twice, none missing; ends after the run's last event.
   */
  watch(runId: string, options?: { readonly from?: number }): AsyncIterable<RunEvent>;
  /** What the workers serve now. */
  activities(): Promise<readonly ActivityInfo[]>;
  readonly blueprints: {
    put(blueprint: Blueprint): Promise<PutBlueprint>;
    get(name: string, version?: number): Promise<StoredBlueprint>;
    list(): Promise<readonly { readonly name: string; readonly latestVersion: number }[]>;
    delete(name: string): Promise<{ readonly deleted: boolean }>;
    validate(blueprint: unknown): Promise<Validated>;
    /** The JSON Schema of blueprints (draft 2020-12): what a model is given to write one. */
    schema(): Promise<Json>;
  };
  close(): Promise<void>;
}

/** The last event types of a run. */
const ENDS = new Set(['RunCompleted', 'RunFailed', 'RunCancelled', 'RunTimedOut']);
const HISTORY_PAGE = 1000;

type Reply<T> =
  | { readonly ok: true; readonly data: T }
  | {
      readonly ok: false;
      readonly error: {
        readonly code: string;
        readonly message: string;
        readonly details?: unknown;
      };
    };

/** One request of the NATS API: its data, or the error for its code. */
export const requester =
  (nc: NatsConnection, defaultTimeoutMs = 10_000) =>
  async <T>(subject: string, body: unknown, timeoutMs = defaultTimeoutMs): Promise<T> => {
    let reply;
    try {
      reply = await nc.request(subject, JSON.stringify(body ?? {}), { timeout: timeoutMs });
    } catch (error) {
      const forbidden = forbiddenOf(error);
      if (forbidden !== undefined) throw forbidden;
      const message = (error as Error).message;
      if (/no responders/iu.test(message) || (error as { code?: string }).code === '503')
        throw new UnavailableError(
          `no weft runtime answers on ${subject} (is 'weft serve' or 'weft dev' running?)`,
        );
      if (/timeout/iu.test(message))
        throw new TimeoutError(`no reply on ${subject} within ${String(timeoutMs)} ms`);
      throw new UnavailableError(message);
    }
    const parsed = reply.json<Reply<T>>();
    if (parsed.ok) return parsed.data;
    throw errorFor(parsed.error.code, parsed.error.message, parsed.error.details);
  };

const DEFAULT_NATS = 'nats://127.0.0.1:4222';

/** nats.js options that say how to authenticate: given any, the environment's are not used. */
const OWN_AUTH = ['user', 'pass', 'token', 'authenticator', 'tls'] as const;

/**
 * Connects (unless given `connection`). Refused credentials or an unreachable NATS throw an
 * `UnavailableError` at once (`NATS at <url> refused the credentials: …`, `cannot reach NATS at
 * <url>: …`), with no password in it; unusable `auth` settings an `InvalidRequestError`.
 */
export const createClient = async (options: ClientOptions = {}): Promise<WeftClient> => {
  const { servers, prefix, timeoutMs, connection, auth, ...connectionOptions } = options;
  let nc: NatsConnection;
  if (connection !== undefined) nc = connection;
  else {
    const ownAuth = OWN_AUTH.some((key) => connectionOptions[key] !== undefined);
    nc = await connectNats(
      servers ?? process.env.WEFT_NATS_URL ?? DEFAULT_NATS,
      auth ?? (ownAuth ? {} : natsAuthFromEnv()),
      { name: 'weft-client', ...connectionOptions },
    );
  }
  const s = new Subjects(prefix ?? process.env.WEFT_PREFIX ?? 'weft');
  const ask = requester(nc, timeoutMs);

  const listPage = (filter: ListFilter & { readonly cursor?: string } = {}) =>
    ask<RunPage>(s.runs('list'), {
      ...(filter.status === undefined ? {} : { status: filter.status }),
      ...(filter.blueprint === undefined ? {} : { blueprint: filter.blueprint }),
      ...(filter.pageSize === undefined ? {} : { limit: filter.pageSize }),
      ...(filter.cursor === undefined ? {} : { cursor: filter.cursor }),
    });

  const historyPage = (runId: string, from: number) =>
    ask<{ events: RunEvent[]; next?: number }>(s.run(runId, 'history'), {
      from,
      limit: HISTORY_PAGE,
    });

  async function* history(runId: string, from = 0): AsyncGenerator<RunEvent> {
    for (let next: number | undefined = from; next !== undefined;) {
      const page: { events: RunEvent[]; next?: number } = await historyPage(runId, next);
      yield* page.events;
      next = page.next;
    }
  }

  async function* watch(runId: string, from = 0): AsyncGenerator<RunEvent> {
    // Listen before reading what is recorded, so nothing falls between the two.
    const live: Subscription = nc.subscribe(s.run(runId, 'events'));
    let expected = from;
    try {
      for await (const event of history(runId, from)) {
        expected = event.revision + 1;
        yield event;
        if (ENDS.has(event.type)) return;
      }
      for await (const msg of live) {
        const event = msg.json<RunEvent>();
        if (event.revision < expected) continue;
        // A gap (a message lost, or published before we listened): read it from the history.
        const missed: AsyncIterable<RunEvent> | readonly RunEvent[] =
          event.revision > expected ? history(runId, expected) : [event];
        for await (const found of missed) {
          if (found.revision < expected) continue;
          expected = found.revision + 1;
          yield found;
          if (ENDS.has(found.type)) return;
        }
      }
    } catch (error) {
      throw forbiddenOf(error) ?? error;
    } finally {
      live.unsubscribe();
    }
  }

  async function* list(filter: ListFilter = {}): AsyncGenerator<RunSummary> {
    let cursor: string | undefined;
    do {
      const page: RunPage = await listPage({
        ...filter,
        ...(cursor === undefined ? {} : { cursor }),
      });
      yield* page.runs;
      cursor = page.cursor;
    } while (cursor !== undefined);
  }

  return {
    nc,
    start: (request) => ask<Started>(s.runs('start'), request),
    execute: (request) =>
      ask(
        s.runs('execute'),
        request,
        // The reply comes when the run ends: wait a little longer than the run may take.
        (request.timeoutMs ?? 30_000) + (timeoutMs ?? 10_000),
      ),
    get: (runId) => ask<RunSummary>(s.run(runId, 'get'), {}),
    list: (filter) => list(filter),
    listPage,
    history: (runId, options) => history(runId, options?.from ?? 0),
    signal: (runId, name, payload) => ask(s.signal(runId, name), payload ?? {}),
    query: (runId, name, args) => ask(s.query(runId, name), args === undefined ? {} : { args }),
    cancel: (runId, reason) => ask(s.run(runId, 'cancel'), reason === undefined ? {} : { reason }),
    watch: (runId, options) => watch(runId, options?.from ?? 0),
    activities: async () =>
      (await ask<{ activities: ActivityInfo[] }>(s.activities('list'), {})).activities,
    blueprints: {
      put: (blueprint) => ask<PutBlueprint>(s.blueprints('put'), { blueprint }),
      get: (name, version) =>
        ask<StoredBlueprint>(
          s.blueprints('get'),
          version === undefined ? { name } : { name, version },
        ),
      list: async () =>
        (
          await ask<{ blueprints: { name: string; latestVersion: number }[] }>(
            s.blueprints('list'),
            {},
          )
        ).blueprints,
      delete: (name) => ask(s.blueprints('delete'), { name }),
      validate: (blueprint) => ask<Validated>(s.blueprints('validate'), { blueprint }),
      schema: async () => (await ask<{ schema: Json }>(s.blueprints('schema'), {})).schema,
    },
    close: async () => {
      if (connection === undefined) await nc.close();
    },
  };
};
