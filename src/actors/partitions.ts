// Which partition a run belongs to, and how many partitions each runtime of a cluster takes. Pure.

/** Partitions of a cluster unless `--partitions` says otherwise; every runtime of one cluster must agree. */
export const DEFAULT_PARTITIONS = 64;

const utf8 = new TextEncoder();

/**
 * The partition of a run: FNV-1a (32 bits) of the run id's UTF-8 bytes, modulo `partitions`. The
 * same on every runtime and every version of weft, so runtimes agree without asking each other.
 */
export const partitionOf = (runId: string, partitions: number): number => {
  let hash = 0x811c9dc5;
  for (const byte of utf8.encode(runId)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % partitions;
};

/** How many partitions one of `runtimes` live runtimes owns at most when the cluster is balanced. */
export const fairShare = (partitions: number, runtimes: number): number =>
  Math.ceil(partitions / Math.max(1, runtimes));
