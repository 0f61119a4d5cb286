import { describe, expect, it } from 'vitest';
import { acrossRounds, ratio, table, type Figure } from '../../../bench/report.ts';

const figure = (value: number, baseline?: number): Figure => ({
  workload: 'W1',
  metric: 'latency_p50',
  value,
  unit: 'ms',
  ...(baseline === undefined ? {} : { baseline: { value: baseline, variant: 'fsync' as const } }),
});

describe('the bench over several rounds', () => {
  it("gives each figure's median value and the median of the rounds' own ratios, not the ratio of the medians", () => {
    // The rounds' ratios are 2, 0.5 and 1: the figure keeps all three, and its ratio is their median.
    const [summary] = acrossRounds([[figure(10, 5)], [figure(4, 8)], [figure(8, 8)]]);
    expect(summary?.value).toBe(8);
    expect(summary?.baseline?.value).toBe(8);
    expect(summary?.ratios).toEqual([2, 0.5, 1]);
    expect(summary && ratio(summary)).toBe(1);
    expect(summary?.note).toBe('median of 3 rounds: 4–10; ratio 0.5–2');
  });

  it('pairs each round with its own baseline: a slow round of both is not a slow ratio', () => {
    const [summary] = acrossRounds([[figure(6, 6)], [figure(12, 12)], [figure(9, 9)]]);
    expect(summary && ratio(summary)).toBe(1);
    expect(
      table(
        summary === undefined ? [] : [summary],
        { node: 'v24', nats: '2.9', store: 'sqlite', runtimes: 1 },
        'medians of 3 rounds',
      ),
    ).toContain('1× fsync');
  });

  it('says when a figure is missing from a round, and keeps figures without a baseline unpaired', () => {
    const other: Figure = { workload: 'W2', metric: 'map_1000', value: 300, unit: 'ms' };
    const summaries = acrossRounds([[figure(7, 7), other], [figure(7, 7)]]);
    const w2 = summaries.find((f) => f.workload === 'W2');
    expect(w2?.note).toBe('median of 1 round: 300–300; in 1 of 2 rounds');
    expect(w2?.baseline).toBeUndefined();
    expect(w2 && ratio(w2)).toBeUndefined();
  });
});
