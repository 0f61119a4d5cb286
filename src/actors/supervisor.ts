import { Effect, Result, Schema } from 'effect';
import type { Json } from '../blueprints/json.ts';
import type { Blueprint } from '../blueprints/schema.ts';
import { parseDuration } from '../blueprints/duration.ts';
import { validateBlueprint, type Diagnostic } from '../blueprints/validate.ts';
import { compileBlueprint, UnsupportedStep, type CompiledRun, type RunSnapshot } from '../machines/compile.ts';
import type { RunIdentity } from '../machines/decide.ts';
import { RunEvent, TERMINAL_EVENTS } from '../machines/events.ts';
import { initialSnapshot, react, replay, statusOf } from '../machines/run.ts';
import { evolveSummary, listSummaries, type ListFilter, type RunSummary } from '../projections/runSummary.ts';
import type { EventStoreShape, NewEvent, RecordedEvent } from '../store/EventStore.ts';
import { eventId } from '../store/eventId.ts';
import { RUN_STREAM_PREFIX, runStream } from '../store/streams.ts';
import { weftError, WeftError } from '../gateway/errors.ts';
import type { TaskMessage, TaskResult } from '../gateway/protocol.ts';
import type { BlueprintRegistry, BlueprintVersion } from './blueprintRegistry.ts';

/**
 * The run supervisor: owns the run actors of this runtime. Each run is handled one message at a
 * time (a per-run mailbox); each message is load → react (pure) → append expecting the revision
 * read → perform effects (dispatch tasks, publish events). The stream is the truth: the in-memory
 * snapshot is only a cache, dropped on any conflict and rebuilt by replay.
 */

export interface Effects {
  /** Sends a task to the workers, after `delayMs`. At least once; the worker dedupes by taskId+attempt. */
  readonly dispatch: (task: TaskMessage, delayMs: number) => void;
  /** Publishes one appended event on `<p>.runs.<runId>.events`. */
  readonly publishEvent: (runId: string, event: RecordedEvent) => void;
}

interface LoadedRun {
  readonly compiled: CompiledRun;
  readonly identity: RunIdentity;
  snapshot: RunSnapshot;
  revision: number;
}

export interface StartRequest {
  readonly blueprint: string | Json;
  readonly version?: number;
  readonly input?: Json;
  readonly runId?: string;
}

export interface StartResult {
  readonly runId: string;
  readonly blueprint: { readonly name: string; readonly version: number };
  readonly existing: boolean;
}

const decodeRunEvent = Schema.decodeUnknownResult(RunEvent);
const MAX_CONFLICT_RETRIES = 8;

const toRunEvent = (recorded: RecordedEvent): RunEvent => {
  const decoded = decodeRunEvent({ ...(recorded.data as object), type: recorded.type });
  if (Result.isFailure(decoded)) {
    throw new Error(`stream ${recorded.stream} revision ${recorded.revision}: not a run event (${decoded.failure.message})`);
  }
  return decoded.success;
};

const dataOf = (event: RunEvent): Json => {
  const { type: _type, ...data } = event;
  return data as unknown as Json;
};

export const invalidBlueprint = (diagnostics: readonly Diagnostic[]): WeftError =>
  weftError('invalid_blueprint', `blueprint is invalid: ${diagnostics.map((d) => `${d.path}: ${d.message}`).join('; ')}`, {
    diagnostics,
  });

export class RunSupervisor {
  readonly #store: EventStoreShape;
  readonly #registry: BlueprintRegistry;
  readonly #effects: Effects;
  readonly #compiled = new Map<string, CompiledRun>();
  readonly #runs = new Map<string, LoadedRun>();
  readonly #mailboxes = new Map<string, Promise<unknown>>();
  readonly #summaries = new Map<string, RunSummary>();
  readonly #waiters = new Map<string, Set<(summary: RunSummary) => void>>();
  readonly #newRunId: () => string;

  constructor(deps: {
    readonly store: EventStoreShape;
    readonly registry: BlueprintRegistry;
    readonly effects: Effects;
    readonly newRunId: () => string;
  }) {
    this.#store = deps.store;
    this.#registry = deps.registry;
    this.#effects = deps.effects;
    this.#newRunId = deps.newRunId;
  }

  /** Builds the run-summary projection from every run stream, then re-dispatches the open tasks of unfinished runs. */
  async recover(): Promise<void> {
    let after: number | undefined;
    const unfinished = new Set<string>();
    for (;;) {
      const page = await Effect.runPromise(
        this.#store.readAll({ streamPrefix: RUN_STREAM_PREFIX, limit: 5000, ...(after === undefined ? {} : { after }) }),
      );
      for (const recorded of page) {
        const runId = recorded.stream.slice(RUN_STREAM_PREFIX.length);
        const next = evolveSummary(this.#summaries.get(runId), toRunEvent(recorded), recorded.at);
        if (next !== undefined) this.#summaries.set(runId, next);
        if (next?.status === 'running') unfinished.add(runId);
        else unfinished.delete(runId);
      }
      const last = page[page.length - 1];
      if (last === undefined || page.length < 5000) break;
      after = last.position;
    }
    for (const runId of unfinished) {
      await this.#inMailbox(runId, async () => {
        const run = await this.#load(runId);
        if (run === undefined) return;
        for (const task of Object.entries(run.snapshot.context.tasks)) {
          const [stepId, open] = task;
          this.#effects.dispatch({ ...open, runId, stepId }, 0);
        }
      });
    }
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

  #compile(version: BlueprintVersion): CompiledRun {
    const cached = this.#compiled.get(version.hash);
    if (cached !== undefined) return cached;
    const validated = validateBlueprint(version.content);
    if (!validated.ok) throw invalidBlueprint(validated.diagnostics);
    let compiled: CompiledRun;
    try {
      compiled = compileBlueprint(validated.blueprint, parseDuration);
    } catch (error) {
      if (error instanceof UnsupportedStep) {
        throw invalidBlueprint([
          { path: `$.steps[?(@.id=='${error.stepId}')]`, code: 'unsupported_step', message: error.message },
        ]);
      }
      throw error;
    }
    this.#compiled.set(version.hash, compiled);
    return compiled;
  }

  /** Rebuilds a run from its stream (cached while it runs). Undefined when the stream does not exist. */
  async #load(runId: string): Promise<LoadedRun | undefined> {
    const cached = this.#runs.get(runId);
    if (cached !== undefined) return cached;
    const recorded = await Effect.runPromise(this.#store.read(runStream(runId)));
    const first = recorded[0];
    if (first === undefined) return undefined;
    const events = recorded.map(toRunEvent);
    const started = events[0];
    if (started?.type !== 'RunStarted') throw new Error(`stream run-${runId} does not begin with RunStarted`);
    const compiled = this.#compile({ ...started.blueprint, name: started.blueprint.name });
    const run: LoadedRun = {
      compiled,
      identity: { id: runId, blueprint: started.blueprint.name, version: started.blueprint.version },
      snapshot: replay(compiled, events),
      revision: recorded.length - 1,
    };
    if (statusOf(run.snapshot) === 'running') this.#runs.set(runId, run);
    return run;
  }

  /**
   * Appends the reaction to `event` (made from the current state by `makeEvent`) with optimistic
   * concurrency; on a conflict the cache is dropped, the run reloaded and the event re-decided
   * (bounded). `makeEvent` returning undefined means nothing to record (a duplicate or stale message).
   */
  async #transact(runId: string, makeEvent: (run: LoadedRun) => RunEvent | undefined): Promise<boolean> {
    const stream = runStream(runId);
    for (let i = 0; i < MAX_CONFLICT_RETRIES; i++) {
      const run = await this.#load(runId);
      if (run === undefined) throw weftError('run_not_found', `no run '${runId}'`, { runId });
      const event = makeEvent(run);
      if (event === undefined) return false;
      const reaction = await react(run.compiled, run.snapshot, run.identity, event);
      const appended = await this.#append(stream, reaction.events, run.revision);
      if (appended === 'conflict') {
        this.#runs.delete(runId);
        continue;
      }
      run.snapshot = reaction.snapshot;
      run.revision += reaction.events.length;
      if (statusOf(run.snapshot) !== 'running') this.#runs.delete(runId);
      this.#perform(runId, reaction.events, appended);
      return true;
    }
    throw weftError('unavailable', `run '${runId}' is contended; try again`, { runId });
  }

  async #append(
    stream: string,
    events: readonly RunEvent[],
    expected: number | 'no_stream',
  ): Promise<'conflict' | readonly RecordedEvent[]> {
    const first = expected === 'no_stream' ? 0 : expected + 1;
    const newEvents: NewEvent[] = events.map((event, i) => {
      const data = dataOf(event);
      return { id: eventId(stream, first + i, event.type, data), type: event.type, data };
    });
    const result = await Effect.runPromise(Effect.result(this.#store.append(stream, newEvents, expected)));
    if (Result.isFailure(result)) {
      if (result.failure._tag === 'VersionConflict') return 'conflict';
      throw weftError('unavailable', `event store: ${result.failure.message}`);
    }
    const { at, position } = result.success;
    return newEvents.map((e, i) => ({
      ...e,
      stream,
      revision: first + i,
      position: position - (newEvents.length - 1 - i),
      at,
    }));
  }

  /** After a successful append: project, notify, dispatch. Never throws. */
  #perform(runId: string, events: readonly RunEvent[], recorded: readonly RecordedEvent[]): void {
    events.forEach((event, i) => {
      const at = recorded[i]?.at ?? new Date().toISOString();
      const summary = evolveSummary(this.#summaries.get(runId), event, at);
      if (summary !== undefined) this.#summaries.set(runId, summary);
      const record = recorded[i];
      if (record !== undefined) this.#effects.publishEvent(runId, record);
      if (event.type === 'StepScheduled') {
        this.#effects.dispatch(
          {
            taskId: event.taskId,
            runId,
            stepId: event.stepId,
            attempt: event.attempt,
            activity: event.activity,
            input: event.input,
            timeoutMs: event.timeoutMs,
          },
          event.delayMs,
        );
      }
      if (TERMINAL_EVENTS.has(event.type) && summary !== undefined) {
        for (const waiter of this.#waiters.get(runId) ?? []) waiter(summary);
        this.#waiters.delete(runId);
      }
    });
  }

  /** Resolves the blueprint (by name and version, or inline — put first, so the run pins a version). */
  async #resolve(request: StartRequest): Promise<BlueprintVersion> {
    if (typeof request.blueprint === 'string') {
      return this.#registry.get(request.blueprint, request.version);
    }
    const validated = validateBlueprint(request.blueprint);
    if (!validated.ok) throw invalidBlueprint(validated.diagnostics);
    this.#compileCheck(validated.blueprint);
    return this.#registry.put(validated.blueprint);
  }

  #compileCheck(blueprint: Blueprint): void {
    try {
      compileBlueprint(blueprint, parseDuration);
    } catch (error) {
      if (error instanceof UnsupportedStep) {
        throw invalidBlueprint([{ path: '$.steps', code: 'unsupported_step', message: error.message }]);
      }
      throw error;
    }
  }

  /** Validates a blueprint for storage: every diagnostic, including steps this runtime cannot execute yet. */
  checkBlueprint(input: unknown): { readonly blueprint?: Blueprint; readonly diagnostics: readonly Diagnostic[] } {
    const validated = validateBlueprint(input);
    if (!validated.ok) return { diagnostics: validated.diagnostics };
    try {
      this.#compileCheck(validated.blueprint);
    } catch (error) {
      if (error instanceof WeftError) {
        return { diagnostics: (error.details as { diagnostics: readonly Diagnostic[] }).diagnostics };
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
      const existing = await this.#existing(runId);
      if (existing !== undefined) return existing;
      const version = await this.#resolve(request);
      const compiled = this.#compile(version);
      const identity: RunIdentity = { id: runId, blueprint: version.name, version: version.version };
      const started: RunEvent = {
        type: 'RunStarted',
        runId,
        blueprint: { name: version.name, version: version.version, hash: version.hash, content: version.content },
        input: request.input ?? null,
      };
      const reaction = await react(compiled, initialSnapshot(compiled), identity, started);
      const appended = await this.#append(stream, reaction.events, 'no_stream');
      if (appended === 'conflict') {
        const raced = await this.#existing(runId);
        if (raced !== undefined) return raced;
        throw weftError('unavailable', `run '${runId}' could not be started; try again`);
      }
      const run: LoadedRun = { compiled, identity, snapshot: reaction.snapshot, revision: reaction.events.length - 1 };
      if (statusOf(run.snapshot) === 'running') this.#runs.set(runId, run);
      this.#perform(runId, reaction.events, appended);
      return { runId, blueprint: { name: version.name, version: version.version }, existing: false };
    });
  }

  async #existing(runId: string): Promise<StartResult | undefined> {
    const summary = await this.get(runId).catch((error: unknown) => {
      if (error instanceof WeftError && error.code === 'run_not_found') return undefined;
      throw error;
    });
    return summary && { runId, blueprint: summary.blueprint, existing: true };
  }

  /** Records a worker's result once: a result for a task or attempt that is not open is ignored. */
  async onResult(result: TaskResult): Promise<void> {
    await this.#inMailbox(result.runId, () =>
      this.#transact(result.runId, (run) => {
        const open = run.snapshot.context.tasks[result.stepId];
        if (statusOf(run.snapshot) !== 'running' || open?.taskId !== result.taskId || open.attempt !== result.attempt) {
          return undefined;
        }
        const base = { stepId: result.stepId, taskId: result.taskId, attempt: result.attempt };
        return result.ok
          ? { type: 'StepCompleted', ...base, output: result.output }
          : {
              type: 'StepFailed',
              ...base,
              error: { message: result.error.message, code: result.error.code ?? 'activity_error', retryable: result.error.retryable },
            };
      }).catch((error: unknown) => {
        if (error instanceof WeftError && error.code === 'run_not_found') return false;
        throw error;
      }),
    );
  }

  async cancel(runId: string, reason: string): Promise<boolean> {
    return this.#inMailbox(runId, () =>
      this.#transact(runId, (run) => {
        if (statusOf(run.snapshot) !== 'running') {
          throw weftError('run_not_running', `run '${runId}' is ${statusOf(run.snapshot)}`, { runId });
        }
        return { type: 'RunCancelled', reason };
      }),
    );
  }

  async get(runId: string): Promise<RunSummary> {
    runStream(runId);
    const known = this.#summaries.get(runId);
    if (known !== undefined) return known;
    const recorded = await Effect.runPromise(this.#store.read(runStream(runId)));
    let summary: RunSummary | undefined;
    for (const r of recorded) summary = evolveSummary(summary, toRunEvent(r), r.at);
    if (summary === undefined) throw weftError('run_not_found', `no run '${runId}'`, { runId });
    this.#summaries.set(runId, summary);
    return summary;
  }

  list(filter: ListFilter): { readonly runs: readonly RunSummary[]; readonly cursor?: string } {
    return listSummaries(this.#summaries.values(), filter);
  }

  async history(runId: string, from: number, limit: number): Promise<readonly RecordedEvent[]> {
    const recorded = await Effect.runPromise(this.#store.read(runStream(runId), { from, limit }));
    if (recorded.length === 0 && from === 0) throw weftError('run_not_found', `no run '${runId}'`, { runId });
    if (recorded.length === 0) await this.get(runId);
    return recorded;
  }

  /** Resolves with the run's summary once it has ended, or undefined after `timeoutMs`. */
  async waitForEnd(runId: string, timeoutMs: number): Promise<RunSummary | undefined> {
    const summary = await this.get(runId);
    if (summary.status !== 'running') return summary;
    return new Promise((resolve) => {
      const waiters = this.#waiters.get(runId) ?? new Set();
      this.#waiters.set(runId, waiters);
      const timer = setTimeout(() => {
        waiters.delete(done);
        resolve(undefined);
      }, timeoutMs);
      const done = (s: RunSummary) => {
        clearTimeout(timer);
        resolve(s);
      };
      waiters.add(done);
    });
  }
}
