import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { parseDuration } from '../blueprints/duration.ts';
import { validateBlueprint } from '../blueprints/validate.ts';
import { compileBlueprint } from '../machines/compile.ts';
import { foldTo, stateOf, type StoredEvent } from '../machines/replay.ts';
import { blueprintGraph, startedTasks, stepStates } from '../projections/runGraph.ts';
import { Subjects } from '../wire/subjects.ts';
import { serveAssets } from './assets.ts';
import { refusal } from './auth.ts';

/**
 * The HTTP face of weft (the UI's API): each route is one request of the NATS API (CONTRACT §3),
 * sent as any client sends it, its reply passed on as it came (`{ok, data}` or `{ok: false,
 * error}`) with an HTTP status for its error code; and `/api/events`, a server-sent-events stream
 * of run events (all runs, or one). It holds no state and decides nothing: the runtimes answer.
 */

export interface HttpOptions {
  readonly nc: NatsConnection;
  readonly prefix: string;
  readonly host: string;
  readonly port: number;
  /** Refuse every route that changes something (start, signal, cancel, put) with `read_only`. */
  readonly readOnly?: boolean;
  /**
   * A bearer token every `/api` request must carry (`Authorization: Bearer <token>`; `GET
   * /api/events` may give it as `?access_token=`, since a browser's EventSource cannot set
   * headers), else `401 unauthorized`. The UI's own files are served without it: they hold no data.
   */
  readonly token?: string;
  /** Where the built UI is (`dist/ui` of the package unless given). */
  readonly uiDir?: string;
  /** Largest request body accepted (bytes). */
  readonly maxBody?: number;
}

export interface HttpServer {
  /** `http://host:port`, the port the server got. */
  readonly url: string;
  close(): Promise<void>;
}

/** The HTTP status for a reply's error code. */
const STATUS: Readonly<Record<string, number>> = {
  invalid_request: 400,
  invalid_json: 400,
  invalid_blueprint: 400,
  invalid_name: 400,
  payload_too_large: 413,
  read_only: 403,
  unauthorized: 401,
  not_found: 404,
  run_not_found: 404,
  blueprint_not_found: 404,
  unknown_query: 404,
  unknown_signal: 404,
  run_not_running: 409,
  unavailable: 503,
  timeout: 504,
};

type Reply = { readonly ok: true; readonly data: unknown } | ErrorReply;
type ErrorReply = {
  readonly ok: false;
  readonly error: { readonly code: string; readonly message: string; readonly details?: unknown };
};

const failure = (code: string, message: string): ErrorReply => ({
  ok: false,
  error: { code, message },
});

/** A route: the NATS subject it asks and the body it sends, from the path, query and body. */
interface Route {
  readonly method: 'GET' | 'POST' | 'PUT';
  readonly path: RegExp;
  /** Changes something: refused in read-only mode. */
  readonly writes?: boolean;
  readonly subject: (subjects: Subjects, params: readonly string[]) => string;
  readonly body?: (query: URLSearchParams, body: unknown) => unknown;
}

const fromQuery =
  (names: readonly string[], numbers: readonly string[] = []) =>
  (query: URLSearchParams): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (const name of names) {
      const value = query.get(name);
      if (value !== null) out[name] = numbers.includes(name) ? Number(value) : value;
    }
    return out;
  };

const ROUTES: readonly Route[] = [
  {
    method: 'GET',
    path: /^\/api\/runs$/u,
    subject: (s) => s.runs('list'),
    body: fromQuery(['status', 'blueprint', 'cursor', 'limit'], ['limit']),
  },
  { method: 'POST', path: /^\/api\/runs$/u, writes: true, subject: (s) => s.runs('start') },
  { method: 'GET', path: /^\/api\/runs\/([^/]+)$/u, subject: (s, [id]) => s.run(id ?? '', 'get') },
  {
    method: 'GET',
    path: /^\/api\/runs\/([^/]+)\/history$/u,
    subject: (s, [id]) => s.run(id ?? '', 'history'),
    body: fromQuery(['from', 'limit'], ['from', 'limit']),
  },
  {
    method: 'POST',
    path: /^\/api\/runs\/([^/]+)\/cancel$/u,
    writes: true,
    subject: (s, [id]) => s.run(id ?? '', 'cancel'),
  },
  {
    method: 'POST',
    path: /^\/api\/runs\/([^/]+)\/signal\/([^/]+)$/u,
    writes: true,
    subject: (s, [id, name]) => s.signal(id ?? '', name ?? ''),
    // The body is the signal's payload, as on NATS.
    body: (_, body) => body,
  },
  {
    method: 'POST',
    path: /^\/api\/runs\/([^/]+)\/query\/([^/]+)$/u,
    subject: (s, [id, name]) => s.query(id ?? '', name ?? ''),
  },
  {
    method: 'GET',
    path: /^\/api\/blueprints$/u,
    subject: (s) => s.blueprints('list'),
    body: fromQuery([]),
  },
  {
    method: 'GET',
    path: /^\/api\/blueprints\/([^/]+)$/u,
    subject: (s) => s.blueprints('get'),
    body: (query) => ({ ...fromQuery(['version'], ['version'])(query) }),
  },
  {
    method: 'GET',
    path: /^\/api\/blueprints-schema$/u,
    subject: (s) => s.blueprints('schema'),
    body: fromQuery([]),
  },
  {
    method: 'POST',
    path: /^\/api\/blueprints\/validate$/u,
    subject: (s) => s.blueprints('validate'),
  },
  {
    method: 'PUT',
    path: /^\/api\/blueprints$/u,
    writes: true,
    subject: (s) => s.blueprints('put'),
  },
  {
    method: 'GET',
    path: /^\/api\/activities$/u,
    subject: (s) => s.activities('list'),
    body: fromQuery([]),
  },
];

/** A route's path as people write it: `/api/runs/:param/history`. */
const shown = (path: RegExp): string =>
  path.source
    .replace(/^\^|\$$/gu, '')
    .replace(/\(\[\^\/\]\+\)/gu, ':param')
    .replace(/\\\//gu, '/');

const send = (res: ServerResponse, status: number, body: unknown): void => {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
};

const readBody = (req: IncomingMessage, max: number): Promise<unknown> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        reject(
          Object.assign(new Error(`the body is over ${max} bytes`), { code: 'payload_too_large' }),
        );
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') {
        resolve(undefined);
        return;
      }
      try {
        resolve(JSON.parse(text));
      } catch {
        reject(Object.assign(new Error('the body is not JSON'), { code: 'invalid_json' }));
      }
    });
    req.on('error', reject);
  });

/** Starts the HTTP API; resolves once it listens. */
export const startHttp = async (options: HttpOptions): Promise<HttpServer> => {
  const { nc } = options;
  const subjects = new Subjects(options.prefix);
  const maxBody = options.maxBody ?? 1024 * 1024;
  const streams = new Set<Subscription>();
  const assets = serveAssets(options.uiDir);
  const token = options.token === undefined || options.token === '' ? undefined : options.token;

  const ask = async (subject: string, body: unknown): Promise<Reply> => {
    try {
      const reply = await nc.request(subject, JSON.stringify(body ?? {}), { timeout: 10_000 });
      return reply.json<Reply>();
    } catch (error) {
      const message = (error as Error).message;
      return /timeout/iu.test(message)
        ? failure('timeout', `no reply on ${subject} within 10 s`)
        : failure('unavailable', `no weft runtime answers on ${subject}: ${message}`);
    }
  };

  const events = (req: IncomingMessage, res: ServerResponse, runId: string | null): void => {
    const subject = subjects.run(runId ?? '*', 'events');
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
    });
    res.write(': weft events\n\n');
    const sub = nc.subscribe(subject);
    streams.add(sub);
    const heartbeat = setInterval(() => res.write(': heartbeat\n\n'), 15_000);
    const stop = () => {
      clearInterval(heartbeat);
      sub.unsubscribe();
      streams.delete(sub);
    };
    req.on('close', stop);
    // A subscription NATS refuses (permissions) or a message that is not JSON ends this stream
    // with an `error` event; it never reaches the process.
    (async () => {
      for await (const msg of sub) {
        const runOf = msg.subject.split('.').at(-2) ?? '';
        const event = msg.json<{ type?: string }>();
        res.write(
          `event: ${event.type ?? 'event'}\ndata: ${JSON.stringify({ runId: runOf, ...event })}\n\n`,
        );
      }
    })().catch((error: unknown) => {
      stop();
      res.end(`event: error\ndata: ${JSON.stringify({ message: String(error) })}\n\n`);
    });
  };

  /**
   * `GET /api/runs/<id>/state?at=N`: the run after event N (the last when absent), folded here
   * from its history as `weft replay --to N` folds it.
   */
  const replayed = async (
    res: ServerResponse,
    runId: string,
    at: string | null,
    graph: boolean,
  ): Promise<void> => {
    const revision = at === null ? undefined : Number(at);
    if (revision !== undefined && !Number.isInteger(revision)) {
      send(res, 400, failure('invalid_request', `'at' must be an event number, got '${at ?? ''}'`));
      return;
    }
    let subject: string;
    try {
      subject = subjects.run(runId, 'history');
    } catch (error) {
      send(res, 400, failure('invalid_request', (error as Error).message));
      return;
    }
    const events: StoredEvent[] = [];
    for (let from: number | undefined = 0; from !== undefined;) {
      const page = await ask(subject, { from, limit: 10_000 });
      if (!page.ok) {
        send(res, STATUS[page.error.code] ?? 500, page);
        return;
      }
      const data = page.data as { events: StoredEvent[]; next?: number };
      events.push(...data.events);
      from = data.next;
    }
    // With each step's state for colouring, and — with `graph` — the run's blueprint as a graph.
    const fold = foldTo(events, revision);
    send(res, 200, {
      ok: true,
      data: {
        ...stateOf(fold, events.length),
        stepStates: stepStates(
          fold.compiled.plan,
          fold.snapshot.context,
          startedTasks(revision === undefined ? events : events.slice(0, revision + 1)),
        ),
        ...(graph ? { graph: blueprintGraph(fold.compiled.plan) } : {}),
      },
    });
  };

  /**
   * `POST /api/blueprints/graph` `{blueprint}`: every diagnostic of a blueprint being written and,
   * when it is valid, its graph — what the editor shows as one types. Decided here, offline (the
   * default limits; no `unknown_activity` warnings, which need the runtime's workers).
   */
  const drawn = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    let body: unknown;
    try {
      body = await readBody(req, maxBody);
    } catch (error) {
      const code = (error as { code?: string }).code ?? 'invalid_request';
      send(res, STATUS[code] ?? 400, failure(code, (error as Error).message));
      return;
    }
    const blueprint = (body as { blueprint?: unknown } | undefined)?.blueprint;
    const validated = validateBlueprint(blueprint);
    send(res, 200, {
      ok: true,
      data: {
        valid: validated.ok,
        diagnostics: validated.diagnostics,
        ...(validated.ok
          ? { graph: blueprintGraph(compileBlueprint(validated.blueprint, parseDuration).plan) }
          : {}),
      },
    });
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://weft');
    const path = url.pathname.replace(/\/+$/u, '') || '/';
    const refused = token === undefined ? undefined : refusal(req, url, path, token);
    if (refused !== undefined) {
      res.setHeader('www-authenticate', 'Bearer realm="weft"');
      send(res, 401, failure('unauthorized', refused));
      return;
    }
    if (req.method === 'GET' && path === '/api/events') {
      events(req, res, url.searchParams.get('runId'));
      return;
    }
    if (req.method === 'GET' && path === '/api') {
      send(res, 200, {
        ok: true,
        data: {
          readOnly: options.readOnly === true,
          routes: [
            ...ROUTES.map((r) => `${r.method} ${shown(r.path)}`),
            "GET /api/runs/:param/state?at=N&graph=true (the run after event N, as weft replay --to N folds it, each step's state, and its blueprint as a graph)",
            'POST /api/blueprints/graph (a blueprint being written: its diagnostics, and its graph when valid)',
            'GET /api/events (server-sent events; ?runId= for one run)',
          ],
        },
      });
      return;
    }
    if ((req.method === 'GET' || req.method === 'HEAD') && !path.startsWith('/api/'))
      return assets(req, res, path);
    const at = /^\/api\/runs\/([^/]+)\/state$/u.exec(path);
    if (req.method === 'GET' && at !== null)
      return replayed(
        res,
        decodeURIComponent(at[1] ?? ''),
        url.searchParams.get('at'),
        url.searchParams.get('graph') === 'true',
      );
    if (req.method === 'POST' && path === '/api/blueprints/graph') return drawn(req, res);
    const candidates = ROUTES.filter((r) => r.path.test(path));
    const route = candidates.find((r) => r.method === req.method);
    if (route === undefined) {
      send(
        res,
        candidates.length === 0 ? 404 : 405,
        failure(
          candidates.length === 0 ? 'not_found' : 'invalid_request',
          `no route ${req.method ?? ''} ${path}`,
        ),
      );
      return;
    }
    if (route.writes === true && options.readOnly === true) {
      send(res, 403, failure('read_only', 'this weft UI is read-only'));
      return;
    }
    const params = (route.path.exec(path) ?? []).slice(1).map((p) => decodeURIComponent(p));
    let subject: string;
    try {
      subject = route.subject(subjects, params);
    } catch (error) {
      send(res, 400, failure('invalid_request', (error as Error).message));
      return;
    }
    let body: unknown;
    try {
      body = req.method === 'GET' ? undefined : await readBody(req, maxBody);
    } catch (error) {
      const code = (error as { code?: string }).code ?? 'invalid_request';
      send(res, STATUS[code] ?? 400, failure(code, (error as Error).message));
      return;
    }
    const request = route.body === undefined ? (body ?? {}) : route.body(url.searchParams, body);
    // A blueprint's name in the path goes into the request.
    const named =
      route.path.source.includes('blueprints') && params[0] !== undefined && req.method === 'GET'
        ? { ...(request as object), name: params[0] }
        : request;
    const reply = await ask(subject, named);
    send(res, reply.ok ? 200 : (STATUS[reply.error.code] ?? 500), reply);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) send(res, 500, failure('internal', String(error)));
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;
  return {
    url: `http://${options.host}:${port}`,
    close: async () => {
      for (const sub of streams) sub.unsubscribe();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
};

/** `host:port`, `:port` or `port` (host 127.0.0.1) as listen options; throws on anything else. */
export const parseAddress = (text: string): { readonly host: string; readonly port: number } => {
  const match = /^(?:(.*):)?(\d{1,5})$/u.exec(text.trim());
  const port = Number(match?.[2]);
  if (match === null || port > 65_535)
    throw new Error(`--http wants host:port, :port or a port, got '${text}'`);
  return { host: match[1] === undefined || match[1] === '' ? '127.0.0.1' : match[1], port };
};
