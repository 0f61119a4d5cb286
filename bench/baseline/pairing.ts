import type { BaselineVariant, Figure } from '../report.ts';
import type { StoreKind } from '../harness.ts';

/**
 * Which baseline each weft figure is compared with (bench/README.md, "Baseline"): the figures of
 * one run at a time (W1 latency, W3) with the baseline as durable as weft's store (the fsync one
 * for sqlite and postgres, the no-fsync one for memory); everything under load (W1 with many in
 * flight, W2) and every CPU figure with the no-fsync one, as the targets of issue 14 do: group
 * commit should make durability nearly free under load, and an fsync costs wall time, not CPU.
 */
export const variantFor = (workload: string, metric: string, store: StoreKind): BaselineVariant => {
  const durable: BaselineVariant = store === 'memory' ? 'no-fsync' : 'fsync';
  if (workload === 'W3') return durable;
  if (workload === 'W1' && (metric === 'latency_p50' || metric === 'latency_p99')) return durable;
  return 'no-fsync';
};

/** The parts of W1–W3 each baseline runs, for the workloads selected: only what a pairing uses. */
export interface Plan {
  readonly variant: BaselineVariant;
  readonly w1: boolean;
  /** W1 with many runs in flight. */
  readonly throughput: boolean;
  readonly w2: boolean;
  readonly w3: boolean;
}

export const planFor = (selected: { w1: boolean; w2: boolean; w3: boolean }, store: StoreKind): Plan[] => {
  const variants: BaselineVariant[] = store === 'memory' ? ['no-fsync'] : ['fsync', 'no-fsync'];
  return variants
    .map((variant) => ({
      variant,
      w1: selected.w1,
      throughput: selected.w1 && variantFor('W1', 'throughput', store) === variant,
      w2: selected.w2 && variantFor('W2', 'map', store) === variant,
      w3: selected.w3 && variantFor('W3', 'signal', store) === variant,
    }))
    .filter((plan) => plan.w1 || plan.w2 || plan.w3);
};

/** The baseline's figures by variant, workload and metric, and weft's figures paired with them. */
export class Baselines {
  readonly #figures = new Map<string, number>();
  readonly #store: StoreKind;

  constructor(store: StoreKind) {
    this.#store = store;
  }

  add(variant: BaselineVariant, figure: Figure): void {
    this.#figures.set(`${variant}/${figure.workload}/${figure.metric}`, figure.value);
  }

  /** The figure with its baseline, when the baseline measured its counterpart. */
  pair(figure: Figure): Figure {
    const variant = variantFor(figure.workload, figure.metric, this.#store);
    const value = this.#figures.get(`${variant}/${figure.workload}/${figure.metric}`);
    return value === undefined || !(value > 0) ? figure : { ...figure, baseline: { value, variant } };
  }
}
