import type { ActivitySchemas, BlueprintLimits } from '../blueprints/validate.ts';
import { ExpressionCache } from '../expressions/sandbox.ts';
import type { EventStoreShape } from '../store/EventStore.ts';
import { makeMemorySummaries } from '../store/memorySummaries.ts';
import type { RunSummaryStoreShape } from '../store/RunSummaryStore.ts';
import { weftError } from '../wire/errors.ts';
import { Admission } from './admission.ts';
import { Attempts } from './attempts.ts';
import type { BlueprintRegistry } from './blueprintRegistry.ts';
import { Children, type Peers } from './children.ts';
import { realClock, type Clock } from './clock.ts';
import { AttemptLifecycle } from './lifecycle.ts';
import { Performer, type Effects } from './perform.ts';
import { RunReadModel } from './readModel.ts';
import { ReconcilerLoop } from './reconciler.ts';
import { ResultBatches } from './results.ts';
import { earlyOffers, RunActors } from './runActor.ts';
import { RunCache } from './runCache.ts';
import { RunStreams } from './runStreams.ts';
import { RunTimers } from './timers.ts';
import { RunningRuns, StartLimits, type StartLimitOptions } from './startLimits.ts';
import { statusOf } from '../machines/run.ts';
import { DEFAULT_MAX_SIGNALS } from '../machines/messages.ts';

export interface SupervisorDeps {
  readonly store: EventStoreShape;
  readonly registry: BlueprintRegistry;
  readonly effects: Effects;
  readonly newRunId: () => string;
  readonly log?: (message: string) => void;
  /** Validation limits for new blueprints (steps, depth, size, array and map items). */
  readonly limits?: Partial<BlueprintLimits>;
  /** Running runs kept in memory, least recently used out (default 1,000). */
  readonly maxRunsInMemory?: number;
  /**
   * The activity names workers serve now: validation warns about any other (`unknown_activity`).
   */
  readonly servedActivities?: () => readonly string[];
  /**
   * The JSON Schemas announced activities declare: validation warns about step inputs that do not
   * fit them (`input_mismatch`).
   */
  readonly activitySchemas?: () => ReadonlyMap<string, ActivitySchemas>;
  /**
   * Where the run-summary read model is kept (default: in memory, folded from every stream at
   * boot).
   */
  readonly summaries?: RunSummaryStoreShape;
  /** Time and timers (default: the real ones). */
  readonly clock?: Clock;
  /** Where calls on other runs go (default: the supervisor itself). */
  readonly peers?: Peers;
  /** Signals one run stores over its whole life (`--max-signals`, default 10,000). */
  readonly maxSignals?: number;
  /** How many new runs clients may start (`--max-starts-per-second`, `--max-running`). */
  readonly startLimits?: StartLimitOptions;
}

/** The parts of one runtime's actor wing, wired to each other. */
export interface Parts {
  readonly clock: Clock;
  readonly served: (() => readonly string[]) | undefined;
  readonly expressions: ExpressionCache;
  readonly streams: RunStreams;
  readonly cache: RunCache;
  readonly readModel: RunReadModel;
  readonly actors: RunActors;
  readonly results: ResultBatches;
  readonly admission: Admission;
  readonly attempts: Attempts;
  readonly lifecycle: AttemptLifecycle;
  readonly timers: RunTimers;
  readonly children: Children;
  readonly reconciler: ReconcilerLoop;
  /** The running runs this runtime owns (what `--max-running` counts). */
  readonly running: RunningRuns;
  readonly maxSignals: number;
}

/** Builds the actor wing's parts; `self` answers cross-run calls unless `deps.peers` is given. */
export const wireParts = (deps: SupervisorDeps, self: Peers): Parts => {
  const log = deps.log ?? (() => undefined);
  const clock = deps.clock ?? realClock;
  const peers = deps.peers ?? self;
  const { effects } = deps;
  const expressions = new ExpressionCache(1000);
  const running = new RunningRuns();
  const streams = new RunStreams(deps.store, log);
  const cache = new RunCache(streams, deps.maxRunsInMemory);
  const readModel = new RunReadModel({
    events: deps.store,
    table: deps.summaries ?? makeMemorySummaries(),
    log,
  });
  const actors = new RunActors({
    streams,
    cache,
    clock,
    expressions,
    perform: (...args) => {
      running.note(args[0], statusOf(args[1].snapshot) === 'running');
      performer.perform(...args);
    },
    ...(effects.offerEarly === undefined ? {} : { offerEarly: earlyOffers(effects.offerEarly) }),
  });
  const lifecycle = new AttemptLifecycle({
    inMailbox: (runId, work) => actors.inMailbox(runId, work),
    snapshotOf: async (runId) => (await cache.load(runId))?.snapshot,
    cachedSnapshotOf: (runId) => cache.peek(runId)?.snapshot,
    transact: (runId, makeEvent) => actors.transact(runId, (run) => makeEvent(run.snapshot)),
    read: (runId, options) => streams.read(runId, options),
    abortTask: (taskId) => effects.abortTask(taskId),
    log,
    clock,
  });
  const attempts = new Attempts({
    publish: (task, delayMs, resend) => effects.dispatch(task, delayMs, resend),
    holds: (task) => effects.holds(task),
    heldByWorker: (task) => effects.heldByWorker(task),
    isOpen: (task) => lifecycle.isOpen(task),
    log,
    now: () => clock.now(),
  });
  const timers = new RunTimers({ clock, actors, log });
  const children = new Children({
    peers: () => peers,
    actors,
    streams,
    summaryOf: async (runId) => {
      const summary = await readModel.get(runId);
      if (summary === undefined) throw weftError('run_not_found', `no run '${runId}'`, { runId });
      return summary;
    },
    log,
  });
  const performer = new Performer({
    readModel,
    effects,
    attempts,
    lifecycle,
    timers,
    children,
    clock,
  });
  const admission = new Admission({
    registry: deps.registry,
    limits: deps.limits ?? {},
    served: deps.servedActivities,
    schemas: deps.activitySchemas,
    cache,
    actors,
    existing: async (runId) => {
      const summary = await readModel.get(runId);
      return summary && { runId, blueprint: summary.blueprint, existing: true };
    },
    started: (runId, compiled, startedAt) => lifecycle.armRunTimeout(runId, compiled, startedAt),
    newRunId: deps.newRunId,
    clock,
    gate: new StartLimits(deps.startLimits ?? {}, clock, () => running.size),
  });
  const reconciler = new ReconcilerLoop({
    clock,
    pass: (graceMs) => attempts.reconcile(graceMs),
    log,
  });
  return {
    clock,
    served: deps.servedActivities,
    expressions,
    streams,
    cache,
    readModel,
    actors,
    results: new ResultBatches(actors),
    admission,
    attempts,
    lifecycle,
    timers,
    children,
    reconciler,
    running,
    maxSignals: deps.maxSignals ?? DEFAULT_MAX_SIGNALS,
  };
};
