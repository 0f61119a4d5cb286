import * as Effect from 'effect/Effect';
import { BlueprintRegistry } from '../../../src/actors/blueprintRegistry.ts';
import type { Clock } from '../../../src/actors/clock.ts';
import type { StartLimitOptions } from '../../../src/actors/startLimits.ts';
import { RunSupervisor, type Effects, type Peers } from '../../../src/actors/supervisor.ts';
import type { TaskMessage, TaskResult } from '../../../src/wire/protocol.ts';
import type { Json } from '../../../src/blueprints/json.ts';
import type { EventStoreShape, RecordedEvent } from '../../../src/store/EventStore.ts';
import type { RunSummaryStoreShape } from '../../../src/store/RunSummaryStore.ts';
import { runStream } from '../../../src/store/streams.ts';

/**
 * Run supervisors wired as `main.ts` wires them, minus NATS: effects are recorded, and the store
 * is wrapped to count what the supervisors ask of it.
 */

/** What the supervisors asked of a store, counted by the wrapper `observed`. */
export interface StoreLog {
  /** Appends rejected with `VersionConflict`. */
  conflicts: number;
  /** Successful appends per `stream@expected`: more than one means a second writer decided at the same revision and its identical events were recognised as already appended. */
  readonly appended: Map<string, number>;
  /** Reads of each stream (a run rebuilt from its stream reads it). */
  readonly reads: Map<string, number>;
}

export const newStoreLog = (): StoreLog => ({
  conflicts: 0,
  appended: new Map(),
  reads: new Map(),
});

/** Appends that lost a race: rejected with a conflict, or found already made by another writer. */
export const racesLost = (log: StoreLog): number =>
  log.conflicts + [...log.appended.values()].reduce((sum, n) => sum + n - 1, 0);

/** The store, unchanged, with every append outcome and every stream read counted in `log`. */
export const observed = (store: EventStoreShape, log: StoreLog): EventStoreShape => ({
  ...store,
  append: (stream, events, expected) =>
    store.append(stream, events, expected).pipe(
      Effect.tap(() =>
        Effect.sync(() => {
          const key = `${stream}@${String(expected)}`;
          log.appended.set(key, (log.appended.get(key) ?? 0) + 1);
        }),
      ),
      Effect.tapError((error) =>
        Effect.sync(() => {
          if (error._tag === 'VersionConflict') log.conflicts += 1;
        }),
      ),
    ),
  read: (stream, options) => {
    log.reads.set(stream, (log.reads.get(stream) ?? 0) + 1);
    return store.read(stream, options);
  },
});

export interface TestRuntime {
  readonly supervisor: RunSupervisor;
  /** Every task this runtime dispatched, in order. */
  readonly dispatched: TaskMessage[];
}

let runIds = 0;

/** A supervisor on `store` with recorded effects, as one runtime of `main.ts` builds it. */
export const testRuntime = (
  store: EventStoreShape,
  options: {
    readonly maxRunsInMemory?: number;
    /** The run-summary table (default: the supervisor's in-memory one). */
    readonly summaries?: RunSummaryStoreShape;
    /** Time and timers (default: the real ones). */
    readonly clock?: Clock;
    /** Where calls on other runs go (default: the supervisor itself). */
    readonly peers?: Peers;
    /** Early offers (default: none). */
    readonly offerEarly?: Effects['offerEarly'];
    /** Signals one run stores (default 10,000). */
    readonly maxSignals?: number;
    /** Start limits (default: none). */
    readonly startLimits?: StartLimitOptions;
  } = {},
): TestRuntime => {
  const dispatched: TaskMessage[] = [];
  const supervisor = new RunSupervisor({
    store,
    registry: new BlueprintRegistry(store),
    newRunId: () => `generated-${String(++runIds)}`,
    ...options,
    effects: {
      dispatch: (task) => dispatched.push(task),
      // No tasks stream here: every attempt is as if JetStream had lost it.
      holds: () => Promise.resolve('absent'),
      heldByWorker: () => Promise.resolve(false),
      purgeRun: () => undefined,
      abortTask: () => undefined,
      publishEvent: () => undefined,
      ...(options.offerEarly === undefined ? {} : { offerEarly: options.offerEarly }),
    },
  });
  return { supervisor, dispatched };
};

/** The run's whole stream, read from the store underneath the wrapper. */
export const streamOf = (
  store: EventStoreShape,
  runId: string,
): Promise<readonly RecordedEvent[]> => Effect.runPromise(store.read(runStream(runId)));

/** A worker's successful result for a dispatched task. */
export const completed = (task: TaskMessage, output: Json): TaskResult => ({
  taskId: task.taskId,
  runId: task.runId,
  stepId: task.stepId,
  attempt: task.attempt,
  ok: true,
  output,
});
