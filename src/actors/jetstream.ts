import {
  AckPolicy,
  DeliverPolicy,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type JetStreamManager,
} from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Subjects } from '../gateway/subjects.ts';

/**
 * JetStream resources of the task channel. Both the runtime and every worker call `ensureStreams`
 * (idempotent), so whichever starts first creates them and a task published before any worker
 * exists waits in the work queue until one consumes it.
 */

/** How long a worker may hold a task without acknowledging (it sends `working()` meanwhile). */
export const TASK_ACK_WAIT_MS = 30_000;

const ns = (ms: number): number => ms * 1_000_000;

export const ensureStreams = async (
  nc: NatsConnection,
  subjects: Subjects,
): Promise<JetStreamManager> => {
  const jsm = await jetstreamManager(nc);
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
    await jsm.consumers.info(stream, durable);
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
