import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import {
  api,
  enc,
  history,
  liveEvents,
  query,
  type RunState,
  type RunSummary,
  type StoredEvent,
} from '../api.ts';
import { Graph } from '../Graph.tsx';
import { Actions, names, type Handlers } from './RunActions.tsx';
import { Timeline } from './RunTimeline.tsx';
import { duration, Json, Problem, Section, Status, throttle, time } from '../parts.tsx';

/**
 * One run: its blueprint drawn with each step coloured by its state, live while it moves; its
 * event timeline; a replay slider that shows the run after event N (the fold `weft replay --to N`
 * prints); map progress; links to its parent and child runs; and the actions a running run takes:
 * a signal, a query, cancel.
 */

export const Run = ({
  runId,
  readOnly,
}: {
  readonly runId: string;
  readonly readOnly: boolean;
}) => {
  const [summary, setSummary] = useState<RunSummary>();
  const [events, setEvents] = useState<readonly StoredEvent[]>([]);
  // The event the page shows the run after; undefined: the newest, following the run live.
  const [at, setAt] = useState<number>();
  const [state, setState] = useState<RunState>();
  const [selected, setSelected] = useState<string>();
  const [error, setError] = useState<unknown>();
  const asked = useRef(0);

  // New events are read from the last one known on: a long run's history is read once.
  const known = useRef<{ runId: string; events: readonly StoredEvent[] }>({ runId, events: [] });
  const refresh = useMemo(
    () => () => {
      api<RunSummary>('GET', `/runs/${enc(runId)}`)
        .then(setSummary)
        .catch(setError);
      const from = known.current.runId === runId ? known.current.events.length : 0;
      history(runId, from)
        .then((more) => {
          if (known.current.runId !== runId) known.current = { runId, events: [] };
          // Two reads may overlap: keep only what is new, and only when nothing is missing.
          const count = known.current.events.length;
          const fresh = more.filter((event) => event.revision >= count);
          if (fresh[0]?.revision !== count) return;
          known.current = { runId, events: [...known.current.events, ...fresh] };
          setEvents(known.current.events);
        })
        .catch(setError);
    },
    [runId],
  );
  useEffect(() => {
    known.current = { runId, events: [] };
    setEvents([]);
    setAt(undefined);
    setSelected(undefined);
    setState(undefined);
    setSummary(undefined);
    refresh();
    return liveEvents(runId, throttle(refresh, 120));
  }, [runId, refresh]);

  // The state after `at` (or the newest), asked again whenever new events arrive; a slower
  // answer to an older question never overwrites a newer one.
  const last = events.length - 1;
  useEffect(() => {
    if (events.length === 0) return;
    const ask = ++asked.current;
    api<RunState>('GET', `/runs/${enc(runId)}/state${query({ at, graph: 'true' })}`)
      .then((next) => {
        if (ask === asked.current) setState(next);
      })
      .catch(setError);
  }, [runId, at, last]);

  const started = events[0]?.data as
    | {
        blueprint?: { content?: { signals?: unknown; queries?: unknown } };
        parent?: { runId: string; stepId: string; item?: number };
      }
    | undefined;
  const declared: Handlers = {
    signals: names(started?.blueprint?.content?.signals),
    queries: names(started?.blueprint?.content?.queries),
  };
  const shown = at ?? last;

  return (
    <main class="run">
      <div class="toolbar">
        <h1>
          Run <code data-testid="run-id">{runId}</code>
        </h1>
        {summary === undefined ? null : <Status status={summary.status} />}
        {summary === undefined ? null : (
          <span class="muted">
            <a
              href={`#/blueprints/${enc(summary.blueprint.name)}?version=${summary.blueprint.version}`}
            >
              {summary.blueprint.name} v{summary.blueprint.version}
            </a>{' '}
            · started {time(summary.startedAt)}
            {summary.endedAt === undefined
              ? ''
              : ` · ended ${time(summary.endedAt)} · ${duration(summary.startedAt, summary.endedAt, Date.now())}`}
          </span>
        )}
        {started?.parent === undefined ? null : (
          <span>
            child of{' '}
            <a data-testid="parent-link" href={`#/runs/${enc(started.parent.runId)}`}>
              {started.parent.runId}
            </a>{' '}
            (step {started.parent.stepId}
            {started.parent.item === undefined ? '' : `[${started.parent.item}]`})
          </span>
        )}
      </div>
      <Problem error={error} />
      {summary?.error === undefined ? null : (
        <p class="problem">
          <code>{summary.error.code}</code> {summary.error.message}
        </p>
      )}
      <div class="replay">
        <label for="slider">
          after event <b data-testid="slider-at">{shown}</b> of {last}
          {at === undefined ? <span class="live"> · live</span> : null}
        </label>
        <input
          id="slider"
          data-testid="slider"
          type="range"
          min={0}
          max={Math.max(last, 0)}
          value={shown}
          onInput={(e) => {
            const n = Number(e.currentTarget.value);
            setAt(n >= last ? undefined : n);
          }}
        />
        <button disabled={at === undefined} onClick={() => setAt(undefined)}>
          follow live
        </button>
      </div>
      <div class="columns">
        <Section title="Steps">
          <div class="graph-box">
            {state?.graph === undefined ? null : (
              <Graph
                graph={state.graph}
                states={state.stepStates}
                progress={state.progress}
                selected={selected}
                onSelect={setSelected}
              />
            )}
          </div>
          <Legend />
        </Section>
        <div class="side">
          <Section title={`State after event ${shown}`}>
            <dl class="facts">
              <dt>after event</dt>
              <dd data-testid="state-revision">{state?.revision}</dd>
              <dt>status</dt>
              <dd data-testid="state-status">{state?.status}</dd>
              <dt>active steps</dt>
              <dd data-testid="active-steps">{state?.activeSteps.join(', ') || '—'}</dd>
              <dt>machine</dt>
              <dd>
                <code data-testid="machine-state">{JSON.stringify(state?.state)}</code>
              </dd>
              {Object.entries(state?.progress ?? {}).map(([id, p]) => (
                <>
                  <dt>{id}</dt>
                  <dd data-testid={`progress-${id}`}>
                    {p.done}/{p.total} done{p.failed > 0 ? `, ${p.failed} failed` : ''}
                  </dd>
                </>
              ))}
            </dl>
            {selected === undefined ? null : (
              <>
                <h3>
                  {selected}: {state?.stepStates[selected]}
                </h3>
                <Json value={state?.steps[selected]} testid="selected-output" />
              </>
            )}
            <h3>$data</h3>
            <Json value={state?.data} testid="state-data" />
            <details>
              <summary>step outputs</summary>
              <Json value={state?.steps} testid="state-steps" />
            </details>
          </Section>
          {readOnly || summary?.status !== 'running' ? null : (
            <Actions runId={runId} declared={declared} />
          )}
          {summary === undefined || summary.status === 'running' ? null : (
            <Section title="Result">
              <Json value={summary.output ?? summary.error} testid="run-output" />
            </Section>
          )}
        </div>
      </div>
      <Section title="Timeline">
        <Timeline events={events} shown={shown} onPick={(n) => setAt(n >= last ? undefined : n)} />
      </Section>
    </main>
  );
};

const Legend = () => (
  <p class="legend">
    {['pending', 'scheduled', 'running', 'retrying', 'completed', 'failed', 'skipped'].map((s) => (
      <span class={`swatch node-${s}`}>{s}</span>
    ))}
  </p>
);
