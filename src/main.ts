import { randomUUID } from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
import * as Effect from 'effect/Effect';
import * as ManagedRuntime from 'effect/ManagedRuntime';
import { ActivityRegistry, followWorkers } from './actors/activities.ts';
import { BlueprintRegistry } from './actors/blueprintRegistry.ts';
import type { BlueprintLimits } from './blueprints/validate.ts';
import { RunSupervisor } from './actors/supervisor.ts';
import { streamReplicas, untilJetStreamAnswers } from './actors/jetstream.ts';
import { Ownership } from './actors/ownership.ts';
import { DEFAULT_PARTITIONS } from './actors/partitions.ts';
import { RunRouter } from './actors/router.ts';
import { retryUnavailable } from './actors/retry.ts';
import { TaskChannel } from './actors/taskChannel.ts';
import { Gateway } from './gateway/server.ts';
import {
  connectNats,
  logPermissionViolations,
  natsAuthFromEnv,
  type NatsAuth,
} from './natsAuth.ts';
import { payloadCapNote, requestLimitsOf, type RequestLimits } from './requestLimits.ts';
import type { TaskMessage } from './wire/protocol.ts';
import { Subjects } from './wire/subjects.ts';
import { EventStore, type EventStoreShape } from './store/EventStore.ts';
import { storeLayer } from './store/layers.ts';
import { makeSummaryStore } from './store/summaries.ts';
import type { RunSummaryStoreShape } from './store/RunSummaryStore.ts';

/**
 * The one place where the parts are wired together: the event store layer, NATS, the task
 * channel, the run supervisor and the gateway.
 */

export interface RuntimeOptions {
  /** NATS server(s), comma-separated. */
  readonly nats: string;
  /** NATS credentials, TLS files and inbox prefix; default the `WEFT_NATS_*` environment variables. */
  readonly auth?: NatsAuth;
  /** `sqlite:<path>`, `memory:`, or a KurrentDB connection string. */
  readonly store: string;
  readonly prefix: string;
  readonly log?: (message: string) => void;
  /** Blueprint limits (steps, depth, bytes, literal array items, map items); defaults otherwise. */
  readonly limits?: Partial<BlueprintLimits>;
  /** Partitions of the cluster (`--partitions`, default 64); every runtime of one cluster must agree. */
  readonly partitions?: number;
  /** This runtime's id in the cluster (`WEFT_RUNTIME_ID`; default: made up at start). */
  readonly runtimeId?: string;
  /** The partition lease's length in ms when this runtime creates the leases bucket (`WEFT_LEASE_MS`). */
  readonly leaseMs?: number;
  /** Payload cap, signals per run, start limits (README "Security"); default the `WEFT_MAX_*` variables. */
  readonly requestLimits?: RequestLimits;
}

export interface Runtime {
  readonly nc: NatsConnection;
  readonly subjects: Subjects;
  readonly supervisor: RunSupervisor;
  /** Every call for a run goes through it to the run's owner (this runtime or another). */
  readonly runs: RunRouter;
  readonly ownership: Ownership;
  readonly runtimeId: string;
  readonly registry: BlueprintRegistry;
  /** The activities workers announce (README "Worker wire protocol"). */
  readonly activities: ActivityRegistry;
  /** Drains: stops taking requests, hands its partitions over (each drained first), then closes. */
  close(): Promise<void>;
}

const DEFAULT_LEASE_MS = 5000;
export const startRuntime = async (options: RuntimeOptions): Promise<Runtime> => {
  const log = options.log ?? ((message: string) => process.stderr.write(`[weft] ${message}\n`));
  const subjects = new Subjects(options.prefix);
  const limits = options.requestLimits ?? requestLimitsOf();
  const managed = ManagedRuntime.make(storeLayer(options.store));
  const store = await managed.runPromise(EventStore);
  let nc: NatsConnection | undefined;
  let summaries: RunSummaryStoreShape | undefined;
  try {
    summaries = await makeSummaryStore(options.store);
    // Refused credentials end the start at once (an `UnavailableError` naming the server).
    nc = await connectNats(options.nats, options.auth ?? natsAuthFromEnv(), {
      name: 'weft-runtime',
      maxReconnectAttempts: -1,
      noAsyncTraces: true,
    });
    const connected = nc;
    const capNote = payloadCapNote(limits.maxPayload, nc.info?.max_payload ?? 1024 * 1024);
    if (capNote !== undefined) log(capNote);
    const activities = new ActivityRegistry();
    const channel = await untilJetStreamAnswers(
      () =>
        TaskChannel.open(
          connected,
          subjects,
          log,
          () => activities.liveWorkers(),
          limits.maxPayload,
        ),
      log,
    );
    const registry = new BlueprintRegistry(store);
    const workers = followWorkers(nc, subjects, activities, log);
    const runtimeId = options.runtimeId ?? `rt-${randomUUID().slice(0, 8)}`;
    // Calls from one run to another go through the router, to the other run's owner.
    let router: RunRouter | undefined;
    let ownership: Ownership | undefined;
    let closed = false;
    const ownsRun = (runId: string | undefined) =>
      runId === undefined || (ownership?.ownsRun(runId) ?? false);
    const routed = (): RunRouter => {
      if (router === undefined) throw new Error('the router is not up yet');
      return router;
    };
    const supervisor = new RunSupervisor({
      store,
      registry,
      newRunId: () => routed().newRunId(),
      // Retried while the other run's owner is unreachable, as long as this runtime owns the
      // calling run (its next owner recovers the call from the stream).
      peers: {
        start: (request) =>
          retryUnavailable(() => routed().start(request), {
            gaveUp: () => closed || !ownsRun(request.parent?.runId),
          }),
        cancel: (runId, reason) =>
          retryUnavailable(() => routed().cancel(runId, reason), { gaveUp: () => closed }),
        childResult: (parent, childRunId, outcome) =>
          retryUnavailable(() => routed().childResult(parent, childRunId, outcome), {
            gaveUp: () => closed || !ownsRun(childRunId),
          }),
      },
      log,
      ...(options.limits === undefined ? {} : { limits: options.limits }),
      servedActivities: () => activities.served(),
      activitySchemas: () => activities.schemas(),
      summaries,
      maxSignals: limits.maxSignals,
      startLimits: limits,
      effects: {
        dispatch: (task, delayMs, resend) => channel.dispatch(task, delayMs, resend),
        holds: (task) => channel.holds(task),
        heldByWorker: (task) => channel.heldByWorker(task),
        purgeRun: (runId) => channel.purgeRun(runId),
        abortTask: (taskId) => channel.abortTask(taskId),
        publishEvent: (runId, event) => channel.publishEvent(runId, event),
        // WEFT_EARLY_OFFERS=0: a task is offered only once its StepScheduled is durable.
        ...(process.env.WEFT_EARLY_OFFERS === '0'
          ? {}
          : { offerEarly: (tasks: readonly TaskMessage[]) => channel.offerEarly(tasks) }),
      },
    });
    await supervisor.startReadModel();
    const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    const joined = await untilJetStreamAnswers(
      () =>
        Ownership.start(connected, {
          subjects,
          self: runtimeId,
          partitions: options.partitions ?? DEFAULT_PARTITIONS,
          leaseMs,
          replicas: streamReplicas(connected),
          runs: supervisor,
          log,
          // Before the first partition is taken, so calls for it are answered from then on.
          // (A start retried while JetStream elects leaders keeps the router, with the new owners.)
          ready: (owners) => {
            ownership = owners;
            if (router !== undefined) return;
            const current = () => ownership ?? owners;
            router = new RunRouter({
              nc: connected,
              subjects,
              self: runtimeId,
              owners: {
                partitions: owners.partitions,
                owns: (partition) => current().owns(partition),
                ownerOf: (partition) => current().ownerOf(partition),
                ownsAny: () => current().ownsAny(),
                refresh: (partition) => current().refresh(partition),
                onChange: (listener) => current().onChange(listener),
              },
              local: supervisor,
              waitMs: 3 * leaseMs,
              log,
            });
            router.serve();
          },
        }),
      log,
    );
    const runs = routed();
    supervisor.follow(500);
    const graceMs = Number(process.env.WEFT_RECONCILE_GRACE_MS ?? 30_000);
    supervisor.startReconciler(Math.min(5000, Math.max(100, graceMs / 2)), graceMs);
    const gateway = new Gateway({
      nc,
      subjects,
      runs,
      registry,
      activities,
      log,
      maxPayload: limits.maxPayload,
    });
    gateway.start();
    await channel.consumeResults((result) => runs.onResult(result));
    channel.serveReports((result) => runs.onResult(result));
    channel.serveStarts((start, answered) => runs.mayStart(start, answered));
    // WEFT_DIRECT_TASKS=0: every task through the tasks stream (README "Guarantees").
    if (process.env.WEFT_DIRECT_TASKS !== '0')
      channel.offerTasks((start) => runs.mayStart(start, false));
    await nc.flush();
    // From now on (a start that fails says why in its own error, once).
    logPermissionViolations(nc, log);
    const connection = nc;
    const table = summaries;
    return {
      nc: connection,
      subjects,
      supervisor,
      runs,
      ownership: joined,
      runtimeId,
      registry,
      activities,
      async close() {
        closed = true;
        workers.close();
        await gateway.close();
        // Bounded: with NATS unreachable nothing can be handed over; the leases then lapse.
        let bound: NodeJS.Timeout | undefined;
        const handedOver = await Promise.race([
          joined.drain().then(
            () => true,
            (error: unknown) => {
              log(`handover: ${String(error)}`);
              return false;
            },
          ),
          new Promise<false>(
            (resolve) => (bound = setTimeout(() => resolve(false), 2 * joined.leaseMs)),
          ),
        ]);
        clearTimeout(bound);
        if (!handedOver) {
          joined.close();
          log('partitions not handed over in time: they pass on once their leases lapse');
        }
        await runs.close();
        supervisor.close();
        await channel.close();
        // The lease watch ran until here, so what the router and the channel still held after the
        // handover was forwarded to the new owners.
        joined.close();
        await connection.drain().catch(() => undefined);
        await Effect.runPromise(table.close());
        await managed.dispose();
      },
    };
  } catch (error) {
    await nc?.close().catch(() => undefined);
    if (summaries !== undefined) await Effect.runPromise(summaries.close());
    await managed.dispose();
    throw error;
  }
};

/** Runs an effect that needs only the event store, for tools that read streams (replay, inspection). */
export const withStore = <A>(
  url: string,
  use: (store: EventStoreShape) => Promise<A>,
): Promise<A> =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const store = yield* EventStore;
        return yield* Effect.promise(() => use(store));
      }).pipe(Effect.provide(storeLayer(url))),
    ),
  );

export { natsServers } from './config.ts';
