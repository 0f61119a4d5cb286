import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkRun, replaySteps, type StoredEvent } from '../../src/machines/replay.ts';

/**
 * Golden streams recorded from real runs (`weft dev` and the seed examples) are replayed through
 * today's code: every recorded decision must be the one the machine makes now. One edited stream
 * must be reported as a divergence.
 */

const DIR = join(import.meta.dirname, 'fixtures', 'streams');
const load = (file: string): StoredEvent[] =>
  (JSON.parse(readFileSync(join(DIR, file), 'utf8')) as { events: StoredEvent[] }).events;
const golden = readdirSync(DIR).filter((f) => f.startsWith('golden-'));

describe('golden streams', () => {
  it('has streams of every kind of step to replay', () => {
    const types = new Set(golden.flatMap((f) => load(f).map((e) => e.type)));
    for (const type of [
      'StepScheduled',
      'StepCompleted',
      'StepFailed',
      'StepEntered',
      'LoopChecked',
      'TimerScheduled',
      'TimerFired',
      'ChildRequested',
      'ChildCompleted',
      'SignalReceived',
      'RunCompleted',
    ]) {
      expect(types, type).toContain(type);
    }
  });

  it.each(golden)('%s replays without divergence and ends as recorded', async (file) => {
    const events = load(file);
    expect(await checkRun(events)).toEqual({ ok: true, events: events.length });
    const steps = replaySteps(events);
    expect(steps).toHaveLength(events.length);
    expect(steps[steps.length - 1]?.status).toBe('completed');
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
