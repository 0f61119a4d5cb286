import * as Effect from 'effect/Effect';
import { afterEach, expect, it, vi } from 'vitest';
import type { EventStoreShape } from '../../../src/store/EventStore.ts';
import { makeMemoryStore } from '../../../src/store/memory.ts';
import { testRuntime } from './runtimes.ts';

/**
 * `close` ends the read-model follower also when it lands while a catch-up pass is in flight
 * (reading a remote store such as PostgreSQL): no timer is armed after it, so `weft serve` exits
 * on SIGTERM instead of polling its closed store for ever.
 */

afterEach(() => {
  vi.useRealTimers();
});

it('arms no new follower timer after close, when close lands during a catch-up pass', async () => {
  vi.useFakeTimers();
  const inner = makeMemoryStore();
  let reads = 0;
  let release: () => void = () => undefined;
  const store: EventStoreShape = {
    ...inner,
    readAll: (options) => {
      reads += 1;
      // The pass waits on the (slow) store until the test lets it through.
      return Effect.andThen(
        Effect.promise(() => new Promise<void>((resolve) => (release = resolve))),
        inner.readAll(options),
      );
    },
  };
  const { supervisor } = testRuntime(store);
  supervisor.follow(100);
  expect(vi.getTimerCount()).toBe(1);
  await vi.advanceTimersByTimeAsync(100);
  expect(reads, 'a catch-up pass in flight').toBe(1);

  supervisor.close();
  release();
  await vi.advanceTimersByTimeAsync(1_000);
  expect(reads, 'no pass after close').toBe(1);
  expect(vi.getTimerCount(), 'no timer left to keep the process up').toBe(0);
});
