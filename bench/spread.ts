import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { sleep } from '../test/support/wait.ts';

/**
 * With several runtimes, the bench measures only once the partitions are spread over all of them
 * (src/actors/leases.ts: leases `partition.<n>` = `{"owner": "<runtimeId>"}` in the JetStream KV
 * bucket `<PREFIX>_PARTITIONS`; each runtime takes its fair share `ceil(partitions / alive)` and
 * hands over the rest when one joins). Otherwise the first figures would be taken while one
 * runtime still owned every run. Read-only: it never writes to the bucket.
 */

/** The bucket of the runtimes' partition leases, for the default prefix `weft`. */
const BUCKET = 'WEFT_PARTITIONS';
const SETTLE_TIMEOUT_MS = 30_000;
const POLL_MS = 250;

/** Partitions owned by each runtime id, from the lease bucket; undefined when there is no bucket. */
const owners = async (nc: NatsConnection): Promise<Map<string, number> | undefined> => {
  const kv = await new Kvm(nc).open(BUCKET);
  try {
    await kv.status();
  } catch {
    return undefined;
  }
  const counts = new Map<string, number>();
  for await (const key of await kv.keys('partition.>')) {
    const entry = await kv.get(key);
    if (entry?.operation !== 'PUT') continue;
    const { owner } = entry.json<{ owner?: unknown }>();
    if (typeof owner === 'string') counts.set(owner, (counts.get(owner) ?? 0) + 1);
  }
  return counts;
};

const show = (counts: ReadonlyMap<string, number>): string =>
  [...counts].map(([id, n]) => `${id} ${n}`).join(', ') || 'none';

/**
 * Resolves once every one of `ids` owns partitions, none owns more than its fair share of the
 * partitions held, and two polls in a row saw the same split; or at once, with a log line, when
 * the runtimes keep no lease bucket (a runtime that predates partitioning). After 30 s it logs
 * the split it saw and resolves anyway (the figures then say more about the handover than the
 * cluster). Never rejects on a poll error: it logs it and polls again.
 */
export const awaitSpread = async (nc: NatsConnection, ids: readonly string[], log: (message: string) => void): Promise<void> => {
  const deadline = performance.now() + SETTLE_TIMEOUT_MS;
  let previous = '';
  let last = new Map<string, number>();
  while (performance.now() < deadline) {
    let counts: Map<string, number> | undefined;
    try {
      counts = await owners(nc);
    } catch (error) {
      log(`partitions: reading ${BUCKET} failed (${String(error)}); polling again`);
      await sleep(POLL_MS);
      continue;
    }
    if (counts === undefined) {
      log(`partitions: no ${BUCKET} bucket, so the runtimes do not partition the runs; the queue group alone spreads the requests`);
      return;
    }
    last = counts;
    const held = [...counts.values()].reduce((a, b) => a + b, 0);
    const fair = Math.ceil(held / ids.length);
    const spread = ids.every((id) => (counts.get(id) ?? 0) > 0) && [...counts.values()].every((n) => n <= fair);
    const now = show(counts);
    if (spread && now === previous) {
      log(`partitions spread: ${now}`);
      return;
    }
    previous = spread ? now : '';
    await sleep(POLL_MS);
  }
  log(`partitions: not spread over ${ids.join(', ')} within ${SETTLE_TIMEOUT_MS / 1000} s (owners: ${show(last)}); measuring anyway`);
};
