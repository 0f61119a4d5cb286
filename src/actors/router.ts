import { randomUUID } from 'node:crypto';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { errors } from '@nats-io/transport-node';
import * as Result from 'effect/Result';
import type { Json } from '../blueprints/json.ts';
import type { RunSummary } from '../projections/runSummary.ts';
import type { ChildResult, ParentRef } from '../machines/messages.ts';
import { decodeForwarded, runOfCall, type RuntimeCall } from '../wire/forward.ts';
import { fitSummary, REPLY_RESERVE_BYTES } from '../wire/pages.ts';
import { weftError, WeftError, type ErrorCode } from '../wire/errors.ts';
import type { TaskResult, TaskStart } from '../wire/protocol.ts';
import type { Subjects } from '../wire/subjects.ts';
import { partitionOf } from './partitions.ts';
import type { RunSupervisor, StartRequest, StartResult } from './supervisor.ts';

/**
 * Sends every call for a run to the one runtime that owns the run's partition: itself, or another
 * runtime of the cluster by a NATS request on `<p>.runtime.<owner>.call`, whose answer (or error
 * code) it returns as if it had answered itself. A caller never needs to know who owns what.
 *
 * When the partition has no owner at that moment (its owner crashed and its lease has not lapsed
 * yet, or it is being handed over), the call waits for the next owner, at most `waitMs`, then
 * fails `unavailable` (retryable). A call is forwarded at most `MAX_HOPS` times (ownership moving
 * while it travels). Nothing here decides for a run: the local runs do, and only for partitions
 * this runtime owns at the moment the call enters their mailbox.
 */

/** The calls a runtime's own run actors answer. */
export type LocalRuns = Pick<
  RunSupervisor,
  | 'start'
  | 'onResult'
  | 'mayStart'
  | 'signal'
  | 'cancel'
  | 'query'
  | 'get'
  | 'waitForEnd'
  | 'childResult'
  | 'list'
  | 'history'
  | 'checkBlueprint'
>;

/** Who owns which partition (`PartitionLeases`). */
export interface Owners {
  readonly partitions: number;
  owns(partition: number): boolean;
  ownerOf(partition: number): string | undefined;
  /** Whether this runtime owns any partition now. */
  ownsAny(): boolean;
  /** Reads the partition's lease again (a lapsed lease leaves no trace to watch). */
  refresh(partition: number): Promise<string | undefined>;
  /** Some partition's owner changed. */
  onChange(listener: () => void): () => void;
}

const MAX_HOPS = 3;
/** A forwarded call's own deadline beyond what the call itself may take. */
const CALL_TIMEOUT_MS = 30_000;
/** `waitForEnd` asks the owner in slices: an owner that dies mid-wait costs one slice at most. */
const WAIT_SLICE_MS = 5_000;
const RETRY_MS = 100;
const WAIT_MARGIN_MS = 2_000;

type Reply =
  | { ok: true; data?: unknown }
  | { ok: false; error: { code: ErrorCode; message: string; details?: unknown } };

export class RunRouter {
  readonly #nc: NatsConnection;
  readonly #subjects: Subjects;
  readonly #self: string;
  readonly #owners: Owners;
  readonly #local: LocalRuns;
  readonly #waitMs: number;
  readonly #log: (message: string) => void;
  #sub: Subscription | undefined;
  readonly #inflight = new Set<Promise<unknown>>();

  constructor(deps: {
    readonly nc: NatsConnection;
    readonly subjects: Subjects;
    /** This runtime's id. */
    readonly self: string;
    readonly owners: Owners;
    readonly local: LocalRuns;
    /** How long a call waits for its partition to have an owner. */
    readonly waitMs: number;
    readonly log: (message: string) => void;
  }) {
    this.#nc = deps.nc;
    this.#subjects = deps.subjects;
    this.#self = deps.self;
    this.#owners = deps.owners;
    this.#local = deps.local;
    this.#waitMs = deps.waitMs;
    this.#log = deps.log;
  }

  /** Answers the calls other runtimes forward to this one. */
  serve(): void {
    this.#sub = this.#nc.subscribe(this.#subjects.runtimeCall(this.#self), {
      callback: (error, msg) => {
        if (error !== null) {
          this.#log(`forwarded calls: ${error.message}`);
          return;
        }
        const handled = this.#answer(msg);
        this.#inflight.add(handled);
        void handled.finally(() => this.#inflight.delete(handled));
      },
    });
  }

  /**
   * Stops answering forwarded calls and waits for the ones in flight. Drained, not unsubscribed: a
   * call NATS handed over before it heard the unsubscribe is still answered (dropped, its forwarder
   * would wait out its whole timeout).
   */
  async close(): Promise<void> {
    await this.#sub?.drain().catch(() => undefined);
    await Promise.allSettled([...this.#inflight]);
  }

  /**
   * A new run id whose partition this runtime owns, so a start without an id needs no forward;
   * any id when it owns none.
   */
  newRunId(): string {
    for (let i = 0; i < 256; i++) {
      const id = randomUUID();
      if (this.#owners.owns(partitionOf(id, this.#owners.partitions))) return id;
    }
    return randomUUID();
  }

  /** Reads any runtime answers alike (the store and the shared read model). */
  list(...args: Parameters<LocalRuns['list']>): ReturnType<LocalRuns['list']> {
    return this.#local.list(...args);
  }

  history(...args: Parameters<LocalRuns['history']>): ReturnType<LocalRuns['history']> {
    return this.#local.history(...args);
  }

  checkBlueprint(input: unknown): ReturnType<LocalRuns['checkBlueprint']> {
    return this.#local.checkBlueprint(input);
  }

  start(request: StartRequest): Promise<StartResult> {
    if (request.runId === undefined) {
      // The run actors make the id up in a partition this runtime owns (`newRunId`): no forward,
      // and no lookup of an id nobody can have used. Owning none (joining, draining): any id, sent
      // to its owner.
      if (this.#owners.ownsAny()) return this.#local.start(request);
      return this.start({ ...request, runId: randomUUID() });
    }
    // The gateway admits a blueprint name or object only; the owner decodes the call again.
    const blueprint = request.blueprint as string | Record<string, unknown>;
    return this.#route({
      method: 'start',
      request: { ...request, blueprint, runId: request.runId },
    });
  }

  onResult(result: TaskResult): Promise<void> {
    return this.#route({ method: 'result', result });
  }

  mayStart(start: TaskStart, answered = true): Promise<boolean> {
    return this.#route({ method: 'mayStart', start, answered });
  }

  /** A signal without an id gets one here, so a forward that is retried cannot record it twice. */
  signal(runId: string, name: string, payload: Json, signalId?: string): Promise<void> {
    return this.#route({
      method: 'signal',
      runId,
      name,
      payload,
      signalId: signalId ?? randomUUID(),
    });
  }

  cancel(runId: string, reason: string): Promise<boolean> {
    return this.#route({ method: 'cancel', runId, reason });
  }

  query(runId: string, name: string, args: Json): Promise<Json> {
    return this.#route({ method: 'query', runId, name, args });
  }

  get(runId: string): Promise<RunSummary> {
    return this.#route({ method: 'get', runId });
  }

  childResult(parent: ParentRef, childRunId: string, outcome: ChildResult): Promise<void> {
    return this.#route({ method: 'childResult', parent, childRunId, outcome });
  }

  /** Resolves with the run's summary once it has ended, or undefined after `timeoutMs`. */
  async waitForEnd(runId: string, timeoutMs: number): Promise<RunSummary | undefined> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const slice = Math.max(1, Math.min(WAIT_SLICE_MS, Math.ceil(deadline - performance.now())));
      let ended: RunSummary | undefined;
      try {
        ended = await this.#route<RunSummary | undefined>({
          method: 'waitForEnd',
          runId,
          timeoutMs: slice,
        });
      } catch (error) {
        // The owner died or moved mid-wait: ask the next one with the time left.
        if (!(error instanceof WeftError && error.code === 'unavailable')) throw error;
        if (performance.now() >= deadline) return undefined;
        continue;
      }
      if (ended !== undefined || performance.now() >= deadline) return ended;
    }
  }

  /** The call answered by this runtime's run actors (the caller checked it owns the run). */
  #callLocal(call: RuntimeCall): Promise<unknown> {
    const local = this.#local;
    switch (call.method) {
      case 'start':
        return local.start({ ...call.request, blueprint: call.request.blueprint as string | Json });
      case 'result':
        return local.onResult(call.result);
      case 'mayStart':
        return local.mayStart(call.start, call.answered);
      case 'signal':
        return local.signal(call.runId, call.name, call.payload, call.signalId);
      case 'cancel':
        return local.cancel(call.runId, call.reason);
      case 'query':
        return local.query(call.runId, call.name, call.args);
      case 'get':
        return local.get(call.runId);
      case 'waitForEnd':
        return local.waitForEnd(call.runId, call.timeoutMs);
      case 'childResult':
        return local.childResult(call.parent, call.childRunId, call.outcome);
    }
  }

  /**
   * Answers the call here when this runtime owns the run's partition, else forwards it to the
   * owner; waits for an owner while there is none (bounded), retries when the owner it knew is gone.
   */
  async #route<A>(call: RuntimeCall, hops = 0): Promise<A> {
    const runId = runOfCall(call);
    const partition = partitionOf(runId, this.#owners.partitions);
    const deadline = performance.now() + this.#waitMs;
    for (;;) {
      if (this.#owners.owns(partition)) return (await this.#callLocal(call)) as A;
      const owner = this.#owners.ownerOf(partition);
      if (owner !== undefined && owner !== this.#self && hops < MAX_HOPS) {
        const answered = await this.#forward(owner, call, hops);
        if (answered !== 'no owner') {
          if (answered.ok) return answered.data as A;
          throw weftError(answered.error.code, answered.error.message, answered.error.details);
        }
        // The owner it knew is gone: ask the bucket again.
        await this.#owners.refresh(partition);
      }
      const left = deadline - performance.now();
      if (left <= 0) {
        throw weftError(
          'unavailable',
          `run '${runId}': its partition ${String(partition)} has no owner reachable right now (a runtime is taking it over); try again`,
          { runId, partition },
        );
      }
      await this.#ownerChange(Math.min(left, owner === undefined ? 1000 : RETRY_MS));
    }
  }

  /** Resolves when any partition's owner changes, or after `ms`. */
  #ownerChange(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const stop = this.#owners.onChange(done);
      function done() {
        clearTimeout(timer);
        stop();
        resolve();
      }
    });
  }

  /** One forward: the owner's reply, or `'no owner'` when nobody listens on its subject. */
  async #forward(owner: string, call: RuntimeCall, hops: number): Promise<Reply | 'no owner'> {
    // A wait slice is answered by its end at the latest: past that the owner is gone.
    const timeout =
      call.method === 'waitForEnd' ? call.timeoutMs + WAIT_MARGIN_MS : CALL_TIMEOUT_MS;
    try {
      const reply = await this.#nc.request(
        this.#subjects.runtimeCall(owner),
        JSON.stringify({ call, hops: hops + 1 }),
        { timeout },
      );
      return reply.json<Reply>();
    } catch (error) {
      if (
        error instanceof errors.NoRespondersError ||
        (error instanceof errors.RequestError && error.isNoResponders())
      )
        return 'no owner';
      if (error instanceof errors.TimeoutError)
        throw weftError(
          'unavailable',
          `the runtime owning run '${runOfCall(call)}' did not answer in time; try again`,
        );
      throw weftError(
        'unavailable',
        `forwarding to runtime '${owner}' failed: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }

  /** Answers one forwarded call: routed again (ownership may have moved), errors as their codes. */
  async #answer(msg: Msg): Promise<void> {
    let reply: Reply;
    try {
      let payload: unknown;
      try {
        payload = msg.json();
      } catch {
        throw weftError('invalid_json', 'a forwarded call must be JSON');
      }
      const decoded = decodeForwarded(payload);
      if (Result.isFailure(decoded))
        throw weftError('invalid_request', `malformed forwarded call: ${decoded.failure.message}`);
      const { call, hops } = decoded.success;
      const data = await this.#route(call, hops);
      reply =
        data === undefined
          ? { ok: true }
          : // A summary's values are cut to what one reply can carry, as the gateway would.
            {
              ok: true,
              data:
                (call.method === 'get' || call.method === 'waitForEnd') &&
                typeof data === 'object' &&
                data !== null
                  ? fitSummary(data, this.#budget())
                  : data,
            };
    } catch (error) {
      reply =
        error instanceof WeftError
          ? {
              ok: false,
              error: {
                code: error.code,
                message: error.message,
                ...(error.details === undefined ? {} : { details: error.details }),
              },
            }
          : {
              ok: false,
              error: {
                code: 'internal',
                message: error instanceof Error ? error.message : String(error),
              },
            };
      if (!(error instanceof WeftError)) this.#log(`forwarded call failed: ${String(error)}`);
    }
    if (msg.reply === undefined) return;
    try {
      msg.respond(JSON.stringify(reply));
    } catch (error) {
      msg.respond(
        JSON.stringify({
          ok: false,
          error: {
            code: 'payload_too_large',
            message: `the answer does not fit one NATS message: ${String(error)}`,
          },
        }),
      );
    }
  }

  #budget(): number {
    return (this.#nc.info?.max_payload ?? 1024 * 1024) - REPLY_RESERVE_BYTES;
  }
}
