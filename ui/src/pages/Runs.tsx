import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, ApiError, enc, liveEvents, query, type RunSummary } from '../api.ts';
import { duration, go, Problem, Status, throttle, time } from '../parts.tsx';

/**
 * Every run, newest first: status, blueprint and version, start, end, duration. Filters by status
 * and blueprint, pages by the list's cursor, and refreshes itself as runs start and end (the
 * events stream). Search jumps to a run by its id.
 */

const STATUSES = ['', 'running', 'completed', 'failed', 'cancelled', 'timed_out'];
const PAGE = 25;
const ENDS = new Set(['RunStarted', 'RunCompleted', 'RunFailed', 'RunCancelled', 'RunTimedOut']);

export const Runs = ({ params }: { readonly params: URLSearchParams }) => {
  const status = params.get('status') ?? '';
  const blueprint = params.get('blueprint') ?? '';
  // The cursors of the pages before this one, to go back.
  const [cursors, setCursors] = useState<readonly string[]>([]);
  const cursor = cursors.at(-1);
  const [page, setPage] = useState<{ runs: readonly RunSummary[]; cursor?: string }>();
  const [names, setNames] = useState<readonly string[]>([]);
  const [error, setError] = useState<unknown>();
  const [search, setSearch] = useState('');
  const [now, setNow] = useState(Date.now());

  const load = useMemo(
    () => () => {
      api<{ runs: RunSummary[]; cursor?: string }>(
        'GET',
        `/runs${query({ status, blueprint, cursor, limit: PAGE })}`,
      )
        .then((data) => {
          setPage(data);
          setError(undefined);
          setNow(Date.now());
        })
        .catch(setError);
    },
    [status, blueprint, cursor],
  );

  useEffect(load, [load]);
  useEffect(() => {
    const refresh = throttle(load, 250);
    return liveEvents(undefined, (event) => {
      if (ENDS.has(event.type)) refresh();
    });
  }, [load]);
  useEffect(() => {
    // Running runs' durations grow.
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, []);
  useEffect(() => {
    api<{ blueprints: { name: string }[] }>('GET', '/blueprints')
      .then((data) => setNames(data.blueprints.map((b) => b.name)))
      .catch(() => setNames([]));
  }, []);
  useEffect(() => setCursors([]), [status, blueprint]);

  const filter = (name: string, value: string) => {
    const next = new URLSearchParams(params);
    if (value === '') next.delete(name);
    else next.set(name, value);
    const text = next.toString();
    go(`/runs${text === '' ? '' : `?${text}`}`);
  };

  const find = (event: Event) => {
    event.preventDefault();
    const id = search.trim();
    if (id === '') return;
    api<RunSummary>('GET', `/runs/${enc(id)}`)
      .then(() => go(`/runs/${enc(id)}`))
      .catch((e: unknown) =>
        setError(
          e instanceof ApiError && e.code === 'run_not_found'
            ? new ApiError('run_not_found', `no run has the id '${id}'`)
            : e,
        ),
      );
  };

  return (
    <main>
      <div class="toolbar">
        <h1>Runs</h1>
        <Filter
          name="status"
          value={status}
          options={STATUSES.map((s) => [s, s === '' ? 'any' : s.replace('_', ' ')])}
          onPick={filter}
        />
        <Filter
          name="blueprint"
          value={blueprint}
          options={[['', 'any'], ...names.map((n) => [n, n] as const)]}
          onPick={filter}
        />
        <form class="search" onSubmit={find}>
          <input
            data-testid="search-run"
            placeholder="run id"
            value={search}
            onInput={(e) => setSearch(e.currentTarget.value)}
          />
          <button type="submit">Open</button>
        </form>
      </div>
      <Problem error={error} />
      <table class="runs" data-testid="runs">
        <thead>
          <tr>
            <th>run</th>
            <th>status</th>
            <th>blueprint</th>
            <th>started</th>
            <th>ended</th>
            <th>duration</th>
          </tr>
        </thead>
        <tbody>
          {page?.runs.map((run) => (
            <tr key={run.runId} data-run={run.runId} data-status={run.status}>
              <td>
                <a href={`#/runs/${enc(run.runId)}`}>{run.runId}</a>
              </td>
              <td>
                <Status status={run.status} />
              </td>
              <td>
                <a
                  href={`#/blueprints/${enc(run.blueprint.name)}?version=${run.blueprint.version}`}
                >
                  {run.blueprint.name}
                </a>{' '}
                <span class="muted">v{run.blueprint.version}</span>
              </td>
              <td>{time(run.startedAt)}</td>
              <td>{time(run.endedAt)}</td>
              <td>{duration(run.startedAt, run.endedAt, now)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {page !== undefined && page.runs.length === 0 ? <p class="muted">No runs yet.</p> : null}
      <div class="pager">
        <button disabled={cursors.length === 0} onClick={() => setCursors(cursors.slice(0, -1))}>
          ← newer
        </button>
        <button
          data-testid="next-page"
          disabled={page?.cursor === undefined}
          onClick={() => page?.cursor !== undefined && setCursors([...cursors, page.cursor])}
        >
          older →
        </button>
      </div>
    </main>
  );
};

const Filter = ({
  name,
  value,
  options,
  onPick,
}: {
  readonly name: string;
  readonly value: string;
  readonly options: readonly (readonly [string, string])[];
  readonly onPick: (name: string, value: string) => void;
}) => (
  <label>
    {name}{' '}
    <select
      data-testid={`filter-${name}`}
      value={value}
      onChange={(e) => onPick(name, e.currentTarget.value)}
    >
      {options.map(([option, label]) => (
        <option value={option}>{label}</option>
      ))}
    </select>
  </label>
);
