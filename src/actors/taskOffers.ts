import { createInbox, type NatsConnection, type Subscription } from '@nats-io/transport-node';
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
  readonly #inbox = createInbox();
  readonly #offered = new Map<string, Offered>();
  /** Activities whose tasks go straight to the stream until the time given. */
  readonly #bypass = new Map<string, number>();
  /** Offers of each activity waiting for an answer. */
  readonly #unanswered = new Map<string, number>();
  readonly #subscription: Subscription;
  #sweeper: NodeJS.Timeout | undefined;
  #next = 0;

  constructor(nc: NatsConnection, subjects: Subjects, deps: TaskOffersDeps) {
    this.#nc = nc;
    this.#subjects = subjects;
    this.#deps = deps;
    this.#now = deps.now ?? Date.now;
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
        if (taken) {
          this.#deps.taken(offered.task);
          return;
        }
        this.#bypass.set(offered.task.activity, this.#now() + BYPASS_MS);
        this.#deps.toStream(offered.task);
      },
    });
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
      if (offered.until <= now) this.#forget(token, offered);
    if (this.#offered.size === 0) {
      clearInterval(this.#sweeper);
      this.#sweeper = undefined;
    }
  }

  #forget(token: string, offered: Offered): void {
    this.#offered.delete(token);
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
  }
}
