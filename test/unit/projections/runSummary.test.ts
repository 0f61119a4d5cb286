import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RunEvent } from '../../../src/machines/events.ts';
import {
  evolveSummary,
  listSummaries,
  type RunSummary,
} from '../../../src/projections/runSummary.ts';

const started = (runId: string): RunEvent => ({
  type: 'RunStarted',
  runId,
  blueprint: { name: 'bp', version: 2, hash: 'h', content: null },
  input: { n: 1 },
});

describe('run summary', () => {
  it('folds a run from start to its end', () => {
    let summary = evolveSummary(undefined, started('r1'), '2026-01-01T00:00:00.000Z');
    expect(summary).toEqual({
      runId: 'r1',
      status: 'running',
      blueprint: { name: 'bp', version: 2 },
      input: { n: 1 },
      startedAt: '2026-01-01T00:00:00.000Z',
    });
    summary = evolveSummary(
      summary,
      { type: 'StepSkipped', stepId: 'a' },
      '2026-01-01T00:00:01.000Z',
    );
    expect(summary?.status).toBe('running');
    summary = evolveSummary(
      summary,
      { type: 'RunCompleted', output: 42 },
      '2026-01-01T00:00:02.000Z',
    );
    expect(summary).toMatchObject({
      status: 'completed',
      output: 42,
      endedAt: '2026-01-01T00:00:02.000Z',
    });
    const failed = evolveSummary(
      evolveSummary(undefined, started('r2'), 't'),
      { type: 'RunFailed', error: { code: 'step_failed', message: 'x' } },
      'u',
    );
    expect(failed).toMatchObject({ status: 'failed', error: { code: 'step_failed' } });
    const cancelled = evolveSummary(
      evolveSummary(undefined, started('r3'), 't'),
      { type: 'RunCancelled', reason: 'stop' },
      'u',
    );
    expect(cancelled).toMatchObject({
      status: 'cancelled',
      error: { code: 'cancelled', message: 'stop' },
    });
  });

  it('pages through every matching run exactly once, newest first, whatever the page size', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.integer({ min: 0, max: 20 }),
            fc.constantFrom('running', 'completed', 'failed'),
          ),
          { maxLength: 60 },
        ),
        fc.integer({ min: 1, max: 7 }),
        fc.constantFrom(undefined, 'running', 'completed'),
        (rows, limit, status) => {
          const all: RunSummary[] = rows.map(([t, s], i) => ({
            runId: `r${i}`,
            status: s as RunSummary['status'],
            blueprint: { name: i % 2 === 0 ? 'even' : 'odd', version: 1 },
            input: null,
            startedAt: `2026-01-01T00:00:${String(t).padStart(2, '0')}.000Z`,
          }));
          const seen: string[] = [];
          let cursor: string | undefined;
          for (let page = 0; page < 100; page++) {
            const result = listSummaries(all, {
              limit,
              ...(status === undefined ? {} : { status }),
              ...(cursor === undefined ? {} : { cursor }),
            });
            expect(result.runs.length).toBeLessThanOrEqual(limit);
            seen.push(...result.runs.map((r) => r.runId));
            cursor = result.cursor;
            if (cursor === undefined) break;
          }
          const expected = all
            .filter((r) => status === undefined || r.status === status)
            .sort((a, b) =>
              a.startedAt === b.startedAt
                ? a.runId.localeCompare(b.runId)
                : b.startedAt.localeCompare(a.startedAt),
            )
            .map((r) => r.runId);
          expect(seen).toEqual(expected);
        },
      ),
    );
  });
});
