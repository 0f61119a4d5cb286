import * as Effect from 'effect/Effect';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Json } from '../../src/blueprints/json.ts';
import { parseDuration } from '../../src/blueprints/duration.ts';
import { toRunEvent, type RunEvent } from '../../src/machines/events.ts';
import { extensionsOf, handlersOf, type Handlers } from '../../src/machines/handlers.ts';
import { compiledFor } from '../../src/machines/replay.ts';
import { react, replay, statusOf } from '../../src/machines/run.ts';
import { eventId } from '../../src/store/eventId.ts';
import { runStream } from '../../src/store/streams.ts';
import { deleteStream, storedTypes, testStoreKind, withStore } from '../support/stores.ts';
import { waitFor } from '../support/wait.ts';
import { runEnded, startStack, type HistoryEvent, type Stack } from '../support/weft.ts';

/**
 * README "Guarantees", "Restarts lose nothing": on start the runtime reconciles child runs — a child
 * that ended while nobody listened is delivered to its parent; one never started is started.
 *
 * Each test leaves the store as a runtime that crashed at that point would have left it, with the
 * runtime down, and then starts a runtime on it. Children wait for a signal, so nothing ends
 * unless the test makes it.
 */

let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
});

afterAll(() => stack.stop());

// A test that failed half way may have left the runtime down; the next one starts with one up.
beforeEach(async () => {
  if (stack.runtime.child.exitCode === null && stack.runtime.child.signalCode === null) return;
  await stack.startRuntime();
});

const history = async (runId: string): Promise<HistoryEvent[]> =>
  (await stack.client.call<{ events: HistoryEvent[] }>(`weft.runs.${runId}.history`, {})).events;

/** Puts a child blueprint that waits for signal `go` (its output: the signal's payload) and a parent running it as step `sub`. */
const putFamily = async (name: string): Promise<string> => {
  const child = `${name}_child`;
  await stack.client.call('weft.blueprints.put', {
    blueprint: { name: child, steps: [{ id: 'go', type: 'wait', signal: 'go' }] },
  });
  await stack.client.call('weft.blueprints.put', {
    blueprint: { name, steps: [{ id: 'sub', type: 'child', blueprint: child }] },
  });
  return name;
};

/** Starts the parent and waits until its child is running and waiting; returns both ids. */
const startFamily = async (parent: string) => {
  const { runId } = await stack.client.call<{ runId: string }>('weft.runs.start', {
    blueprint: parent,
  });
  const requested = await waitFor(
    async () => (await history(runId)).find((e) => e.type === 'ChildRequested'),
    { message: `ChildRequested in ${runId}` },
  );
  const childRunId = String(requested?.data['childRunId']);
  await waitFor(
    async () =>
      (await history(childRunId)).some(
        (e) => e.type === 'StepEntered' && e.data['stepId'] === 'go',
      ),
    { message: `child ${childRunId} waiting for its signal` },
  );
  return { runId, childRunId };
};

/**
 * Records `fact` in a run's stream as the runtime does (read, replay, react, append expecting the
 * revision read, deterministic event ids) through the store's adapter, and nothing else:
 * what a runtime that crashed right after this append would have left. Returns the events appended.
 */
const appendAsRuntime = async (
  runId: string,
  makeFact: (handlers: Handlers) => RunEvent,
): Promise<RunEvent[]> =>
  withStore(stack.store, async (store) => {
    const stream = runStream(runId);
    const recorded = await Effect.runPromise(store.read(stream));
    const { compiled, name, version } = compiledFor(recorded);
    const events = recorded.map(toRunEvent);
    const snapshot = replay(compiled, events);
    expect(statusOf(snapshot)).toBe('running');
    const started = events[0];
    const extensions = started?.type === 'RunStarted' ? started.extensions : undefined;
    const fact = makeFact(handlersOf(compiled, extensionsOf(extensions)));
    const reaction = await react(
      compiled,
      snapshot,
      { id: runId, blueprint: name, version },
      fact,
      {
        now: Date.now(),
        parseDuration,
      },
    );
    const first = recorded.length;
    const newEvents = reaction.events.map((event, i) => {
      const { type, ...rest } = event;
      const data = rest as unknown as Json;
      return { id: eventId(stream, first + i, type, data), type, data };
    });
    await Effect.runPromise(store.append(stream, newEvents, first - 1));
    return [...reaction.events];
  });

const waitForEnd = (runId: string) => runEnded(stack.client, runId);

/** The event types stored in a run's stream, read with the runtime down. */
const stored = (runId: string) => storedTypes(stack.store, runId);

describe(`child runs are reconciled when the runtime starts (${testStoreKind()})`, () => {
  it('delivers a child that completed while no runtime was up to its parent, which completes with its output', async () => {
    const { runId, childRunId } = await startFamily(await putFamily('rc_done'));
    await stack.stopRuntime();

    const appended = await appendAsRuntime(childRunId, (handlers) => ({
      type: 'SignalReceived',
      name: 'go',
      payload: { approvedBy: 'offline' },
      handler: handlers.signals.get('go') ?? 'store',
    }));
    expect(appended[0]?.type).toBe('SignalReceived');
    expect(appended.at(-1), 'the child ended').toEqual({
      type: 'RunCompleted',
      output: { approvedBy: 'offline' },
    });
    expect(await stored(runId), 'the parent never heard of it').toEqual([
      'RunStarted',
      'StepEntered',
      'ChildRequested',
    ]);

    await stack.startRuntime();
    const summary = await waitForEnd(runId);
    expect(summary).toMatchObject({ status: 'completed', output: { approvedBy: 'offline' } });
    const delivered = (await history(runId)).filter((e) => e.type === 'ChildCompleted');
    expect(delivered.map((e) => e.data)).toEqual([
      // `time`: when the parent decided on it (README "Event store").
      {
        stepId: 'sub',
        childRunId,
        output: { approvedBy: 'offline' },
        time: expect.any(Number) as unknown,
      },
    ]);
  });

  it('delivers a child that was cancelled while no runtime was up to its parent as ChildFailed, and the parent fails', async () => {
    const { runId, childRunId } = await startFamily(await putFamily('rc_cancelled'));
    await stack.stopRuntime();

    const appended = await appendAsRuntime(childRunId, () => ({
      type: 'RunCancelled',
      reason: 'cancelled offline',
    }));
    expect(appended.map((e) => e.type)).toEqual(['RunCancelled']);
    expect(await stored(runId)).toEqual(['RunStarted', 'StepEntered', 'ChildRequested']);

    await stack.startRuntime();
    const summary = await waitForEnd(runId);
    expect(summary).toMatchObject({ status: 'failed', error: { stepId: 'sub' } });
    const delivered = (await history(runId)).filter((e) => e.type === 'ChildFailed');
    expect(delivered).toHaveLength(1);
    expect(delivered[0]?.data).toMatchObject({
      stepId: 'sub',
      childRunId,
      error: { code: 'child_cancelled', retryable: false },
    });
  });

  it('starts a child the parent requested but whose start was lost, and the parent completes with its output', async () => {
    const { runId, childRunId } = await startFamily(await putFamily('rc_unstarted'));
    await stack.stopRuntime();

    // The parent's ChildRequested and the child's RunStarted are two appends, the child's second:
    // a crash between them leaves the parent's stream as it is and no child stream.
    await deleteStream(stack.store, childRunId);
    expect(await stored(childRunId)).toEqual([]);
    expect(await stored(runId)).toEqual(['RunStarted', 'StepEntered', 'ChildRequested']);

    await stack.startRuntime();
    const started = await waitFor(async () => (await history(childRunId).catch(() => []))[0], {
      message: `child ${childRunId} started again`,
    });
    expect(started).toMatchObject({
      type: 'RunStarted',
      data: { runId: childRunId, parent: { runId, stepId: 'sub' } },
    });
    await waitFor(
      async () =>
        (await history(childRunId)).some(
          (e) => e.type === 'StepEntered' && e.data['stepId'] === 'go',
        ),
      { message: `child ${childRunId} waiting for its signal` },
    );

    await stack.client.call(`weft.runs.${childRunId}.signal.go`, { restartedChild: true });
    const summary = await waitForEnd(runId);
    expect(summary).toMatchObject({ status: 'completed', output: { restartedChild: true } });
    expect((await history(runId)).filter((e) => e.type === 'ChildCompleted')).toHaveLength(1);
  });

  it("starts a map item's child whose start was lost, and the parent completes with its output", async () => {
    const child = 'rc_item_child';
    await stack.client.call('weft.blueprints.put', {
      blueprint: { name: child, steps: [{ id: 'go', type: 'wait', signal: 'go' }] },
    });
    const parent = {
      name: 'rc_item_parent',
      steps: [
        {
          id: 'sub',
          type: 'map',
          over: '{% $input.items %}',
          step: { type: 'child', blueprint: child, input: '{% $item %}' },
        },
      ],
    };
    await stack.client.call('weft.blueprints.put', { blueprint: parent });
    const { runId } = await stack.client.call<{ runId: string }>('weft.runs.start', {
      blueprint: parent.name,
      input: { items: ['only'] },
    });
    const requested = await waitFor(
      async () => (await history(runId)).find((e) => e.type === 'ChildRequested'),
      { message: `ChildRequested in ${runId}` },
    );
    expect(requested?.data).toMatchObject({ stepId: 'sub', item: 0, input: 'only' });
    const childRunId = String(requested?.data['childRunId']);
    await waitFor(async () => (await history(childRunId).catch(() => [])).length > 0, {
      message: `child ${childRunId} started`,
    });
    await stack.stopRuntime();

    await deleteStream(stack.store, childRunId);
    expect(await stored(childRunId)).toEqual([]);
    expect((await stored(runId)).at(-1)).toBe('ChildRequested');

    await stack.startRuntime();
    const started = await waitFor(async () => (await history(childRunId).catch(() => []))[0], {
      message: `child ${childRunId} started again`,
    });
    expect(started).toMatchObject({
      type: 'RunStarted',
      data: { runId: childRunId, input: 'only', parent: { runId, stepId: 'sub', item: 0 } },
    });
    await waitFor(
      async () =>
        (await history(childRunId)).some(
          (e) => e.type === 'StepEntered' && e.data['stepId'] === 'go',
        ),
      { message: `child ${childRunId} waiting for its signal` },
    );
    await stack.client.call(`weft.runs.${childRunId}.signal.go`, { item: 'done' });
    const summary = await waitForEnd(runId);
    expect(summary).toMatchObject({ status: 'completed', output: [{ item: 'done' }] });
  });
});
