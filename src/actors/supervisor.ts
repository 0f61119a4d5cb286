import { randomUUID } from 'node:crypto';
import type { Json } from '../blueprints/json.ts';
import type { Blueprint } from '../blueprints/schema.ts';
import type { Diagnostic } from '../blueprints/validate.ts';
import { openTasks } from '../machines/compile.ts';
import {
  cancelEvent,
  isRefusal,
  signalEvent,
  type ChildResult,
  type ParentRef,
  type Refusal,
} from '../machines/messages.ts';
import { statusOf } from '../machines/run.ts';
import type { ListFilter, RunSummary } from '../projections/runSummary.ts';
import type { RecordedEvent } from '../store/EventStore.ts';
import type { SummaryPage } from '../store/RunSummaryStore.ts';
import { weftError, type WeftError } from '../wire/errors.ts';
import type { TaskResult, TaskStart } from '../wire/protocol.ts';
import type { StartRequest, StartResult } from './admission.ts';
import { queryRun } from './queries.ts';
import { wireParts, type Parts, type SupervisorDeps } from './wiring.ts';

export type { StartRequest, StartResult } from './admission.ts';
export type { Peers } from './children.ts';
export type { Effects } from './perform.ts';
export type { SupervisorDeps } from './wiring.ts';
export { invalidBlueprint } from './runCache.ts';

/** Selects runs by id (e.g. the runs of the partitions this runtime owns). */
export type RunSelector = (runId: string) => boolean;

const refused = (refusal: Refusal): WeftError =>
  weftError(refusal.refused, refusal.message, refusal.details);

/**
 * The run supervisor: the one face of this runtime's run actors (`RunActors`: a mailbox per run,
 * load → react → append expecting the revision read → perform), the start of runs (`Admission`),
 * timers, children, attempts and their deadlines, and the run-summary read model. The streams
 * are the truth; everything held here is a cache that `recoverRuns` rebuilds from them.
 */
export class RunSupervisor {
  readonly #parts: Parts;

  constructor(deps: SupervisorDeps) {
    this.#parts = wireParts(deps, this);
  }

  /** Brings the read model up to date (from its checkpoint), then `recoverRuns` for every run. */
  async recover(): Promise<void> {
    await this.#recover(await this.#parts.readModel.start());
  }

  /** Brings the read model up to date from its checkpoint, recovering no run (a cluster's runtime recovers the runs of the partitions it takes). */
  async startReadModel(): Promise<void> {
    await this.#parts.readModel.start();
  }

  /**
   * Carries the selected unfinished runs on, each in its mailbox: re-dispatches open tasks (same
   * taskId and attempt), re-arms timers, deadlines and the run's timeout, reconciles children.
   * The runs are those the read model knows unfinished: `catchUp` first to see other runtimes'.
   */
  async recoverRuns(select: RunSelector): Promise<void> {
    await this.#recover((await this.#parts.readModel.running()).filter(select));
  }

  /** Folds into the read model every run event appended so far, by any runtime. */
  catchUp(): Promise<void> {
    return this.#parts.readModel.catchUp();
  }

  /**
   * Forgets everything held in memory for the selected runs: the cached run, its timers, attempts
   * awaiting a result, deadlines, run timeout and records waiting to be retried. Nothing of this
   * runtime acts on them until they are recovered again (`settleRuns` first, so no message for
   * them is still being handled).
   */
  dropRuns(select: RunSelector): void {
    this.#parts.cache.drop(select);
    this.#parts.timers.clear(select);
    this.#parts.attempts.forgetRuns(select);
    this.#parts.lifecycle.forgetRuns(select);
    this.#parts.running.forget(select);
  }

  /** Resolves once every selected run's mailbox is idle (the work queued for them has finished). */
  settleRuns(select: RunSelector): Promise<void> {
    return this.#parts.actors.settle(select);
  }

  async #recover(runIds: readonly string[]): Promise<void> {
    for (const runId of runIds) {
      await this.#parts.actors.inMailbox(runId, async () => {
        const run = await this.#parts.cache.load(runId);
        if (run === undefined) return;
        this.#parts.running.note(runId, statusOf(run.snapshot) === 'running');
        const { context } = run.snapshot;
        await this.#parts.lifecycle.rearmRunTimeout(runId, run.compiled);
        const tasks = openTasks(context);
        for (const task of tasks) void this.#parts.attempts.recover({ ...task, runId });
        await this.#parts.lifecycle.rearmDeadlines(runId, tasks);
        for (const [timerId, timer] of Object.entries(context.timers))
          this.#parts.timers.arm(runId, timerId, timer.dueAt);
        for (const child of Object.values(context.children))
          this.#parts.children.reconcile(runId, child);
      });
    }
  }

  /** Keeps the read model following the store (events appended by other runtimes too). */
  follow(intervalMs: number): void {
    this.#parts.readModel.follow(intervalMs);
  }

  /** Stops timers; runs in memory are dropped (the streams keep everything). */
  close(): void {
    this.#parts.readModel.close();
    this.#parts.reconciler.close();
    this.#parts.lifecycle.close();
    this.#parts.timers.close();
  }

  /**
   * Validates a blueprint for storage: every diagnostic, including shapes this runtime cannot
   * execute.
   */
  checkBlueprint(input: unknown): {
    readonly blueprint?: Blueprint;
    readonly diagnostics: readonly Diagnostic[];
  } {
    return this.#parts.admission.check(input);
  }

  /**
   * Starts a run, or returns the existing one with that id. Appends `RunStarted` and its first
   * decisions atomically.
   */
  start(request: StartRequest): Promise<StartResult> {
    return this.#parts.admission.start(request);
  }

  /**
   * Records a worker's result once: a result for an attempt that was sent and is no longer open is
   * ignored; one for an attempt the run never sent is refused (`isNotSent`, results.ts). Results of
   * one run that arrive while its previous append is in flight are recorded together. Resolves
   * once the result is durable (or known to be late).
   */
  onResult(result: TaskResult): Promise<void> {
    return this.#parts.results.record(result);
  }

  /**
   * Records a signal once (a repeated `signalId` is accepted and not recorded again). The run must be
   * running and accept the name: `unknown_signal` otherwise; a new signal once the run holds
   * `maxSignals` is refused with `payload_too_large`, nothing appended. A signal sent without an id is given a
   * fresh one: two runtimes deciding two such signals with equal payloads at the same revision
   * would otherwise append identical events, and the store would take the second for a retry of
   * the first (both accepted, one recorded).
   */
  async signal(runId: string, name: string, payload: Json, sentId?: string): Promise<void> {
    const signalId = sentId ?? randomUUID();
    await this.#parts.actors.inMailbox(runId, () =>
      this.#parts.actors.transact(runId, (run) => {
        const decision = signalEvent(
          { ...run, runId },
          { name, payload, signalId },
          this.#parts.maxSignals,
        );
        if (isRefusal(decision)) throw refused(decision);
        return decision;
      }),
    );
  }

  /** Cancels a running run: `run_not_running` otherwise. */
  cancel(runId: string, reason: string): Promise<boolean> {
    return this.#parts.actors.inMailbox(runId, () =>
      this.#parts.actors.transact(runId, (run) => {
        const decision = cancelEvent(runId, run.snapshot, reason);
        if (isRefusal(decision)) throw refused(decision);
        return decision;
      }),
    );
  }

  /**
   * Records a child run's result at its parent once (ignored when the parent no longer waits for
   * it).
   */
  childResult(parent: ParentRef, childRunId: string, result: ChildResult): Promise<void> {
    return this.#parts.children.deliver(parent, childRunId, result);
  }

  /** Records a timer's firing once; a timer that is no longer open is ignored. */
  fireTimer(runId: string, timerId: string): Promise<boolean> {
    return this.#parts.timers.fire(runId, timerId);
  }

  /**
   * Re-dispatches attempts that got no result within their timeout plus `graceMs` and are no longer
   * in the tasks stream (see `Attempts.reconcile`). Same taskId and attempt.
   */
  reconcile(graceMs: number): Promise<number> {
    return this.#parts.attempts.reconcile(graceMs);
  }

  /** Runs `reconcile` every `everyMs` (on the supervisor's clock). */
  startReconciler(everyMs: number, graceMs: number): void {
    this.#parts.reconciler.start(everyMs, graceMs);
  }

  /** A worker starts an attempt: may it run it? (See `AttemptLifecycle.mayStart`.) */
  mayStart(
    start: Pick<TaskStart, 'runId' | 'taskId' | 'attempt'>,
    answered = true,
  ): Promise<boolean> {
    return this.#parts.lifecycle.mayStart(start, answered);
  }

  /**
   * Answers a query from the run's folded state (after it ended and after restarts too);
   * `unknown_query` otherwise.
   */
  async query(runId: string, name: string, args: Json): Promise<Json> {
    const run = await this.#parts.actors.inMailbox(runId, () => this.#parts.cache.load(runId));
    if (run === undefined) throw weftError('run_not_found', `no run '${runId}'`, { runId });
    const deps = {
      streams: this.#parts.streams,
      expressions: this.#parts.expressions,
      deadlines: this.#parts.lifecycle.deadlines,
      attempts: this.#parts.attempts,
      served: this.#parts.served,
      now: () => this.#parts.clock.now(),
    };
    return queryRun(deps, runId, run, name, args);
  }

  async get(runId: string): Promise<RunSummary> {
    const summary = await this.#parts.readModel.get(runId);
    if (summary === undefined) throw weftError('run_not_found', `no run '${runId}'`, { runId });
    return summary;
  }

  /** A page of run summaries, newest first; it includes every run started before the call. */
  list(filter: ListFilter): Promise<SummaryPage> {
    return this.#parts.readModel.list(filter);
  }

  async history(runId: string, from: number, limit: number): Promise<readonly RecordedEvent[]> {
    const recorded = await this.#parts.streams.read(runId, { from, limit });
    if (recorded.length === 0) await this.get(runId);
    return recorded;
  }

  /** Resolves with the run's summary once it has ended, or undefined after `timeoutMs`. */
  async waitForEnd(runId: string, timeoutMs: number): Promise<RunSummary | undefined> {
    const summary = await this.get(runId);
    if (summary.status !== 'running') return summary;
    return this.#parts.readModel.waitForEnd(runId, timeoutMs);
  }
}
