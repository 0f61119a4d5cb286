import { randomUUID } from 'node:crypto';
import { type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { newInbox } from '../natsAuth.ts';
import type { TaskMessage } from '../wire/protocol.ts';
import type { Subjects } from '../wire/subjects.ts';

/**
 * The direct path of a task (README "Guarantees"): a newly scheduled attempt is first offered to
 * its activity's workers by core NATS (`<p>.tasks.offer.<activity>`, one queue group), and only
 * when none takes it does it go to the durable tasks stream. A worker with a free slot answers
 * `{"taken":true}` at once and runs it; one without, `{"taken":false}`.
 *
 * - No responders (no worker of this SDK listening) or refused: published to the stream at once,
 *   and for a short while (`BYPASS_MS`) the activity's next attempts go straight there.
 * - Taken: the attempt's start is noted (its `timeout` runs from now), nothing is published.
 * - No answer (a stalled worker, a lost message): nothing is published, since the worker may have
 *   taken it; a late answer is still heard until the attempt's timeout. An attempt nobody took is
 *   re-dispatched through the stream by the reconciler, which looks at every attempt with no result
 *   after its timeout plus a grace (the store remains the only truth).
 *
 * - Early (`offerEarly`, while the append that schedules the attempt is being committed): nothing
 *   is decided from the answer before `settle` says how the append ended. Taken: the start is
 *   noted once it committed. Refused: to the stream once it committed. The append failed: the
 *   offer is void, and a result echoing its `offerId` is `tainted` (dropped by the runtime).
 *
 * A taken task is in no stream: if its worker dies, the runtime's `timeout` fails the attempt and
 * the step's retry policy applies (a JetStream task would have been redelivered after `ack_wait`).
 */

/** Unanswered offers are looked at this often (and forgotten once past their attempt's timeout). */
const SWEEP_MS = 1_000;
/** After no worker answered or all were busy, the activity's tasks skip the offer this long. */
export const BYPASS_MS = 250;
/**
 * At most this many offers of one activity wait for an answer at once; the rest of a burst (a
 * map's items) goes to the stream at once rather than offered only to be refused one by one.
 */
export const MAX_UNANSWERED = 32;
/** The queue group of every worker's offer subscriptions: one worker hears each offer. */
export const OFFER_QUEUE = 'weft-workers';

interface Offered {
  readonly task: TaskMessage;
  /** Until when a late answer is still heard. */
  readonly until: number;
}

/** Tainted offer ids kept (an append failing after an early offer is rare: a conflict, a store down). */
const MAX_TAINTED = 10_000;

interface Early {
  /** The task as offered, with its `offerId`. */
  readonly task: TaskMessage;
  /** Whether its append is still being committed, or how it ended. */
  state: 'pending' | 'committed' | 'failed';
  answered: boolean;
  /** A worker refused it, or none listened. */
  refused: boolean;
}

export interface TaskOffersDeps {
  /** Publishes the attempt to the durable tasks stream (no worker took it). */
  readonly toStream: (task: TaskMessage) => void;
  /** A worker took the attempt: its timeout starts now. */
  readonly taken: (task: TaskMessage) => void;
  readonly now?: () => number;
}

export class TaskOffers {
  readonly #nc: NatsConnection;
  readonly #subjects: Subjects;
  readonly #deps: TaskOffersDeps;
  readonly #now: () => number;
  readonly #inbox: string;
  readonly #offered = new Map<string, Offered>();
  /** Activities whose tasks go straight to the stream until the time given. */
  readonly #bypass = new Map<string, number>();
  /** Offers of each activity waiting for an answer. */
  readonly #unanswered = new Map<string, number>();
  /** Early offers (`offerEarly`) by offer id, until answered and settled. */
  readonly #early = new Map<string, Early>();
  /** `offerId`s of early offers whose append failed (bounded, oldest out). */
  readonly #tainted = new Set<string>();
  readonly #subscription: Subscription;
  #sweeper: NodeJS.Timeout | undefined;
  #next = 0;
  /** Offer ids are this runtime's prefix and a counter. */
  readonly #offerPrefix = randomUUID().slice(0, 8);
  #nextOfferId = 0;

  constructor(nc: NatsConnection, subjects: Subjects, deps: TaskOffersDeps) {
    this.#nc = nc;
    this.#subjects = subjects;
    this.#deps = deps;
    this.#now = deps.now ?? Date.now;
    this.#inbox = newInbox(nc);
    this.#subscription = nc.subscribe(`${this.#inbox}.*`, {
      callback: (error, msg) => {
        if (error !== null) return;
        const token = msg.subject.slice(this.#inbox.length + 1);
        const offered = this.#offered.get(token);
        if (offered === undefined) return;
        this.#forget(token, offered);
        // An empty body is NATS's "no responders" status; anything but {"taken":true} is a refusal.
        let taken = false;
        try {
          taken = msg.data.length > 0 && (msg.json<{ taken?: unknown }>().taken ?? false) === true;
        } catch {
          taken = false;
        }
        const offerId = offered.task.offerId;
        const early = offerId === undefined ? undefined : this.#early.get(offerId);
        if (early !== undefined) {
          early.answered = true;
          early.refused = !taken;
          if (early.state !== 'pending') this.#early.delete(offerId ?? '');
        }
        if (taken) {
          // Its start is noted once its append is durable (`settle`); taken for an append that
          // failed, it runs, and its result is refused (`tainted`).
          if (early === undefined || early.state === 'committed') this.#deps.taken(offered.task);
          return;
        }
        this.#bypass.set(offered.task.activity, this.#now() + BYPASS_MS);
        // Refused before its append was settled: to the stream once it is durable (`settle`).
        if (early === undefined || early.state === 'committed') this.#deps.toStream(offered.task);
      },
    });
  }

  /**
   * Offers an attempt whose `StepScheduled` is being appended, so the worker's round trip overlaps
   * the commit (README "Guarantees"); `settle` must follow with the append's outcome. The task
   * carries an `offerId` the worker echoes: a result of an offer whose append failed is refused by
   * `tainted`. Its offer id, or undefined when it was not offered (then it is dispatched as usual
   * once durable).
   */
  offerEarly(task: TaskMessage): string | undefined {
    this.#nextOfferId += 1;
    const offerId = `${this.#offerPrefix}.${this.#nextOfferId.toString(36)}`;
    const early: Early = {
      task: { ...task, offerId },
      state: 'pending',
      answered: false,
      refused: false,
    };
    if (!this.offer(early.task)) return undefined;
    this.#early.set(offerId, early);
    return offerId;
  }

  /**
   * The append of early-offered attempts settled. Committed: one refused meanwhile goes to the
   * stream now. Failed: the offer is void; a worker that took it will have its result refused.
   */
  settle(offerIds: readonly string[], committed: boolean): void {
    for (const offerId of offerIds) {
      const early = this.#early.get(offerId);
      if (early === undefined) continue;
      early.state = committed ? 'committed' : 'failed';
      if (!committed) {
        this.#tainted.add(offerId);
        if (this.#tainted.size > MAX_TAINTED)
          this.#tainted.delete(this.#tainted.values().next().value ?? '');
      }
      if (!early.answered) continue;
      this.#early.delete(offerId);
      if (committed && early.refused) this.#deps.toStream(early.task);
      if (committed && !early.refused) this.#deps.taken(early.task);
    }
  }

  /** Whether a result is of an early offer whose append failed (to be dropped, not recorded). */
  tainted(result: { readonly offerId?: string }): boolean {
    return result.offerId !== undefined && this.#tainted.has(result.offerId);
  }

  /** Offers the attempt to a worker; false when it should go to the stream at once instead. */
  offer(task: TaskMessage): boolean {
    if (this.#nc.isClosed() || task.scheduleTimeoutMs !== undefined) return false;
    const now = this.#now();
    if ((this.#bypass.get(task.activity) ?? 0) > now) return false;
    const unanswered = this.#unanswered.get(task.activity) ?? 0;
    if (unanswered >= MAX_UNANSWERED) return false;
    this.#next += 1;
    const token = this.#next.toString(36);
    try {
      this.#nc.publish(this.#subjects.taskOffer(task.activity), JSON.stringify(task), {
        reply: `${this.#inbox}.${token}`,
      });
    } catch {
      return false;
    }
    this.#unanswered.set(task.activity, unanswered + 1);
    this.#offered.set(token, {
      task,
      until: now + task.timeoutMs + SWEEP_MS,
    });
    this.#sweeper ??= setInterval(() => this.#sweep(), SWEEP_MS);
    return true;
  }

  /** Offers still unanswered (for tests and metrics). */
  get pending(): number {
    return this.#offered.size;
  }

  #sweep(): void {
    const now = this.#now();
    for (const [token, offered] of this.#offered)
      if (offered.until <= now) this.#forget(token, offered, true);
    if (this.#offered.size === 0) {
      clearInterval(this.#sweeper);
      this.#sweeper = undefined;
    }
  }

  #forget(token: string, offered: Offered, swept = false): void {
    this.#offered.delete(token);
    // Never answered: an early offer's record goes with it once settled.
    const offerId = offered.task.offerId;
    if (swept && offerId !== undefined && this.#early.get(offerId)?.state !== 'pending')
      this.#early.delete(offerId);
    const left = (this.#unanswered.get(offered.task.activity) ?? 1) - 1;
    if (left > 0) this.#unanswered.set(offered.task.activity, left);
    else this.#unanswered.delete(offered.task.activity);
  }

  close(): void {
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
    this.#subscription.unsubscribe();
    this.#offered.clear();
    this.#unanswered.clear();
    this.#early.clear();
  }
}
