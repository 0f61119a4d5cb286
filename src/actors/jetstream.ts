import { setTimeout as delay } from 'node:timers/promises';
import {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type ConsumerMessages,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Subjects } from '../wire/subjects.ts';

/**
 * JetStream resources of the task channel. Both the runtime and every worker call `ensureStreams`
 * (idempotent), so whichever starts first creates them and a task published before any worker
 * exists waits in the work queue until one consumes it. Both create them again when JetStream has
 * lost them (`consumeDurable`).
 */

/** How long a worker may hold a task without acknowledging (it sends `working()` meanwhile). */
export const TASK_ACK_WAIT_MS = 30_000;

const ns = (ms: number): number => ms * 1_000_000;

/**
 * Replicas of the streams weft creates: 3 on a NATS cluster of at least 3 servers (as the server's
 * INFO lists them), else 1; `WEFT_STREAM_REPLICAS` (1–5) overrides. A stream that exists keeps
 * the replicas it was created with.
 */
export const streamReplicas = (nc: NatsConnection): number => {
  const configured = Number(process.env['WEFT_STREAM_REPLICAS']);
  if (Number.isInteger(configured) && configured >= 1 && configured <= 5) return configured;
  const servers = nc.info?.cluster === undefined ? 1 : (nc.info.connect_urls?.length ?? 1);
  return servers >= 3 ? 3 : 1;
};

export const ensureStreams = async (
  nc: NatsConnection,
  subjects: Subjects,
): Promise<JetStreamManager> => {
  const jsm = await jetstreamManager(nc);
  const replicas = streamReplicas(nc);
  const streams = [
    { name: subjects.tasksStream, subjects: [subjects.tasksAll()] },
    { name: subjects.resultsStream, subjects: [subjects.resultsAll()] },
  ];
  for (const stream of streams) {
    try {
      await jsm.streams.info(stream.name);
    } catch {
      try {
        await jsm.streams.add({
          ...stream,
          retention: RetentionPolicy.Workqueue,
          storage: StorageType.File,
          num_replicas: replicas,
          duplicate_window: ns(120_000),
        });
      } catch (error) {
        // Another process may have created it between info and add.
        await jsm.streams.info(stream.name).catch(() => {
          throw error;
        });
      }
    }
  }
  return jsm;
};

/** A durable pull consumer, shared by every process that serves the same subjects. */
export const ensureConsumer = async (
  jsm: JetStreamManager,
  stream: string,
  durable: string,
  filterSubject: string,
  ackWaitMs: number,
): Promise<void> => {
  try {
    const info = await jsm.consumers.info(stream, durable);
    if (info.config.filter_subject === filterSubject) return;
    // A consumer of an older subject layout (`<p>.tasks.exec.<activity>`): made again with today's
    // filter. Messages live in the stream, not the consumer, so none is lost by this.
    await jsm.consumers.delete(stream, durable).catch(() => undefined);
    throw new Error('filter changed');
  } catch {
    try {
      await jsm.consumers.add(stream, {
        durable_name: durable,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        filter_subject: filterSubject,
        ack_wait: ns(ackWaitMs),
        max_deliver: -1,
        max_ack_pending: 10_000,
      });
    } catch (error) {
      await jsm.consumers.info(stream, durable).catch(() => {
        throw error;
      });
    }
  }
};

export interface DurableConsumer {
  readonly stream: string;
  readonly durable: string;
  readonly filterSubject: string;
  readonly ackWaitMs: number;
}

export interface Consuming {
  /** Stops pulling; resolves once the messages already pulled have been handed to `handle`. */
  stop(): Promise<void>;
}

/** Consumer notifications that mean JetStream no longer has the stream or the consumer. */
const MISSING = new Set(['stream_not_found', 'consumer_not_found', 'consumer_deleted']);
const RECREATE_RETRY_MS = 1_000;
/**
 * How long one pull request waits on the server (nats.js's default: 30 s). The server's idle
 * heartbeats come every half of it and nats.js pulls again after two missed ones, so this bounds
 * how long a consumer stalls when its pull was lost with a NATS node (README "A NATS
 * cluster"); the cost is one pull request per idle consumer per period.
 */
const PULL_EXPIRES_MS = 5_000;

/**
 * Feeds the messages of a durable pull consumer to `handle`, one at a time (the next message is
 * taken once `handle` resolves), pulling at most `maxMessages` ahead. Creates the streams and the
 * consumer first (idempotent).
 *
 * Survives a JetStream that lost its state (a server restarted without its store, a stream or
 * consumer deleted): nats.js only keeps asking for the missing consumer, every 15–45 s, so when it
 * reports the stream or the consumer missing this consume is stopped, the streams and the consumer
 * are created again (retried every second while that fails) and a new consume starts. Messages
 * that were in the lost streams are gone; the runtime's reconciler re-dispatches their tasks.
 */
export const consumeDurable = async (
  nc: NatsConnection,
  subjects: Subjects,
  consumer: DurableConsumer,
  maxMessages: number,
  handle: (msg: JsMsg) => Promise<void> | void,
  log: (message: string) => void,
): Promise<Consuming> => {
  const js = jetstream(nc);
  const loops = new Set<Promise<void>>();
  let current: ConsumerMessages | undefined;
  let stopped = false;

  const start = async (): Promise<void> => {
    const jsm = await ensureStreams(nc, subjects);
    const { stream, durable, filterSubject, ackWaitMs } = consumer;
    await ensureConsumer(jsm, stream, durable, filterSubject, ackWaitMs);
    const pull = await js.consumers.get(stream, durable);
    const messages = await pull.consume({ max_messages: maxMessages, expires: PULL_EXPIRES_MS });
    if (stopped) {
      messages.stop();
      return;
    }
    current = messages;
    const loop = (async () => {
      try {
        for await (const msg of messages) await handle(msg);
      } catch (error) {
        log(`${consumer.durable} on ${consumer.stream} stopped: ${String(error)}`);
      }
    })();
    loops.add(loop);
    void loop.finally(() => loops.delete(loop));
    void watch(messages);
  };

  const watch = async (messages: ConsumerMessages): Promise<void> => {
    for await (const notification of messages.status()) {
      if (!MISSING.has(notification.type)) continue;
      log(`${consumer.durable} on ${consumer.stream}: ${notification.type}, creating it again`);
      messages.stop();
      while (!stopped && !nc.isClosed()) {
        try {
          await start();
          return;
        } catch (error) {
          log(`${consumer.durable} on ${consumer.stream} not created again yet: ${String(error)}`);
          await delay(RECREATE_RETRY_MS);
        }
      }
      return;
    }
  };

  await start();
  return {
    async stop() {
      stopped = true;
      current?.stop();
      await Promise.all([...loops]);
    },
  };
};

/** How long a starting runtime waits for JetStream to answer (a NATS cluster electing leaders). */
const JETSTREAM_STARTUP_MS = 30_000;

/**
 * Runs a JetStream setup step again while JetStream does not answer: on a NATS cluster that has
 * just started, or a stream or bucket just created with three replicas, the API has no responder
 * until a leader is elected (nats.js reports "jetstream is not enabled"). Other errors, and the
 * last one after `JETSTREAM_STARTUP_MS`, are thrown.
 */
export const untilJetStreamAnswers = async <A>(
  step: () => Promise<A>,
  log: (message: string) => void,
): Promise<A> => {
  const deadline = performance.now() + JETSTREAM_STARTUP_MS;
  for (let delay = 100; ; delay = Math.min(delay * 2, 2000)) {
    try {
      return await step();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const transient = /jetstream is not enabled|no responders|timeout|leader/i.test(message);
      if (!transient || performance.now() + delay > deadline) throw error;
      log(`JetStream not ready (${message}); trying again`);
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
};
