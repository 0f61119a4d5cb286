import type { Json } from '../blueprints/json.ts';
import { parseDuration } from '../blueprints/duration.ts';
import {
  openTasks,
  type CompiledRun,
  type OpenChild,
  type OpenTask,
  type RunSnapshot,
} from './compile.ts';
import type { DecideOptions } from './decide.ts';
import type { RunIdentity } from './identity.ts';
import { LANGUAGE, type EventOf, type RunEvent } from './events.ts';
import {
  childResultEvent,
  endingEvent,
  resultEvent,
  type ChildResult,
  type ParentRef,
} from './messages.ts';
import { initialSnapshot, react, statusOf } from './run.ts';

/**
 * A run driven in memory, with no runtime: each fact (an activity's result, a child run's end, a
 * signal, a timer) is made from the run's folded state by a `Responder` and reacted to through
 * the pure `react`, as the run actors do, and every event is kept in `stream`. Pure: no clock — time
 * starts where the caller says and moves only as the facts do (a retry's backoff, a timer's due
 * time) — no randomness, no I/O. Used by `weft blueprint simulate` (`simulation.ts`) and by the
 * unit tests' in-memory world.
 */

export type ChildRequested = EventOf<'ChildRequested'>;

/** How an activity attempt ended (a worker's result without its routing fields). */
export type TaskAnswer =
  | { readonly ok: true; readonly output: Json }
  | {
      readonly ok: false;
      readonly error: {
        readonly message: string;
        readonly code?: string;
        readonly retryable: boolean;
      };
    };

export interface ChildEnd {
  readonly result: ChildResult;
  readonly at?: number;
}

export interface RunStart {
  readonly runId: string;
  readonly blueprint: { readonly name: string; readonly version: number; readonly hash: string };
  /** The blueprint's content, as `RunStarted` pins it. */
  readonly content: Json;
  readonly input: Json;
  /** Set for a child run: the parent's step (and map item) that waits for it. */
  readonly parent?: ParentRef;
  /** An item of a map of `steps`: its steps see `$item` and `$index`. */
  readonly bindsItem?: boolean;
}

/** A run folded fact by fact in memory; `apply` is the only thing that changes it. */
export class InMemoryRun {
  readonly compiled: CompiledRun;
  snapshot: RunSnapshot;
  /** Every event the run recorded, in order. */
  readonly stream: RunEvent[] = [];
  /** The simulated time (ms since the epoch): the time of the last fact; it never goes back. */
  now: number;
  #identity: RunIdentity;
  readonly #options: Omit<DecideOptions, 'now'>;
  /** `<taskId>/<attempt>` → when the attempt is dispatched (its event's time plus its backoff). */
  readonly #dispatch = new Map<string, number>();
  /** Child run id → its request and when it was made. */
  readonly #requests = new Map<string, { readonly event: ChildRequested; readonly at: number }>();

  constructor(
    compiled: CompiledRun,
    identity: RunIdentity,
    now: number,
    options: Omit<DecideOptions, 'now'>,
  ) {
    this.compiled = compiled;
    this.snapshot = initialSnapshot(compiled);
    this.now = now;
    this.#identity = identity;
    this.#options = options;
  }

  get runId(): string {
    return this.#identity.id;
  }

  /** When the run started (its `RunStarted`'s time). */
  get startedAt(): number {
    return this.#identity.startedAt ?? this.now;
  }

  /** Reacts to `fact` at time `at` (default: now) and keeps the events it leads to. */
  async apply(fact: RunEvent, at: number = this.now): Promise<readonly RunEvent[]> {
    this.now = Math.max(this.now, at);
    const reaction = await react(this.compiled, this.snapshot, this.#identity, fact, {
      ...this.#options,
      now: this.now,
    });
    // As the run actors keep it: the start time is the first fact's, from then on.
    if (fact.type === 'RunStarted') this.#identity = { ...this.#identity, startedAt: this.now };
    this.snapshot = reaction.snapshot;
    for (const event of reaction.events) {
      if (event.type === 'StepScheduled')
        this.#dispatch.set(`${event.taskId}/${event.attempt}`, this.now + event.delayMs);
      if (event.type === 'ChildRequested')
        this.#requests.set(event.childRunId, { event, at: this.now });
    }
    this.stream.push(...reaction.events);
    return reaction.events;
  }

  /** When an open attempt is dispatched to a worker: after its backoff. */
  dispatchedAt(task: OpenTask): number {
    return this.#dispatch.get(`${task.taskId}/${task.attempt}`) ?? this.now;
  }

  /** The `ChildRequested` that started an open child run, and when it was made. */
  requestOf(child: OpenChild): { readonly event: ChildRequested; readonly at: number } {
    const request = this.#requests.get(child.childRunId);
    if (request === undefined) throw new Error(`defect: no ChildRequested for ${child.childRunId}`);
    return request;
  }
}

/** A run of `compiled` started at `now` (`RunStarted`, language 2, and what it leads to). */
export const startInMemory = async (
  compiled: CompiledRun,
  start: RunStart,
  now: number,
  options: Partial<Omit<DecideOptions, 'now'>> = {},
): Promise<InMemoryRun> => {
  const run = new InMemoryRun(
    compiled,
    { id: start.runId, blueprint: start.blueprint.name, version: start.blueprint.version },
    now,
    { parseDuration, ...options },
  );
  await run.apply({
    type: 'RunStarted',
    runId: start.runId,
    blueprint: { ...start.blueprint, content: start.content },
    input: start.input,
    ...(start.parent === undefined ? {} : { parent: start.parent }),
    ...(start.bindsItem === true ? { bindsItem: true } : {}),
    language: LANGUAGE,
  });
  return run;
};

/** What the world around a driven run does. */
export interface Responder {
  /** Before each fact: one to record first (a cancel, a signal now due), if any. */
  readonly interject?: (run: InMemoryRun) => RunEvent | undefined;
  /** The result of an open activity attempt; may throw to stop the drive (the error passes through). */
  readonly task: (task: OpenTask, run: InMemoryRun) => TaskAnswer;
  /**
   * How a child run ends, and when (default: now); undefined: it never does (the run waits for
   * it). `requestedAt`: when the child run was requested.
   */
  readonly child: (
    request: ChildRequested,
    requestedAt: number,
  ) => ChildEnd | undefined | Promise<ChildEnd | undefined>;
  /** When no attempt or child run can end: the next fact (a signal), if any. */
  readonly idle?: (run: InMemoryRun) => RunEvent | undefined;
  /**
   * When nothing else can happen: fire the earliest timer (time moves to its due time), and end
   * the run by its blueprint `timeout` (`RunTimedOut`, or `RunUnwinding` first) when that passes
   * before. Without it, timers never fire.
   */
  readonly fireTimers: boolean;
  /** Facts after which the drive gives up (default 100,000). */
  readonly maxFacts?: number;
}

/** Why a drive stopped: the run ended, nothing more can happen, or it took `maxFacts` facts. */
export type Stopped = 'ended' | 'stuck' | 'limit';

type Next =
  | { readonly kind: 'fact'; readonly event: RunEvent; readonly at: number }
  | { readonly kind: 'task'; readonly task: OpenTask; readonly at: number };

const DEFAULT_MAX_FACTS = 100_000;

/** The run's blueprint `timeout` in milliseconds, if it has one. */
const runTimeoutOf = (compiled: CompiledRun): number | undefined =>
  compiled.blueprint.timeout === undefined ? undefined : parseDuration(compiled.blueprint.timeout);

/**
 * The next fact, in this order: what `interject` says; the result of the first open attempt
 * (at its dispatch time); the end of the first child run that ends; what `idle` says; the
 * earliest timer. Undefined when nothing can happen.
 */
const nextFact = async (run: InMemoryRun, responder: Responder): Promise<Next | undefined> => {
  const first = responder.interject?.(run);
  if (first !== undefined) return { kind: 'fact', event: first, at: run.now };
  const { context } = run.snapshot;
  const task = openTasks(context)[0];
  if (task !== undefined)
    return { kind: 'task', task, at: Math.max(run.now, run.dispatchedAt(task)) };
  for (const child of Object.values(context.children)) {
    const request = run.requestOf(child);
    const end = await responder.child(request.event, request.at);
    if (end === undefined) continue;
    const parent = {
      runId: run.runId,
      stepId: child.stepId,
      ...(child.item === undefined ? {} : { item: child.item }),
    };
    const event = childResultEvent(run.snapshot, parent, child.childRunId, end.result);
    if (event === undefined) throw new Error(`defect: child ${child.childRunId} is not open`);
    return { kind: 'fact', event, at: Math.max(run.now, end.at ?? run.now) };
  }
  const idle = responder.idle?.(run);
  if (idle !== undefined) return { kind: 'fact', event: idle, at: run.now };
  if (!responder.fireTimers) return undefined;
  const timers = Object.entries(context.timers).sort(([, a], [, b]) => a.dueAt - b.dueAt);
  const [timerId, timer] = timers[0] ?? [];
  if (timerId === undefined || timer === undefined) return undefined;
  return {
    kind: 'fact',
    event: { type: 'TimerFired', timerId },
    at: Math.max(run.now, timer.dueAt),
  };
};

/**
 * Drives `run` until it ends, nothing more can happen, or `maxFacts` facts were recorded. Each fact
 * is reacted to at its own time; the run's blueprint `timeout` (when timers fire) ends it before a
 * fact due after it, or when nothing else can happen.
 */
export const driveRun = async (run: InMemoryRun, responder: Responder): Promise<Stopped> => {
  const timeoutMs = responder.fireTimers ? runTimeoutOf(run.compiled) : undefined;
  let deadline = timeoutMs === undefined ? undefined : run.startedAt + timeoutMs;
  const max = responder.maxFacts ?? DEFAULT_MAX_FACTS;
  for (let facts = 0; statusOf(run.snapshot) === 'running'; facts++) {
    if (facts >= max) return 'limit';
    const next = await nextFact(run, responder);
    if (
      deadline !== undefined &&
      timeoutMs !== undefined &&
      (next === undefined || next.at > deadline)
    ) {
      const at = deadline;
      deadline = undefined;
      await run.apply(endingEvent(run.snapshot, { timeoutMs }), at);
      continue;
    }
    if (next === undefined) return 'stuck';
    if (next.kind === 'fact') {
      await run.apply(next.event, next.at);
      continue;
    }
    const { task } = next;
    const event = resultEvent(run.snapshot, {
      taskId: task.taskId,
      attempt: task.attempt,
      ...responder.task(task, run),
    });
    if (event === undefined)
      throw new Error(`defect: attempt ${task.taskId}/${task.attempt} is not open`);
    await run.apply(event, next.at);
  }
  return 'ended';
};
