import { connect, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OFFER_QUEUE, TaskOffers } from '../../src/actors/taskOffers.ts';
import type { TaskMessage } from '../../src/wire/protocol.ts';
import { Subjects } from '../../src/wire/subjects.ts';
import { startNatsServer, type NatsServerHandle } from '../support/natsServer.ts';
import { waitFor } from '../support/wait.ts';

/**
 * `TaskOffers` on a real nats-server, with a stand-in worker that answers offers as the test says:
 * an early offer (made while its StepScheduled is being appended) that a worker refuses goes to the
 * stream only once the append committed, never when it failed; a result of an early offer whose
 * append failed is recognised by its echoed `offerId` (tainted) and nothing else is.
 */

const subjects = new Subjects('weft');
let nats: NatsServerHandle;
let nc: NatsConnection;
let worker: NatsConnection;

beforeAll(async () => {
  nats = await startNatsServer();
  nc = await connect({ servers: nats.url });
  worker = await connect({ servers: nats.url });
});

afterAll(async () => {
  await nc.close();
  await worker.close();
  await nats.stop();
});

const task = (activity: string, step: string): TaskMessage => ({
  taskId: `run-1:${step}`,
  runId: 'run-1',
  stepId: step,
  attempt: 1,
  activity,
  input: null,
  timeoutMs: 30_000,
});

/** A worker for `activity` that answers each offer `taken`, and records what it was offered. */
const standIn = async (activity: string, taken: boolean) => {
  const offered: TaskMessage[] = [];
  const sub = worker.subscribe(subjects.taskOffer(activity), {
    queue: OFFER_QUEUE,
    callback: (_e, msg: Msg) => {
      offered.push(msg.json<TaskMessage>());
      msg.respond(JSON.stringify({ taken }));
    },
  });
  await worker.flush();
  return { offered, stop: () => sub.unsubscribe() };
};

const offersWith = () => {
  const streamed: TaskMessage[] = [];
  const taken: TaskMessage[] = [];
  const offers = new TaskOffers(nc, subjects, {
    toStream: (t) => streamed.push(t),
    taken: (t) => taken.push(t),
  });
  return { offers, streamed, taken };
};

describe('early offers', () => {
  it('sends an early offer refused while its append is pending to the stream only once it committed, with its offer id', async () => {
    const w = await standIn('busy_one', false);
    const { offers, streamed } = offersWith();
    try {
      const offerId = offers.offerEarly(task('busy_one', 'a'));
      expect(offerId).toBeDefined();
      await waitFor(() => w.offered.length === 1 && offers.pending === 0, {
        message: 'the refusal heard',
      });
      expect(streamed, 'not before the append settled').toEqual([]);
      offers.settle([offerId ?? ''], true);
      expect(streamed.map((t) => [t.stepId, t.offerId])).toEqual([['a', offerId]]);
      expect(w.offered[0]?.offerId).toBe(offerId);
    } finally {
      offers.close();
      w.stop();
    }
  });

  it('never sends one whose append failed, and taints only its result', async () => {
    const w = await standIn('busy_two', false);
    const { offers, streamed } = offersWith();
    try {
      const failed = offers.offerEarly(task('busy_two', 'b'));
      await waitFor(() => w.offered.length === 1 && offers.pending === 0, {
        message: 'the refusal heard',
      });
      offers.settle([failed ?? ''], false);
      expect(streamed).toEqual([]);
      expect(offers.tainted({ offerId: failed ?? '' })).toBe(true);
      expect(offers.tainted({ offerId: 'another' })).toBe(false);
      expect(offers.tainted({})).toBe(false);
    } finally {
      offers.close();
      w.stop();
    }
  });

  it('notes the start of an early offer taken before its append failed not at all, and of one taken while pending once it committed', async () => {
    const w = await standIn('free_one', true);
    const { offers, streamed, taken } = offersWith();
    try {
      const failed = offers.offerEarly(task('free_one', 'c'));
      offers.settle([failed ?? ''], false);
      const committed = offers.offerEarly(task('free_one', 'd'));
      await waitFor(() => w.offered.length === 2 && offers.pending === 0, {
        message: 'both taken',
      });
      // Not before its append is durable: the run would not know the attempt yet.
      expect(taken).toEqual([]);
      offers.settle([committed ?? ''], true);
      expect(taken.map((t) => t.stepId)).toEqual(['d']);
      expect(streamed).toEqual([]);
      expect(offers.tainted({ offerId: failed ?? '' })).toBe(true);
      expect(offers.tainted({ offerId: committed ?? '' })).toBe(false);
    } finally {
      offers.close();
      w.stop();
    }
  });
});
