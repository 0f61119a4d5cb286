import * as Effect from 'effect/Effect';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BlueprintRegistry } from '../../../src/actors/blueprintRegistry.ts';
import { RunSupervisor } from '../../../src/actors/supervisor.ts';
import { WeftError } from '../../../src/wire/errors.ts';
import type { EventStoreShape } from '../../../src/store/EventStore.ts';
import { StoreRefused } from '../../../src/store/errors.ts';
import { makeMemoryStore } from '../../../src/store/memory.ts';
import {
  completed,
  newStoreLog,
  observed,
  streamOf,
  testRuntime,
  type StoreLog,
  type TestRuntime,
} from './runtimes.ts';

/**
 * README "Event stores", size limits: the supervisor keeps every append within the store's
 * `limits` (here a memory store limited as a small KurrentDB server would be).
 */

const LIMIT = 300_000;
/** A JSON string value of about `bytes` bytes. */
const blob = (bytes: number): string => 'x'.repeat(bytes);

describe(`the supervisor on a store that takes at most ${LIMIT} bytes per append`, () => {
  let store: EventStoreShape;
  let log: StoreLog;
  let runtime: TestRuntime;

  beforeEach(() => {
    store = makeMemoryStore({ limits: { maxEventBytes: LIMIT, maxAppendBytes: LIMIT } });
    log = newStoreLog();
    runtime = testRuntime(observed(store, log));
  });

  afterEach(async () => {
    runtime.supervisor.close();
    await Effect.runPromise(store.close());
  });

  const status = (runId: string) => runtime.supervisor.query(runId, 'get_status', null);

  it('refuses a start whose RunStarted is over the limit with payload_too_large naming both sizes, and stores no run', async () => {
    const blueprint = {
      name: 'big_start',
      steps: [{ id: 'a', type: 'activity', activity: 'work' }],
    };
    const error = await runtime.supervisor
      .start({ blueprint, runId: 'big', input: { data: blob(LIMIT) } })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(WeftError);
    expect(error).toMatchObject({ code: 'payload_too_large' });
    const message = (error as WeftError).message;
    expect(message).toContain(String(LIMIT));
    expect(message).toMatch(/RunStarted event is \d{6} bytes/);
    expect(await streamOf(store, 'big')).toEqual([]);
    expect(await Effect.runPromise(store.readAll({ streamPrefix: 'run-' }))).toEqual([]);
    expect(runtime.dispatched).toEqual([]);
    // The same run within the limit starts.
    await runtime.supervisor.start({ blueprint, runId: 'big', input: { data: blob(1_000) } });
    expect((await streamOf(store, 'big'))[0]?.type).toBe('RunStarted');
  });

  it('records a burst of map results that together pass the limit in several appends, in order, and the map completes', async () => {
    const items = 6;
    await runtime.supervisor.start({
      blueprint: {
        name: 'big_map',
        steps: [
          {
            id: 'm',
            type: 'map',
            over: '{% $input.items %}',
            step: { type: 'activity', activity: 'work', input: '{% $item %}' },
          },
        ],
        output: '{% $count($steps.m) %}',
      },
      runId: 'map',
      input: { items: Array.from({ length: items }, (_, i) => i) },
    });
    expect(runtime.dispatched).toHaveLength(items);
    // Delivered in one tick: recorded together as far as the store's limit allows.
    await Promise.all(
      runtime.dispatched.map((task) =>
        runtime.supervisor.onResult(completed(task, { item: task.taskId, data: blob(100_000) })),
      ),
    );
    expect(await status('map')).toMatchObject({ status: 'completed' });
    const stream = await streamOf(store, 'map');
    expect(stream.at(-1)).toMatchObject({ type: 'RunCompleted', data: { output: items } });
    const done = stream.filter(
      (e) => e.type === 'StepCompleted' && (e.data as { item?: number }).item !== undefined,
    );
    expect(done.map((e) => (e.data as { taskId: string }).taskId)).toEqual(
      runtime.dispatched.map((t) => t.taskId),
    );
    // More than one append, none over the limit (the store would have refused it).
    const appends = new Set(done.map((e) => e.position));
    expect(appends.size).toBeGreaterThan(1);
  });

  it('records a result too large for the store as its attempt failing with payload_too_large, not retried', async () => {
    await runtime.supervisor.start({
      blueprint: {
        name: 'big_result',
        steps: [{ id: 'a', type: 'activity', activity: 'work', maxAttempts: 3 }],
      },
      runId: 'res',
    });
    const [task] = runtime.dispatched;
    if (task === undefined) throw new Error('no task dispatched');
    await runtime.supervisor.onResult(completed(task, { data: blob(LIMIT + 10) }));
    const failed = (await streamOf(store, 'res')).find((e) => e.type === 'StepFailed');
    expect(failed?.data).toMatchObject({
      stepId: 'a',
      taskId: task.taskId,
      attempt: 1,
      error: { code: 'payload_too_large', retryable: false },
    });
    expect(JSON.stringify(failed?.data)).toContain(String(LIMIT));
    expect(await status('res')).toMatchObject({ status: 'failed' });
    expect(runtime.dispatched).toHaveLength(1);
  });
});

describe('the supervisor on a store that refuses appends for good (access denied)', () => {
  it('answers internal naming the reason, logs one line, and does not retry', async () => {
    const store = makeMemoryStore();
    let attempts = 0;
    const refusing: EventStoreShape = {
      ...store,
      append: (stream, events, expected) =>
        stream.startsWith('run-')
          ? Effect.suspend(() => {
              attempts += 1;
              return Effect.fail(
                new StoreRefused({
                  reason: 'access_denied',
                  message: 'postgres db:5432/weft append: permission denied for table events',
                }),
              );
            })
          : store.append(stream, events, expected),
    };
    const logged: string[] = [];
    const supervisor = new RunSupervisor({
      store: refusing,
      registry: new BlueprintRegistry(refusing),
      newRunId: () => 'refused',
      log: (line) => logged.push(line),
      effects: {
        dispatch: () => undefined,
        holds: () => Promise.resolve('absent'),
        heldByWorker: () => Promise.resolve(false),
        purgeRun: () => undefined,
        abortTask: () => undefined,
        publishEvent: () => undefined,
      },
    });
    try {
      const error = await supervisor
        .start({ blueprint: { name: 'denied', steps: [{ id: 'a', type: 'wait', signal: 'go' }] } })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(error).toBeInstanceOf(WeftError);
      expect(error).toMatchObject({ code: 'internal', details: { reason: 'access_denied' } });
      expect((error as WeftError).message).toContain('permission denied for table events');
      expect(attempts).toBe(1);
      expect(logged.filter((l) => l.includes('access_denied'))).toHaveLength(1);
      expect(logged.every((l) => !l.includes('\n'))).toBe(true);
    } finally {
      supervisor.close();
      await Effect.runPromise(store.close());
    }
  });
});
