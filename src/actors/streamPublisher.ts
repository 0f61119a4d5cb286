import type { MsgHdrs, NatsConnection, Subscription } from '@nats-io/transport-node';
import { newInbox } from '../natsAuth.ts';

/** How long a publish waits for JetStream's acknowledgement before it is published again. */
const ACK_WAIT_MS = 2_000;
/** After this long without one, the runtime's reconciler is left to bring the task home. */
const GIVE_UP_MS = 30_000;

interface Pending {
  readonly subject: string;
  readonly data: string;
  readonly headers: MsgHdrs;
  readonly since: number;
  sentAt: number;
}

/**
 * Publishes tasks to the tasks stream and sees that JetStream stored each. JetStream's
 * acknowledgements come back on one inbox subscription under the connection's inbox prefix: no
 * request object and no timer per task, so a step stays as cheap as a plain publish. A task with
 * no positive acknowledgement within `ACK_WAIT_MS` (JetStream electing a stream leader, the stream
 * being made again, a server restarting) is published again under the same `Nats-Msg-Id`, which
 * JetStream's de-duplication keeps to one copy; after `GIVE_UP_MS` the supervisor's reconciler,
 * which re-dispatches an attempt with no result after its timeout, takes over.
 */
export class StreamPublisher {
  readonly #nc: NatsConnection;
  readonly #inbox: string;
  readonly #subscription: Subscription;
  readonly #pending = new Map<string, Pending>();
  readonly #now: () => number;
  readonly #onGiveUp: (subject: string) => void;
  #sweeper: NodeJS.Timeout | undefined;
  #next = 0;

  constructor(
    nc: NatsConnection,
    onGiveUp: (subject: string) => void,
    now: () => number = Date.now,
  ) {
    this.#nc = nc;
    this.#onGiveUp = onGiveUp;
    this.#now = now;
    this.#inbox = newInbox(nc);
    this.#subscription = nc.subscribe(`${this.#inbox}.*`, {
      callback: (error, msg) => {
        if (error !== null) return;
        // A 503 status (no stream took the subject) or an `{error}` leaves it for the next sweep.
        if (msg.headers?.hasError === true || msg.data.length === 0) return;
        let ack: { readonly stream?: unknown; readonly error?: unknown } | undefined;
        try {
          ack = msg.json();
        } catch {
          return;
        }
        if (ack?.error === undefined && typeof ack?.stream === 'string')
          this.#pending.delete(msg.subject.slice(this.#inbox.length + 1));
      },
    });
  }

  /** Tasks published and not yet acknowledged by JetStream. */
  get unacknowledged(): number {
    return this.#pending.size;
  }

  /** Publishes `data` on `subject` (a tasks stream subject), and again until JetStream stores it. */
  publish(subject: string, data: string, headers: MsgHdrs): void {
    this.#next += 1;
    const token = this.#next.toString(36);
    const now = this.#now();
    this.#pending.set(token, { subject, data, headers, since: now, sentAt: now });
    this.#sweeper ??= setInterval(() => this.#sweep(), ACK_WAIT_MS / 2);
    this.#send(token, subject, data, headers);
  }

  #send(token: string, subject: string, data: string, headers: MsgHdrs): void {
    if (this.#nc.isClosed()) return;
    this.#nc.publish(subject, data, { headers, reply: `${this.#inbox}.${token}` });
  }

  #sweep(): void {
    const now = this.#now();
    for (const [token, pending] of this.#pending) {
      if (now - pending.sentAt < ACK_WAIT_MS) continue;
      if (now - pending.since >= GIVE_UP_MS) {
        this.#pending.delete(token);
        this.#onGiveUp(pending.subject);
        continue;
      }
      pending.sentAt = now;
      try {
        this.#send(token, pending.subject, pending.data, pending.headers);
      } catch {
        // The connection is closing or reconnecting: the next sweep tries again.
      }
    }
    if (this.#pending.size === 0) {
      clearInterval(this.#sweeper);
      this.#sweeper = undefined;
    }
  }

  close(): void {
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
    this.#pending.clear();
    this.#subscription.unsubscribe();
  }
}
