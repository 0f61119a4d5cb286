import * as Effect from 'effect/Effect';
import { TERMINAL_EVENTS, toRunEvent, type RunEvent } from '../machines/events.ts';
import { evolveSummary, type ListFilter, type RunSummary } from '../projections/runSummary.ts';
import type { EventStoreShape, RecordedEvent } from '../store/EventStore.ts';
import type { RunSummaryStoreShape, StoredSummary, SummaryPage } from '../store/RunSummaryStore.ts';
import { RUN_STREAM_PREFIX, runStream } from '../store/streams.ts';

const PAGE = 5000;
/** Summaries kept in memory, least recently touched out (the table keeps every one). */
const MAX_CACHED = 10_000;
/** A change-feed wake waits this long, so that a burst of commits costs one pass. */
const WAKE_DELAY_MS = 20;
/** Passes started by the change feed are at least this far apart. */
const MIN_PASS_GAP_MS = 100;
/** While the change feed is up, the poll is only a safety net. */
const FEED_POLL_MS = 10_000;

/**
 * The run-summary read model of one runtime: the pure fold `evolveSummary` over every run stream,
 * kept in a table beside the events (`RunSummaryStoreShape`) with the position it has reached, so
 * a restart resumes there instead of re-reading every stream, and runtimes sharing a store share
 * the table. Events this runtime appends are folded at once (`project`); the follower folds what
 * any runtime appended, from the checkpoint on, and commits summaries and checkpoint together.
 * It wakes on the store's change feed where there is one and polls otherwise. Callers waiting for
 * a run's end are woken when its terminal event is folded, whoever appended it.
 */
export class RunReadModel {
  readonly #events: EventStoreShape;
  readonly #table: RunSummaryStoreShape;
  readonly #log: (message: string) => void;
  /** Folded summaries, least recently touched first. */
  readonly #cache = new Map<string, StoredSummary>();
  /** Runs whose cached summary the table may not hold yet. */
  readonly #dirty = new Set<string>();
  /** Position of the last event the follower folded. */
  #cursor: number | undefined;
  #committed: number | undefined;
  #pass: Promise<void> | undefined;
  #queued: Promise<void> | undefined;
  #lastPass = -Infinity;
  #wakeTimer: NodeJS.Timeout | undefined;
  #pollTimer: NodeJS.Timeout | undefined;
  #feedUp = false;
  #stopFeed: (() => void) | undefined;
  #closed = false;
  readonly #waiters = new Map<string, Set<(summary: RunSummary) => void>>();

  constructor(deps: {
    readonly events: EventStoreShape;
    readonly table: RunSummaryStoreShape;
    readonly log: (message: string) => void;
  }) {
    this.#events = deps.events;
    this.#table = deps.table;
    this.#log = deps.log;
  }

  /**
   * Resumes at the table's checkpoint and folds everything appended since. Returns the ids of the
   * runs still running. Fails with the store's error when the store cannot be read.
   */
  async start(): Promise<readonly string[]> {
    this.#cursor = await Effect.runPromise(this.#table.checkpoint());
    this.#committed = this.#cursor;
    await this.catchUp();
    return this.running();
  }

  /** The ids of the runs the model knows to be running (the table's, corrected by newer folds). */
  async running(): Promise<readonly string[]> {
    const running = new Set(await Effect.runPromise(this.#table.running()));
    // The cache is at least as new as the table (a commit may have been refused).
    for (const [runId, { summary }] of this.#cache) {
      if (summary.status === 'running') running.add(runId);
      else running.delete(runId);
    }
    return [...running];
  }

  /** Folds one event into the model unless it was folded already; wakes the run's waiters when it ended. */
  project(runId: string, event: RunEvent, revision: number, at: string): void {
    const known = this.#cache.get(runId);
    if (known !== undefined && revision <= known.revision) return;
    const next = evolveSummary(known?.summary, event, at);
    if (next === undefined) return;
    this.#remember(runId, { summary: next, revision });
    this.#dirty.add(runId);
    if (TERMINAL_EVENTS.has(event.type)) this.#wake(runId);
  }

  /** The summary this runtime has folded, without any I/O; undefined when not in memory. */
  cached(runId: string): RunSummary | undefined {
    return this.#cache.get(runId)?.summary;
  }

  /** The run's summary: from memory, the table, or its stream; undefined when there is no run. */
  async get(runId: string): Promise<RunSummary | undefined> {
    const cached = this.#cache.get(runId);
    if (cached !== undefined) return cached.summary;
    const stored = (await Effect.runPromise(this.#table.get([runId]))).get(runId);
    if (stored !== undefined) this.#seed(stored);
    // An ended run's summary never changes; a running one may be behind its stream.
    if (stored?.summary.status !== 'running' && stored !== undefined) return stored.summary;
    await this.#foldStream(runId, stored === undefined ? 0 : stored.revision + 1);
    return this.#cache.get(runId)?.summary;
  }

  /** A page of summaries, newest first; it includes every run appended before the call. */
  async list(filter: ListFilter): Promise<SummaryPage> {
    await this.catchUp();
    return Effect.runPromise(this.#table.list(filter));
  }

  /** Resolves with the run's summary once it has ended, or undefined after `timeoutMs`. */
  waitForEnd(runId: string, timeoutMs: number): Promise<RunSummary | undefined> {
    const summary = this.#cache.get(runId)?.summary;
    if (summary !== undefined && summary.status !== 'running') return Promise.resolve(summary);
    return new Promise((resolve) => {
      const waiters = this.#waiters.get(runId) ?? new Set();
      this.#waiters.set(runId, waiters);
      const timer = setTimeout(() => {
        waiters.delete(done);
        if (waiters.size === 0) this.#waiters.delete(runId);
        resolve(undefined);
      }, timeoutMs);
      const done = (s: RunSummary) => {
        clearTimeout(timer);
        resolve(s);
      };
      waiters.add(done);
    });
  }

  /**
   * Folds every run event appended since the last pass (by any runtime) and commits the summaries
   * it changed with the position reached. A call made while a pass runs gets the next pass, so it
   * sees everything appended before it was made.
   */
  catchUp(): Promise<void> {
    if (this.#pass === undefined) {
      const pass = this.#fold().finally(() => {
        if (this.#pass === pass) this.#pass = undefined;
      });
      this.#pass = pass;
      return pass;
    }
    this.#queued ??= this.#pass
      .catch(() => undefined)
      .then(() => {
        this.#queued = undefined;
        return this.catchUp();
      });
    return this.#queued;
  }

  /** Keeps following the store: on its change feed where there is one, and every `pollMs` while there is none. */
  follow(pollMs: number): void {
    if (this.#closed || this.#pollTimer !== undefined) return;
    this.#stopFeed = this.#table.changes?.(
      () => this.#wakeSoon(),
      this.#log,
      (up) => (this.#feedUp = up),
    );
    const tick = () => {
      // A pass in flight at close must not arm the next one.
      if (this.#closed) return;
      this.#pollTimer = setTimeout(
        () => {
          this.catchUp().then(tick, (error: unknown) => {
            this.#log(`read model catch-up failed: ${String(error)}`);
            tick();
          });
        },
        this.#feedUp ? FEED_POLL_MS : pollMs,
      );
    };
    tick();
  }

  close(): void {
    this.#closed = true;
    this.#stopFeed?.();
    clearTimeout(this.#pollTimer);
    clearTimeout(this.#wakeTimer);
  }

  #wakeSoon(): void {
    if (this.#closed || this.#wakeTimer !== undefined) return;
    const delay = Math.max(WAKE_DELAY_MS, this.#lastPass + MIN_PASS_GAP_MS - performance.now());
    this.#wakeTimer = setTimeout(() => {
      this.#wakeTimer = undefined;
      this.catchUp().catch((error: unknown) =>
        this.#log(`read model catch-up failed: ${String(error)}`),
      );
    }, delay);
  }

  async #fold(): Promise<void> {
    this.#lastPass = performance.now();
    for (;;) {
      const after = this.#cursor;
      const page = await Effect.runPromise(
        this.#events.readAll({
          streamPrefix: RUN_STREAM_PREFIX,
          limit: PAGE,
          ...(after === undefined ? {} : { after }),
        }),
      );
      await this.#seedFromTable(page);
      for (const recorded of page) {
        const runId = recorded.stream.slice(RUN_STREAM_PREFIX.length);
        const known = this.#cache.get(runId);
        // Most events were appended (and folded) here: skip decoding those.
        if (known !== undefined && recorded.revision <= known.revision) continue;
        if (known === undefined && recorded.revision > 0) await this.#foldStream(runId, 0);
        else this.project(runId, toRunEvent(recorded), recorded.revision, recorded.at);
      }
      const last = page[page.length - 1];
      if (last !== undefined) this.#cursor = last.position;
      await this.#persist();
      if (last === undefined || page.length < PAGE) return;
    }
  }

  /** Commits the summaries the table may lack, and the cursor as checkpoint. */
  async #persist(): Promise<void> {
    const pending = [...this.#dirty].flatMap((runId) => {
      const stored = this.#cache.get(runId);
      return stored === undefined ? [] : [[runId, stored] as const];
    });
    const position = this.#cursor ?? 0;
    if (pending.length === 0 && position === (this.#committed ?? 0)) return;
    await Effect.runPromise(
      this.#table.commit(
        pending.map(([, stored]) => stored),
        position,
      ),
    );
    this.#committed = position;
    // A summary folded further during the commit stays dirty.
    for (const [runId, stored] of pending)
      if (this.#cache.get(runId) === stored) this.#dirty.delete(runId);
  }

  /** Puts the table's summaries of the page's runs that are not in memory into memory. */
  async #seedFromTable(page: readonly RecordedEvent[]): Promise<void> {
    const missing = new Set<string>();
    for (const recorded of page) {
      const runId = recorded.stream.slice(RUN_STREAM_PREFIX.length);
      if (!this.#cache.has(runId)) missing.add(runId);
    }
    if (missing.size === 0) return;
    const found = await Effect.runPromise(this.#table.get([...missing]));
    for (const stored of found.values()) this.#seed(stored);
  }

  /** Reads the run's stream from `from` and folds it (a run the table lacks, or one behind). */
  async #foldStream(runId: string, from: number): Promise<void> {
    const recorded = await Effect.runPromise(this.#events.read(runStream(runId), { from }));
    for (const r of recorded) this.project(runId, toRunEvent(r), r.revision, r.at);
  }

  /** Remembers a summary read from the table unless memory holds a newer one. */
  #seed(stored: StoredSummary): void {
    const known = this.#cache.get(stored.summary.runId);
    if (known === undefined || known.revision < stored.revision)
      this.#remember(stored.summary.runId, stored);
  }

  #remember(runId: string, stored: StoredSummary): void {
    this.#cache.delete(runId);
    this.#cache.set(runId, stored);
    if (this.#cache.size <= MAX_CACHED) return;
    for (const oldest of this.#cache.keys()) {
      if (this.#cache.size <= MAX_CACHED) break;
      if (!this.#dirty.has(oldest) && !this.#waiters.has(oldest)) this.#cache.delete(oldest);
    }
  }

  #wake(runId: string): void {
    const summary = this.#cache.get(runId)?.summary;
    if (summary === undefined || summary.status === 'running') return;
    for (const waiter of this.#waiters.get(runId) ?? []) waiter(summary);
    this.#waiters.delete(runId);
  }
}
