import type { RunSnapshot } from './compile.ts';
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

export { checkRun, type CheckResult } from './check.ts';
