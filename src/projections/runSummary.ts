import type { Json } from '../blueprints/json.ts';
import type { RunError, RunEvent, StepError } from '../machines/events.ts';
import type { RunStatus } from '../machines/run.ts';

/**
 * The run-summary read model: a pure fold over a run's events (with the times the store
 * recorded). It answers `runs.<id>.get` and `runs.list`.
 */
export interface RunSummary {
  readonly runId: string;
  readonly status: Exclude<RunStatus, 'pending'>;
  readonly blueprint: { readonly name: string; readonly version: number };
  readonly input: Json;
  readonly output?: Json;
  readonly error?: RunError;
  readonly startedAt: string;
  readonly endedAt?: string;
  /** The run ran its compensations and finally steps before it ended. */
  readonly compensated?: boolean;
  /** Compensation and finally steps that failed. */
  readonly cleanupErrors?: readonly { readonly stepId: string; readonly error: StepError }[];
}

/** What an end event says of the unwinding before it, as summary fields. */
const unwound = (event: {
  readonly compensated?: boolean;
  readonly cleanupErrors?: RunSummary['cleanupErrors'];
}): Pick<RunSummary, 'compensated' | 'cleanupErrors'> => ({
  ...(event.compensated === undefined ? {} : { compensated: event.compensated }),
  ...(event.cleanupErrors === undefined ? {} : { cleanupErrors: event.cleanupErrors }),
});

export const evolveSummary = (
  summary: RunSummary | undefined,
  event: RunEvent,
  at: string,
): RunSummary | undefined => {
  switch (event.type) {
    case 'RunStarted':
      return {
        runId: event.runId,
        status: 'running',
        blueprint: { name: event.blueprint.name, version: event.blueprint.version },
        input: event.input,
        startedAt: at,
      };
    case 'RunCompleted':
      return (
        summary && {
          ...summary,
          status: 'completed',
          output: event.output,
          endedAt: at,
          ...unwound(event),
        }
      );
    case 'RunFailed':
      return (
        summary && {
          ...summary,
          status: 'failed',
          error: event.error,
          // A `fail` step's output.
          ...(event.output === undefined ? {} : { output: event.output }),
          endedAt: at,
          ...unwound(event),
        }
      );
    case 'RunCancelled':
      return (
        summary && {
          ...summary,
          status: 'cancelled',
          error: { code: 'cancelled', message: event.reason },
          endedAt: at,
          ...unwound(event),
        }
      );
    case 'RunTimedOut':
      return (
        summary && {
          ...summary,
          status: 'timed_out',
          error: {
            code: 'timed_out',
            message: `the run's timeout (${event.timeoutMs} ms) passed before it ended`,
          },
          endedAt: at,
          ...unwound(event),
        }
      );
    case 'StepScheduled':
    case 'StepStarted':
    case 'StepCompleted':
    case 'StepFailed':
    case 'StepSkipped':
    case 'StepEntered':
    case 'LoopChecked':
    case 'WaitSatisfied':
    case 'TimerScheduled':
    case 'TimerFired':
    case 'ChildRequested':
    case 'ChildCompleted':
    case 'ChildFailed':
    case 'SignalReceived':
    case 'RunUnwinding':
      return summary;
  }
};

export interface ListFilter {
  readonly status?: string;
  readonly blueprint?: string;
  readonly limit: number;
  readonly cursor?: string;
}

/** The `runs.list` cursor that resumes after `summary`. */
export const summaryCursor = (summary: Pick<RunSummary, 'startedAt' | 'runId'>): string =>
  `${summary.startedAt}|${summary.runId}`;

/** Newest first; the cursor names the last run of the previous page. Pure. */
export const listSummaries = (
  all: Iterable<RunSummary>,
  filter: ListFilter,
): { readonly runs: readonly RunSummary[]; readonly cursor?: string } => {
  type Key = Pick<RunSummary, 'startedAt' | 'runId'>;
  const order = (a: Key, b: Key) =>
    a.startedAt === b.startedAt
      ? a.runId < b.runId
        ? -1
        : a.runId > b.runId
          ? 1
          : 0
      : a.startedAt < b.startedAt
        ? 1
        : -1;
  const sorted = [...all]
    .filter((s) => filter.status === undefined || s.status === filter.status)
    .filter((s) => filter.blueprint === undefined || s.blueprint.name === filter.blueprint)
    .sort(order);
  const cursor = filter.cursor;
  const at = cursor?.lastIndexOf('|') ?? -1;
  const after =
    cursor === undefined || at === -1
      ? undefined
      : { startedAt: cursor.slice(0, at), runId: cursor.slice(at + 1) };
  // The first run that sorts after the cursor (it need not still be in the list).
  const found = after === undefined ? 0 : sorted.findIndex((s) => order(s, after) > 0);
  const start = found === -1 ? sorted.length : found;
  const runs = sorted.slice(start, start + filter.limit);
  const last = runs[runs.length - 1];
  return start + filter.limit < sorted.length && last !== undefined
    ? { runs, cursor: summaryCursor(last) }
    : { runs };
};
