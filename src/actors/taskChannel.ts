import type { JetStreamManager } from '@nats-io/jetstream';
import { headers, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import * as Result from 'effect/Result';
import type { Subjects } from '../wire/subjects.ts';
import {
  attemptKey,
  decodeTaskStart,
  RESEND_HEADER,
  type TaskMessage,
  type TaskResult,
  type TaskStart,
} from '../wire/protocol.ts';
import { WeftError } from '../wire/errors.ts';
import { fitEvent } from '../wire/fit.ts';
import { REPLY_RESERVE_BYTES } from '../wire/pages.ts';
import type { RecordedEvent } from '../store/EventStore.ts';
import { DEFAULT_MAX_PAYLOAD, payloadCap } from '../wire/payloadCap.ts';
import { consumeDurable, ensureStreams, type Consuming } from './jetstream.ts';
import { QuietLog } from './quietLog.ts';
import { StreamPublisher } from './streamPublisher.ts';
import { readResult } from './readResult.ts';
import { isNotSent, NOT_SENT } from './results.ts';
import { TaskOffers } from './taskOffers.ts';

const REPORT_QUEUE = 'weft-runtime';
/** Beyond this many reported results being recorded, workers are told to use the stream. */
const MAX_REPORTS_IN_FLIGHT = 4096;
/** `heldByWorker` questions asked within this long go out together. */
const HELD_BATCH_MS = 5;
/** With no worker known to be live, answers are gathered until none came for this long ... */
const HELD_STALL_MS = 200;
/** ... and never for longer than this. */
const HELD_WAIT_MS = 1_000;
/** Recording a result takes milliseconds: a result held by a runtime that died is redelivered after 10 s. */
const RESULT_ACK_WAIT_MS = 10_000;

/**
 * The runtime's side of the task channel: publishes tasks to the work queue (de-duplicated by
 * `Nats-Msg-Id` = taskId/attempt within JetStream's window) and consumes workers' results from
 * the results stream, acknowledging each only after the supervisor has recorded it.
 */
export class TaskChannel {
  readonly #nc: NatsConnection;
  readonly #jsm: JetStreamManager;
  readonly #subjects: Subjects;
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #log: (message: string) => void;
  /** Results not recorded come in bursts (a store outage): one line per kind per 5 s. */
  readonly #quiet: QuietLog;
  #results: Consuming | undefined;
  #reports: Subscription | undefined;
  #starts: Subscription | undefined;
  #offers: TaskOffers | undefined;
  /** Attempts offered early whose append committed: `dispatch` does not offer them again. */
  readonly #preOffered = new Set<string>();
  readonly #liveWorkers: () => number;
  #heldAsked: { readonly key: string; readonly done: (held: boolean) => void }[] = [];
  #heldTimer: NodeJS.Timeout | undefined;
  /** Starts and reports being answered, awaited by `close`. */
  readonly #answering = new Set<Promise<void>>();
  /** `--max-payload`, before the connection's max_payload bounds it (`payloadCap`). */
  readonly #maxPayload: number;
  #refused = 0;
  /** Tasks to the tasks stream, published again until JetStream acknowledges them. */
  readonly #stream: StreamPublisher;

  private constructor(
    nc: NatsConnection,
    jsm: JetStreamManager,
    subjects: Subjects,
    log: (message: string) => void,
    liveWorkers: () => number,
    maxPayload: number,
  ) {
    this.#nc = nc;
    this.#jsm = jsm;
    this.#subjects = subjects;
    this.#log = log;
    this.#liveWorkers = liveWorkers;
    this.#maxPayload = maxPayload;
    this.#quiet = new QuietLog(log);
    this.#stream = new StreamPublisher(nc, (subject) =>
      this.#quiet.say(
        'unacknowledged',
        `the tasks stream did not acknowledge a task on ${subject} for 30 s; the reconciler will dispatch it again`,
      ),
    );
  }

  static async open(
    nc: NatsConnection,
    subjects: Subjects,
    log: (message: string) => void,
    /** How many workers are live (each answers `heldByWorker`'s question). */
    liveWorkers: () => number = () => 0,
    /** The largest activity result taken, in bytes (`--max-payload`). */
    maxPayload = DEFAULT_MAX_PAYLOAD,
  ): Promise<TaskChannel> {
    const jsm = await ensureStreams(nc, subjects);
    return new TaskChannel(nc, jsm, subjects, log, liveWorkers, maxPayload);
  }

  /**
   * Results refused since the channel opened because their run never sent their task (forged or
   * misrouted reports), on either path. Each is also logged, one line per 5 s at most.
   */
  get refusedResults(): number {
    return this.#refused;
  }

  #cap(): number {
    return payloadCap(this.#maxPayload, this.#nc.info?.max_payload ?? 1024 * 1024);
  }

  /**
   * Counts and logs a result refused as never sent (one line per path per 5 s, the rest summed up
   * in one); returns the refusal's message.
   */
  #refuse(path: 'report' | 'stream', subject: string, error: WeftError): string {
    this.#refused++;
    this.#quiet.say(
      `${path}-not-sent`,
      `refused a result on ${subject}: ${error.message} (${this.#refused} refused since start)`,
    );
    return error.message;
  }

  /**
   * Hands the attempt to a worker after `delayMs`: a new one (`resend` 0) is offered directly to
   * the activity's workers first (taskOffers.ts), and goes to the tasks stream when none takes it;
   * a re-dispatch goes to the stream.
   */
  dispatch(task: TaskMessage, delayMs: number, resend = 0): void {
    // Offered already while its StepScheduled was being committed (`offerEarly`).
    if (resend === 0 && this.#preOffered.delete(attemptKey(task))) return;
    const send = () => {
      // A new attempt goes to a listening worker directly when one takes it (taskOffers.ts).
      if (resend === 0 && this.#offers?.offer(task) === true) return;
      this.#publish(task, resend);
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

  /**
   * Publishes the task on its work-queue subject, where the tasks stream stores it, and again
   * until JetStream acknowledges it (`StreamPublisher`: one inbox, no request per task).
   * `resend` > 0 gets its own message id, so JetStream's de-duplication does not drop a deliberate
   * re-dispatch (made only once the stream no longer holds the attempt: `holds`).
   */
  #publish(task: TaskMessage, resend: number): void {
    if (this.#nc.isClosed()) return;
    const h = headers();
    h.set('Nats-Msg-Id', `${task.taskId}/${task.attempt}${resend > 0 ? `/r${resend}` : ''}`);
    if (resend > 0) h.set(RESEND_HEADER, String(resend));
    try {
      this.#stream.publish(this.#subjects.task(task), JSON.stringify(task), h);
    } catch (error) {
      this.#log(`dispatch of ${task.taskId} attempt ${task.attempt} failed: ${String(error)}`);
    }
  }

  /**
   * Offers new attempts before their `StepScheduled` is durable, so a worker's round trip overlaps
   * the commit (taskOffers.ts `offerEarly`): only those due now, of a step without
   * `scheduleTimeout`. The caller settles with the append's outcome before `dispatch` is called
   * for them; undefined when none was offered.
   */
  offerEarly(
    tasks: readonly TaskMessage[],
  ): { readonly settle: (committed: boolean) => void } | undefined {
    const offers = this.#offers;
    if (offers === undefined) return undefined;
    const offered: { readonly key: string; readonly offerId: string }[] = [];
    for (const task of tasks) {
      const offerId = offers.offerEarly(task);
      if (offerId !== undefined) offered.push({ key: attemptKey(task), offerId });
    }
    if (offered.length === 0) return undefined;
    return {
      settle: (committed) => {
        offers.settle(
          offered.map((o) => o.offerId),
          committed,
        );
        if (committed) for (const { key } of offered) this.#preOffered.add(key);
      },
    };
  }

  /**
   * Whether the tasks stream still holds this attempt's message (waiting for a worker, or taken and
   * not yet acknowledged): one lookup by its subject. `unknown` when JetStream did not answer.
   */
  async holds(task: TaskMessage): Promise<'held' | 'absent' | 'unknown'> {
    if (this.#nc.isClosed()) return 'unknown';
    try {
      const found = await this.#jsm.streams.getMessage(this.#subjects.tasksStream, {
        last_by_subj: this.#subjects.task(task),
      });
      return found === null ? 'absent' : 'held';
    } catch (error) {
      if (error instanceof Error && error.name === 'StreamNotFoundError') return 'absent';
      this.#log(`could not look up ${task.taskId} attempt ${task.attempt}: ${String(error)}`);
      return 'unknown';
    }
  }

  /**
   * Whether a worker says it is running this attempt (`<p>.tasks.held`, heard by every worker).
   * The questions of one `HELD_BATCH_MS` go out as one request; it is answered once as many
   * workers answered as are known to be live, or after `HELD_STALL_MS` without an answer (at most
   * `HELD_WAIT_MS`). No worker listening, or none saying so, is false.
   */
  heldByWorker(task: TaskMessage): Promise<boolean> {
    const key = attemptKey(task);
    return new Promise((done) => {
      this.#heldAsked.push({ key, done });
      this.#heldTimer ??= setTimeout(() => void this.#askHeld(), HELD_BATCH_MS);
    });
  }

  async #askHeld(): Promise<void> {
    const asked = this.#heldAsked;
    this.#heldAsked = [];
    this.#heldTimer = undefined;
    const held = new Set<string>();
    if (!this.#nc.isClosed()) {
      const workers = this.#liveWorkers();
      try {
        const replies = await this.#nc.requestMany(
          this.#subjects.tasksHeld(),
          JSON.stringify({ attempts: [...new Set(asked.map((a) => a.key))] }),
          workers > 0
            ? { strategy: 'count', maxMessages: workers, maxWait: HELD_WAIT_MS }
            : { strategy: 'stall', stall: HELD_STALL_MS, maxWait: HELD_WAIT_MS },
        );
        for await (const reply of replies) {
          if (reply.data.length === 0) continue;
          try {
            const { attempts } = reply.json<{ attempts?: unknown }>();
            if (Array.isArray(attempts)) for (const key of attempts) held.add(String(key));
          } catch {
            // Not an answer of this SDK: ignored.
          }
        }
      } catch {
        // No responders (no worker listening), or the connection closed: nobody holds them.
      }
    }
    for (const { key, done } of asked) done(held.has(key));
  }

  /**
   * Removes every task of an ended run from the tasks stream (best effort: a task that escapes, or
   * one a worker already pulled, is refused by the start check, `serveStarts`).
   */
  purgeRun(runId: string): void {
    if (this.#nc.isClosed()) return;
    this.#jsm.streams
      .purge(this.#subjects.tasksStream, { filter: this.#subjects.runTasks(runId) })
      .catch((error: unknown) =>
        this.#log(`could not purge the tasks of ended run ${runId}: ${String(error)}`),
      );
  }

  /**
   * Hears workers starting attempts and answers those asking whether an attempt may still run
   * (`<p>.tasks.start.<runId>`, one queue group for all runtimes): `{ok: true, run}` with `run`
   * from `isOpen`; a malformed request or a failed check gets `{ok: false}` (the worker then runs
   * the task: at least once).
   */
  serveStarts(isOpen: (start: TaskStart, answered: boolean) => Promise<boolean>): void {
    this.#starts = this.#nc.subscribe(this.#subjects.taskStartsAll(), {
      queue: REPORT_QUEUE,
      callback: (error, msg) => {
        if (error !== null) return;
        let payload: unknown;
        try {
          payload = msg.json();
        } catch {
          msg.respond(JSON.stringify({ ok: false, error: 'invalid json' }));
          return;
        }
        const decoded = decodeTaskStart(payload);
        if (Result.isFailure(decoded)) {
          msg.respond(JSON.stringify({ ok: false, error: 'invalid request' }));
          return;
        }
        // A plain publish (a fresh task's start) wants no answer: `respond` is then a no-op.
        this.#answer(
          isOpen(decoded.success, msg.reply !== undefined && msg.reply !== '').then(
            (run) => void msg.respond(JSON.stringify({ ok: true, run })),
            (cause: unknown) =>
              void msg.respond(JSON.stringify({ ok: false, error: String(cause) })),
          ),
        );
      },
    });
  }

  abortTask(taskId: string): void {
    if (!this.#nc.isClosed())
      this.#nc.publish(this.#subjects.taskCancel(), JSON.stringify({ taskId }));
  }

  /**
   * Best effort, never throws: an event too large for the connection's max_payload is sent with
   * its largest values truncated (the marker of README "NATS API"), as history sends it.
   */
  publishEvent(runId: string, event: RecordedEvent): void {
    if (this.#nc.isClosed()) return;
    const wire = { revision: event.revision, type: event.type, data: event.data, at: event.at };
    try {
      const room = (this.#nc.info?.max_payload ?? 1024 * 1024) - REPLY_RESERVE_BYTES;
      // A UTF-16 code unit is at most 3 UTF-8 bytes: most events fit without being measured.
      const text = JSON.stringify(wire);
      this.#nc.publish(
        this.#subjects.run(runId, 'events'),
        text.length * 3 <= room ? text : JSON.stringify(fitEvent(wire, room)),
      );
    } catch (error) {
      this.#log(`event ${String(event.revision)} of run ${runId} not published: ${String(error)}`);
    }
  }

  /**
   * From now on new attempts are offered to workers first (taskOffers.ts); `started` is told of
   * each one a worker took, as a fresh task's start told by its worker would be (no answer
   * awaited). Without this call every task goes to the tasks stream.
   */
  offerTasks(started: (start: TaskStart) => Promise<unknown>): void {
    this.#offers ??= new TaskOffers(this.#nc, this.#subjects, {
      toStream: (task) => this.#publish(task, 0),
      taken: (task) =>
        void started({ taskId: task.taskId, runId: task.runId, attempt: task.attempt }).catch(
          () => undefined,
        ),
    });
  }

  /**
   * Answers results that workers hand over directly (`<p>.tasks.report.<runId>`, one queue group for
   * all runtimes): `{ok: true}` once `handle` has recorded it durably (or found it late: its attempt
   * was sent and is settled), `{ok: false, error: 'not_sent', message}` when its run never sent
   * that attempt (nothing appended; counted in `refusedResults`), `{ok: false}` otherwise, and
   * then the worker falls back to the results stream. This skips two JetStream hops (store, then
   * deliver) and the stream's write and delete; the guarantee is the same, since the worker
   * acknowledges its task only after one of the two paths confirmed.
   */
  serveReports(handle: (result: TaskResult) => Promise<void>): void {
    let inflight = 0;
    this.#reports = this.#nc.subscribe(this.#subjects.reportsAll(), {
      queue: REPORT_QUEUE,
      callback: (error, msg) => {
        if (error !== null) return;
        const refuse = (why: string) => msg.respond(JSON.stringify({ ok: false, error: why }));
        if (inflight >= MAX_REPORTS_IN_FLIGHT) {
          refuse('busy');
          return;
        }
        const result = readResult(msg, this.#cap());
        if (typeof result === 'string') {
          refuse(result);
          return;
        }
        // Of an early offer whose append failed: dropped, as a stale result would be.
        if (this.#offers?.tainted(result) === true) {
          msg.respond(JSON.stringify({ ok: true }));
          return;
        }
        inflight++;
        this.#answer(
          handle(result)
            .then(
              () => void msg.respond(JSON.stringify({ ok: true })),
              (cause: unknown) => {
                // Never sent: refused for good, and the worker is told so (nothing appended).
                if (isNotSent(cause)) {
                  const message = this.#refuse('report', msg.subject, cause);
                  msg.respond(JSON.stringify({ ok: false, error: NOT_SENT, message }));
                  return;
                }
                this.#quiet.say(
                  'report-unrecorded',
                  `reported result of ${result.taskId} not recorded, the worker falls back to the stream: ${String(cause)}`,
                );
                refuse('not recorded');
              },
            )
            .finally(() => inflight--),
        );
      },
    });
  }

  /**
   * Feeds results to `handle` until `close`; a malformed result, or one for an attempt its run
   * never sent, is terminated (never redelivered).
   * Creates the streams and the results consumer again when JetStream lost them (`consumeDurable`),
   * so tasks dispatched afterwards have a stream to land in again.
   */
  async consumeResults(handle: (result: TaskResult) => Promise<void>): Promise<void> {
    this.#results = await consumeDurable(
      this.#nc,
      this.#subjects,
      {
        stream: this.#subjects.resultsStream,
        durable: this.#subjects.resultsConsumer,
        filterSubject: this.#subjects.resultsAll(),
        ackWaitMs: RESULT_ACK_WAIT_MS,
      },
      256,
      (msg) => {
        const result = readResult(msg, this.#cap());
        if (typeof result === 'string') {
          this.#log(`dropping a task result on ${msg.subject}: ${result}`);
          msg.term(result);
          return;
        }
        if (this.#offers?.tainted(result) === true) {
          msg.ack();
          return;
        }
        handle(result).then(
          () => msg.ack(),
          (error: unknown) => {
            if (isNotSent(error)) {
              msg.term(this.#refuse('stream', msg.subject, error));
              return;
            }
            // Refused for good (too large even as a failure, or the store refusing): redelivery
            // cannot help, so the message is dropped, once, with the reason logged.
            if (error instanceof WeftError && error.code !== 'unavailable') {
              this.#log(`result of ${result.taskId} cannot be recorded, dropped: ${error.message}`);
              msg.term(error.code);
              return;
            }
            this.#quiet.say(
              'result-unrecorded',
              `result of ${result.taskId} not recorded, will be redelivered: ${String(error)}`,
            );
            msg.nak(1000);
          },
        );
      },
      this.#log,
    );
  }

  #answer(answering: Promise<void>): void {
    // A reply that cannot be sent any more (connection closed) is the worker's to retry.
    const settled = answering.then(
      () => undefined,
      () => undefined,
    );
    this.#answering.add(settled);
    void settled.then(() => this.#answering.delete(settled));
  }

  /**
   * Stops serving starts and reports — drained, not unsubscribed, so one NATS handed over before
   * it heard the unsubscribe is still answered — waits for those being answered, then stops
   * consuming results.
   */
  async close(): Promise<void> {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    this.#offers?.close();
    this.#stream.close();
    await Promise.allSettled([this.#reports?.drain(), this.#starts?.drain()]);
    await Promise.allSettled([...this.#answering]);
    await this.#results?.stop();
    this.#quiet.close();
  }
}
