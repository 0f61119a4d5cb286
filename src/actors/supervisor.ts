import { randomUUID } from 'node:crypto';
import * as Effect from 'effect/Effect';
import * as Result from 'effect/Result';
import type { Json } from '../blueprints/json.ts';
import type { Blueprint } from '../blueprints/schema.ts';
import { parseDuration } from '../blueprints/duration.ts';
import {
  validateBlueprint,
  type BlueprintLimits,
  type Diagnostic,
  type ValidateOptions,
} from '../blueprints/validate.ts';
import { ExpressionCache } from '../expressions/sandbox.ts';
import {
  compileBlueprint,
  openTaskById,
  openTasks,
  UnsupportedStep,
  type CompiledRun,
  type RunSnapshot,
} from '../machines/compile.ts';
import type { RunIdentity } from '../machines/decide.ts';
import { TERMINAL_EVENTS, timeOf, toRunEvent, type RunEvent } from '../machines/events.ts';
import { initialSnapshot, react, replay, statusOf } from '../machines/run.ts';
import { toOpenTask } from '../machines/transitions.ts';
import {
  extensionsOf,
  handlersOf,
  type Handlers,
  type RunExtensions,
} from '../machines/handlers.ts';
import { answerQuery } from '../projections/runQueries.ts';
import type { ListFilter, RunSummary } from '../projections/runSummary.ts';
import type { EventStoreShape, NewEvent, RecordedEvent } from '../store/EventStore.ts';
import { StoreRefused } from '../store/errors.ts';
import { eventId } from '../store/eventId.ts';
import { makeMemorySummaries } from '../store/memorySummaries.ts';
import type { RunSummaryStoreShape, SummaryPage } from '../store/RunSummaryStore.ts';
import { runStream } from '../store/streams.ts';
import { weftError, WeftError } from '../wire/errors.ts';
import type { TaskMessage, TaskResult, TaskStart } from '../wire/protocol.ts';
import { Attempts, type Held } from './attempts.ts';
import { AttemptLifecycle } from './lifecycle.ts';
import { RunReadModel } from './readModel.ts';
import { asInvalidResult, dataOf, fittingHead, overLimits } from './storeFit.ts';
import { activeTasks } from './taskStatus.ts';
import type { BlueprintRegistry, BlueprintVersion } from './blueprintRegistry.ts';

/**
 * The run supervisor: owns the run actors of this runtime. Each run is handled one message at a
 * time (a per-run mailbox); each message is load → react (pure) → append expecting the revision
 * read → perform effects (dispatch tasks, arm timers, start children, publish events). The
 * stream is the truth: the in-memory snapshot is only a cache, dropped on any conflict and
 * rebuilt by replay.
 */

export interface Effects {
  /**
   * Sends a task to the workers, after `delayMs`. At least once; results are matched by
   * taskId+attempt. `resend` counts re-dispatches of the same attempt by the reconciler.
   */
  readonly dispatch: (task: TaskMessage, delayMs: number, resend: number) => void;
  /** Whether the tasks stream still holds the attempt's message (see `Attempts`). */
  readonly holds: (task: TaskMessage) => Promise<Held>;
  /** Removes an ended run's tasks from the tasks stream (best effort). */
  readonly purgeRun: (runId: string) => void;
  /** Tells workers to abort a task in flight (best effort; its result is ignored anyway). */
  readonly abortTask: (taskId: string) => void;
  /** Publishes one appended event on `<p>.runs.<runId>.events`. */
  readonly publishEvent: (runId: string, event: RecordedEvent) => void;
}

export interface Parent {
  readonly runId: string;
  readonly stepId: string;
  readonly item?: number;
}

/** How a child's end is delivered to its parent. */
export type ChildOutcome =
  | { readonly ok: true; readonly output: Json }
  | {
      readonly ok: false;
      readonly error: { code: string; message: string; retryable: boolean };
    };

/**
 * Calls from one run to another (a child started, cancelled, or reporting to its parent), which
 * the runtime owning the other run must answer: by default this supervisor, in a cluster the router.
 */
export interface Peers {
  start(request: StartRequest): Promise<StartResult>;
  cancel(runId: string, reason: string): Promise<boolean>;
  childResult(parent: Parent, childRunId: string, outcome: ChildOutcome): Promise<void>;
}

interface LoadedRun {
  readonly compiled: CompiledRun;
  /** The limits pinned in its `RunStarted` (undefined: the defaults), used for its whole life. */
  readonly limits: Partial<BlueprintLimits> | undefined;
  readonly identity: RunIdentity;
  readonly parent: Parent | undefined;
  readonly handlers: Handlers;
  snapshot: RunSnapshot;
  revision: number;
}

export interface StartRequest {
  readonly blueprint: string | Json;
  readonly version?: number;
  readonly input?: Json;
  readonly runId?: string;
  readonly parent?: Parent;
  /** Signals, queries and plugins for this run alone (validated with the blueprint). */
  readonly signals?: readonly unknown[];
  readonly queries?: readonly unknown[];
  readonly plugins?: readonly unknown[];
}

export interface StartResult {
  readonly runId: string;
  readonly blueprint: { readonly name: string; readonly version: number };
  readonly existing: boolean;
  /** Warnings about an inline blueprint (`unknown_activity`, …); absent when there are none. */
  readonly warnings?: readonly Diagnostic[];
}

/** Running runs kept in memory; others are rebuilt from their stream when a message arrives. */
const MAX_RUNS_IN_MEMORY = 1000;

const MAX_CONFLICT_RETRIES = 8;
/** setTimeout's limit; longer timers are re-armed. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** The event recording a worker's result, or undefined when the task or attempt is not open. */
const resultEvent = (
  run: Pick<LoadedRun, 'snapshot'>,
  result: TaskResult,
): RunEvent | undefined => {
  const open = openTaskById(run.snapshot.context, result.taskId);
  if (statusOf(run.snapshot) !== 'running' || open === undefined || open.attempt !== result.attempt)
    return undefined;
  const base = {
    stepId: open.stepId,
    ...(open.item === undefined ? {} : { item: open.item }),
    taskId: result.taskId,
    attempt: result.attempt,
  };
  return result.ok
    ? { type: 'StepCompleted', ...base, output: result.output }
    : {
        type: 'StepFailed',
        ...base,
        error: {
          message: result.error.message,
          code: result.error.code ?? 'activity_error',
          retryable: result.error.retryable,
        },
      };
};

export const invalidBlueprint = (diagnostics: readonly Diagnostic[]): WeftError =>
  weftError(
    'invalid_blueprint',
    `blueprint is invalid: ${diagnostics.map((d) => `${d.path}: ${d.message}`).join('; ')}`,
    {
      diagnostics,
    },
  );

export class RunSupervisor {
  readonly #store: EventStoreShape;
  readonly #registry: BlueprintRegistry;
  readonly #effects: Effects;
  readonly #log: (message: string) => void;
  readonly #compiled = new Map<string, CompiledRun>();
  readonly #runs = new Map<string, LoadedRun>();
  readonly #mailboxes = new Map<string, Promise<unknown>>();
  /** The run-summary read model (runs.get, runs.list, waiting for a run's end). */
  readonly #readModel: RunReadModel;
  readonly #timers = new Map<string, NodeJS.Timeout>();
  /** Attempts dispatched by this runtime and not yet answered, and their re-dispatch. */
  readonly #attempts: Attempts;
  /** Starts, attempt deadlines and the runs' `timeout` (see `AttemptLifecycle`). */
  readonly #lifecycle: AttemptLifecycle;
  /** Results waiting for their run's mailbox, by run. */
  readonly #results = new Map<
    string,
    {
      readonly result: TaskResult;
      readonly resolve: () => void;
      readonly reject: (error: unknown) => void;
    }[]
  >();
  #reconciler: NodeJS.Timeout | undefined;
  readonly #expressions = new ExpressionCache(1000);
  readonly #newRunId: () => string;
  #closed = false;
  readonly #limits: Partial<BlueprintLimits>;
  readonly #maxRunsInMemory: number;
  readonly #served: (() => readonly string[]) | undefined;
  readonly #peers: Peers;

  constructor(deps: {
    /** Where calls to other runs go (default: this supervisor). */
    readonly peers?: Peers;
    readonly store: EventStoreShape;
    readonly registry: BlueprintRegistry;
    readonly effects: Effects;
    readonly newRunId: () => string;
    readonly log?: (message: string) => void;
    /** Validation limits for new blueprints (steps, depth, size, array and map items). */
    readonly limits?: Partial<BlueprintLimits>;
    /** Running runs kept in memory, least recently used out (default 1,000). */
    readonly maxRunsInMemory?: number;
    /** The activity names workers serve now: validation warns about any other (`unknown_activity`). */
    readonly servedActivities?: () => readonly string[];
    /** Where the run-summary read model is kept (default: in memory, folded from every stream at boot). */
    readonly summaries?: RunSummaryStoreShape;
  }) {
    this.#served = deps.servedActivities;
    this.#peers = deps.peers ?? this;
    this.#limits = deps.limits ?? {};
    this.#maxRunsInMemory = deps.maxRunsInMemory ?? MAX_RUNS_IN_MEMORY;
    this.#store = deps.store;
    this.#registry = deps.registry;
    this.#effects = deps.effects;
    this.#newRunId = deps.newRunId;
    this.#log = deps.log ?? (() => undefined);
    this.#readModel = new RunReadModel({
      events: deps.store,
      table: deps.summaries ?? makeMemorySummaries(),
      log: this.#log,
    });
    this.#attempts = new Attempts({
      publish: (task, delayMs, resend) => this.#effects.dispatch(task, delayMs, resend),
      holds: (task) => this.#effects.holds(task),
      isOpen: (task) => this.#lifecycle.isOpen(task),
      log: this.#log,
    });
    this.#lifecycle = new AttemptLifecycle({
      inMailbox: (runId, work) => this.#inMailbox(runId, work),
      snapshotOf: async (runId) => (await this.#load(runId))?.snapshot,
      cachedSnapshotOf: (runId) => this.#runs.get(runId)?.snapshot,
      transact: (runId, makeEvent) => this.#transact(runId, (run) => makeEvent(run.snapshot)),
      read: (runId, options) => Effect.runPromise(this.#store.read(runStream(runId), options)),
      abortTask: (taskId) => this.#effects.abortTask(taskId),
      log: this.#log,
    });
  }

  /**
   * Brings the run-summary read model up to date (from its checkpoint), then carries every
   * unfinished run on: re-dispatches open tasks (same taskId and attempt), re-arms timers, and
   * reconciles children.
   */
  async recover(): Promise<void> {
    await this.startReadModel();
    await this.recoverRuns(() => true);
  }

  /** Brings the run-summary read model up to date from its checkpoint. */
  async startReadModel(): Promise<void> {
    await this.#readModel.start();
  }

  /** Folds into the read model what any runtime appended so far. */
  catchUp(): Promise<void> {
    return this.#readModel.catchUp();
  }

  /** `recover` for the selected unfinished runs only (those of partitions just taken over). */
  async recoverRuns(select: (runId: string) => boolean): Promise<void> {
    const unfinished = (await this.#readModel.unfinished()).filter(select);
    for (const runId of unfinished) {
      await this.#inMailbox(runId, async () => {
        const run = await this.#load(runId);
        if (run === undefined) return;
        const { context } = run.snapshot;
        await this.#lifecycle.rearmRunTimeout(runId, run.compiled);
        const tasks = openTasks(context);
        for (const task of tasks) void this.#attempts.recover({ ...task, runId });
        await this.#lifecycle.rearmDeadlines(runId, tasks);
        for (const [timerId, timer] of Object.entries(context.timers))
          this.#armTimer(runId, timerId, timer.dueAt);
        for (const child of Object.values(context.children)) this.#reconcileChild(runId, child);
      });
    }
  }

  /**
   * Forgets the selected runs: cached state, timers, attempts, deadlines and run timeouts. Nothing
   * of this runtime acts on them afterwards until they are recovered again (their streams keep
   * everything).
   */
  dropRuns(select: (runId: string) => boolean): void {
    for (const runId of [...this.#runs.keys()]) if (select(runId)) this.#runs.delete(runId);
    for (const [key, timer] of [...this.#timers]) {
      if (!select(key.slice(0, key.indexOf('\u0000')))) continue;
      clearTimeout(timer);
      this.#timers.delete(key);
    }
    this.#attempts.dropRuns(select);
    this.#lifecycle.deadlines.dropRuns(select);
    this.#lifecycle.runTimeouts.dropRuns(select);
  }

  /** Resolves once every mailbox of the selected runs is idle (work queued so far has finished). */
  async settleRuns(select: (runId: string) => boolean): Promise<void> {
    for (;;) {
      const busy = [...this.#mailboxes].filter(([runId]) => select(runId)).map(([, p]) => p);
      if (busy.length === 0) return;
      await Promise.allSettled(busy);
    }
  }

  /** Keeps the read model following the store (events appended by other runtimes too). */
  follow(intervalMs: number): void {
    this.#readModel.follow(intervalMs);
  }

  /** Stops timers; runs in memory are dropped (the streams keep everything). */
  close(): void {
    this.#closed = true;
    this.#readModel.close();
    clearTimeout(this.#reconciler);
    this.#lifecycle.close();
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
  }

  #inMailbox<A>(runId: string, work: () => Promise<A>): Promise<A> {
    const previous = this.#mailboxes.get(runId) ?? Promise.resolve();
    const next = previous.then(work, work);
    const settled = next.then(
      () => undefined,
      () => undefined,
    );
    this.#mailboxes.set(runId, settled);
    void settled.then(() => {
      if (this.#mailboxes.get(runId) === settled) this.#mailboxes.delete(runId);
    });
    return next;
  }

  /** The blueprint's machine, validated under the run's pinned `limits` (undefined: the defaults). */
  #compile(
    version: Pick<BlueprintVersion, 'hash' | 'content'>,
    limits: Partial<BlueprintLimits> | undefined,
  ): CompiledRun {
    const key = limits === undefined ? version.hash : `${version.hash}:${JSON.stringify(limits)}`;
    const cached = this.#compiled.get(key);
    if (cached !== undefined) return cached;
    const validated = validateBlueprint(version.content, limits, { recorded: true });
    if (!validated.ok) throw invalidBlueprint(validated.diagnostics);
    const compiled = this.#compileChecked(validated.blueprint);
    this.#compiled.set(key, compiled);
    return compiled;
  }

  /** The limits a run starting now is admitted with, as `RunStarted` pins them (none: the defaults). */
  #admissionLimits(): Partial<BlueprintLimits> | undefined {
    return Object.keys(this.#limits).length === 0 ? undefined : this.#limits;
  }

  #compileChecked(blueprint: Blueprint): CompiledRun {
    try {
      return compileBlueprint(blueprint, parseDuration);
    } catch (error) {
      if (error instanceof UnsupportedStep) {
        throw invalidBlueprint([
          {
            path: '$.steps',
            code: 'unsupported_step',
            message: error.message,
            severity: 'error',
          },
        ]);
      }
      throw error;
    }
  }

  /** Rebuilds a run from its stream (cached while it runs). Undefined when the stream does not exist. */
  async #load(runId: string): Promise<LoadedRun | undefined> {
    const cached = this.#runs.get(runId);
    if (cached !== undefined) {
      this.#runs.delete(runId);
      this.#runs.set(runId, cached);
      return cached;
    }
    const recorded = await Effect.runPromise(this.#store.read(runStream(runId)));
    if (recorded.length === 0) return undefined;
    const events = recorded.map(toRunEvent);
    const started = events[0];
    if (started?.type !== 'RunStarted')
      throw new Error(`stream run-${runId} does not begin with RunStarted`);
    const compiled = this.#compile(started.blueprint, started.limits);
    const run: LoadedRun = {
      compiled,
      limits: started.limits,
      identity: {
        id: runId,
        blueprint: started.blueprint.name,
        version: started.blueprint.version,
      },
      parent: started.parent,
      handlers: handlersOf(compiled, extensionsOf(started.extensions)),
      snapshot: replay(compiled, events),
      revision: recorded.length - 1,
    };
    this.#keep(runId, run);
    return run;
  }

  /** Caches a running run, least recently used out first: memory stays bounded whatever the number of runs. */
  #keep(runId: string, run: LoadedRun): void {
    if (statusOf(run.snapshot) !== 'running') return;
    this.#runs.set(runId, run);
    while (this.#runs.size > this.#maxRunsInMemory) {
      const oldest = this.#runs.keys().next().value;
      if (oldest === undefined) break;
      this.#runs.delete(oldest);
    }
  }

  #react(run: Pick<LoadedRun, 'compiled' | 'limits' | 'snapshot' | 'identity'>, event: RunEvent) {
    const maxMapItems = run.limits?.maxMapItems;
    return react(run.compiled, run.snapshot, run.identity, event, {
      now: Date.now(),
      cache: this.#expressions,
      parseDuration,
      ...(maxMapItems === undefined ? {} : { maxMapItems }),
    });
  }

  /**
   * Appends the reaction to `event` (made from the current state by `makeEvent`) with optimistic
   * concurrency; on a conflict the cache is dropped, the run reloaded and the event re-decided
   * (bounded). `makeEvent` returning undefined means nothing to record (a duplicate or stale message).
   */
  async #transact(
    runId: string,
    makeEvent: (run: LoadedRun) => RunEvent | undefined,
  ): Promise<boolean> {
    const [recorded] = await this.#transactAll(runId, [makeEvent]);
    return recorded === true;
  }

  /**
   * `#transact` for several messages of one run at once: each is decided on the state the previous
   * ones left, and all their events go in one append (one fsync for a burst of a map's results),
   * as many at a time as fit the store's `limits`: the rest follow in further appends, in order.
   * A conflict re-decides the batch. True for each message that recorded something.
   */
  async #transactAll(
    runId: string,
    makers: readonly ((run: LoadedRun) => RunEvent | undefined)[],
  ): Promise<readonly boolean[]> {
    const recorded: boolean[] = [];
    for (let rest = makers; rest.length > 0;) {
      const done = await this.#transactHead(runId, rest);
      recorded.push(...done);
      rest = rest.slice(done.length);
    }
    return recorded;
  }

  /**
   * Records the longest head of `makers` that fits one append (at least the first message) and
   * answers for those messages only. Sizes are measured only once the store refused an append as
   * too large; a lone message whose events cannot fit at all is a worker's result recorded as its
   * attempt failing with `invalid_result`, or else `payload_too_large`.
   */
  async #transactHead(
    runId: string,
    makers: readonly ((run: LoadedRun) => RunEvent | undefined)[],
  ): Promise<readonly boolean[]> {
    const stream = runStream(runId);
    let take = makers.length;
    let unrecordable: string | undefined;
    for (let i = 0; i < MAX_CONFLICT_RETRIES; i++) {
      const run = await this.#load(runId);
      if (run === undefined) throw weftError('run_not_found', `no run '${runId}'`, { runId });
      const before = run.snapshot;
      let current: LoadedRun = run;
      const perMessage: (readonly RunEvent[])[] = [];
      const recorded: boolean[] = [];
      for (const makeEvent of makers.slice(0, take)) {
        const made = makeEvent(current);
        const event =
          made !== undefined && unrecordable !== undefined
            ? (asInvalidResult(made, unrecordable) ?? made)
            : made;
        recorded.push(event !== undefined);
        if (event === undefined) {
          perMessage.push([]);
          continue;
        }
        const reaction = await this.#react(current, event);
        current = { ...current, snapshot: reaction.snapshot };
        perMessage.push(reaction.events);
      }
      const events = perMessage.flat();
      if (events.length === 0) return recorded;
      const appended = await this.#append(stream, events, run.revision);
      if (appended === 'conflict') {
        this.#runs.delete(runId);
        continue;
      }
      if (appended instanceof StoreRefused) {
        // Refused as too large: nothing was written. Fewer messages, or the lone one made smaller.
        const fit = fittingHead(perMessage, this.#store.limits);
        if (take > 1) {
          take = Math.max(1, Math.min(fit, take - 1));
          continue;
        }
        const why = overLimits(events, this.#store.limits) ?? appended.message;
        const [first] = perMessage;
        const made = first?.[0];
        if (unrecordable === undefined && made !== undefined && asInvalidResult(made, why)) {
          unrecordable = why;
          continue;
        }
        throw weftError(
          'payload_too_large',
          `run '${runId}': cannot record ${made?.type ?? 'an event'}: ${why}`,
          {
            runId,
            maxEventBytes: this.#store.limits.maxEventBytes,
            maxAppendBytes: this.#store.limits.maxAppendBytes,
          },
        );
      }
      run.snapshot = current.snapshot;
      run.revision += events.length;
      if (statusOf(run.snapshot) !== 'running') this.#runs.delete(runId);
      this.#perform(runId, run, before, events, appended);
      return recorded;
    }
    throw weftError('unavailable', `run '${runId}' is contended; try again`, { runId });
  }

  /**
   * Appends expecting `expected`. A conflict is `'conflict'`; a refusal as too large is returned
   * (nothing was written); the store unavailable is `unavailable` (retry), refusing for another
   * reason `internal` with a one-line log (retrying cannot help).
   */
  async #append(
    stream: string,
    events: readonly RunEvent[],
    expected: number | 'no_stream',
  ): Promise<'conflict' | StoreRefused | readonly RecordedEvent[]> {
    const first = expected === 'no_stream' ? 0 : expected + 1;
    const newEvents: NewEvent[] = events.map((event, i) => {
      const data = dataOf(event);
      return { id: eventId(stream, first + i, event.type, data), type: event.type, data };
    });
    const result = await Effect.runPromise(
      Effect.result(this.#store.append(stream, newEvents, expected)),
    );
    if (Result.isFailure(result)) {
      const failure = result.failure;
      switch (failure._tag) {
        case 'VersionConflict':
          return 'conflict';
        case 'StoreUnavailable':
          throw weftError('unavailable', `event store: ${failure.message}`);
        case 'StoreRefused':
          if (failure.reason === 'too_large') return failure;
          this.#log(
            `event store refused an append to ${stream} (${failure.reason}): ${failure.message}`,
          );
          throw weftError(
            'internal',
            `event store refused the append (${failure.reason}): ${failure.message}`,
            {
              reason: failure.reason,
            },
          );
      }
    }
    // Positions within one append only increase; exact ones are not needed by anything downstream.
    const { at, position } = result.success;
    return newEvents.map((e, i) => ({ ...e, stream, revision: first + i, position, at }));
  }

  /** After a successful append: project, notify, dispatch, arm timers, start children. Never throws. */
  #perform(
    runId: string,
    run: Pick<LoadedRun, 'parent'>,
    before: RunSnapshot,
    events: readonly RunEvent[],
    recorded: readonly RecordedEvent[],
  ): void {
    events.forEach((event, i) => {
      const record = recorded[i];
      if (record !== undefined) {
        this.#readModel.project(runId, event, record.revision, record.at);
        this.#effects.publishEvent(runId, record);
      }
      const summary = this.#readModel.cached(runId);
      switch (event.type) {
        case 'StepCompleted':
        case 'StepFailed':
          this.#attempts.answered(event.taskId, event.attempt);
          this.#lifecycle.deadlines.answered(event);
          break;
        case 'StepStarted': {
          const task = this.#lifecycle.deadlines.taskOf(event);
          if (task !== undefined) this.#lifecycle.deadlines.started(task, event.time ?? Date.now());
          break;
        }
        case 'StepScheduled':
          this.#attempts.dispatch({ ...toOpenTask(event), runId }, event.delayMs);
          this.#lifecycle.deadlines.dispatched(
            { ...event, runId },
            (record === undefined ? Date.now() : Date.parse(record.at)) + event.delayMs,
          );
          break;
        case 'TimerScheduled':
          this.#armTimer(runId, event.timerId, event.dueAt);
          break;
        case 'ChildRequested':
          void this.#startChild(runId, event);
          break;
        case 'RunCancelled':
        case 'RunTimedOut': {
          const how = event.type === 'RunCancelled' ? 'was cancelled' : 'timed out';
          for (const task of openTasks(before.context)) this.#effects.abortTask(task.taskId);
          for (const child of Object.values(before.context.children)) {
            void this.#peers
              .cancel(child.childRunId, `parent run '${runId}' ${how}`)
              .catch(() => undefined);
          }
          break;
        }
        default:
          break;
      }
      if (TERMINAL_EVENTS.has(event.type)) {
        this.#attempts.runEnded(runId);
        this.#lifecycle.deadlines.runEnded(runId);
        this.#lifecycle.runTimeouts.clear(runId);
        // Tasks still queued for this run will never be wanted: out of the stream.
        if (openTasks(before.context).length > 0) this.#effects.purgeRun(runId);
      }
      if (TERMINAL_EVENTS.has(event.type) && summary !== undefined) {
        for (const timerKey of [...this.#timers.keys()].filter((k) =>
          k.startsWith(`${runId}\u0000`),
        )) {
          clearTimeout(this.#timers.get(timerKey));
          this.#timers.delete(timerKey);
        }
        if (run.parent !== undefined) void this.#notifyParent(run.parent, runId, summary);
      }
    });
  }

  /**
   * Re-dispatches attempts that got no result within their timeout plus `graceMs` and are no longer
   * in the tasks stream (see `Attempts.reconcile`). Same taskId and attempt.
   */
  reconcile(graceMs: number): Promise<number> {
    return this.#attempts.reconcile(graceMs);
  }

  /** A worker starts an attempt: may it run it? (See `AttemptLifecycle.mayStart`.) */
  mayStart(
    start: Pick<TaskStart, 'runId' | 'taskId' | 'attempt'>,
    answered = true,
  ): Promise<boolean> {
    return this.#lifecycle.mayStart(start, answered);
  }

  /** Runs `reconcile` every `everyMs`. */
  startReconciler(everyMs: number, graceMs: number): void {
    const tick = () => {
      this.#reconciler = setTimeout(() => {
        this.reconcile(graceMs).then(tick, (error: unknown) => {
          this.#log(`reconciler: ${String(error)}`);
          tick();
        });
      }, everyMs);
    };
    if (this.#reconciler === undefined && !this.#closed) tick();
  }

  #armTimer(runId: string, timerId: string, dueAt: number): void {
    if (this.#closed) return;
    const key = `${runId}\u0000${timerId}`;
    clearTimeout(this.#timers.get(key));
    const delay = Math.max(0, dueAt - Date.now());
    const timer = setTimeout(
      () => {
        this.#timers.delete(key);
        if (delay >= MAX_TIMEOUT_MS) {
          this.#armTimer(runId, timerId, dueAt);
          return;
        }
        void this.fireTimer(runId, timerId).catch((error: unknown) =>
          this.#log(`timer ${timerId} of run ${runId}: ${String(error)}`),
        );
      },
      Math.min(delay, MAX_TIMEOUT_MS),
    );
    this.#timers.set(key, timer);
  }

  /** Records a timer's firing once; a timer that is no longer open is ignored. */
  async fireTimer(runId: string, timerId: string): Promise<boolean> {
    return this.#inMailbox(runId, () =>
      this.#transact(runId, (run) => {
        const timer = run.snapshot.context.timers[timerId];
        if (statusOf(run.snapshot) !== 'running' || timer === undefined) return undefined;
        if (Date.now() < timer.dueAt) {
          // Never early: the wall clock may lag the monotonic one setTimeout uses.
          this.#armTimer(runId, timerId, timer.dueAt);
          return undefined;
        }
        return { type: 'TimerFired', timerId };
      }),
    );
  }

  async #startChild(
    parentRunId: string,
    event: Extract<RunEvent, { type: 'ChildRequested' }>,
  ): Promise<void> {
    const parent: Parent = {
      runId: parentRunId,
      stepId: event.stepId,
      ...(event.item === undefined ? {} : { item: event.item }),
    };
    try {
      await this.#peers.start({
        blueprint: event.blueprint,
        ...(event.version === undefined ? {} : { version: event.version }),
        input: event.input,
        runId: event.childRunId,
        parent,
      });
    } catch (error) {
      if (error instanceof WeftError && error.code === 'unavailable') {
        // Not the child's fault: whoever owns the parent then starts it when it recovers the run.
        this.#log(`child ${event.childRunId} of ${parentRunId} not started yet: ${error.message}`);
        return;
      }
      const message = error instanceof Error ? error.message : String(error);
      const code = error instanceof WeftError ? error.code : 'internal';
      await this.#peers.childResult(parent, event.childRunId, {
        ok: false,
        error: { code, message, retryable: false },
      });
    }
  }

  /** After a restart: a child that ended while nobody listened is delivered; one never started is started. */
  #reconcileChild(
    parentRunId: string,
    child: { readonly childRunId: string; readonly stepId: string; readonly item?: number },
  ): void {
    const parent: Parent = {
      runId: parentRunId,
      stepId: child.stepId,
      ...(child.item === undefined ? {} : { item: child.item }),
    };
    void this.get(child.childRunId).then(
      (summary) => {
        if (summary.status !== 'running')
          void this.#notifyParent(parent, child.childRunId, summary);
      },
      async () => {
        const event = await this.#childRequest(parentRunId, child.childRunId);
        if (event === undefined)
          this.#log(`no ChildRequested for ${child.childRunId} in ${parentRunId}: not started`);
        else await this.#startChild(parentRunId, event);
      },
    );
  }

  /**
   * The parent's recorded request for a child: the stream holds the blueprint and input of every
   * child, also of a map's items, which the folded context does not keep.
   */
  async #childRequest(
    parentRunId: string,
    childRunId: string,
  ): Promise<Extract<RunEvent, { type: 'ChildRequested' }> | undefined> {
    const recorded = await Effect.runPromise(this.#store.read(runStream(parentRunId)));
    for (const stored of recorded) {
      if (stored.type !== 'ChildRequested') continue;
      const event = toRunEvent(stored);
      if (event.type === 'ChildRequested' && event.childRunId === childRunId) return event;
    }
    return undefined;
  }

  async #notifyParent(parent: Parent, childRunId: string, summary: RunSummary): Promise<void> {
    await this.#peers
      .childResult(
        parent,
        childRunId,
        summary.status === 'completed'
          ? { ok: true, output: summary.output ?? null }
          : {
              ok: false,
              error: {
                code: summary.status === 'cancelled' ? 'child_cancelled' : 'child_failed',
                message: `child run '${childRunId}' ${summary.status}${summary.error ? `: ${summary.error.message}` : ''}`,
                retryable: false,
              },
            },
      )
      .catch((error: unknown) =>
        this.#log(`could not deliver child ${childRunId} to ${parent.runId}: ${String(error)}`),
      );
  }

  /** Records a child's end in its parent once (ignored when the parent no longer waits for it). */
  async childResult(parent: Parent, childRunId: string, result: ChildOutcome): Promise<void> {
    await this.#inMailbox(parent.runId, () =>
      this.#transact(parent.runId, (run) => {
        const open = Object.values(run.snapshot.context.children).some(
          (c) => c.childRunId === childRunId,
        );
        if (statusOf(run.snapshot) !== 'running' || !open) return undefined;
        const base = {
          stepId: parent.stepId,
          ...(parent.item === undefined ? {} : { item: parent.item }),
          childRunId,
        };
        return result.ok
          ? { type: 'ChildCompleted', ...base, output: result.output }
          : { type: 'ChildFailed', ...base, error: result.error };
      }),
    );
  }

  /** Resolves the blueprint (by name and version, or inline — put first, so the run pins a version). */
  async #resolve(
    request: StartRequest,
  ): Promise<{ readonly version: BlueprintVersion; readonly warnings: readonly Diagnostic[] }> {
    if (typeof request.blueprint === 'string') {
      return {
        version: await this.#registry.get(request.blueprint, request.version),
        warnings: [],
      };
    }
    const validated = validateBlueprint(request.blueprint, this.#limits, this.#validateOptions());
    if (!validated.ok) throw invalidBlueprint(validated.diagnostics);
    this.#compileChecked(validated.blueprint);
    // The request's own signals, queries and plugins are checked before anything is stored.
    this.#extensions(validated.blueprint as unknown as Json, request);
    // Valid: what diagnostics there are are warnings.
    return {
      version: await this.#registry.put(validated.blueprint),
      warnings: validated.diagnostics,
    };
  }

  /** What validation of a new blueprint knows besides the document: the served activities. */
  #validateOptions(): ValidateOptions {
    return this.#served === undefined ? {} : { activities: this.#served() };
  }

  /** Validates a blueprint for storage: every diagnostic, including shapes this runtime cannot execute. */
  checkBlueprint(input: unknown): {
    readonly blueprint?: Blueprint;
    readonly diagnostics: readonly Diagnostic[];
  } {
    const validated = validateBlueprint(input, this.#limits, this.#validateOptions());
    if (!validated.ok) return { diagnostics: validated.diagnostics };
    try {
      this.#compileChecked(validated.blueprint);
    } catch (error) {
      if (error instanceof WeftError) {
        return {
          diagnostics: (error.details as { diagnostics: readonly Diagnostic[] }).diagnostics,
        };
      }
      throw error;
    }
    return { blueprint: validated.blueprint, diagnostics: validated.diagnostics };
  }

  /** Starts a run, or returns the existing one with that id. Appends `RunStarted` and its first decisions atomically. */
  async start(request: StartRequest): Promise<StartResult> {
    const runId = request.runId ?? this.#newRunId();
    const stream = runStream(runId);
    return this.#inMailbox(runId, async () => {
      // A run id this runtime just made up cannot exist (and if it did, the append below would
      // conflict and find it): only a caller's own id is looked up first.
      const existing = request.runId === undefined ? undefined : await this.#existing(runId);
      if (existing !== undefined) return existing;
      const { version, warnings } = await this.#resolve(request);
      const limits = this.#admissionLimits();
      const compiled = this.#compile(version, limits);
      const extensions = this.#extensions(version.content, request);
      const identity: RunIdentity = {
        id: runId,
        blueprint: version.name,
        version: version.version,
      };
      const started: RunEvent = {
        type: 'RunStarted',
        runId,
        blueprint: {
          name: version.name,
          version: version.version,
          hash: version.hash,
          content: version.content,
        },
        input: request.input ?? null,
        ...(extensions === undefined ? {} : { extensions: extensions as unknown as Json }),
        ...(request.parent === undefined ? {} : { parent: request.parent }),
        ...(limits === undefined ? {} : { limits }),
      };
      const initial = initialSnapshot(compiled);
      const reaction = await this.#react(
        { compiled, limits, identity, snapshot: initial },
        started,
      );
      const appended = await this.#append(stream, reaction.events, 'no_stream');
      if (appended === 'conflict') {
        const raced = await this.#existing(runId);
        if (raced !== undefined) return raced;
        throw weftError('unavailable', `run '${runId}' could not be started; try again`);
      }
      if (appended instanceof StoreRefused) {
        const why = overLimits(reaction.events, this.#store.limits) ?? appended.message;
        throw weftError('payload_too_large', `run '${runId}' cannot start: ${why}`, {
          runId,
          maxEventBytes: this.#store.limits.maxEventBytes,
          maxAppendBytes: this.#store.limits.maxAppendBytes,
        });
      }
      const run: LoadedRun = {
        compiled,
        limits,
        identity,
        parent: request.parent,
        handlers: handlersOf(compiled, extensions),
        snapshot: reaction.snapshot,
        revision: reaction.events.length - 1,
      };
      this.#keep(runId, run);
      this.#perform(runId, run, initial, reaction.events, appended);
      const startedAt = reaction.events[0] === undefined ? undefined : timeOf(reaction.events[0]);
      this.#lifecycle.armRunTimeout(runId, compiled, startedAt ?? Date.now());
      return {
        runId,
        blueprint: { name: version.name, version: version.version },
        existing: false,
        ...(warnings.length === 0 ? {} : { warnings }),
      };
    });
  }

  /** A start request's extra signals, queries and plugins, validated together with the blueprint. */
  #extensions(blueprint: Json, request: StartRequest): RunExtensions | undefined {
    if (
      request.signals === undefined &&
      request.queries === undefined &&
      request.plugins === undefined
    )
      return undefined;
    const content = blueprint as Record<string, Json>;
    const listOf = (key: string) =>
      Array.isArray(content[key]) ? (content[key] as readonly Json[]) : [];
    const merged = {
      ...content,
      signals: [...listOf('signals'), ...((request.signals ?? []) as Json[])],
      queries: [...listOf('queries'), ...((request.queries ?? []) as Json[])],
      plugins: [...listOf('plugins'), ...((request.plugins ?? []) as Json[])],
    };
    const validated = validateBlueprint(merged, this.#limits);
    if (!validated.ok) throw invalidBlueprint(validated.diagnostics);
    const extensions = extensionsOf({
      ...(request.signals === undefined ? {} : { signals: request.signals }),
      ...(request.queries === undefined ? {} : { queries: request.queries }),
      ...(request.plugins === undefined ? {} : { plugins: request.plugins }),
    });
    if (extensions === undefined)
      throw weftError(
        'invalid_request',
        'signals, queries or plugins of the start request are malformed',
      );
    return extensions;
  }

  async #existing(runId: string): Promise<StartResult | undefined> {
    const summary = await this.#readModel.get(runId);
    return summary && { runId, blueprint: summary.blueprint, existing: true };
  }

  /**
   * Records a worker's result once: a result for a task or attempt that is not open is ignored.
   * Results of one run that arrive while its previous append is in flight are recorded together.
   * Resolves once the result is durable (or known to be stale).
   */
  onResult(result: TaskResult): Promise<void> {
    return new Promise((resolve, reject) => {
      let batch = this.#results.get(result.runId);
      if (batch === undefined) {
        batch = [];
        this.#results.set(result.runId, batch);
        void this.#inMailbox(result.runId, () => this.#recordResults(result.runId));
      }
      batch.push({ result, resolve, reject });
    });
  }

  async #recordResults(runId: string): Promise<void> {
    const batch = this.#results.get(runId) ?? [];
    this.#results.delete(runId);
    try {
      await this.#transactAll(
        runId,
        batch.map(
          ({ result }) =>
            (run: LoadedRun) =>
              resultEvent(run, result),
        ),
      );
      for (const waiting of batch) waiting.resolve();
    } catch (error) {
      if (error instanceof WeftError && error.code === 'run_not_found') {
        for (const waiting of batch) waiting.resolve();
        return;
      }
      for (const waiting of batch) waiting.reject(error);
    }
  }

  /**
   * Records a signal once (a repeated `signalId` is accepted and not recorded again). The run must be
   * running and accept the name: `unknown_signal` otherwise. A signal sent without an id is given a
   * fresh one: two runtimes deciding two such signals with equal payloads at the same revision
   * would otherwise append identical events, and the store would take the second for a retry of
   * the first (both accepted, one recorded).
   */
  async signal(runId: string, name: string, payload: Json, sentId?: string): Promise<void> {
    const signalId = sentId ?? randomUUID();
    await this.#inMailbox(runId, () =>
      this.#transact(runId, (run) => {
        const status = statusOf(run.snapshot);
        if (status !== 'running')
          throw weftError('run_not_running', `run '${runId}' is ${status}`, { runId, status });
        const handler = run.handlers.signals.get(name);
        if (handler === undefined) {
          throw weftError('unknown_signal', `run '${runId}' accepts no signal '${name}'`, {
            runId,
            name,
            accepted: [...run.handlers.signals.keys()],
          });
        }
        if (run.snapshot.context.signals.some((s) => s.signalId === signalId)) return undefined;
        return { type: 'SignalReceived', name, payload, handler, signalId };
      }),
    );
  }

  async cancel(runId: string, reason: string): Promise<boolean> {
    return this.#inMailbox(runId, () =>
      this.#transact(runId, (run) => {
        if (statusOf(run.snapshot) !== 'running') {
          throw weftError('run_not_running', `run '${runId}' is ${statusOf(run.snapshot)}`, {
            runId,
          });
        }
        return { type: 'RunCancelled', reason };
      }),
    );
  }

  /** Answers a query from the run's folded state (after it ended and after restarts too); `unknown_query` otherwise. */
  async query(runId: string, name: string, args: Json): Promise<Json> {
    const run = await this.#inMailbox(runId, () => this.#load(runId));
    if (run === undefined) throw weftError('run_not_found', `no run '${runId}'`, { runId });
    const handler = run.handlers.queries.get(name);
    const signals =
      handler?.kind === 'builtin' && handler.builtin === 'get_signals'
        ? (await Effect.runPromise(this.#store.read(runStream(runId))))
            .filter((r) => r.type === 'SignalReceived')
            .map((r) => {
              const event = toRunEvent(r);
              return {
                name: event.type === 'SignalReceived' ? event.name : '',
                payload: event.type === 'SignalReceived' ? event.payload : null,
                at: r.at,
              };
            })
        : [];
    const answer = await answerQuery(
      {
        compiled: run.compiled,
        handlers: run.handlers,
        context: run.snapshot.context,
        status: statusOf(run.snapshot),
        signals,
        ...(handler?.kind === 'builtin' && handler.builtin === 'get_status'
          ? {
              tasks: activeTasks(run.snapshot.context, {
                served: this.#served?.(),
                isStarted: (task) => this.#lifecycle.deadlines.isStarted(task),
                dispatchedAt: (task) => this.#attempts.dispatchedAt(task),
                now: Date.now(),
              }),
            }
          : {}),
      },
      name,
      args,
      this.#expressions,
    );
    if (answer === undefined)
      throw weftError('unknown_query', `run '${runId}' answers no query '${name}'`, {
        runId,
        name,
      });
    if (!answer.ok)
      throw weftError('invalid_request', `query '${name}' failed: ${answer.message}`, {
        code: answer.code,
      });
    return answer.value;
  }

  async get(runId: string): Promise<RunSummary> {
    const summary = await this.#readModel.get(runId);
    if (summary === undefined) throw weftError('run_not_found', `no run '${runId}'`, { runId });
    return summary;
  }

  /** A page of run summaries, newest first; it includes every run started before the call. */
  list(filter: ListFilter): Promise<SummaryPage> {
    return this.#readModel.list(filter);
  }

  async history(runId: string, from: number, limit: number): Promise<readonly RecordedEvent[]> {
    const recorded = await Effect.runPromise(this.#store.read(runStream(runId), { from, limit }));
    if (recorded.length === 0) await this.get(runId);
    return recorded;
  }

  /** Resolves with the run's summary once it has ended, or undefined after `timeoutMs`. */
  async waitForEnd(runId: string, timeoutMs: number): Promise<RunSummary | undefined> {
    const summary = await this.get(runId);
    if (summary.status !== 'running') return summary;
    return this.#readModel.waitForEnd(runId, timeoutMs);
  }
}
