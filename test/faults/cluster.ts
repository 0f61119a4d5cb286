import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { DEFAULT_PARTITIONS, fairShare, partitionOf } from '../../src/actors/partitions.ts';
import { monotonicMs } from '../support/wait.ts';
import type { WeftProcess } from '../support/weft.ts';
import type { Harness } from './harness.ts';

/**
 * Plumbing of the cluster scenarios (`test/faults/cluster-*.fault.ts`, issue 13): several
 * `weft serve` processes with their own `WEFT_RUNTIME_ID` on one NATS and one store, and a
 * read-only view of their partition leases (the JetStream KV bucket `WEFT_PARTITIONS`, keys
 * `partition.<n>` = `{"owner": "<runtimeId>"}`, src/actors/leases.ts).
 */

export const BUCKET = 'WEFT_PARTITIONS';
export const PARTITIONS = DEFAULT_PARTITIONS;

export type Owners = ReadonlyMap<number, string>;

/**
 * Who owns which partition, as the bucket says, followed live (a watch of `partition.*`). A
 * handover (delete) removes the partition's owner; a lapsed lease leaves no trace in the watch on
 * this nats-server (2.9 expires keys silently), so a crashed runtime stays named until another
 * runtime's create replaces it — which is what "taken over" means here.
 */
export interface LeaseView {
  owners(): Owners;
  /** Partitions owned per runtime id. */
  counts(): Map<string, number>;
  /** The partitions `id` owns, ascending. */
  partitionsOf(id: string): number[];
  /** Resolves with the monotonic time at which `ready(owners)` first held; rejects after `timeoutMs`. */
  until(ready: (owners: Owners) => boolean, timeoutMs: number, message: string): Promise<number>;
  close(): void;
}

export const openLeaseView = async (nc: NatsConnection): Promise<LeaseView> => {
  const kv = await new Kvm(nc).open(BUCKET);
  const owners = new Map<number, string>();
  const listeners = new Set<() => void>();
  const watch = await kv.watch({ key: 'partition.*' });
  void (async () => {
    for await (const entry of watch) {
      const partition = Number(entry.key.slice('partition.'.length));
      const owner = entry.operation === 'PUT' ? entry.json<{ owner?: unknown }>().owner : undefined;
      if (typeof owner === 'string') owners.set(partition, owner);
      else owners.delete(partition);
      for (const listener of [...listeners]) listener();
    }
  })().catch(() => undefined);
  const read = async () => {
    const byOwner = new Map<string, number>();
    for (let p = 0; p < PARTITIONS; p++) {
      const entry = await kv.get(`partition.${String(p)}`);
      const owner =
        entry?.operation === 'PUT' ? entry.json<{ owner?: unknown }>().owner : undefined;
      const key = typeof owner === 'string' ? owner : '(none)';
      byOwner.set(key, (byOwner.get(key) ?? 0) + 1);
    }
    return byOwner;
  };
  const counts = () => {
    const byOwner = new Map<string, number>();
    for (const owner of owners.values()) byOwner.set(owner, (byOwner.get(owner) ?? 0) + 1);
    return byOwner;
  };
  return {
    owners: () => owners,
    counts,
    partitionsOf: (id) =>
      [...owners]
        .filter(([, owner]) => owner === id)
        .map(([p]) => p)
        .sort((a, b) => a - b),
    until: (ready, timeoutMs, message) =>
      new Promise((resolve, reject) => {
        const check = () => {
          if (!ready(owners)) return;
          finish();
          resolve(monotonicMs());
        };
        const timer = setTimeout(() => {
          finish();
          // What the bucket holds now, read key by key (the watch may be behind, and shows no expiry).
          void read()
            .then(
              (now) => showCounts(now),
              (error: unknown) => `unreadable: ${String(error)}`,
            )
            .then((now) =>
              reject(
                new Error(
                  `lease view: ${message} not within ${String(timeoutMs)} ms (owners as watched: ${showCounts(counts())}; as read now: ${now})`,
                ),
              ),
            );
        }, timeoutMs);
        const finish = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      }),
    close: () => watch.stop(),
  };
};

export const showCounts = (counts: ReadonlyMap<string, number>): string =>
  [...counts]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([id, n]) => `${id} ${String(n)}`)
    .join(', ') || 'none';

/** Every partition owned, each of `ids` owning some and none more than its fair share. */
export const spreadOver =
  (ids: readonly string[]) =>
  (owners: Owners): boolean => {
    if (owners.size !== PARTITIONS) return false;
    const share = fairShare(PARTITIONS, ids.length);
    return ids.every((id) => {
      const n = [...owners.values()].filter((o) => o === id).length;
      return n > 0 && n <= share;
    });
  };

/**
 * The runtimes of a scenario by id: each is `weft serve` with `WEFT_RUNTIME_ID=<id>` (and `env`) on
 * the harness's store and NATS (or `urlOf(id)`, e.g. a tap of its own).
 */
export interface Runtimes {
  readonly ids: readonly string[];
  /** The current process of `id`. */
  get(id: string): WeftProcess;
  /** Starts `id` again (after it stopped or was killed), under the same id. */
  restart(id: string): Promise<WeftProcess>;
  /**
   * Starts every runtime a scenario stopped (SIGKILL, or SIGTERM and exit 0) again — throws for
   * one that ended otherwise — then waits until the partitions are spread over all.
   */
  allUp(view: LeaseView): Promise<void>;
}

const running = (p: WeftProcess): boolean =>
  p.child.exitCode === null && p.child.signalCode === null;

/**
 * Starts every runtime of `ids` at once (they contend for the leases as a cluster started together
 * does), or one after the other with `oneByOne`.
 */
export const startRuntimes = async (
  h: Harness,
  ids: readonly string[],
  options: {
    readonly env?: NodeJS.ProcessEnv;
    readonly urlOf?: (id: string) => string;
    readonly oneByOne?: boolean;
  } = {},
): Promise<Runtimes> => {
  const serve = (id: string) =>
    h.serve({ ...options.env, WEFT_RUNTIME_ID: id }, options.urlOf?.(id) ?? h.natsUrl);
  const processes = new Map<string, WeftProcess>();
  if (options.oneByOne === true) for (const id of ids) processes.set(id, await serve(id));
  else
    for (const [id, p] of await Promise.all(ids.map(async (id) => [id, await serve(id)] as const)))
      processes.set(id, p);
  const runtimes: Runtimes = {
    ids,
    get(id) {
      const p = processes.get(id);
      if (p === undefined) throw new Error(`no runtime ${id}`);
      return p;
    },
    async restart(id) {
      const p = await serve(id);
      processes.set(id, p);
      return p;
    },
    async allUp(view) {
      const stopped = ids.filter((id) => !running(runtimes.get(id)));
      for (const id of stopped) {
        // Stopped by a scenario (SIGKILL, or SIGTERM and exit 0); anything else is a crash.
        const { exitCode, signalCode } = runtimes.get(id).child;
        if (signalCode !== 'SIGKILL' && exitCode !== 0)
          throw new Error(
            `runtime ${id} ended on its own (${String(exitCode ?? signalCode)}):\n${runtimes.get(id).output()}`,
          );
      }
      await Promise.all(stopped.map((id) => runtimes.restart(id)));
      await view.until(spreadOver(ids), 30_000, `partitions spread over ${ids.join(', ')}`);
    },
  };
  return runtimes;
};

/** The runtime owning the most partitions (the first id in order on a tie). */
export const busiest = (view: LeaseView, ids: readonly string[]): string => {
  const counts = view.counts();
  return [...ids].sort((a, b) => (counts.get(b) ?? 0) - (counts.get(a) ?? 0))[0] ?? '';
};

/**
 * Every partition of `lost` is owned by one of `live` now: the takeover after `lost`'s owner died
 * (and all 64 owned, by the live runtimes only).
 */
export const takenOver =
  (lost: readonly number[], live: readonly string[]) =>
  (owners: Owners): boolean =>
    owners.size === PARTITIONS &&
    [...owners.values()].every((o) => live.includes(o)) &&
    lost.every((p) => live.includes(owners.get(p) ?? ''));

/** The runs among `ids` whose partition is one of `partitions`. */
export const runsIn = (ids: readonly string[], partitions: readonly number[]): string[] =>
  ids.filter((runId) => partitions.includes(partitionOf(runId, PARTITIONS)));

/**
 * How many of `ids` whose partition is one of `partitions` had a shorter stream in `atKill` (the
 * store read right after a kill) than in `atEnd` (read once all ended): runs the kill of those
 * partitions' owner caught unfinished.
 */
export const unfinishedIn = (
  atKill: ReadonlyMap<string, number>,
  atEnd: ReadonlyMap<string, number>,
  ids: readonly string[],
  partitions: readonly number[],
): number =>
  runsIn(ids, partitions).filter(
    (runId) => (atKill.get(`run-${runId}`) ?? 0) < (atEnd.get(`run-${runId}`) ?? 0),
  ).length;

/** A SIGKILL of one runtime, and the takeover of its partitions that follows. */
export interface Kill {
  readonly victim: string;
  /** The partitions it owned when it was killed. */
  readonly lost: readonly number[];
  /** Partitions per runtime just before the kill. */
  readonly before: string;
  /** Resolves with the ms from the kill until every one of `lost` is owned by a live runtime. */
  readonly takeover: Promise<number>;
}

/** SIGKILLs the runtime owning the most partitions and follows the takeover (bounded 30 s). */
export const killBusiest = async (runtimes: Runtimes, view: LeaseView): Promise<Kill> => {
  const before = showCounts(view.counts());
  const victim = busiest(view, runtimes.ids);
  const lost = view.partitionsOf(victim);
  const live = runtimes.ids.filter((id) => id !== victim);
  await runtimes.get(victim).kill9();
  const killedAt = monotonicMs();
  const takeover = view
    .until(takenOver(lost, live), 30_000, `takeover of ${victim}'s partitions`)
    .then((at) => at - killedAt);
  // Awaited by the scenario; a rejection before then is not unhandled.
  takeover.catch(() => undefined);
  return { victim, lost, before, takeover };
};
