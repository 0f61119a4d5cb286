import { randomUUID } from 'node:crypto';
import { jetstream, type JsMsg } from '@nats-io/jetstream';
import { type Msg, type NatsConnection } from '@nats-io/transport-node';
import * as Result from 'effect/Result';
import type { Json } from '../blueprints/json.ts';
import { DEFAULT_NATS_URL } from '../config.ts';
import {
  connectNats,
  logPermissionViolations,
  natsAuthFromEnv,
  type NatsAuth,
} from '../natsAuth.ts';
import { Subjects } from '../wire/subjects.ts';
import {
  attemptKey,
  decodeTaskCancel,
  decodeTaskMessage,
  type TaskMessage,
  type TaskResult,
  type WorkerAnnouncement,
} from '../wire/protocol.ts';
import {
  fitAnnouncement,
  MAX_ANNOUNCED_SCHEMAS_BYTES,
  resolveActivity,
  TerminalError,
  type Activity,
  type ActivityContext,
  type AnyActivityDefinition,
} from './activityDefinition.ts';
import { consumeDurable, TASK_ACK_WAIT_MS, type Consuming } from './jetstream.ts';
import { Reports } from './reports.ts';
import { mustAsk, stillOpen, tellStart } from './staleTasks.ts';
import { OFFER_QUEUE } from './taskOffers.ts';

export {
  defineActivity,
  isActivityDefinition,
  TerminalError,
  type Activity,
  type ActivityContext,
  type ActivityDefinition,
  type ActivityInput,
  type ActivityOutput,
  type ActivitySchema,
  type AnyActivityDefinition,
} from './activityDefinition.ts';

const TAKEN = JSON.stringify({ taken: true });
const REFUSED = JSON.stringify({ taken: false });

/**
 * The worker SDK: runs activities by name for tasks taken from the work queue.
 *
 * Guarantees: a task is acknowledged only after its result is stored in the results stream, so an
 * activity runs at least once; `ctx.taskId` is the same on every retry of one step execution (use
 * it as an idempotency key). A thrown error is retried under the step's policy; a `TerminalError`
 * is not. An activity defined with schemas gets only inputs that fit (else the attempt fails with
 * the terminal `invalid_input`) and may return only outputs that fit (else `invalid_output`; see
 * `activityDefinition.ts`). When the step's timeout passes, `ctx.signal` aborts and the attempt fails as `timeout`.
 * A worker holds at most twice its concurrency in tasks (running, and pulled ahead), and creates
 * the streams and its consumers again when JetStream has lost them. Once its consumers are up it
 * announces what it serves (README "Worker wire protocol"): at once, every heartbeat, and when a
 * runtime asks; on close it says goodbye before it stops taking tasks.
 */

/**
 * Activities one worker runs at once unless told otherwise: Temporal's TypeScript SDK default.
 * Activities mostly wait on I/O; at 16 a worker held each slot for a whole result round trip and
 * capped a runtime at about 1,000 steps per second.
 */
export const DEFAULT_CONCURRENCY = 100;

/**
 * How often a worker announces itself unless told otherwise (`heartbeatMs`,
 * `WEFT_WORKER_HEARTBEAT_MS`). A runtime counts it gone after three missed heartbeats.
 */
export const DEFAULT_HEARTBEAT_MS = 5_000;

/** An error code as the blueprint language spells them (the rule of a name). */
const ERROR_CODE = /^[a-zA-Z_][a-zA-Z0-9_]{0,63}$/u;

/**
 * The recorded error of an activity that threw: its own `code` when it has a valid one (a
 * `TerminalError`'s, or any error's string `code` property, as Node's own errors have), else
 * `terminal` or `activity_error`. Retryable unless terminal or `retryable: false` on the error.
 */
export const activityError = (
  error: unknown,
): { readonly message: string; readonly code: string; readonly retryable: boolean } => {
  // By name too: a module may load its own copy of the SDK (src beside dist).
  const terminal =
    error instanceof TerminalError || (error instanceof Error && error.name === 'TerminalError');
  const own =
    typeof error === 'object' && error !== null
      ? (error as { readonly code?: unknown; readonly retryable?: unknown })
      : {};
  const code = typeof own.code === 'string' && ERROR_CODE.test(own.code) ? own.code : undefined;
  return {
    message: errorMessage(error),
    code: code ?? (terminal ? 'terminal' : 'activity_error'),
    retryable: !terminal && own.retryable !== false,
  };
};

export interface WorkerOptions {
  /** NATS URL(s); default `WEFT_NATS_URL`, else `nats://127.0.0.1:4222`. */
  readonly servers?: string | readonly string[];
  /** NATS credentials, TLS files and inbox prefix; default the `WEFT_NATS_*` environment variables. */
  readonly auth?: NatsAuth;
  readonly prefix?: string;
  readonly concurrency?: number;
  readonly activities: Readonly<Record<string, Activity | AnyActivityDefinition>>;
  /** Announcement interval; default `WEFT_WORKER_HEARTBEAT_MS` or `DEFAULT_HEARTBEAT_MS`. */
  readonly heartbeatMs?: number;
  /** Where diagnostics go; default stderr. */
  readonly log?: (message: string) => void;
}

export interface Worker {
  readonly activities: readonly string[];
  /** Stops taking tasks, lets running ones finish, and disconnects. */
  close(): Promise<void>;
}

class Slots {
  #free: number;
  readonly #waiting: (() => void)[] = [];
  constructor(size: number) {
    this.#free = size;
  }
  /** Takes a slot only if one is free now (an offered task is taken or refused at once). */
  tryAcquire(): boolean {
    if (this.#free === 0) return false;
    this.#free--;
    return true;
  }
  async acquire(): Promise<void> {
    if (this.#free > 0) {
      this.#free--;
      return;
    }
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
  }
  release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#free++;
  }
}

const errorMessage = (error: unknown): string =>
  error instanceof Error ? error.message : String(error);

/**
 * Activities by name, with what each announces (schemas over the size caps left out, and logged);
 * a name given twice is an error.
 */
const resolveActivities = (
  given: WorkerOptions['activities'],
  log: (message: string) => void,
): { runs: Map<string, Activity>; announced: WorkerAnnouncement['activities'] } => {
  const runs = new Map<string, Activity>();
  const declared: WorkerAnnouncement['activities'][number][] = [];
  for (const [key, value] of Object.entries(given)) {
    const activity = resolveActivity(key, value);
    if (runs.has(activity.name)) throw new Error(`activity '${activity.name}' is given twice`);
    runs.set(activity.name, activity.run);
    declared.push(activity.announced);
    for (const note of activity.notes) log(`activity '${activity.name}': ${note}`);
  }
  const { activities, left } = fitAnnouncement(declared);
  if (left.length > 0)
    log(
      `schemas not announced (over ${MAX_ANNOUNCED_SCHEMAS_BYTES} bytes in all): ${left.join(', ')}`,
    );
  return { runs, announced: activities };
};

const heartbeatOf = (options: WorkerOptions): number => {
  const value = options.heartbeatMs ?? Number(process.env.WEFT_WORKER_HEARTBEAT_MS ?? NaN);
  return Number.isFinite(value) && value > 0 ? value : DEFAULT_HEARTBEAT_MS;
};

export const createWorker = async (options: WorkerOptions): Promise<Worker> => {
  const subjects = new Subjects(options.prefix ?? process.env.WEFT_PREFIX ?? 'weft');
  const log =
    options.log ?? ((message: string) => process.stderr.write(`[weft worker] ${message}\n`));
  const { runs, announced } = resolveActivities(options.activities, log);
  const names = [...runs.keys()];
  for (const name of names) subjects.activityTasks(name);
  const heartbeatMs = heartbeatOf(options);
  const workerId = randomUUID();
  const announcement = JSON.stringify({
    workerId,
    activities: announced,
    heartbeatMs,
  } satisfies WorkerAnnouncement);
  // Refused credentials end the start at once (an `UnavailableError` naming the server).
  const nc: NatsConnection = await connectNats(
    options.servers ?? process.env.WEFT_NATS_URL ?? DEFAULT_NATS_URL,
    options.auth ?? natsAuthFromEnv(),
    { name: 'weft-worker', noAsyncTraces: true },
  );
  const js = jetstream(nc);
  const concurrency = Math.max(1, options.concurrency ?? DEFAULT_CONCURRENCY);
  const slots = new Slots(concurrency);
  const running = new Set<Promise<void>>();
  const consumers: Consuming[] = [];
  let closing = false;
  const controllers = new Map<string, AbortController>();
  const cancels = nc.subscribe(subjects.taskCancel(), {
    callback: (error, msg) => {
      if (error !== null) return;
      let payload: unknown;
      try {
        payload = msg.json();
      } catch {
        return;
      }
      const decoded = decodeTaskCancel(payload);
      if (Result.isSuccess(decoded))
        controllers.get(decoded.success.taskId)?.abort(new Error('the run was cancelled'));
    },
  });

  const reports = new Reports(nc);
  /** Attempts this worker is running, until their result is delivered (`taskId/attempt`). */
  const holding = new Set<string>();
  // A runtime asks which of some attempts a worker is running before it dispatches them again.
  const held = nc.subscribe(subjects.tasksHeld(), {
    callback: (error, msg) => {
      if (error !== null) return;
      let asked: unknown;
      try {
        asked = msg.json<{ attempts?: unknown }>().attempts;
      } catch {
        return;
      }
      if (!Array.isArray(asked)) return;
      msg.respond(JSON.stringify({ attempts: asked.filter((key) => holding.has(String(key))) }));
    },
  });

  /** Runs a task taken from the stream (`msg`) or offered directly (no message to acknowledge). */
  const run = async (msg: JsMsg | undefined, task: TaskMessage): Promise<void> => {
    const activity = runs.get(task.activity);
    const controller = new AbortController();
    controllers.set(task.taskId, controller);
    const key = attemptKey(task);
    holding.add(key);
    const heartbeat =
      msg === undefined ? undefined : setInterval(() => msg.working(), TASK_ACK_WAIT_MS / 3);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => {
        controller.abort(
          new Error(`activity '${task.activity}' timed out after ${task.timeoutMs} ms`),
        );
        resolve('timeout');
      }, task.timeoutMs);
    });
    const base = {
      taskId: task.taskId,
      runId: task.runId,
      stepId: task.stepId,
      attempt: task.attempt,
      ...(task.offerId === undefined ? {} : { offerId: task.offerId }),
    };
    let result: TaskResult;
    try {
      if (activity === undefined)
        throw new TerminalError(`no activity '${task.activity}' in this worker`);
      const ctx: ActivityContext = { ...base, signal: controller.signal };
      const outcome = await Promise.race([
        Promise.resolve(activity(task.input, ctx)).then((v) => ({ v })),
        timedOut,
      ]);
      if (outcome === 'timeout') {
        result = {
          ...base,
          ok: false,
          error: {
            message: `timed out after ${task.timeoutMs} ms`,
            code: 'timeout',
            retryable: true,
          },
        };
      } else {
        const output: unknown =
          outcome.v === undefined ? null : JSON.parse(JSON.stringify(outcome.v));
        result = { ...base, ok: true, output: output as Json };
      }
    } catch (error) {
      result = { ...base, ok: false, error: activityError(error) };
    } finally {
      clearTimeout(timer);
      if (heartbeat !== undefined) clearInterval(heartbeat);
      controllers.delete(task.taskId);
    }
    const body = JSON.stringify(result);
    try {
      // Straight to a runtime first, which answers once it has recorded the result; when none does
      // (no runtime listening, busy, or slow), through the results stream. A task its run never
      // sent (a forged or foreign message) is refused for good: said, acknowledged, not sent on.
      const reported = await reports.offer(subjects.report(task.runId), body);
      if (reported.answer === 'not_sent')
        log(`result of ${task.taskId} attempt ${task.attempt} refused: ${reported.message}`);
      else if (reported.answer === 'unanswered')
        await js.publish(subjects.result(task.runId), body, {
          msgID: `${task.taskId}/${task.attempt}/result`,
        });
      msg?.ack();
    } catch (error) {
      const then =
        msg === undefined
          ? 'the runtime dispatches the attempt again once its timeout has passed'
          : 'task will be redelivered';
      log(`result of ${task.taskId} not delivered, ${then}: ${errorMessage(error)}`);
      msg?.nak(1000);
    } finally {
      holding.delete(key);
    }
  };

  /**
   * A task offered directly by a runtime (taskOffers.ts): taken at once when a slot is free (the
   * runtime notes its start from the answer), refused otherwise (it goes to the stream).
   */
  const offered = (msg: Msg): void => {
    let decoded: ReturnType<typeof decodeTaskMessage> | undefined;
    try {
      decoded = decodeTaskMessage(msg.json());
    } catch {
      decoded = undefined;
    }
    if (decoded === undefined || Result.isFailure(decoded) || closing || !slots.tryAcquire()) {
      msg.respond(REFUSED);
      return;
    }
    msg.respond(TAKEN);
    const work = run(undefined, decoded.success).finally(() => slots.release());
    running.add(work);
    void work.finally(() => running.delete(work));
  };
  const offers = names.map((name) =>
    nc.subscribe(subjects.taskOffer(name), {
      queue: OFFER_QUEUE,
      callback: (error, msg) => {
        if (error === null) offered(msg);
      },
    }),
  );

  const take = async (msg: JsMsg): Promise<void> => {
    let payload: unknown;
    try {
      payload = msg.json();
    } catch {
      log(`dropping a task that is not JSON on ${msg.subject}`);
      msg.term('invalid json');
      return;
    }
    const decoded = decodeTaskMessage(payload);
    if (Result.isFailure(decoded)) {
      log(`dropping a malformed task on ${msg.subject}: ${decoded.failure.message}`);
      msg.term('invalid task');
      return;
    }
    await slots.acquire();
    if (closing) {
      // Pulled but not started: handed back for another worker at once.
      slots.release();
      msg.nak();
      return;
    }
    const task = decoded.success;
    const work = (async () => {
      // A task that may be stale, or whose start must be recorded, runs only if a runtime does not
      // say its attempt is over; any other is announced and run at once.
      if (!mustAsk(msg, task, Date.now())) tellStart(task, reports, subjects);
      else if (!(await stillOpen(task, reports, subjects))) {
        log(`skipping ${task.taskId} attempt ${task.attempt}: decided, or its run has ended`);
        msg.ack();
        return;
      }
      await run(msg, task);
    })().finally(() => slots.release());
    running.add(work);
    void work.finally(() => running.delete(work));
  };

  // One durable consumer per activity, created again (with the streams) if JetStream loses it.
  // A start that fails (no permission for the streams, JetStream down) closes what it opened, so
  // the process can end instead of holding its connection open.
  try {
    for (const name of names) {
      const consumer = {
        stream: subjects.tasksStream,
        durable: subjects.activityConsumer(name),
        filterSubject: subjects.activityTasks(name),
        ackWaitMs: TASK_ACK_WAIT_MS,
      };
      consumers.push(await consumeDurable(nc, subjects, consumer, concurrency, take, log));
    }
  } catch (error) {
    closing = true;
    await Promise.allSettled(consumers.map((consumer) => consumer.stop()));
    reports.close();
    await nc.close();
    throw error;
  }

  // Refusals heard from now on are logged (a start that fails says why in its own error, once).
  logPermissionViolations(nc, log);
  // Announced once it can take tasks: at once, every heartbeat, and when a runtime asks.
  const announce = () => {
    if (!nc.isClosed()) nc.publish(subjects.workers('announce'), announcement);
  };
  const discovers = nc.subscribe(subjects.workers('discover'), { callback: announce });
  announce();
  const announcing = setInterval(announce, heartbeatMs);

  return {
    activities: names,
    async close() {
      closing = true;
      clearInterval(announcing);
      discovers.unsubscribe();
      if (!nc.isClosed()) nc.publish(subjects.workers('goodbye'), JSON.stringify({ workerId }));
      // Offers already heard are answered (refused while closing) before the subscriptions end.
      await Promise.allSettled(offers.map((subscription) => subscription.drain()));
      cancels.unsubscribe();
      reports.close();
      await Promise.all(consumers.map((consumer) => consumer.stop()));
      await Promise.allSettled([...running]);
      held.unsubscribe();
      await nc.drain();
    },
  };
};
