import { jetstream, type ConsumerMessages, type JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import * as Result from 'effect/Result';
import type { Subjects } from '../gateway/subjects.ts';
import { decodeTaskResult, type TaskMessage, type TaskResult } from '../gateway/protocol.ts';
import type { RecordedEvent } from '../store/EventStore.ts';
import { ensureConsumer, ensureStreams } from './jetstream.ts';

/**
 * The runtime's side of the task channel: publishes tasks to the work queue (de-duplicated by
 * `Nats-Msg-Id` = taskId/attempt within JetStream's window) and consumes workers' results from
 * the results stream, acknowledging each only after the supervisor has recorded it.
 */
export class TaskChannel {
  readonly #nc: NatsConnection;
  readonly #js: JetStreamClient;
  readonly #subjects: Subjects;
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #log: (message: string) => void;
  #messages: ConsumerMessages | undefined;
  #loop: Promise<void> | undefined;

  private constructor(nc: NatsConnection, subjects: Subjects, log: (message: string) => void) {
    this.#nc = nc;
    this.#js = jetstream(nc);
    this.#subjects = subjects;
    this.#log = log;
  }

  static async open(nc: NatsConnection, subjects: Subjects, log: (message: string) => void): Promise<TaskChannel> {
    const jsm = await ensureStreams(nc, subjects);
    // Recording a result takes milliseconds: a result held by a runtime that died is redelivered after 10 s.
    await ensureConsumer(jsm, subjects.resultsStream, subjects.resultsConsumer, subjects.resultsAll(), 10_000);
    return new TaskChannel(nc, subjects, log);
  }

  /** `resend` > 0 gets its own message id, so JetStream's de-duplication does not drop a deliberate re-dispatch. */
  dispatch(task: TaskMessage, delayMs: number, resend = 0): void {
    const msgID = `${task.taskId}/${task.attempt}${resend > 0 ? `/r${resend}` : ''}`;
    const send = () => {
      this.#js
        .publish(this.#subjects.task(task.activity), JSON.stringify(task), { msgID })
        .catch((error: unknown) => {
          this.#log(`dispatch of ${task.taskId} attempt ${task.attempt} failed: ${String(error)}`);
        });
    };
    if (delayMs <= 0) {
      send();
      return;
    }
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      send();
    }, delayMs);
    this.#timers.add(timer);
  }

  abortTask(taskId: string): void {
    if (!this.#nc.isClosed()) this.#nc.publish(this.#subjects.taskCancel(), JSON.stringify({ taskId }));
  }

  publishEvent(runId: string, event: RecordedEvent): void {
    if (this.#nc.isClosed()) return;
    this.#nc.publish(
      this.#subjects.run(runId, 'events'),
      JSON.stringify({ revision: event.revision, type: event.type, data: event.data, at: event.at }),
    );
  }

  /** Feeds results to `handle` until `close`; a malformed result is terminated (never redelivered). */
  async consumeResults(handle: (result: TaskResult) => Promise<void>): Promise<void> {
    const consumer = await this.#js.consumers.get(this.#subjects.resultsStream, this.#subjects.resultsConsumer);
    const messages = await consumer.consume({ max_messages: 256 });
    this.#messages = messages;
    this.#loop = (async () => {
      for await (const msg of messages) {
        let payload: unknown;
        try {
          payload = msg.json();
        } catch {
          msg.term('invalid json');
          continue;
        }
        const decoded = decodeTaskResult(payload);
        if (Result.isFailure(decoded)) {
          this.#log(`dropping malformed task result on ${msg.subject}`);
          msg.term('invalid result');
          continue;
        }
        handle(decoded.success).then(
          () => msg.ack(),
          (error: unknown) => {
            this.#log(`result of ${decoded.success.taskId} not recorded, will be redelivered: ${String(error)}`);
            msg.nak(1000);
          },
        );
      }
    })();
  }

  async close(): Promise<void> {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    this.#messages?.stop();
    await this.#loop;
  }
}
