import { headers, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import * as Result from 'effect/Result';
import * as Schema from 'effect/Schema';
import type { Json } from '../blueprints/json.ts';
import type { ActivityRegistry } from '../actors/activities.ts';
import type { BlueprintRegistry } from '../actors/blueprintRegistry.ts';
import { invalidBlueprint, type RunSupervisor } from '../actors/supervisor.ts';

/** What the gateway asks of the runs: the router in front of the run actors (or the supervisor alone). */
export type GatewayRuns = Pick<
  RunSupervisor,
  | 'checkBlueprint'
  | 'start'
  | 'waitForEnd'
  | 'list'
  | 'get'
  | 'history'
  | 'cancel'
  | 'signal'
  | 'query'
>;
import { blueprintJsonSchema } from '../blueprints/jsonSchema.ts';
import { hasErrors } from '../blueprints/validate.ts';
import { summaryCursor } from '../projections/runSummary.ts';
import { StoreUnavailable } from '../store/errors.ts';
import { weftError, WeftError, type ErrorCode } from '../wire/errors.ts';
import {
  BlueprintRequest,
  CancelRequest,
  Empty,
  ExecuteRequest,
  GetBlueprintRequest,
  HistoryRequest,
  ListRunsRequest,
  NameRequest,
  QueryRequest,
  StartRequest,
} from '../wire/messages.ts';
import {
  checkJsonText,
  describeTextProblem,
  MAX_JSON_DEPTH,
  type TextProblem,
} from '../wire/jsonText.ts';
import { fitList, fitSummary, historyPage, REPLY_RESERVE_BYTES } from '../wire/pages.ts';
import { fitFields, utf8Bytes } from '../wire/fit.ts';
import type { Subjects } from '../wire/subjects.ts';
import {
  DEFAULT_MAX_PAYLOAD as DEFAULT_PAYLOAD_CAP,
  overCap,
  payloadCap,
} from '../wire/payloadCap.ts';

/**
 * The NATS endpoints of CONTRACT §3. Every message gets exactly one reply when it has a reply
 * subject: `{ok:true,data}` or `{ok:false,error}` with the micro-service error headers. Nothing a
 * caller sends can throw out of a handler: a store that cannot be reached is `unavailable`
 * (retryable), unexpected defects become `internal` and are logged.
 */

const QUEUE = 'weft-runtime';
const DEFAULT_EXECUTE_TIMEOUT_MS = 60_000;
/** Requests handled at once; past this a request gets `unavailable` at once instead of a timeout. */
const MAX_INFLIGHT = 4096;
/** NATS's default max_payload, used until the server's INFO says otherwise. */
const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

const STATUS: Record<ErrorCode, number> = {
  invalid_json: 400,
  invalid_request: 400,
  invalid_blueprint: 400,
  blueprint_not_found: 404,
  run_not_found: 404,
  unknown_signal: 404,
  unknown_query: 404,
  run_not_running: 409,
  payload_too_large: 413,
  timeout: 408,
  unavailable: 503,
  internal: 500,
};

type Handler = (payload: unknown, msg: Msg) => unknown;

const decoder = <S extends Schema.Top & { readonly DecodingServices: never }>(schema: S) => {
  const decode = Schema.decodeUnknownResult(schema as never);
  return (payload: unknown): S['Type'] => {
    // Every request of CONTRACT §3 is a JSON object (signal payloads are not decoded here).
    if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
      throw weftError(
        'invalid_request',
        `the request must be a JSON object, got ${Array.isArray(payload) ? 'an array' : payload === null ? 'null' : typeof payload}`,
      );
    }
    const result = decode(payload) as Result.Result<S['Type'], Schema.SchemaError>;
    if (Result.isFailure(result)) throw weftError('invalid_request', result.failure.message);
    return result.success;
  };
};

const textProblem = (problem: TextProblem): WeftError =>
  weftError(
    'invalid_request',
    describeTextProblem('the request', problem),
    problem.kind === 'depth'
      ? { maxDepth: problem.maxDepth, offset: problem.offset }
      : { offset: problem.offset },
  );

const parse = (msg: Msg, maxPayload: number): unknown => {
  if (msg.data.length > maxPayload) {
    throw weftError(
      'payload_too_large',
      `the request is ${msg.data.length} bytes, over this connection's max_payload of ${maxPayload}`,
      { bytes: msg.data.length, maxPayload },
    );
  }
  if (msg.data.length === 0) return {};
  const checked = checkJsonText(msg.data, MAX_JSON_DEPTH);
  if (!checked.ok) throw textProblem(checked.problem);
  const text = checked.text;
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw weftError('invalid_json', `request is not valid JSON: ${(error as Error).message}`);
  }
};

/**
 * Replies `{ok:true,data}`; a reply larger than `maxPayload` bytes is never attempted (NATS would
 * refuse it): the caller gets `payload_too_large` with both sizes instead.
 */
export const replyOk = (msg: Msg, data: unknown, maxPayload = Infinity): void => {
  if (!msg.reply) return;
  const body = JSON.stringify({ ok: true, data: data ?? null });
  const bytes = body.length <= maxPayload / 3 ? body.length : utf8Bytes(body);
  if (bytes <= maxPayload) {
    msg.respond(body);
    return;
  }
  replyError(
    msg,
    weftError(
      'payload_too_large',
      `the reply would be ${bytes} bytes, over this connection's max_payload of ${maxPayload}`,
      { bytes, maxPayload },
    ),
  );
};

export const replyError = (msg: Msg, error: WeftError): void => {
  if (!msg.reply) return;
  const h = headers();
  h.set('Nats-Service-Error', error.message.slice(0, 1024).replace(/[\r\n]+/g, ' '));
  h.set('Nats-Service-Error-Code', String(STATUS[error.code]));
  const body = {
    ok: false,
    error: {
      code: error.code,
      message: error.message,
      ...(error.details === undefined ? {} : { details: error.details }),
    },
  };
  msg.respond(JSON.stringify(body), { headers: h });
};

export class Gateway {
  readonly #nc: NatsConnection;
  readonly #subjects: Subjects;
  readonly #runs: GatewayRuns;
  readonly #registry: BlueprintRegistry;
  readonly #activities: ActivityRegistry;
  readonly #log: (message: string) => void;
  readonly #subscriptions: Subscription[] = [];
  readonly #inflight = new Set<Promise<void>>();
  readonly #payloadCap: number;

  constructor(deps: {
    readonly nc: NatsConnection;
    readonly subjects: Subjects;
    readonly runs: GatewayRuns;
    readonly registry: BlueprintRegistry;
    readonly activities: ActivityRegistry;
    readonly log: (message: string) => void;
    /** `--max-payload` (default 1 MB): inputs, signal payloads and query args over it are refused. */
    readonly maxPayload?: number;
  }) {
    this.#nc = deps.nc;
    this.#subjects = deps.subjects;
    this.#runs = deps.runs;
    this.#registry = deps.registry;
    this.#activities = deps.activities;
    this.#log = deps.log;
    this.#payloadCap = deps.maxPayload ?? DEFAULT_PAYLOAD_CAP;
  }

  #on(subject: string, handler: Handler): void {
    const sub = this.#nc.subscribe(subject, {
      queue: QUEUE,
      callback: (error, msg) => {
        if (error !== null) {
          this.#log(`subscription ${subject}: ${error.message}`);
          return;
        }
        if (this.#inflight.size >= MAX_INFLIGHT) {
          replyError(
            msg,
            weftError('unavailable', 'the runtime is at capacity; try again shortly', {
              inflight: this.#inflight.size,
            }),
          );
          return;
        }
        const work = this.#handle(msg, handler);
        this.#inflight.add(work);
        void work.finally(() => this.#inflight.delete(work));
      },
    });
    this.#subscriptions.push(sub);
  }

  async #handle(msg: Msg, handler: Handler): Promise<void> {
    try {
      replyOk(msg, await handler(parse(msg, this.#maxPayload()), msg), this.#maxPayload());
    } catch (error) {
      if (error instanceof WeftError) {
        replyError(msg, error);
        return;
      }
      // A read the handler made failed on the store (down, connection lost): retryable.
      if (error instanceof StoreUnavailable) {
        replyError(msg, weftError('unavailable', `event store: ${error.message}`));
        return;
      }
      this.#log(
        `internal error on ${msg.subject}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
      );
      replyError(msg, weftError('internal', 'internal error; see the runtime log'));
    }
  }

  /** The server's max_payload for this connection (NATS INFO). */
  #maxPayload(): number {
    return this.#nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD;
  }

  /** Throws `payload_too_large` when `value`, parsed from `msg`, is over `--max-payload`. */
  #capped(what: string, value: unknown, msg: Msg): void {
    const cap = payloadCap(this.#payloadCap, this.#maxPayload());
    const over = overCap(what, value, cap, msg.data.length);
    if (over !== undefined) throw over;
  }

  /** Bytes a reply's `data` may take. */
  #budget(): number {
    return this.#maxPayload() - REPLY_RESERVE_BYTES;
  }

  #runIdOf(msg: Msg): string {
    const runId = this.#subjects.runIdOf(msg.subject);
    if (runId === undefined)
      throw weftError('invalid_request', `no valid run id in subject ${msg.subject}`);
    return runId;
  }

  #nameOf(msg: Msg, what: 'signal' | 'query'): string {
    const name = this.#subjects.lastNameOf(msg.subject);
    if (name === undefined)
      throw weftError('invalid_request', `invalid ${what} name in subject ${msg.subject}`);
    return name;
  }

  start(): void {
    const s = this.#subjects;
    const queryRequest = decoder(QueryRequest);
    const blueprintRequest = decoder(BlueprintRequest);
    const getBlueprint = decoder(GetBlueprintRequest);
    const nameRequest = decoder(NameRequest);
    const empty = decoder(Empty);
    const startRequest = decoder(StartRequest);
    const executeRequest = decoder(ExecuteRequest);
    const listRuns = decoder(ListRunsRequest);
    const historyRequest = decoder(HistoryRequest);
    const cancelRequest = decoder(CancelRequest);

    this.#on(s.blueprints('validate'), (payload) => {
      const { blueprint } = blueprintRequest(payload);
      const { diagnostics } = this.#runs.checkBlueprint(blueprint);
      return { valid: !hasErrors(diagnostics), diagnostics };
    });
    this.#on(s.blueprints('put'), async (payload) => {
      const checked = this.#runs.checkBlueprint(blueprintRequest(payload).blueprint);
      if (checked.blueprint === undefined || hasErrors(checked.diagnostics))
        throw invalidBlueprint(checked.diagnostics);
      const { name, version, hash, created } = await this.#registry.put(checked.blueprint);
      // Stored: what diagnostics there are are warnings (never blocking).
      const warnings = checked.diagnostics;
      return { name, version, hash, created, ...(warnings.length === 0 ? {} : { warnings }) };
    });
    this.#on(s.blueprints('get'), async (payload) => {
      const { name, version } = getBlueprint(payload);
      const found = await this.#registry.get(name, version);
      return { blueprint: found.content, version: found.version, hash: found.hash };
    });
    this.#on(s.blueprints('list'), async (payload) => {
      empty(payload);
      return { blueprints: await this.#registry.list() };
    });
    // The same document every time: built once, never changed (replies are serialized).
    const blueprintSchema = blueprintJsonSchema();
    this.#on(s.blueprints('schema'), (payload) => {
      empty(payload);
      return { schema: blueprintSchema };
    });
    this.#on(s.blueprints('delete'), async (payload) => ({
      deleted: await this.#registry.delete(nameRequest(payload).name),
    }));

    this.#on(s.activities('list'), (payload) => {
      empty(payload);
      return { activities: this.#activities.list() };
    });

    this.#on(s.runs('start'), async (payload, msg) => {
      const request = startRequest(payload);
      this.#capped('the input', request.input, msg);
      return this.#runs.start({ ...request, blueprint: request.blueprint as string | Json });
    });
    this.#on(s.runs('execute'), async (payload, msg) => {
      const { timeoutMs, ...request } = executeRequest(payload);
      this.#capped('the input', request.input, msg);
      const started = await this.#runs.start({
        ...request,
        blueprint: request.blueprint as string | Json,
      });
      const ended = await this.#runs.waitForEnd(
        started.runId,
        timeoutMs ?? DEFAULT_EXECUTE_TIMEOUT_MS,
      );
      if (ended === undefined) {
        throw weftError('timeout', `run '${started.runId}' did not finish in time; it goes on`, {
          runId: started.runId,
        });
      }
      const reply = {
        runId: ended.runId,
        status: ended.status,
        ...(ended.output === undefined ? {} : { output: ended.output }),
        ...(ended.error === undefined ? {} : { error: ended.error }),
        ...(started.warnings === undefined ? {} : { warnings: started.warnings }),
      };
      return fitFields(reply, ['output', 'error'], this.#budget()).value;
    });
    this.#on(s.runs('list'), async (payload) => {
      const { limit, ...filter } = listRuns(payload);
      return fitList(
        await this.#runs.list({ ...filter, limit: Math.min(limit ?? 100, 1000) }),
        summaryCursor,
        this.#budget(),
      );
    });

    this.#on(s.run('*', 'get'), async (payload, msg) => {
      empty(payload);
      return fitSummary(await this.#runs.get(this.#runIdOf(msg)), this.#budget());
    });
    this.#on(s.run('*', 'history'), async (payload, msg) => {
      const { from, limit } = historyRequest(payload);
      const runId = this.#runIdOf(msg);
      return historyPage(
        async (at, count) =>
          (await this.#runs.history(runId, at, count)).map((e) => ({
            revision: e.revision,
            type: e.type,
            data: e.data,
            at: e.at,
          })),
        from ?? 0,
        Math.min(limit ?? 1000, 10_000),
        this.#budget(),
      );
    });
    this.#on(s.run('*', 'cancel'), async (payload, msg) => {
      const { reason } = cancelRequest(payload);
      return {
        cancelled: await this.#runs.cancel(this.#runIdOf(msg), reason ?? 'cancelled by request'),
      };
    });
    this.#on(s.runNamed('signal'), async (payload, msg) => {
      const runId = this.#runIdOf(msg);
      const name = this.#nameOf(msg, 'signal');
      this.#capped(`the payload of signal '${name}'`, payload, msg);
      const fromField =
        payload !== null &&
        typeof payload === 'object' &&
        !Array.isArray(payload) &&
        typeof (payload as { signalId?: unknown }).signalId === 'string'
          ? (payload as { signalId: string }).signalId
          : undefined;
      const signalId = msg.headers?.get('Nats-Msg-Id') || fromField;
      await this.#runs.signal(
        runId,
        name,
        payload as Json,
        signalId === undefined || signalId === '' ? undefined : signalId,
      );
      return { accepted: true };
    });
    this.#on(s.runNamed('query'), async (payload, msg) => {
      const { args } = queryRequest(payload);
      this.#capped('the query args', args, msg);
      return this.#runs.query(
        this.#runIdOf(msg),
        this.#nameOf(msg, 'query'),
        (args ?? null) as Json,
      );
    });
  }

  /**
   * Stops taking requests and waits for the ones in flight. Drained, not unsubscribed: a request
   * NATS handed to this runtime before it heard the unsubscribe is still answered (an unsubscribe
   * would drop it unanswered, and a plain-publish start or signal with it).
   */
  async close(): Promise<void> {
    await Promise.allSettled(this.#subscriptions.map((sub) => sub.drain()));
    await Promise.allSettled([...this.#inflight]);
  }
}
