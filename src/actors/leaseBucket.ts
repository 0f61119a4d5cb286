import { jetstream } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';

/*
 * The partition leases' bucket: its keys, opening it, and the owner map a watch of it keeps
 * (`PartitionLeases` in leases.ts decides with them).
 */

export const partitionKey = (n: number): string => `partition.${String(n)}`;
export const runtimeKey = (owner: string): string => `runtime.${owner}`;

/** A create or reclaim refused because someone holds the key (as opposed to no answer). */
export const HELD = /wrong last sequence|is held by/i;

export const messageOf = (error: unknown): string =>
  error instanceof Error ? error.message : String(error);

/**
 * Creates the bucket with `leaseMs` as its TTL, or opens it as it is when it exists with another.
 * Its requests give up within a third of a lease: a round waiting longer on one key (NATS
 * electing a leader) would let every other lease lapse.
 */
export const openBucket = (
  nc: NatsConnection,
  options: { readonly bucket: string; readonly leaseMs: number; readonly replicas?: number },
): Promise<KV> => {
  const kvm = new Kvm(jetstream(nc, { timeout: Math.max(250, Math.floor(options.leaseMs / 3)) }));
  return kvm
    .create(options.bucket, {
      ttl: options.leaseMs,
      history: 1,
      ...(options.replicas === undefined ? {} : { replicas: options.replicas }),
    })
    .catch(() => kvm.open(options.bucket));
};

/** The owner a lease's value names (`{"owner": "<id>"}`), or undefined. */
export const ownerIn = (value: string): string | undefined => {
  try {
    const parsed: unknown = JSON.parse(value);
    const owner =
      typeof parsed === 'object' && parsed !== null
        ? (parsed as { owner?: unknown }).owner
        : undefined;
    return typeof owner === 'string' ? owner : undefined;
  } catch {
    return undefined;
  }
};

/**
 * Who holds each partition, as the bucket last said, and when the watch last saw each key written
 * (monotonic). The watch sees every renewal; an expiry it may not see at all (a server without
 * TTL markers removes the key silently), so a crashed owner's key lingers here, and a key not
 * written for a whole lease has lapsed, whoever the map still names.
 */
export class OwnerMap {
  readonly #owners = new Map<number, string>();
  readonly #written = new Map<number, number>();
  readonly #now: () => number;
  readonly #changed: (partition: number, owner: string | undefined) => void;
  #watch: { stop(): void } | undefined;

  constructor(now: () => number, changed: (partition: number, owner: string | undefined) => void) {
    this.#now = now;
    this.#changed = changed;
  }

  holder(partition: number): string | undefined {
    return this.#owners.get(partition);
  }

  /** Whether the watch saw the partition's key written within the last `ms`. */
  writtenWithin(partition: number, ms: number): boolean {
    return this.#now() - (this.#written.get(partition) ?? -Infinity) <= ms;
  }

  note(partition: number, owner: string | undefined): void {
    if (this.#owners.get(partition) === owner) return;
    if (owner === undefined) this.#owners.delete(partition);
    else this.#owners.set(partition, owner);
    this.#changed(partition, owner);
  }

  /**
   * Follows every partition key of `kv` (replacing a previous watch); `handedOver` is called when
   * a key is deleted (a lease given back, to be taken at once).
   */
  async watch(kv: KV, handedOver: () => void, log: (message: string) => void): Promise<void> {
    this.#watch?.stop();
    const watch = await kv.watch({ key: 'partition.*' });
    this.#watch = watch;
    void (async () => {
      for await (const entry of watch) {
        const partition = Number(entry.key.slice('partition.'.length));
        if (!Number.isInteger(partition)) continue;
        const owner = entry.operation === 'PUT' ? ownerIn(entry.string()) : undefined;
        if (entry.operation === 'PUT') this.#written.set(partition, this.#now());
        this.note(partition, owner);
        if (owner === undefined) handedOver();
      }
    })().catch((error: unknown) => log(`partition watch: ${messageOf(error)}`));
  }

  stop(): void {
    this.#watch?.stop();
  }
}
