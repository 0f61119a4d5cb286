import type { CompiledRun, RunSnapshot } from './compile.ts';
import { progressOf } from './context.ts';
import { toRunEvent } from './events.ts';
import { activeSteps, evolve, initialSnapshot, statusOf, type RunStatus } from './run.ts';
import { compiledFor, type StoredEvent } from './stream.ts';

/**
 * Debugging a run from its stream, pure: `replaySteps` rebuilds the machine event by event and
 * says what changed after each; `checkRun` (`check.ts`) replays a stream through today's code and
 * reports the first place where what the machine now decides differs from what was recorded.
 */

export { toRunEvent } from './events.ts';
export { compiledFor, type StoredEvent } from './stream.ts';

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

/** A run as it stood after one event of its stream: what a UI's replay slider shows. */
export interface RunStateAt {
  /** The revision folded last; -1 before the first. */
  readonly revision: number;
  /** The stream's length: the slider's end. */
  readonly events: number;
  readonly status: RunStatus;
  readonly state: unknown;
  readonly activeSteps: readonly string[];
  /** `$steps`, `$data` and `$progress` then. */
  readonly steps: unknown;
  readonly data: unknown;
  readonly progress: unknown;
}

/** The run's machine, and its snapshot after revision `at` (all of the stream when undefined). */
export const foldTo = (
  events: readonly StoredEvent[],
  at?: number,
): {
  readonly compiled: CompiledRun;
  readonly snapshot: RunSnapshot;
  readonly revision: number;
} => {
  const { compiled } = compiledFor(events);
  let snapshot: RunSnapshot = initialSnapshot(compiled);
  let revision = -1;
  for (const stored of events) {
    if (at !== undefined && stored.revision > at) break;
    snapshot = evolve(compiled, snapshot, toRunEvent(stored)).snapshot;
    revision = stored.revision;
  }
  return { compiled, snapshot, revision };
};

/**
 * The run after revision `at` (all of it when undefined): the same fold as `replaySteps` and
 * `weft replay --to`, without the changes of each step. Pure.
 */
export const stateAt = (events: readonly StoredEvent[], at?: number): RunStateAt =>
  stateOf(foldTo(events, at), events.length);

/** `stateAt` of a fold already made (`foldTo`), over a stream of `events` events. */
export const stateOf = (
  fold: { readonly snapshot: RunSnapshot; readonly revision: number },
  events: number,
): RunStateAt => {
  const { snapshot, revision } = fold;
  const { context } = snapshot;
  return {
    revision,
    events,
    status: statusOf(snapshot),
    state: snapshot.value,
    activeSteps: activeSteps(context),
    steps: context.steps,
    data: context.data,
    progress: progressOf(context),
  };
};

export { checkRun, type CheckResult } from './check.ts';
