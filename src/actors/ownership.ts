import type { NatsConnection } from '@nats-io/transport-node';
import type { Subjects } from '../wire/subjects.ts';
import { PartitionLeases } from './leases.ts';
import { partitionOf } from './partitions.ts';
import type { Owners } from './router.ts';

/**
 * Which runs this runtime decides for, kept in step with its partition leases: a partition
 * acquired has its unfinished runs recovered (after the read model caught up with what the
 * previous owner appended); a partition lost is dropped from memory at once; a partition handed
 * over is drained first (its mailboxes finish what they hold), then dropped, then given back.
 */

/** What the local run actors offer for partitions coming and going (`RunSupervisor`). */
export interface PartitionedRuns {
  /** Folds into the read model everything appended so far (by any runtime). */
  catchUp(): Promise<void>;
  /** Carries the selected unfinished runs on: open tasks, timers, deadlines, children. */
  recoverRuns(select: (runId: string) => boolean): Promise<void>;
  /** Forgets the selected runs (cache, timers, attempts, deadlines). */
  dropRuns(select: (runId: string) => boolean): void;
  /** Resolves once the selected runs' mailboxes are idle. */
  settleRuns(select: (runId: string) => boolean): Promise<void>;
}

export class Ownership implements Owners {
  readonly partitions: number;
  readonly #runs: PartitionedRuns;
  readonly #log: (message: string) => void;
  readonly #listeners = new Set<() => void>();
  #leases: PartitionLeases | undefined;
  /** Acquired partitions whose runs are not recovered yet. */
  readonly #pending = new Set<number>();
  #recovering: Promise<void>;
  #started: () => void = () => undefined;

  private constructor(runs: PartitionedRuns, partitions: number, log: (message: string) => void) {
    this.#runs = runs;
    this.partitions = partitions;
    this.#log = log;
    // Recovery waits until the leases are up (partitions are acquired during their first round).
    this.#recovering = new Promise((resolve) => (this.#started = resolve));
  }

  /**
   * Joins the cluster: takes this runtime's share of the partitions (all of them when it is
   * alone) and resolves once the runs of those it took are recovered.
   */
  static async start(
    nc: NatsConnection,
    options: {
      readonly subjects: Subjects;
      readonly self: string;
      readonly partitions: number;
      readonly leaseMs: number;
      readonly replicas?: number;
      readonly runs: PartitionedRuns;
      readonly log: (message: string) => void;
      /** Called with the ownership before any partition is taken (to route calls through it). */
      readonly ready?: (ownership: Ownership) => void;
    },
  ): Promise<Ownership> {
    const ownership = new Ownership(options.runs, options.partitions, options.log);
    options.ready?.(ownership);
    ownership.#leases = await PartitionLeases.start(nc, {
      bucket: options.subjects.partitionsBucket,
      owner: options.self,
      partitions: options.partitions,
      leaseMs: options.leaseMs,
      ...(options.replicas === undefined ? {} : { replicas: options.replicas }),
      acquired: (partition) => ownership.#acquired(partition),
      lost: (partition, reason) => ownership.#lost(partition, reason),
      release: (partition) => ownership.#release(partition),
      changed: () => ownership.#changed(),
      log: options.log,
    });
    ownership.#started();
    await ownership.#recovering;
    return ownership;
  }

  /** The lease's length (the bucket's TTL). */
  get leaseMs(): number {
    return this.#leases?.leaseMs ?? 0;
  }

  owns(partition: number): boolean {
    return this.#leases?.owns(partition) ?? false;
  }

  ownsRun(runId: string): boolean {
    return this.owns(partitionOf(runId, this.partitions));
  }

  ownerOf(partition: number): string | undefined {
    return this.#leases?.ownerOf(partition);
  }

  refresh(partition: number): Promise<string | undefined> {
    return this.#leases?.refresh(partition) ?? Promise.resolve(undefined);
  }

  /** The partitions this runtime owns now. */
  ownsAny(): boolean {
    return this.#leases?.ownsAny() ?? false;
  }

  owned(): readonly number[] {
    return this.#leases?.owned() ?? [];
  }

  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** SIGTERM: hands every partition over, each drained first; the others take them at once. */
  async drain(): Promise<void> {
    await this.#leases?.handOver();
    await this.#recovering;
  }

  /** Stops renewing (the leases lapse after their TTL): for a runtime that cannot drain. */
  close(): void {
    this.#leases?.close();
  }

  #changed(): void {
    for (const listener of [...this.#listeners]) listener();
  }

  #select(partitions: ReadonlySet<number> | number): (runId: string) => boolean {
    return typeof partitions === 'number'
      ? (runId) => partitionOf(runId, this.partitions) === partitions
      : (runId) => partitions.has(partitionOf(runId, this.partitions));
  }

  /** Recovery runs outside the lease round (which must renew on time), partitions in batches. */
  #acquired(partition: number): void {
    this.#pending.add(partition);
    this.#changed();
    this.#recovering = this.#recovering.then(async () => {
      if (this.#pending.size === 0) return;
      const batch = new Set(this.#pending);
      this.#pending.clear();
      try {
        await this.#runs.catchUp();
        await this.#runs.recoverRuns(
          (runId) => batch.has(partitionOf(runId, this.partitions)) && this.ownsRun(runId),
        );
      } catch (error) {
        this.#log(`recovering partitions ${[...batch].join(',')}: ${String(error)}`);
      }
    });
  }

  #lost(partition: number, reason: string): void {
    this.#pending.delete(partition);
    this.#log(
      `partition ${String(partition)} lost (${reason}): its runs are left to its next owner`,
    );
    this.#runs.dropRuns(this.#select(partition));
    this.#changed();
  }

  async #release(partition: number): Promise<void> {
    this.#pending.delete(partition);
    this.#changed();
    const select = this.#select(partition);
    // Bounded: the lease round waits on this, and must go on renewing the other leases. Work still
    // in a mailbox after a third of a lease finishes or conflicts at the next owner's append.
    let timer: NodeJS.Timeout | undefined;
    const settled = await Promise.race([
      this.#runs.settleRuns(select).then(() => true),
      new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), this.leaseMs / 3))),
    ]);
    clearTimeout(timer);
    if (!settled)
      this.#log(`partition ${String(partition)}: handed over with work still in flight`);
    this.#runs.dropRuns(select);
  }
}
