import { headers } from '@nats-io/transport-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Subjects } from '../../src/wire/subjects.ts';
import { waitFor } from '../support/wait.ts';
import { startStack, type HistoryEvent, type Stack, type Summary } from '../support/weft.ts';

/**
 * README "Guarantees", signals once: a signal redelivered with the same `Nats-Msg-Id` header, or
 * the same `signalId` field when it has no header, is recorded once for the run's whole life,
 * across a restart of the runtime too; a signal with another id is recorded again.
 */

const subjects = new Subjects('weft');
const RUN = 'signals-once';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
});

afterAll(() => stack.stop());

/** Sends a `note` signal as a request, with the id in the `Nats-Msg-Id` header when given. */
const note = async (payload: Record<string, unknown>, msgId?: string) => {
  const h = headers();
  if (msgId !== undefined) h.set('Nats-Msg-Id', msgId);
  const reply = await stack.client.nc.request(
    subjects.signal(RUN, 'note'),
    JSON.stringify(payload),
    { timeout: 10_000, ...(msgId === undefined ? {} : { headers: h }) },
  );
  expect(reply.json()).toEqual({ ok: true, data: { accepted: true } });
};

const notesRecorded = async () =>
  (
    await stack.client.call<{ events: HistoryEvent[] }>(`weft.runs.${RUN}.history`, {
      limit: 10_000,
    })
  ).events
    .filter((e) => e.type === 'SignalReceived' && e.data.name === 'note')
    .map((e) => e.data.signalId);

it('records a signal once by its Nats-Msg-Id or signalId field, across a runtime restart, and again under another id', async () => {
  await stack.client.call('weft.runs.start', {
    runId: RUN,
    blueprint: {
      name: 'signals_once',
      signals: [{ name: 'note', handler: 'append' }],
      steps: [{ id: 'gate', type: 'wait', signal: 'done' }],
      output: '{% $data.note %}',
    },
  });

  await note({ n: 1 }, 'header-1');
  await note({ n: 1 }, 'header-1');
  await note({ signalId: 'field-1', n: 2 });
  await note({ signalId: 'field-1', n: 2 });
  expect(await notesRecorded()).toEqual(['header-1', 'field-1']);

  await stack.restartRuntime();
  await note({ n: 1 }, 'header-1');
  await note({ signalId: 'field-1', n: 2 });
  expect(await notesRecorded(), 'after the restart').toEqual(['header-1', 'field-1']);

  await note({ n: 3 }, 'header-2');
  await note({ signalId: 'field-2', n: 4 });
  expect(await notesRecorded()).toEqual(['header-1', 'field-1', 'header-2', 'field-2']);

  await stack.client.call(subjects.signal(RUN, 'done'), {});
  const summary = await waitFor(
    async () => {
      const s = await stack.client.call<Summary>(subjects.run(RUN, 'get'));
      return s.status === 'running' ? undefined : s;
    },
    { timeoutMs: 20_000, message: `run ${RUN} ended` },
  );
  expect(summary?.status).toBe('completed');
  expect(summary?.output).toEqual([
    { n: 1 },
    { signalId: 'field-1', n: 2 },
    { n: 3 },
    { signalId: 'field-2', n: 4 },
  ]);
});
