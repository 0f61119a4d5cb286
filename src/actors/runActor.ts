import { parseDuration } from '../blueprints/duration.ts';
import type { ExpressionCache } from '../expressions/sandbox.ts';
import type { RunSnapshot } from '../machines/compile.ts';
import { timeOf, type RunEvent } from '../machines/events.ts';
import { initialSnapshot, react, statusOf } from '../machines/run.ts';
import { toOpenTask } from '../machines/transitions.ts';
import type { TaskMessage } from '../wire/protocol.ts';
import type { RecordedEvent } from '../store/EventStore.ts';
import { StoreRefused } from '../store/errors.ts';
import { weftError } from '../wire/errors.ts';
import type { Clock } from './clock.ts';
import { toSend } from './perform.ts';
import type { LoadedRun, RunCache } from './runCache.ts';
import type { RunStreams } from './runStreams.ts';
import { asOversizedResult, fittingHead, overLimits } from './storeFit.ts';

/** What a message decides from the run's current state: an event, or nothing to record. */
export type Decide = (run: LoadedRun) => RunEvent | undefined;

/** What follows a successful append: project, notify, dispatch, arm timers, start children. */
export type Perform = (
  runId: string,
  run: Pick<LoadedRun, 'parent' | 'snapshot'>,
  before: RunSnapshot,
  events: readonly RunEvent[],
  recorded: readonly RecordedEvent[],
) => void;

const MAX_CONFLICT_RETRIES = 8;

/** Offers the tasks an append schedules before it is durable; settled with its outcome. */
export type OfferEarly = (
  runId: string,
  events: readonly RunEvent[],
) => { readonly settle: (committed: boolean) => void } | undefined;

export interface RunActorsDeps {
  readonly streams: RunStreams;
  readonly cache: RunCache;
  readonly clock: Clock;
  readonly expressions: ExpressionCache;
  readonly perform: Perform;
  readonly offerEarly?: OfferEarly;
}

/**
 * `OfferEarly` over a task channel's: the attempts an append schedules that are due at once (no
 * backoff), as their tasks.
 */
export const earlyOffers =
  (
    offer: (
      tasks: readonly TaskMessage[],
    ) => { readonly settle: (committed: boolean) => void } | undefined,
  ): OfferEarly =>
  (runId, events) => {
    const tasks = events.flatMap((event) =>
      event.type === 'StepScheduled' && event.delayMs <= 0 ? [{ ...toOpenTask(event), runId }] : [],
    );
    return tasks.length === 0 ? undefined : offer(tasks);
  };

/**
 * The run actors of this runtime: each run handles one message at a time (a per-run mailbox);
 * each message is load → react (pure) → append expecting the revision read → perform. The stream
 * is the truth: a conflict drops the cached run, reloads it and decides the message again
 * (bounded), so two runtimes deciding for one run never fork its history.
 */
export class RunActors {
  readonly #deps: RunActorsDeps;
  readonly #mailboxes = new Map<string, Promise<unknown>>();

  constructor(deps: RunActorsDeps) {
    this.#deps = deps;
  }

  /** Runs `work` after every message queued for the run before it has finished (failed or not). */
  inMailbox<A>(runId: string, work: () => Promise<A>): Promise<A> {
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

  /** Resolves once the mailbox of every selected run is idle (also of work queued meanwhile). */
  async settle(select: (runId: string) => boolean): Promise<void> {
    for (;;) {
      const busy = [...this.#mailboxes].filter(([runId]) => select(runId)).map(([, p]) => p);
      if (busy.length === 0) return;
      await Promise.all(busy);
    }
  }

  /** The pure reaction of the run to `event`, decided at the clock's time now. */
  react(run: Pick<LoadedRun, 'compiled' | 'limits' | 'snapshot' | 'identity'>, event: RunEvent) {
    const maxMapItems = run.limits?.maxMapItems;
    return react(run.compiled, run.snapshot, run.identity, event, {
      now: this.#deps.clock.now(),
      cache: this.#deps.expressions,
      parseDuration,
      ...(maxMapItems === undefined ? {} : { maxMapItems }),
    });
  }

  /**
   * Appends the run's first events (its `RunStarted` and the reaction to it) to a new stream.
   * `'conflict'` when the stream exists; a refusal as too large rejects with `payload_too_large`.
   * On success the run is cached and its effects performed; resolves with the events recorded.
   */
  async create(
    run: Omit<LoadedRun, 'snapshot' | 'revision'>,
    started: RunEvent,
  ): Promise<'conflict' | readonly RunEvent[]> {
    const runId = run.identity.id;
    const initial = initialSnapshot(run.compiled);
    const reaction = await this.react({ ...run, snapshot: initial }, started);
    const appended = await this.#append(runId, reaction.events, 'no_stream', {
      before: initial,
      after: reaction.snapshot,
    });
    if (appended === 'conflict') return 'conflict';
    if (appended instanceof StoreRefused) {
      const limits = this.#deps.streams.limits;
      const why = overLimits(reaction.events, limits) ?? appended.message;
      throw weftError('payload_too_large', `run '${runId}' cannot start: ${why}`, {
        runId,
        maxEventBytes: limits.maxEventBytes,
        maxAppendBytes: limits.maxAppendBytes,
      });
    }
    const startedAt = reaction.events[0] === undefined ? undefined : timeOf(reaction.events[0]);
    const loaded: LoadedRun = {
      ...run,
      identity: startedAt === undefined ? run.identity : { ...run.identity, startedAt },
      snapshot: reaction.snapshot,
      revision: reaction.events.length - 1,
    };
    this.#deps.cache.keep(runId, loaded);
    this.#deps.perform(runId, loaded, initial, reaction.events, appended);
    return reaction.events;
  }

  /**
   * Appends the reaction to the event `decide` makes from the current state, with optimistic
   * concurrency and a bounded retry on conflict. True when something was recorded; `decide`
   * returning undefined means nothing to record (a duplicate or stale message). Call it in the
   * run's mailbox; rejects with `run_not_found` when the run has no stream.
   */
  async transact(runId: string, decide: Decide): Promise<boolean> {
    const [recorded] = await this.transactAll(runId, [decide]);
    return recorded === true;
  }

  /**
   * `transact` for several messages of one run at once: each is decided on the state the previous
   * ones left, and all their events go in one append (one fsync for a burst of a map's results),
   * as many at a time as fit the store's limits: the rest follow in further appends, in order.
   * A conflict re-decides the batch. True for each message that recorded something.
   */
  async transactAll(runId: string, decides: readonly Decide[]): Promise<readonly boolean[]> {
    const recorded: boolean[] = [];
    for (let rest = decides; rest.length > 0;) {
      const done = await this.#transactHead(runId, rest);
      recorded.push(...done);
      rest = rest.slice(done.length);
    }
    return recorded;
  }

  /**
   * Appends, with the attempts it schedules offered to workers while the commit runs (their round
   * trip overlaps the fsync); the offers are settled with the outcome before anything else. Only
   * attempts still wanted once the events are folded (`toSend`, from `fold`) are offered.
   */
  async #append(
    runId: string,
    events: readonly RunEvent[],
    expected: Parameters<RunStreams['append']>[2],
    fold: { readonly before: RunSnapshot; readonly after: RunSnapshot },
  ): ReturnType<RunStreams['append']> {
    const offerEarly = this.#deps.offerEarly;
    if (offerEarly === undefined) return this.#deps.streams.append(runId, events, expected);
    const send = toSend(fold.before, fold.after, events);
    const early = offerEarly(
      runId,
      events.filter((e) => e.type !== 'StepScheduled' || send(e)),
    );
    if (early === undefined) return this.#deps.streams.append(runId, events, expected);
    let committed = false;
    try {
      const appended = await this.#deps.streams.append(runId, events, expected);
      committed = appended !== 'conflict' && !(appended instanceof StoreRefused);
      return appended;
    } finally {
      early.settle(committed);
    }
  }

  /**
   * Records the longest head of `decides` that fits one append (at least the first message) and
   * answers for those messages only. Sizes are measured only once the store refused an append as
   * too large; a lone message whose events cannot fit at all is a worker's result recorded as its
   * attempt failing with `payload_too_large` (`resultTooLarge`), or else refused
   * `payload_too_large`.
   */
  async #transactHead(runId: string, decides: readonly Decide[]): Promise<readonly boolean[]> {
    const limits = this.#deps.streams.limits;
    let take = decides.length;
    let unrecordable: string | undefined;
    for (let i = 0; i < MAX_CONFLICT_RETRIES; i++) {
      const run = await this.#deps.cache.load(runId);
      if (run === undefined) throw weftError('run_not_found', `no run '${runId}'`, { runId });
      const before = run.snapshot;
      let current: LoadedRun = run;
      const perMessage: (readonly RunEvent[])[] = [];
      const recorded: boolean[] = [];
      for (const decide of decides.slice(0, take)) {
        const made = decide(current);
        const event =
          made !== undefined && unrecordable !== undefined
            ? (asOversizedResult(made, unrecordable) ?? made)
            : made;
        recorded.push(event !== undefined);
        if (event === undefined) {
          perMessage.push([]);
          continue;
        }
        const reaction = await this.react(current, event);
        current = { ...current, snapshot: reaction.snapshot };
        perMessage.push(reaction.events);
      }
      const events = perMessage.flat();
      if (events.length === 0) return recorded;
      const appended = await this.#append(runId, events, run.revision, {
        before,
        after: current.snapshot,
      });
      if (appended === 'conflict') {
        this.#deps.cache.forget(runId);
        continue;
      }
      if (appended instanceof StoreRefused) {
        // Refused as too large: nothing was written. Fewer messages, or the lone one made smaller.
        const fit = fittingHead(perMessage, limits);
        if (take > 1) {
          take = Math.max(1, Math.min(fit, take - 1));
          continue;
        }
        const why = overLimits(events, limits) ?? appended.message;
        const made = perMessage[0]?.[0];
        if (unrecordable === undefined && made !== undefined && asOversizedResult(made, why)) {
          unrecordable = why;
          continue;
        }
        throw weftError(
          'payload_too_large',
          `run '${runId}': cannot record ${made?.type ?? 'an event'}: ${why}`,
          { runId, maxEventBytes: limits.maxEventBytes, maxAppendBytes: limits.maxAppendBytes },
        );
      }
      run.snapshot = current.snapshot;
      run.revision += events.length;
      if (statusOf(run.snapshot) !== 'running') this.#deps.cache.forget(runId);
      this.#deps.perform(runId, run, before, events, appended);
      return recorded;
    }
    throw weftError('unavailable', `run '${runId}' is contended; try again`, { runId });
  }
}
