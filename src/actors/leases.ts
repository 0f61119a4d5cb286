import { jetstreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { RUNTIME_ID } from '../wire/subjects.ts';
import {
  HELD,
  messageOf,
  openBucket,
  ownerIn,
  OwnerMap,
  partitionKey,
  runtimeKey,
} from './leaseBucket.ts';
import { fairShare, partitionOf } from './partitions.ts';

/*
 * Partition leases in a JetStream key-value bucket whose TTL is the lease's length. A runtime owns
 * partition n while the key `partition.<n>` holds its id at the revision it last wrote: it takes a
 * free partition with `create` (fails if anyone holds it), keeps it with `update` at its revision
 * (compare-and-set: fails if anyone else wrote since) every third of the TTL, and gives it back with
 * a `delete` at its revision. A key nobody renews is removed by the server when the TTL has passed
 * since its last write, and only then can another runtime `create` it.
 *
 * Never two owners at once: a runtime counts its lease as valid until (the moment it *sent* its
 * last successful write) + TTL − margin, which is before the server can expire that write; past
 * it the runtime stops deciding for the partition even if the server is unreachable. Time is only
 * ever compared on one machine's monotonic clock. The store's expected-revision check stays the
 * last guard behind this.
 *
 * Heartbeats (`runtime.<id>`, written every round) tell each runtime how many are alive, so each
 * takes its fair share: it acquires free partitions up to `ceil(partitions / runtimes)` and, when a
 * runtime joins, hands over what it holds beyond that (after `release` has drained them).
 */

export interface LeaseOptions {
  readonly bucket: string;
  /** This runtime's id: a key token (`[A-Za-z0-9_-]`). */
  readonly owner: string;
  readonly partitions: number;
  /** The lease's length (the bucket's TTL), in ms. */
  readonly leaseMs: number;
  /** A partition became this runtime's (recover its runs). */
  readonly acquired: (partition: number) => void;
  /** A partition stopped being this runtime's without a handover (drop its runs from memory now). */
  readonly lost: (partition: number, reason: string) => void;
  /** Before handing a partition over: finish what is in flight for its runs. */
  readonly release: (partition: number) => Promise<void>;
  readonly log: (message: string) => void;
  /** Monotonic ms (default `performance.now`). */
  readonly now?: () => number;
  /** Replicas of the bucket's stream when this runtime creates it (3 on a NATS cluster). */
  readonly replicas?: number;
  /** Someone's lease on a partition changed (taken, handed over): for routing to owners. */
  readonly changed?: (partition: number, owner: string | undefined) => void;
}

interface Held {
  revision: number;
  /** Monotonic time until which the lease counts as this runtime's. */
  validUntil: number;
}

export class PartitionLeases {
  readonly #nc: NatsConnection;
  #kv: KV;
  readonly #options: LeaseOptions;
  readonly #now: () => number;
  readonly #margin: number;
  readonly #leaseMs: number;
  readonly #held = new Map<number, Held>();
  /** Partitions being handed over: no longer this runtime's to decide for, not yet given back. */
  readonly #releasing = new Set<number>();
  readonly #owners: OwnerMap;
  #timer: NodeJS.Timeout | undefined;
  /** The round queued and not started yet. */
  #round: Promise<void> | undefined;
  /** Rounds and handover steps, one at a time. */
  #queue: Promise<void> = Promise.resolve();
  #stopped = false;
  /** Handing everything over: rounds only renew. */
  #draining = false;

  private constructor(nc: NatsConnection, kv: KV, options: LeaseOptions, leaseMs: number) {
    this.#nc = nc;
    this.#kv = kv;
    this.#options = { ...options, leaseMs };
    this.#leaseMs = leaseMs;
    this.#now = options.now ?? (() => performance.now());
    this.#margin = Math.max(50, leaseMs / 10);
    this.#owners = new OwnerMap(this.#now, (partition, owner) =>
      options.changed?.(partition, owner),
    );
  }

  /**
   * Opens the bucket (creating it with `leaseMs` as its TTL if missing: an existing bucket keeps
   * the TTL it was made with, and that is the lease's length), watches who holds what, and starts
   * the rounds; the first round has run when it resolves.
   */
  static async start(nc: NatsConnection, options: LeaseOptions): Promise<PartitionLeases> {
    if (!RUNTIME_ID.test(options.owner))
      throw new Error(`invalid runtime id ${JSON.stringify(options.owner)}`);
    const kv = await openBucket(nc, options);
    const leases = new PartitionLeases(nc, kv, options, (await kv.status()).ttl);
    await leases.#startWatch();
    await leases.round();
    leases.#schedule();
    return leases;
  }

  /** The lease's length in ms (the bucket's TTL). */
  get leaseMs(): number {
    return this.#leaseMs;
  }

  /** True while this runtime's lease on the partition is valid and it is not being handed over. */
  owns(partition: number): boolean {
    const held = this.#held.get(partition);
    return held !== undefined && this.#now() < held.validUntil && !this.#releasing.has(partition);
  }

  /**
   * The runtime holding the partition as far as this one knows: itself while `owns`, else the
   * bucket's last word (which may name a crashed runtime until its lease lapses; `refresh` reads
   * the key again), undefined when nobody holds it.
   */
  ownerOf(partition: number): string | undefined {
    if (this.owns(partition)) return this.#options.owner;
    const owner = this.#owners.holder(partition);
    return owner === this.#options.owner ? undefined : owner;
  }

  /** Reads the partition's key again (a lapsed lease has no delete marker to watch). */
  async refresh(partition: number): Promise<string | undefined> {
    const entry = await this.#kv.get(partitionKey(partition)).catch(() => undefined);
    const owner =
      entry === undefined || entry === null || entry.operation !== 'PUT'
        ? undefined
        : ownerIn(entry.string());
    this.#owners.note(partition, owner);
    return this.ownerOf(partition);
  }

  /** Whether this runtime owns any partition now (no allocation: asked on every start). */
  ownsAny(): boolean {
    for (const partition of this.#held.keys()) if (this.owns(partition)) return true;
    return false;
  }

  /** The partitions whose lease this runtime holds, ascending. */
  owned(): readonly number[] {
    return [...this.#held.keys()].filter((p) => this.owns(p)).sort((a, b) => a - b);
  }

  /**
   * One round: heartbeat, renew every held lease (a failed renewal loses it), hand over what is
   * beyond the fair share, take free partitions up to it. Rounds never overlap.
   */
  round(): Promise<void> {
    // A round asked for while one runs is queued once, behind it.
    this.#round ??= this.#serially(() => {
      this.#round = undefined;
      return this.#runRound();
    });
    return this.#round;
  }

  /**
   * Runs `work` after every round and handover step queued before it: a lease is never renewed
   * and given back at once (the give-back expects the revision the renewal would change).
   */
  #serially(work: () => Promise<void>): Promise<void> {
    const done = this.#queue.then(work);
    this.#queue = done.catch(() => undefined);
    return done;
  }

  /** Follows every partition key: the owner map, and a round as soon as one is handed over. */
  #startWatch(): Promise<void> {
    return this.#owners.watch(
      this.#kv,
      () => {
        if (!this.#stopped) void this.round().catch(() => undefined);
      },
      this.#options.log,
    );
  }

  /**
   * Stops renewing and hands every partition over (each drained by `release` first), so the other
   * runtimes take them at their next round instead of after the TTL. For SIGTERM. The watch goes
   * on until `close`: a draining runtime still answers what it had taken (task results, reports,
   * forwarded calls) by forwarding them to the new owners, so it must see who they are.
   */
  async handOver(): Promise<void> {
    // Rounds go on renewing what is not handed over yet (a slow drain must not let it lapse), but
    // take nothing and send no heartbeat.
    this.#draining = true;
    // Gone from the count first, so the others' fair share grows to take everything handed over.
    await this.#serially(() =>
      this.#kv.delete(runtimeKey(this.#options.owner)).then(
        () => undefined,
        () => undefined,
      ),
    );
    // All at once, between two rounds (a renewal never races a give-back).
    await this.#serially(async () => {
      await Promise.all([...this.#held.keys()].map((partition) => this.#giveBack(partition)));
    });
    this.#stop();
    await this.#queue;
  }

  /**
   * Stops renewing without handing over, as a runtime cut off from NATS would: its leases still
   * count as valid until they lapse, and only then can another runtime take them. Stops the watch
   * (after `handOver` too: the last step of a drain).
   */
  close(): void {
    this.#stop();
    this.#owners.stop();
  }

  #stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.round().then(
        () => this.#schedule(),
        (error: unknown) => {
          this.#options.log(`partition leases: ${String(error)}`);
          this.#schedule();
        },
      );
    }, this.#options.leaseMs / 3);
  }

  async #runRound(): Promise<void> {
    const { owner, partitions } = this.#options;
    // A failed heartbeat must not keep the renewals from their pace; it ends the round after them.
    const heartbeat = this.#draining
      ? undefined
      : this.#heartbeat().then(
          () => undefined,
          (error: unknown) => error,
        );
    const beatFailed = await heartbeat;
    await Promise.all(
      [...this.#held].map(async ([partition, held]) => {
        if (this.#releasing.has(partition)) return; // given back in a moment
        if (this.#now() >= held.validUntil) {
          this.#held.delete(partition);
          this.#options.lost(partition, 'the lease lapsed before it could be renewed');
        } else await this.#renew(partition, held);
      }),
    );
    if (this.#draining) return;
    if (beatFailed !== undefined)
      throw beatFailed instanceof Error ? beatFailed : new Error(messageOf(beatFailed));
    const alive = await this.#aliveRuntimes();
    if (this.#stopped) return;
    const share = fairShare(partitions, alive.size);
    // Hand over the highest beyond the share: a runtime that joined takes them at its next round.
    const surplus = [...this.#held.keys()]
      .sort((a, b) => b - a)
      .slice(0, Math.max(0, this.#held.size - share));
    for (const partition of surplus) await this.#giveBack(partition);
    // Start looking at a point of our own, so runtimes starting together contend less.
    const offset = partitionOf(owner, partitions);
    const candidates = Array.from(
      { length: partitions },
      (_, i) => (offset + i) % partitions,
    ).filter((partition) => {
      if (this.#held.has(partition)) return false;
      const holder = this.#owners.holder(partition);
      // Held by a runtime with a live heartbeat, renewed within a lease: not worth a failing
      // create. (Not renewed for a lease, it lapsed silently: its holder, alive but at its share,
      // would never take it back, so it is tried; a create of a key still held just fails.)
      return !(
        holder !== undefined &&
        holder !== owner &&
        alive.has(holder) &&
        this.#owners.writtenWithin(partition, this.#leaseMs)
      );
    });
    // As many at once as the share lacks, in order, until it is met or JetStream stops answering
    // (a round must end well within a lease, so that renewals keep their pace).
    while (candidates.length > 0 && this.#held.size < share && this.#active()) {
      const batch = candidates.splice(0, share - this.#held.size);
      const outcomes = await Promise.all(batch.map((partition) => this.#tryAcquire(partition)));
      if (outcomes.includes('unreachable')) break;
    }
  }

  async #renew(partition: number, held: Held): Promise<void> {
    const sent = this.#now();
    try {
      held.revision = await this.#kv.update(
        partitionKey(partition),
        JSON.stringify({ owner: this.#options.owner }),
        held.revision,
      );
      held.validUntil = sent + this.#options.leaseMs - this.#margin;
    } catch (error) {
      const message = messageOf(error);
      // Someone else wrote the key: lost now. Anything else (a timeout, JetStream electing a
      // leader): the lease stays valid until it lapses, and the next round tries again.
      if (!/wrong last sequence/i.test(message)) return;
      this.#held.delete(partition);
      this.#options.lost(partition, `renewal failed: ${message}`);
    }
  }

  /** Takes a free partition: `held` when someone holds it, `unreachable` when JetStream did not answer. */
  async #tryAcquire(partition: number): Promise<'taken' | 'held' | 'unreachable'> {
    const sent = this.#now();
    const key = partitionKey(partition);
    const value = JSON.stringify({ owner: this.#options.owner });
    let revision: number;
    try {
      revision = await this.#kv.create(key, value).catch((error: unknown) => {
        if (!HELD.test(messageOf(error))) throw error;
        return this.#reclaim(partition, value);
      });
    } catch (error) {
      // Held by another runtime: try again next round. Unreachable: so is every other key now.
      return HELD.test(messageOf(error)) ? 'held' : 'unreachable';
    }
    this.#held.set(partition, {
      revision,
      validUntil: sent + this.#options.leaseMs - this.#margin,
    });
    this.#options.acquired(partition);
    return 'taken';
  }

  /**
   * After a failed create: a lease held under this runtime's id that this process does not hold
   * was an earlier process's with the same id (`WEFT_RUNTIME_ID`) that stopped without handing
   * over. Ids are unique among live runtimes, so that process is gone: the lease is taken back at
   * once (compare-and-set on the revision read) instead of after its TTL.
   */
  async #reclaim(partition: number, value: string): Promise<number> {
    const key = partitionKey(partition);
    const entry = await this.#kv.get(key);
    const holder =
      entry === null || entry.operation !== 'PUT' ? undefined : ownerIn(entry.string());
    if (holder !== this.#options.owner) {
      this.#owners.note(partition, holder);
      throw new Error(`partition ${String(partition)} is held by ${String(holder)}`);
    }
    return this.#kv.update(key, value, entry?.revision ?? 0);
  }

  async #giveBack(partition: number): Promise<void> {
    const held = this.#held.get(partition);
    if (held === undefined) return;
    this.#releasing.add(partition);
    try {
      await this.#options.release(partition);
    } finally {
      this.#releasing.delete(partition);
    }
    this.#held.delete(partition);
    await this.#kv
      .delete(partitionKey(partition), { previousSeq: held.revision })
      .catch((error: unknown) =>
        this.#options.log(
          `partition ${String(partition)}: handover failed (${messageOf(error)}); it lapses after the lease`,
        ),
      );
  }

  /**
   * Writes this runtime's heartbeat. A JetStream that lost its storage (a NATS server restarted
   * on an empty disk) lost the bucket too: it is created again, and the watch restarted; the
   * leases this runtime held then fail to renew (lost) and are taken afresh.
   */
  async #heartbeat(): Promise<void> {
    const { owner } = this.#options;
    try {
      await this.#kv.put(runtimeKey(owner), JSON.stringify({ owner }));
    } catch (error) {
      const manager = await jetstreamManager(this.#nc);
      // Only a stream JetStream says it does not have is gone (not one it could not answer for).
      const exists = await manager.streams.info(`KV_${this.#options.bucket}`).then(
        () => true,
        (lookup: unknown) => !/stream not found/i.test(messageOf(lookup)),
      );
      if (exists) throw error;
      this.#options.log(
        `partition leases: the bucket ${this.#options.bucket} is gone; creating it again`,
      );
      this.#kv = await openBucket(this.#nc, { ...this.#options, leaseMs: this.#leaseMs });
      // Its keys went with it: nothing stops another runtime from taking them now.
      for (const partition of [...this.#held.keys()]) {
        this.#held.delete(partition);
        this.#options.lost(partition, 'the lease bucket was lost with JetStream');
      }
      await this.#startWatch();
      await this.#kv.put(runtimeKey(owner), JSON.stringify({ owner }));
    }
  }

  #active(): boolean {
    return !this.#stopped;
  }

  /** The ids of runtimes with a live heartbeat (a key listing may repeat a key written while it runs). */
  async #aliveRuntimes(): Promise<Set<string>> {
    const alive = new Set<string>([this.#options.owner]);
    const keys = await this.#kv.keys('runtime.*');
    // Bounded: a listing that does not end within a third of a lease ends the round (next one soon).
    const cut = { happened: false };
    const timer = setTimeout(() => {
      cut.happened = true;
      keys.stop();
    }, this.#leaseMs / 3);
    try {
      for await (const key of keys) alive.add(key.slice('runtime.'.length));
    } finally {
      clearTimeout(timer);
    }
    if (cut.happened)
      throw new Error('listing the live runtimes took longer than a third of a lease');
    return alive;
  }
}

/** Creates the bucket with `leaseMs` as its TTL, or opens it as it is when it exists with another. */
