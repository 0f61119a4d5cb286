// Captured when this module loads (before any test can call vi.useFakeTimers, which in Vitest 5
// fakes hrtime too), so waiting keeps running on the real clock in tests that fake timers.
const realSetTimeout = globalThis.setTimeout;
const realClearTimeout = globalThis.clearTimeout;
const realHrtime = process.hrtime.bigint.bind(process.hrtime);

export interface WaitForOptions {
  /** Overall deadline, counted from the first call. Default 10 000 ms. */
  readonly timeoutMs?: number;
  /** Pause between attempts. Default 20 ms. */
  readonly intervalMs?: number;
  /** What was being waited for; the first line of the timeout error. */
  readonly message?: string;
}

type Outcome<T> =
  | { readonly kind: 'value'; readonly value: T | undefined }
  | { readonly kind: 'error'; readonly error: unknown }
  | { readonly kind: 'hung' };

/**
 * Resolves after `ms` of real time, also under fake timers. An abort clears the timer and
 * resolves at once (it never rejects).
 */
export const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal?.aborted === true) {
      resolve();
      return;
    }
    const timer = realSetTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      realClearTimeout(timer);
      resolve();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/** Monotonic milliseconds on the real clock, also under fake timers. */
export const monotonicMs = (): number => Number(realHrtime()) / 1e6;

const elapsedMs = (startNs: bigint): number => Number(realHrtime() - startNs) / 1e6;

/** One call of `fn`, given up (not cancelled) when it has not settled within `limitMs`. */
async function attemptWithin<T>(fn: () => T | Promise<T>, limitMs: number): Promise<Outcome<T>> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const attempt = (async () => fn())().then(
    (value): Outcome<T> => ({ kind: 'value', value }),
    (error: unknown): Outcome<T> => ({ kind: 'error', error }),
  );
  const hung = new Promise<Outcome<T>>((resolve) => {
    timer = realSetTimeout(() => {
      resolve({ kind: 'hung' });
    }, limitMs);
  });
  try {
    return await Promise.race([attempt, hung]);
  } finally {
    realClearTimeout(timer);
  }
}

/**
 * Calls `fn` until it returns (or resolves to) a truthy value, and returns that value.
 * A falsy result or a thrown error means "not yet": `fn` is called again after `intervalMs`.
 * At the deadline it throws an Error that names `message` and the last result or error (the
 * error is also its `cause`). An attempt that never settles is abandoned at the deadline.
 *
 * Assertion-style callbacks (`() => { expect(x).toBe(1) }`) return undefined, which is falsy:
 * end them with `return true`.
 *
 * Runs on the real clock (hrtime and the timer functions captured at import), so it keeps
 * working under vi.useFakeTimers().
 */
export async function waitFor<T>(
  fn: () => T | Promise<T>,
  { timeoutMs = 10_000, intervalMs = 20, message = 'condition' }: WaitForOptions = {},
): Promise<T> {
  const start = realHrtime();
  let attempts = 0;
  let last: Outcome<T> = { kind: 'value', value: undefined };
  for (;;) {
    attempts += 1;
    const outcome = await attemptWithin(fn, Math.max(timeoutMs - elapsedMs(start), 0));
    if (outcome.kind === 'value' && outcome.value) return outcome.value;
    last = outcome;
    const remaining = timeoutMs - elapsedMs(start);
    if (remaining <= 0) break;
    await sleep(Math.min(intervalMs, remaining));
  }
  const detail =
    last.kind === 'error'
      ? `last error: ${last.error instanceof Error ? last.error.message : String(last.error)}`
      : last.kind === 'value'
        ? `last result: ${describe(last.value)}`
        : 'the last attempt did not settle';
  throw new Error(
    `waitFor timed out after ${timeoutMs} ms (${attempts} attempts): ${message}; ${detail}`,
    last.kind === 'error' ? { cause: last.error } : undefined,
  );
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  try {
    // undefined for undefined, functions and symbols, whatever the lib typing says
    const json = JSON.stringify(value) as string | undefined;
    return json ?? String(value);
  } catch {
    return String(value);
  }
}
