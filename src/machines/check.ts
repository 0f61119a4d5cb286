import { parseDuration } from '../blueprints/duration.ts';
import type { RunSnapshot } from './compile.ts';
import { timeOf, toRunEvent, type RunEvent } from './events.ts';
import { initialSnapshot, react } from './run.ts';
import { compiledFor, type StoredEvent } from './stream.ts';

/**
 * `checkRun`: replays a stream through today's machine and reports the first place where what
 * it decides differs from what was recorded. Pure (async only for JSONata).
 *
 * Each event that is not part of the previous reaction is a fact (a start, a result, a signal, a
 * timer, a cancel); the machine's reaction to it must be exactly the events recorded after it,
 * decided at the time the fact records (`time`). Nothing is tolerated, with two exceptions for
 * streams recorded before decision times existed (their `RunStarted` has no `time`):
 *
 * - a fact without `time` is decided at its commit time (`at`), which is later than the real
 *   decision by the append's latency, so a due time decided from the clock may differ by up to
 *   `LEGACY_TIME_TOLERANCE_MS`;
 * - skips were recorded only for `if` (without a reason): a `StepSkipped` of any other reason
 *   that the stream lacks is not a divergence, and an `if` skip matches one without a reason.
 */

export type CheckResult =
  | { readonly ok: true; readonly events: number }
  | {
      readonly ok: false;
      /** The first recorded revision that differs (or where a decided event is missing). */
      readonly revision: number;
      readonly expected: unknown;
      readonly recorded: unknown;
      readonly message: string;
    };

/** Events only a decision makes: one of these where a fact is due means the machine now decides less. */
const DECIDED_ONLY: ReadonlySet<RunEvent['type']> = new Set([
  'StepScheduled',
  'StepSkipped',
  'StepEntered',
  'LoopChecked',
  'TimerScheduled',
  'ChildRequested',
  'RunCompleted',
  'RunFailed',
]);

/** How far a clock-decided due time of a fact without `time` may be from the one decided again. */
export const LEGACY_TIME_TOLERANCE_MS = 60_000;

const same = (a: unknown, b: unknown, toleranceMs: number, key = ''): boolean => {
  if (key === 'dueAt' && typeof a === 'number' && typeof b === 'number')
    return Math.abs(a - b) <= toleranceMs;
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) =>
    same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], toleranceMs, k),
  );
};

/** In a stream from before skip reasons: the decided skip as that code recorded it, if it did. */
const asLegacy = (expected: RunEvent): RunEvent | undefined => {
  if (expected.type !== 'StepSkipped' || expected.reason === undefined) return expected;
  return expected.reason === 'if_false'
    ? { type: 'StepSkipped', stepId: expected.stepId }
    : undefined;
};

export const checkRun = async (events: readonly StoredEvent[]): Promise<CheckResult> => {
  const { compiled, runId, name, version, started } = compiledFor(events);
  const legacy = timeOf(started) === undefined;
  const maxMapItems = started.limits?.maxMapItems;
  const identity = {
    id: runId,
    blueprint: name,
    version,
    startedAt: timeOf(started) ?? Date.parse(events[0]?.at ?? ''),
  };
  let snapshot: RunSnapshot = initialSnapshot(compiled);
  let i = 0;
  while (i < events.length) {
    const stored = events[i] as StoredEvent;
    const fact = toRunEvent(stored);
    if (DECIDED_ONLY.has(fact.type)) {
      return {
        ok: false,
        revision: stored.revision,
        expected: null,
        recorded: fact,
        message: `at revision ${stored.revision} the stream has ${fact.type}, which the machine no longer decides there`,
      };
    }
    const time = timeOf(fact);
    const tolerance = time === undefined ? LEGACY_TIME_TOLERANCE_MS : 0;
    const reaction = await react(compiled, snapshot, identity, fact, {
      now: time ?? Date.parse(stored.at),
      parseDuration,
      ...(maxMapItems === undefined ? {} : { maxMapItems }),
    });
    let next = i + 1;
    for (const expected of reaction.events.slice(1)) {
      const recorded = events[next];
      const recordedEvent = recorded === undefined ? undefined : toRunEvent(recorded);
      const matches = (candidate: RunEvent | undefined) =>
        candidate !== undefined &&
        recordedEvent !== undefined &&
        same(candidate, recordedEvent, tolerance);
      const older = legacy ? asLegacy(expected) : expected;
      if (matches(expected) || matches(older)) {
        next++;
        continue;
      }
      // A skip older code did not record (a run that went on after an upgrade records it).
      if (older === undefined) continue;
      return {
        ok: false,
        revision: recorded?.revision ?? (events[next - 1]?.revision ?? stored.revision) + 1,
        expected,
        recorded: recordedEvent ?? null,
        message:
          recordedEvent === undefined
            ? `after revision ${stored.revision} (${stored.type}) the machine now decides ${expected.type}, which the stream does not have`
            : `at revision ${recorded?.revision ?? '?'} the stream has ${recordedEvent.type} where the machine now decides ${expected.type}`,
      };
    }
    snapshot = reaction.snapshot;
    i = next;
  }
  return { ok: true, events: events.length };
};
