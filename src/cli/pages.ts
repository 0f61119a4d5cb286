import { isTruncated } from '../wire/fit.ts';
import { ClientError } from './client.ts';

/** How the CLI shows values the gateway truncated, and reads a run's whole history page by page. */

/** JSON of `value`; for the truncation marker, its size, where the whole value is, and its start. */
export const showValue = (value: unknown, whole: string): string =>
  isTruncated(value)
    ? `(truncated, ${value.bytes} bytes; whole: ${whole}) ${value.preview}...`
    : JSON.stringify(value);

export interface HistoryPage<E> {
  readonly events: readonly E[];
  readonly next?: number;
}

/**
 * Every event of a run from revision 0, following `next`. Throws `payload_too_large` naming the
 * event when one arrived truncated (larger than the connection's max_payload on its own): a
 * replay from it would be wrong.
 */
export const readWholeHistory = async <
  E extends { readonly revision: number; readonly data: unknown },
>(
  page: (from: number) => Promise<HistoryPage<E>>,
  runId: string,
): Promise<E[]> => {
  const events: E[] = [];
  let from: number | undefined = 0;
  while (from !== undefined) {
    const got: HistoryPage<E> = await page(from);
    for (const event of got.events) {
      const data = event.data as Record<string, unknown> | null;
      const cut =
        isTruncated(data) ||
        (data !== null && typeof data === 'object' && Object.values(data).some(isTruncated));
      if (cut)
        throw new ClientError(
          'payload_too_large',
          `event ${event.revision} of run ${runId} is larger than the NATS max_payload and arrived truncated; replay it from the store: weft replay --check --store <url>`,
        );
    }
    events.push(...got.events);
    from = got.next;
  }
  return events;
};
