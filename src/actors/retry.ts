import { WeftError } from '../wire/errors.ts';

/**
 * Retries a call between runs while it fails `unavailable` (the other run's owner is being taken
 * over, or did not answer in time), with a doubling pause, until it succeeds, fails otherwise, or
 * `gaveUp()` says this runtime no longer wants it (closing, or no longer owning the caller's run,
 * whose next owner recovers the call). Resolves with the call's value or rejects with its last error.
 */
export const retryUnavailable = async <A>(
  call: () => Promise<A>,
  options: {
    readonly gaveUp: () => boolean;
    readonly firstDelayMs?: number;
    readonly maxDelayMs?: number;
  },
): Promise<A> => {
  let delay = options.firstDelayMs ?? 250;
  for (;;) {
    try {
      return await call();
    } catch (error) {
      if (!(error instanceof WeftError) || error.code !== 'unavailable' || options.gaveUp())
        throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, options.maxDelayMs ?? 5000);
  }
};
