import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RUN_EVENT_TYPES } from '../../src/machines/events.ts';
import { checkRun, replaySteps, type StoredEvent } from '../../src/machines/replay.ts';

/**
 * Golden streams recorded from real runs (`weft dev` and the seed examples; the failure paths by
 * `record.ts`) are replayed through today's code: every recorded decision must be the one the
 * machine makes now, and each run must end as its stream recorded. One edited stream must be
 * reported as a divergence.
 */

const DIR = join(import.meta.dirname, 'fixtures', 'streams');
const load = (file: string): StoredEvent[] =>
  (JSON.parse(readFileSync(join(DIR, file), 'utf8')) as { events: StoredEvent[] }).events;
const golden = readdirSync(DIR).filter((f) => f.startsWith('golden-'));

describe('golden streams', () => {
  it('has streams of every kind of step to replay', () => {
    const types = new Set(golden.flatMap((f) => load(f).map((e) => e.type)));
    for (const type of RUN_EVENT_TYPES) {
      expect(types, type).toContain(type);
    }
  });

  it('has a stream with a retry: attempt 2 of a step scheduled after its attempt 1 failed', () => {
    const attemptOf = (e: StoredEvent) => e.data as { stepId?: string; attempt?: number };
    const retried = golden.filter((f) =>
      load(f).some(
        (event, i, events) =>
          event.type === 'StepScheduled' &&
          attemptOf(event).attempt === 2 &&
          events
            .slice(0, i)
            .some(
              (e) =>
                e.type === 'StepFailed' &&
                attemptOf(e).stepId === attemptOf(event).stepId &&
                attemptOf(e).attempt === 1,
            ),
      ),
    );
    expect(retried).not.toEqual([]);
  });

  it("has a stream that records each fact's decision time, where $now() gave exactly that time", () => {
    const events = load('golden-decision-time.json');
    const facts = events.filter((e) =>
      ['RunStarted', 'StepCompleted', 'TimerFired'].includes(e.type),
    );
    expect(facts).toHaveLength(4);
    for (const fact of facts) expect((fact.data as { time?: unknown }).time).toBeTypeOf('number');
    const timeOf = (e: StoredEvent | undefined) => (e?.data as { time: number }).time;
    const inputAt = (e: StoredEvent | undefined) => (e?.data as { input: { at: string } }).input.at;
    const scheduled = events.filter((e) => e.type === 'StepScheduled');
    expect(inputAt(scheduled[0])).toBe(new Date(timeOf(events[0])).toISOString());
    expect(inputAt(scheduled[1])).toBe(
      new Date(timeOf(events.find((e) => e.type === 'TimerFired'))).toISOString(),
    );
    // Decided before it was committed: the commit time would not reproduce the run.
    expect(inputAt(scheduled[0])).not.toBe(events[0]?.at);
  });

  it('reports a decision time 1 ms off as a divergence: nothing is tolerated', async () => {
    const events = load('golden-decision-time.json');
    const edited = events.map((e) =>
      e.type === 'RunStarted'
        ? { ...e, data: { ...(e.data as object), time: (e.data as { time: number }).time + 1 } }
        : e,
    );
    expect(await checkRun(edited)).toMatchObject({ ok: false, revision: 1 });
  });

  it('has a stream with a skip of every reason, each step once', () => {
    const skips = load('golden-skips.json')
      .filter((e) => e.type === 'StepSkipped')
      .map((e) => e.data);
    expect(skips).toEqual([
      { stepId: 'ship', reason: 'dependency_failed' },
      { stepId: 'audit', reason: 'if_false' },
      { stepId: 'express', reason: 'not_taken' },
      { stepId: 'fix', reason: 'handler_unused' },
    ]);
  });

  const ENDINGS: Readonly<Record<string, string>> = {
    RunCompleted: 'completed',
    RunFailed: 'failed',
    RunCancelled: 'cancelled',
    RunTimedOut: 'timed_out',
  };

  it.each(golden)('%s replays without divergence and ends as recorded', async (file) => {
    const events = load(file);
    expect(await checkRun(events)).toEqual({ ok: true, events: events.length });
    const steps = replaySteps(events);
    expect(steps).toHaveLength(events.length);
    const recorded = ENDINGS[events[events.length - 1]?.type ?? ''];
    expect(
      recorded,
      'the stream ends with RunCompleted, RunFailed, RunCancelled or RunTimedOut',
    ).toBeDefined();
    expect(steps[steps.length - 1]?.status).toBe(recorded);
  });

  it('reports the edited stream as a divergence at the edited event', async () => {
    const result = await checkRun(load('diverged-data-pipeline.json'));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.revision).toBe(3);
    expect(result.message).toContain('StepScheduled');
    expect(result.recorded).toMatchObject({ type: 'StepScheduled', stepId: 'transform' });
  });

  it('reports a stream whose recorded decision the machine no longer makes', async () => {
    const events = load('golden-data-pipeline.json');
    const dropped = events.filter(
      (e) => !(e.type === 'StepScheduled' && (e.data as { stepId?: string }).stepId === 'enrich'),
    );
    const result = await checkRun(dropped.map((e, revision) => ({ ...e, revision })));
    expect(result.ok).toBe(false);
  });

  it('shows, step by step, the state and what changed', () => {
    const steps = replaySteps(load('golden-data-pipeline.json'), 2);
    expect(steps.map((s) => s.type)).toEqual(['RunStarted', 'StepScheduled', 'StepCompleted']);
    expect(steps[1]?.activeSteps).toEqual(['validate']);
    expect(steps[2]?.changes.map((c) => c.path)).toEqual(
      expect.arrayContaining(['steps.validate', 'done.validate']),
    );
  });
});
