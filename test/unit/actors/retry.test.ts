import { describe, expect, it } from 'vitest';
import { retryUnavailable } from '../../../src/actors/retry.ts';
import { weftError } from '../../../src/wire/errors.ts';

/** Calls between runs are retried while the other run's owner is unreachable, and only then. */
describe('retryUnavailable', () => {
  const failing = (codes: readonly ('unavailable' | 'run_not_found')[]) => {
    let calls = 0;
    return {
      call: () => {
        const code = codes[calls++];
        return code === undefined
          ? Promise.resolve(calls)
          : Promise.reject(weftError(code, `attempt ${String(calls)}`));
      },
      calls: () => calls,
    };
  };

  it('retries while the call fails unavailable, then returns its value', async () => {
    const f = failing(['unavailable', 'unavailable']);
    await expect(retryUnavailable(f.call, { gaveUp: () => false, firstDelayMs: 1 })).resolves.toBe(
      3,
    );
    expect(f.calls()).toBe(3);
  });

  it('does not retry any other error', async () => {
    const f = failing(['run_not_found']);
    await expect(
      retryUnavailable(f.call, { gaveUp: () => false, firstDelayMs: 1 }),
    ).rejects.toMatchObject({ code: 'run_not_found' });
    expect(f.calls()).toBe(1);
  });

  it('stops retrying once this runtime gave the call up (closing, or no longer the owner)', async () => {
    const f = failing(['unavailable', 'unavailable', 'unavailable']);
    let tries = 0;
    await expect(
      retryUnavailable(f.call, { gaveUp: () => ++tries >= 2, firstDelayMs: 1 }),
    ).rejects.toMatchObject({ code: 'unavailable' });
    expect(f.calls()).toBe(2);
  });
});
