import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import * as Result from 'effect/Result';
import type { Json } from '../blueprints/json.ts';
import type { ActivitySchemas } from '../blueprints/validate.ts';
import {
  decodeWorkerAnnouncement,
  decodeWorkerGoodbye,
  type ActivityAnnouncement,
  type WorkerAnnouncement,
} from '../wire/protocol.ts';
import type { Subjects } from '../wire/subjects.ts';

/**
 * The runtime's registry of announced activities: which workers serve which activity names,
 * learnt from the workers' announcements (README "Worker wire protocol"). Each runtime keeps its
 * own; it is presence, not history, so nothing of it is stored.
 *
 * Guarantees: a worker counts as live from its first announcement until it says goodbye or until
 * `MISSED_HEARTBEATS` of its announced intervals pass without a heartbeat (measured on this
 * runtime's clock when the registry is read, so an expired worker is never counted, even between
 * sweeps). An activity whose last worker left stays listed with `workers: 0` and its `lastSeen`
 * for `DEPARTED_RETENTION_MS`, then is forgotten. Memory is bounded by the live workers plus the
 * recently departed names.
 */

/** Heartbeats a worker may miss before it is counted gone. */
export const MISSED_HEARTBEATS = 3;
/** Announced heartbeat intervals are clamped to this range (a hostile or broken worker). */
const MIN_HEARTBEAT_MS = 100;
const MAX_HEARTBEAT_MS = 60_000;
/** How long an activity no live worker serves is still listed (with `workers: 0`). */
export const DEPARTED_RETENTION_MS = 60 * 60_000;

/** One entry of `weft.activities.list` (CONTRACT §6). */
export interface ActivityInfo {
  readonly name: string;
  /** Live workers serving it now. */
  readonly workers: number;
  /** ISO time of the last announcement that named it. */
  readonly lastSeen: string;
  readonly description?: string;
  readonly input?: Json;
  readonly output?: Json;
}

interface LiveWorker {
  readonly activities: readonly ActivityAnnouncement[];
  readonly heartbeatMs: number;
  readonly lastSeen: number;
}

interface Departed {
  readonly declared: ActivityAnnouncement;
  readonly lastSeen: number;
}

const declares = (declared: ActivityAnnouncement): boolean =>
  declared.description !== undefined ||
  declared.input !== undefined ||
  declared.output !== undefined;

const infoOf = (
  declared: ActivityAnnouncement,
  workers: number,
  lastSeen: number,
): ActivityInfo => ({
  name: declared.name,
  workers,
  lastSeen: new Date(lastSeen).toISOString(),
  ...(declared.description === undefined ? {} : { description: declared.description }),
  ...(declared.input === undefined ? {} : { input: declared.input }),
  ...(declared.output === undefined ? {} : { output: declared.output }),
});

export class ActivityRegistry {
  readonly #now: () => number;
  readonly #workers = new Map<string, LiveWorker>();
  readonly #departed = new Map<string, Departed>();

  /** `now`: the clock expiry is measured on (milliseconds since the epoch). */
  constructor(deps: { readonly now?: () => number } = {}) {
    this.#now = deps.now ?? Date.now;
  }

  /** Records an announcement (first one or heartbeat): the worker is live from now. */
  announce(announcement: WorkerAnnouncement): void {
    const now = this.#now();
    this.#sweep(now);
    const previous = this.#workers.get(announcement.workerId);
    this.#workers.set(announcement.workerId, {
      activities: announcement.activities,
      heartbeatMs: Math.min(MAX_HEARTBEAT_MS, Math.max(MIN_HEARTBEAT_MS, announcement.heartbeatMs)),
      lastSeen: now,
    });
    // A worker that stopped serving some activity leaves it like a departing worker would.
    if (previous !== undefined) {
      const names = new Set(announcement.activities.map((a) => a.name));
      for (const declared of previous.activities)
        if (!names.has(declared.name)) this.#depart(declared, now);
    }
  }

  /** A worker's goodbye: it serves nothing from now on. Unknown ids are ignored. */
  goodbye(workerId: string): void {
    const worker = this.#workers.get(workerId);
    if (worker === undefined) return;
    this.#workers.delete(workerId);
    const now = this.#now();
    for (const declared of worker.activities) this.#depart(declared, now);
  }

  /** How many workers are live (announced within their missed-heartbeat allowance). */
  liveWorkers(): number {
    this.#sweep(this.#now());
    return this.#workers.size;
  }

  /** Every activity seen (live, or departed within the retention), sorted by name. */
  list(): readonly ActivityInfo[] {
    const now = this.#now();
    this.#sweep(now);
    const live = new Map<
      string,
      { declared: ActivityAnnouncement; workers: number; lastSeen: number }
    >();
    for (const worker of this.#workers.values()) {
      for (const declared of worker.activities) {
        const entry = live.get(declared.name);
        if (entry === undefined) {
          live.set(declared.name, { declared, workers: 1, lastSeen: worker.lastSeen });
          continue;
        }
        entry.workers += 1;
        // The description and schemas of the most recently heard worker that declares any win.
        const newer = worker.lastSeen >= entry.lastSeen;
        if (
          declares(declared)
            ? newer || !declares(entry.declared)
            : newer && !declares(entry.declared)
        )
          entry.declared = declared;
        entry.lastSeen = Math.max(entry.lastSeen, worker.lastSeen);
      }
    }
    const infos = [...live.values()].map((e) => infoOf(e.declared, e.workers, e.lastSeen));
    for (const [name, departed] of this.#departed)
      if (!live.has(name)) infos.push(infoOf(departed.declared, 0, departed.lastSeen));
    return infos.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** The names with at least one live worker, sorted. */
  served(): readonly string[] {
    return this.list()
      .filter((a) => a.workers > 0)
      .map((a) => a.name);
  }

  /**
   * The JSON Schemas each listed activity declares (those that declare any), by name: what
   * validation checks step inputs against (`input_mismatch`).
   */
  schemas(): ReadonlyMap<string, ActivitySchemas> {
    const schemas = new Map<string, ActivitySchemas>();
    for (const info of this.list())
      if (info.input !== undefined || info.output !== undefined)
        schemas.set(info.name, {
          ...(info.input === undefined ? {} : { input: info.input }),
          ...(info.output === undefined ? {} : { output: info.output }),
        });
    return schemas;
  }

  /** Live workers serving `name` now. */
  workersFor(name: string): number {
    return this.list().find((a) => a.name === name)?.workers ?? 0;
  }

  #depart(declared: ActivityAnnouncement, lastSeen: number): void {
    const known = this.#departed.get(declared.name);
    if (known === undefined || known.lastSeen <= lastSeen)
      this.#departed.set(declared.name, { declared, lastSeen });
  }

  /** Moves expired workers out and forgets departed names past the retention. */
  #sweep(now: number): void {
    for (const [workerId, worker] of this.#workers) {
      if (now - worker.lastSeen <= MISSED_HEARTBEATS * worker.heartbeatMs) continue;
      this.#workers.delete(workerId);
      for (const declared of worker.activities) this.#depart(declared, worker.lastSeen);
    }
    for (const [name, departed] of this.#departed)
      if (now - departed.lastSeen > DEPARTED_RETENTION_MS) this.#departed.delete(name);
  }
}

/**
 * Keeps `registry` up to date from NATS: listens to announcements and goodbyes (every runtime
 * hears each one: no queue group), then asks the workers already running to announce themselves
 * at once, so a runtime that starts after its workers knows them within a round trip instead of
 * a heartbeat. Malformed announcements are logged and ignored.
 */
export const followWorkers = (
  nc: NatsConnection,
  subjects: Subjects,
  registry: ActivityRegistry,
  log: (message: string) => void,
): { close(): void } => {
  const decoded = <A>(
    what: string,
    decode: (u: unknown) => Result.Result<A, { readonly message: string }>,
    handle: (value: A) => void,
  ) => {
    return (error: Error | null, msg: Msg) => {
      if (error !== null) return;
      let payload: unknown;
      try {
        payload = msg.json();
      } catch {
        log(`ignoring a ${what} that is not JSON on ${msg.subject}`);
        return;
      }
      const result = decode(payload);
      if (Result.isFailure(result)) {
        log(`ignoring a malformed ${what} on ${msg.subject}: ${result.failure.message}`);
        return;
      }
      handle(result.success);
    };
  };
  const subscriptions: Subscription[] = [
    nc.subscribe(subjects.workers('announce'), {
      callback: decoded('worker announcement', decodeWorkerAnnouncement, (a) =>
        registry.announce(a),
      ),
    }),
    nc.subscribe(subjects.workers('goodbye'), {
      callback: decoded('worker goodbye', decodeWorkerGoodbye, (g) => registry.goodbye(g.workerId)),
    }),
  ];
  // Published after subscribing on the same connection, so every answer is heard.
  nc.publish(subjects.workers('discover'), '{}');
  return {
    close() {
      for (const subscription of subscriptions) subscription.unsubscribe();
    },
  };
};
