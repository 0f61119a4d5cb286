/** Figures, statistics and the two outputs of the bench: one JSON line per figure, and a table. */

export interface Target {
  readonly value: number;
  /** `<=`: the figure must be at most the target; `>=`: at least. */
  readonly cmp: '<=' | '>=';
}

export interface Figure {
  readonly workload: string;
  readonly metric: string;
  readonly value: number;
  readonly unit: string;
  readonly target?: Target;
  /** How many samples the figure summarises (runs, repetitions). */
  readonly n?: number;
  /** Anything a reader should know (a loop cut short by its time budget, …). */
  readonly note?: string;
  /** The same figure of the baseline's least-work engine, measured in the same run (bench/baseline/). */
  readonly baseline?: Baseline;
  /** With `--rounds`: the ratio to the baseline in each round (each round's pair measured minutes apart). */
  readonly ratios?: readonly number[];
}

/** Which least-work engine: sqlite with synchronous=FULL (`fsync`) or synchronous=OFF (`no-fsync`). */
export type BaselineVariant = 'fsync' | 'no-fsync';

export interface Baseline {
  readonly value: number;
  readonly variant: BaselineVariant;
}

/**
 * The figure over its baseline (whatever the unit: a throughput above 1 is faster, a time above 1
 * slower); over several rounds, the median of each round's own ratio.
 */
export const ratio = (figure: Figure): number | undefined => {
  if (figure.ratios !== undefined && figure.ratios.length > 0) return median(figure.ratios);
  return figure.baseline === undefined ? undefined : figure.value / figure.baseline.value;
};

export interface Environment {
  readonly node: string;
  readonly nats: string;
  readonly store: string;
  /** How many runtime processes (`weft serve`) shared the NATS and the store. */
  readonly runtimes: number;
  /** The PostgreSQL server's version, with `--store postgres`. */
  readonly postgres?: string;
}

/** Nearest-rank percentile of unsorted samples (`p` in 0..100). NaN for no samples. */
export const percentile = (samples: readonly number[], p: number): number => {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] ?? Number.NaN;
};

export const median = (samples: readonly number[]): number => percentile(samples, 50);

/** Rounds to 3 significant decimals for ms-scale values, fewer for large ones. */
export const round = (value: number): number => {
  if (!Number.isFinite(value)) return value;
  const abs = Math.abs(value);
  const digits = abs >= 1000 ? 0 : abs >= 100 ? 1 : abs >= 10 ? 2 : 3;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
};

export const met = (figure: Figure): boolean | undefined => {
  const t = figure.target;
  if (t === undefined) return undefined;
  if (!Number.isFinite(figure.value)) return false;
  return t.cmp === '<=' ? figure.value <= t.value : figure.value >= t.value;
};

/**
 * The figures of several rounds (`--rounds`) as one figure each: the median value, the median
 * baseline, and every round's own ratio (whose median is the figure's ratio). A figure missing
 * from some round (a failed workload) summarises the rounds that have it, and says so.
 */
export const acrossRounds = (rounds: readonly (readonly Figure[])[]): Figure[] => {
  const groups = new Map<string, Figure[]>();
  for (const figures of rounds) {
    for (const figure of figures) {
      const key = `${figure.workload}\u0000${figure.metric}`;
      const group = groups.get(key);
      if (group === undefined) groups.set(key, [figure]);
      else group.push(figure);
    }
  }
  return [...groups.values()].map((group) => {
    const [first] = group as [Figure, ...Figure[]];
    const values = group.map((f) => f.value);
    const paired = group.filter((f) => f.baseline !== undefined);
    const ratios = paired.map((f) => f.value / (f.baseline?.value ?? Number.NaN));
    const spread = `${round(Math.min(...values))}–${round(Math.max(...values))}`;
    const ratioSpread =
      ratios.length === 0
        ? ''
        : `; ratio ${round(Math.min(...ratios))}–${round(Math.max(...ratios))}`;
    const missing =
      group.length < rounds.length ? `; in ${group.length} of ${rounds.length} rounds` : '';
    const { baseline: _baseline, note: _note, ratios: _ratios, ...rest } = first;
    return {
      ...rest,
      value: median(values),
      note: `median of ${group.length} round${group.length === 1 ? '' : 's'}: ${spread}${ratioSpread}${missing}`,
      ...(paired.length === 0 || first.baseline === undefined
        ? {}
        : {
            baseline: {
              value: median(paired.map((f) => f.baseline?.value ?? Number.NaN)),
              variant: first.baseline.variant,
            },
            ratios,
          }),
    };
  });
};

/** The JSON line of one figure (`target` is the number; `cmp` says which way it binds). */
export const jsonLine = (
  figure: Figure,
  env: Environment,
  extra: Record<string, unknown> = {},
): string =>
  JSON.stringify({
    ...extra,
    workload: figure.workload,
    metric: figure.metric,
    value: round(figure.value),
    unit: figure.unit,
    ...(figure.target === undefined
      ? {}
      : { target: figure.target.value, cmp: figure.target.cmp, met: met(figure) }),
    ...(figure.n === undefined ? {} : { n: figure.n }),
    ...(figure.note === undefined ? {} : { note: figure.note }),
    ...(figure.baseline === undefined
      ? {}
      : {
          baseline: round(figure.baseline.value),
          baseline_variant: figure.baseline.variant,
          ratio: round(ratio(figure) ?? Number.NaN),
        }),
    ...(figure.ratios === undefined ? {} : { ratios: figure.ratios.map(round) }),
    node: env.node,
    nats: env.nats,
    store: env.store,
    runtimes: env.runtimes,
    ...(env.postgres === undefined ? {} : { postgres: env.postgres }),
  });

/**
 * A plain-text table of the figures, with a column saying whether each target is met and one with
 * each figure's ratio to its baseline (`1.32× fsync`: 1.32 times the fsync baseline's figure).
 */
export const table = (figures: readonly Figure[], env: Environment, title?: string): string => {
  const header = [
    'workload',
    'metric',
    'value',
    'unit',
    'target',
    'met',
    '× baseline',
    'n',
    'note',
  ];
  const rows = figures.map((f) => {
    const ok = met(f);
    const r = ratio(f);
    return [
      f.workload,
      f.metric,
      String(round(f.value)),
      f.unit,
      f.target === undefined ? '' : `${f.target.cmp} ${f.target.value}`,
      ok === undefined ? '' : ok ? 'yes' : 'NO',
      r === undefined || f.baseline === undefined ? '' : `${round(r)}× ${f.baseline.variant}`,
      f.n === undefined ? '' : String(f.n),
      f.note ?? '',
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === 2 ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [
    `weft bench — ${env.runtimes} runtime${env.runtimes === 1 ? '' : 's'}, store ${env.store}${env.postgres === undefined ? '' : ` (PostgreSQL ${env.postgres})`}, node ${env.node}, nats-server ${env.nats}${title === undefined ? '' : `; ${title}`}`,
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
  ].join('\n');
};
