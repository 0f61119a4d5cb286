import type { Json } from '../blueprints/json.ts';
import { parseDuration } from '../blueprints/duration.ts';
import { validateBlueprint } from '../blueprints/validate.ts';
import { compileBlueprint, type CompiledRun, type RunSnapshot } from './compile.ts';
import { toRunEvent, type RunEvent } from './events.ts';
import { activeSteps, evolve, initialSnapshot, react, statusOf, type RunStatus } from './run.ts';

/**
 * Debugging a run from its stream, pure: `replaySteps` rebuilds the machine event by event and
 * says what changed after each; `checkRun` replays a stream through today's code and reports the
 * first place where what the machine now decides differs from what was recorded.
 */

export interface StoredEvent {
  readonly revision: number;
  readonly type: string;
  readonly data: Json;
  readonly at: string;
}

export { toRunEvent };

/** The run's machine, compiled from the blueprint pinned in its first event. */
export const compiledFor = (
  events: readonly StoredEvent[],
): {
  readonly compiled: CompiledRun;
  readonly runId: string;
  readonly name: string;
  readonly version: number;
} => {
  const first = events[0];
  const started = first === undefined ? undefined : toRunEvent(first);
  if (started?.type !== 'RunStarted') throw new Error('the stream does not begin with RunStarted');
  const validated = validateBlueprint(started.blueprint.content, undefined, { recorded: true });
  if (!validated.ok)
    throw new Error(
      `the pinned blueprint no longer validates: ${validated.diagnostics.map((d) => d.message).join('; ')}`,
    );
  return {
    compiled: compileBlueprint(validated.blueprint, parseDuration),
    runId: started.runId,
    name: started.blueprint.name,
    version: started.blueprint.version,
  };
};

export interface ReplayStep {
  readonly revision: number;
  readonly type: string;
  readonly at: string;
  readonly status: RunStatus;
  readonly state: unknown;
  readonly activeSteps: readonly string[];
  /** Context paths whose value changed, with the new value (`undefined` = removed). */
  readonly changes: readonly { readonly path: string; readonly value: unknown }[];
}

const diff = (
  before: Record<string, unknown>,
  after: Record<string, unknown>,
  prefix: string,
  out: { path: string; value: unknown }[],
) => {
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const a = before[key];
    const b = after[key];
    if (a === b) continue;
    const path = prefix === '' ? key : `${prefix}.${key}`;
    const isRecord = (v: unknown): v is Record<string, unknown> =>
      v !== null && typeof v === 'object' && !Array.isArray(v);
    if (prefix === '' && isRecord(a) && isRecord(b)) diff(a, b, path, out);
    else if (JSON.stringify(a) !== JSON.stringify(b)) out.push({ path, value: b });
  }
};

/** Folds the stream one event at a time; the state after each (up to revision `to`, inclusive). */
export const replaySteps = (events: readonly StoredEvent[], to?: number): readonly ReplayStep[] => {
  const { compiled } = compiledFor(events);
  let snapshot: RunSnapshot = initialSnapshot(compiled);
  const steps: ReplayStep[] = [];
  for (const stored of events) {
    if (to !== undefined && stored.revision > to) break;
    const next = evolve(compiled, snapshot, toRunEvent(stored)).snapshot;
    const changes: { path: string; value: unknown }[] = [];
    diff(
      snapshot.context as unknown as Record<string, unknown>,
      next.context as unknown as Record<string, unknown>,
      '',
      changes,
    );
    snapshot = next;
    steps.push({
      revision: stored.revision,
      type: stored.type,
      at: stored.at,
      status: statusOf(snapshot),
      state: snapshot.value,
      activeSteps: activeSteps(snapshot.context),
      changes,
    });
  }
  return steps;
};

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

/** Times decided from the clock (timer due times) may differ from the recorded ones by the decision's own latency. */
const TIME_TOLERANCE_MS = 60_000;

const same = (a: unknown, b: unknown, key = ''): boolean => {
  if (key === 'dueAt' && typeof a === 'number' && typeof b === 'number')
    return Math.abs(a - b) <= TIME_TOLERANCE_MS;
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) =>
    same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], k),
  );
};

/**
 * Replays the stream through today's machine: each event that is not part of the previous
 * reaction is a fact (a start, a result, a signal, a timer, a cancel); the machine's reaction to
 * it must be exactly the events recorded after it. Pure (async only for JSONata).
 */
export const checkRun = async (events: readonly StoredEvent[]): Promise<CheckResult> => {
  const { compiled, runId, name, version } = compiledFor(events);
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
    const reaction = await react(
      compiled,
      snapshot,
      { id: runId, blueprint: name, version },
      fact,
      {
        now: Date.parse(stored.at),
        parseDuration,
      },
    );
    for (let k = 1; k < reaction.events.length; k++) {
      const recorded = events[i + k];
      const expected = reaction.events[k];
      const recordedEvent = recorded === undefined ? undefined : toRunEvent(recorded);
      if (recordedEvent === undefined || !same(expected, recordedEvent)) {
        return {
          ok: false,
          revision: recorded?.revision ?? stored.revision + k,
          expected,
          recorded: recordedEvent ?? null,
          message:
            recordedEvent === undefined
              ? `after revision ${stored.revision} (${stored.type}) the machine now decides ${expected?.type ?? '?'}, which the stream does not have`
              : `at revision ${recorded?.revision ?? '?'} the stream has ${recordedEvent.type} where the machine now decides ${expected?.type ?? '?'}`,
        };
      }
    }
    snapshot = reaction.snapshot;
    i += reaction.events.length;
  }
  return { ok: true, events: events.length };
};
