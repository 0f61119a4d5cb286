import type { NatsConnection } from '@nats-io/transport-node';
import { newInbox } from '../natsAuth.ts';

/** How long a runtime may take to record a reported result before the worker uses the stream. */
const REPORT_TIMEOUT_MS = 5_000;

/**
 * A worker's requests to the runtime, over one inbox subscription under the connection's inbox
 * prefix: cheaper than `nc.request` per result, which builds a request object, a timer and (nats.js
 * 3, on every success) an Error with its stack. A request with no responders is answered at once
 * (NATS's 503 status, no reply); one with no answer in `REPORT_TIMEOUT_MS`, at the next sweep.
 */
export class Reports {
  readonly #nc: NatsConnection;
  readonly #inbox: string;
  readonly #waiting = new Map<
    string,
    { readonly done: (reply: unknown) => void; readonly until: number }
  >();
  readonly #subscription;
  #sweeper: NodeJS.Timeout | undefined;
  #next = 0;

  constructor(nc: NatsConnection) {
    this.#nc = nc;
    this.#inbox = newInbox(nc);
    this.#subscription = nc.subscribe(`${this.#inbox}.*`, {
      callback: (error, msg) => {
        if (error !== null) return;
        const token = msg.subject.slice(this.#inbox.length + 1);
        const waiting = this.#waiting.get(token);
        if (waiting === undefined) return;
        this.#waiting.delete(token);
        let reply: unknown;
        try {
          reply = msg.data.length > 0 ? msg.json() : undefined;
        } catch {
          reply = undefined;
        }
        waiting.done(reply);
      },
    });
  }

  /**
   * How a runtime answered a result handed to it: `recorded` (`{"ok":true}`), `not_sent` (its run
   * never sent that attempt: refused for good, with the runtime's message), or `unanswered` (no
   * runtime, busy, not recorded, no reply in time: the results stream takes it instead).
   */
  async offer(
    subject: string,
    body: string,
  ): Promise<
    | { readonly answer: 'recorded' | 'unanswered' }
    | { readonly answer: 'not_sent'; readonly message: string }
  > {
    const reply = (await this.ask(subject, body)) as
      | { readonly ok?: unknown; readonly error?: unknown; readonly message?: unknown }
      | null
      | undefined;
    if (typeof reply !== 'object' || reply === null) return { answer: 'unanswered' };
    if (reply.ok === true) return { answer: 'recorded' };
    if (reply.error === 'not_sent')
      return {
        answer: 'not_sent',
        message: typeof reply.message === 'string' ? reply.message : 'not sent',
      };
    return { answer: 'unanswered' };
  }

  /** A plain publish, no reply wanted (dropped when the connection is closed). */
  tell(subject: string, body: string): void {
    if (this.#nc.isClosed()) return;
    try {
      this.#nc.publish(subject, body);
    } catch {
      // Best effort: the runtime's timeout of this attempt then does not start.
    }
  }

  /** The JSON reply, or undefined for none (no responders, a timeout, not JSON). */
  ask(subject: string, body: string): Promise<unknown> {
    return new Promise((done) => {
      if (this.#nc.isClosed()) {
        done(undefined);
        return;
      }
      this.#next += 1;
      const token = this.#next.toString(36);
      this.#waiting.set(token, { done, until: Date.now() + REPORT_TIMEOUT_MS });
      this.#sweeper ??= setInterval(() => this.#sweep(), REPORT_TIMEOUT_MS / 5);
      try {
        this.#nc.publish(subject, body, { reply: `${this.#inbox}.${token}` });
      } catch {
        this.#waiting.delete(token);
        done(undefined);
      }
    });
  }

  #sweep(): void {
    const now = Date.now();
    for (const [token, waiting] of this.#waiting) {
      if (waiting.until > now) continue;
      this.#waiting.delete(token);
      waiting.done(undefined);
    }
    if (this.#waiting.size === 0) {
      clearInterval(this.#sweeper);
      this.#sweeper = undefined;
    }
  }

  close(): void {
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
    this.#subscription.unsubscribe();
    for (const waiting of this.#waiting.values()) waiting.done(undefined);
    this.#waiting.clear();
  }
}
