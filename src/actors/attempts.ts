import { attemptKey, type TaskMessage } from '../wire/protocol.ts';

/**
 * Where the tasks stream stands on one attempt: its message is still there (waiting for a worker,
 * or taken and not yet acknowledged), gone (acknowledged, purged, or lost by JetStream), or
 * JetStream did not say.
 */
export type Held = 'held' | 'absent' | 'unknown';

interface Dispatched {
  readonly task: TaskMessage;
  /** When the attempt was (or will be) handed to NATS, or last found waiting in the stream. */
  readonly sentAt: number;
  /** When this runtime first dispatched (or recovered) it. */
  readonly firstSentAt: number;
  readonly resends: number;
}

export interface AttemptsDeps {
  /** Publishes the attempt after `delayMs`; `resend` > 0 marks a re-dispatch (its own message id). */
  readonly publish: (task: TaskMessage, delayMs: number, resend: number) => void;
  /** Looks the attempt's message up in the tasks stream. */
  readonly holds: (task: TaskMessage) => Promise<Held>;
  /**
   * Whether a worker says it is running the attempt (one taken directly is in no stream); false
   * when none says so. Asked before an attempt the stream does not hold is dispatched again.
   */
  readonly heldByWorker: (task: TaskMessage) => Promise<boolean>;
  /** Whether the run is running and this attempt is still its open one (read from the stream). */
  readonly isOpen: (task: TaskMessage) => Promise<boolean>;
  readonly log: (message: string) => void;
  readonly now?: () => number;
}

/**
 * The attempts this runtime dispatched that have no result yet, and their re-dispatch.
 *
 * Guarantee: an attempt is published again only when the tasks stream no longer holds its message
 * (lost by JetStream, never stored, or purged), no worker says it is running it (taken directly),
 * and the run still has the attempt open, so the stream never holds two copies of one attempt. An
 * attempt whose message is still in the stream is left to JetStream: a worker takes it, or — taken by a worker that died — it is redelivered after
 * `ack_wait`, and the worker asks the runtime whether it is still open before running it again.
 */
export class Attempts {
  readonly #dispatched = new Map<string, Dispatched>();
  readonly #deps: AttemptsDeps;
  readonly #now: () => number;

  constructor(deps: AttemptsDeps) {
    this.#deps = deps;
    this.#now = deps.now ?? Date.now;
  }

  /** Publishes a newly scheduled attempt and remembers it until it is answered. */
  dispatch(task: TaskMessage, delayMs: number): void {
    this.#track(task, delayMs, 0);
    this.#deps.publish(task, delayMs, 0);
  }

  /**
   * An attempt found open after a restart: published again only when the stream no longer holds
   * it (a second copy would run twice once JetStream's de-duplication window has passed).
   */
  async recover(task: TaskMessage): Promise<void> {
    this.#track(task, 0, 0);
    // Not known (JetStream did not answer): the reconciler looks again after the timeout. Taken
    // directly by a worker still running it: its result comes (or the reconciler looks again).
    if ((await this.#deps.holds(task)) !== 'absent') return;
    if (await this.#deps.heldByWorker(task)) return;
    this.#deps.log(
      `re-dispatching ${attemptKey(task)}: open on recovery and not in the tasks stream`,
    );
    this.#deps.publish(task, 0, 0);
  }

  /** When this runtime first dispatched the attempt (or found it open after a restart). */
  dispatchedAt(task: Pick<TaskMessage, 'taskId' | 'attempt'>): number | undefined {
    return this.#dispatched.get(attemptKey(task))?.firstSentAt;
  }

  answered(taskId: string, attempt: number): void {
    this.#dispatched.delete(attemptKey({ taskId, attempt }));
  }

  /** Forgets every attempt of the selected runs (ended, or no longer this runtime's). */
  forgetRuns(select: (runId: string) => boolean): void {
    for (const [key, entry] of this.#dispatched)
      if (select(entry.task.runId)) this.#dispatched.delete(key);
  }

  /**
   * Looks at attempts with no result after their timeout plus `graceMs`: one still in the stream is
   * left there (looked at again one period later), one gone from it is published again if its run
   * still has it open, one no longer open is forgotten. Returns how many were published again.
   */
  async reconcile(graceMs: number): Promise<number> {
    let resent = 0;
    for (const [key, entry] of [...this.#dispatched]) {
      const now = this.#now();
      if (now < entry.sentAt + entry.task.timeoutMs + graceMs) continue;
      // The stream first, then the run: a result recorded in between is then seen as closed.
      const held = await this.#deps.holds(entry.task);
      if (held === 'unknown') continue;
      if (held === 'held' || (await this.#deps.heldByWorker(entry.task))) {
        this.#track(entry.task, 0, entry.resends);
        continue;
      }
      if (!(await this.#deps.isOpen(entry.task))) {
        this.#dispatched.delete(key);
        continue;
      }
      if (!this.#dispatched.has(key)) continue;
      this.#deps.log(`re-dispatching ${key}: no result and not in the tasks stream`);
      this.#track(entry.task, 0, entry.resends + 1);
      this.#deps.publish(entry.task, 0, entry.resends + 1);
      resent++;
    }
    return resent;
  }

  #track(task: TaskMessage, delayMs: number, resends: number): void {
    const key = attemptKey(task);
    const sentAt = this.#now() + delayMs;
    this.#dispatched.set(key, {
      task,
      sentAt,
      firstSentAt: this.#dispatched.get(key)?.firstSentAt ?? sentAt,
      resends,
    });
  }
}
