import { randomUUID } from 'node:crypto';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import * as Effect from 'effect/Effect';
import * as ManagedRuntime from 'effect/ManagedRuntime';
import { ActivityRegistry, followWorkers } from './actors/activities.ts';
import { BlueprintRegistry } from './actors/blueprintRegistry.ts';
import type { BlueprintLimits } from './blueprints/validate.ts';
import { RunSupervisor } from './actors/supervisor.ts';
import { TaskChannel } from './actors/taskChannel.ts';
import { Gateway } from './gateway/server.ts';
import { natsServers } from './config.ts';
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
  /** `sqlite:<path>`, `memory:`, or a KurrentDB connection string. */
  readonly store: string;
  readonly prefix: string;
  readonly log?: (message: string) => void;
  /** Blueprint limits (steps, depth, bytes, literal array items, map items); defaults otherwise. */
  readonly limits?: Partial<BlueprintLimits>;
}

export interface Runtime {
  readonly nc: NatsConnection;
  readonly subjects: Subjects;
  readonly supervisor: RunSupervisor;
  readonly registry: BlueprintRegistry;
  /** The activities workers announce (README "Worker wire protocol"). */
  readonly activities: ActivityRegistry;
  close(): Promise<void>;
}

export const startRuntime = async (options: RuntimeOptions): Promise<Runtime> => {
  const log = options.log ?? ((message: string) => process.stderr.write(`[weft] ${message}\n`));
  const subjects = new Subjects(options.prefix);
  const managed = ManagedRuntime.make(storeLayer(options.store));
  const store = await managed.runPromise(EventStore);
  let nc: NatsConnection | undefined;
  let summaries: RunSummaryStoreShape | undefined;
  try {
    summaries = await makeSummaryStore(options.store);
    nc = await connect({
      servers: natsServers(options.nats),
      name: 'weft-runtime',
      maxReconnectAttempts: -1,
      noAsyncTraces: true,
    });
    const channel = await TaskChannel.open(nc, subjects, log);
    const registry = new BlueprintRegistry(store);
    const activities = new ActivityRegistry();
    const workers = followWorkers(nc, subjects, activities, log);
    const supervisor = new RunSupervisor({
      store,
      registry,
      newRunId: () => randomUUID(),
      log,
      ...(options.limits === undefined ? {} : { limits: options.limits }),
      servedActivities: () => activities.served(),
      summaries,
      effects: {
        dispatch: (task, delayMs, resend) => channel.dispatch(task, delayMs, resend),
        holds: (task) => channel.holds(task),
        purgeRun: (runId) => channel.purgeRun(runId),
        abortTask: (taskId) => channel.abortTask(taskId),
        publishEvent: (runId, event) => channel.publishEvent(runId, event),
      },
    });
    await supervisor.recover();
    supervisor.follow(500);
    const graceMs = Number(process.env.WEFT_RECONCILE_GRACE_MS ?? 30_000);
    supervisor.startReconciler(Math.min(5000, Math.max(100, graceMs / 2)), graceMs);
    const gateway = new Gateway({ nc, subjects, supervisor, registry, activities, log });
    gateway.start();
    await channel.consumeResults((result) => supervisor.onResult(result));
    channel.serveReports((result) => supervisor.onResult(result));
    channel.serveStarts((start, answered) => supervisor.mayStart(start, answered));
    await nc.flush();
    const connection = nc;
    const table = summaries;
    return {
      nc: connection,
      subjects,
      supervisor,
      registry,
      activities,
      async close() {
        workers.close();
        await gateway.close();
        supervisor.close();
        await channel.close();
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
