import * as Effect from 'effect/Effect';
import { checkRun, replaySteps, type ReplayStep, type StoredEvent } from '../machines/replay.ts';
import { withStore } from '../main.ts';
import { RUN_STREAM_PREFIX } from '../store/streams.ts';

/** `weft replay`: a run's machine rebuilt from its stream, event by event; `--check` for the whole store. */

/** Leaf states of a state value, e.g. `running.validate: active`. */
export const leafStates = (value: unknown, prefix = ''): string[] => {
  if (typeof value === 'string') return [prefix === '' ? value : `${prefix}: ${value}`];
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value as Record<string, unknown>).flatMap(([key, child]) =>
    leafStates(child, prefix === '' ? key : `${prefix}.${key}`),
  );
};

const short = (value: unknown, max = 140): string => {
  const text = value === undefined ? '(removed)' : JSON.stringify(value);
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
};

export const formatReplay = (steps: readonly ReplayStep[]): string =>
  steps
    .map((step) =>
      [
        `#${step.revision} ${step.type}  (${step.at})  → ${step.status}${step.activeSteps.length > 0 ? `, active: ${step.activeSteps.join(', ')}` : ''}`,
        `    state: ${
          leafStates(step.state)
            .filter((s) => !s.endsWith(': done'))
            .join(' | ') || '(all done)'
        }`,
        ...step.changes.map((c) => `    ${c.path} = ${short(c.value)}`),
      ].join('\n'),
    )
    .join('\n');

export const replayRun = (events: readonly StoredEvent[], to: number | undefined) =>
  replaySteps(events, to);

/** Replays every run in the store through today's code; the runs whose decisions differ. */
export const checkStore = async (
  url: string,
  report: (line: string) => void,
): Promise<{ readonly checked: number; readonly diverged: number }> =>
  withStore(url, async (store) => {
    const streams = new Map<string, StoredEvent[]>();
    let after: number | undefined;
    for (;;) {
      const page = await Effect.runPromise(
        store.readAll({
          streamPrefix: RUN_STREAM_PREFIX,
          limit: 5000,
          ...(after === undefined ? {} : { after }),
        }),
      );
      for (const e of page) {
        const list = streams.get(e.stream) ?? [];
        list.push({ revision: e.revision, type: e.type, data: e.data, at: e.at });
        streams.set(e.stream, list);
      }
      const last = page[page.length - 1];
      if (last === undefined || page.length < 5000) break;
      after = last.position;
    }
    let diverged = 0;
    for (const [stream, events] of streams) {
      const runId = stream.slice(RUN_STREAM_PREFIX.length);
      try {
        const result = await checkRun(events);
        if (!result.ok) {
          diverged++;
          report(
            `DIVERGED ${runId}: ${result.message}\n    recorded: ${short(result.recorded, 300)}\n    now:      ${short(result.expected, 300)}`,
          );
        }
      } catch (error) {
        diverged++;
        report(`DIVERGED ${runId}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    return { checked: streams.size, diverged };
  });
