import { useEffect, useState } from 'preact/hooks';
import { api, enc, query, type ActivityInfo, type RunState, type RunSummary } from '../api.ts';
import { Problem, Section, time } from '../parts.tsx';

/**
 * What the workers serve: each activity, by how many workers, last heard from when; and the
 * active steps of running runs that wait for an activity no worker serves.
 */

interface Stranded {
  readonly runId: string;
  readonly stepId: string;
  readonly activity: string;
}

/** How many running runs the check looks at (each is one fold of its history). */
const CHECKED_RUNS = 50;

/**
 * The running steps whose activity (a literal name in the blueprint) no worker serves, in the
 * newest running runs. A step whose activity is an expression is not checked.
 */
const strandedSteps = async (served: ReadonlySet<string>): Promise<Stranded[]> => {
  const { runs } = await api<{ runs: RunSummary[] }>(
    'GET',
    `/runs${query({ status: 'running', limit: CHECKED_RUNS })}`,
  );
  const found = await Promise.all(
    runs.map(async (run) => {
      const state = await api<RunState>('GET', `/runs/${enc(run.runId)}/state?graph=true`);
      return (state.graph?.nodes ?? []).flatMap((node) => {
        const stepState = state.stepStates[node.id];
        return node.activity !== undefined &&
          !served.has(node.activity) &&
          (stepState === 'running' || stepState === 'retrying')
          ? [{ runId: run.runId, stepId: node.id, activity: node.activity }]
          : [];
      });
    }),
  );
  return found.flat();
};
export const Activities = () => {
  const [activities, setActivities] = useState<readonly ActivityInfo[]>();
  const [error, setError] = useState<unknown>();
  const [stranded, setStranded] = useState<readonly Stranded[]>();
  // Checked once the activities are known, and again on demand (not every refresh: it folds runs).
  const [check, setCheck] = useState(0);
  const known = activities !== undefined;
  useEffect(() => {
    if (activities === undefined) return;
    strandedSteps(new Set(activities.filter((a) => a.workers > 0).map((a) => a.name)))
      .then(setStranded)
      .catch(setError);
  }, [known, check]);
  useEffect(() => {
    const load = () =>
      api<{ activities: ActivityInfo[] }>('GET', '/activities')
        .then((data) => {
          setActivities(data.activities);
          setError(undefined);
        })
        .catch(setError);
    void load();
    const timer = setInterval(() => void load(), 5000);
    return () => clearInterval(timer);
  }, []);
  return (
    <main>
      <div class="toolbar">
        <h1>Activities</h1>
        <span class="muted">
          {activities === undefined ? '' : `${activities.length} served`} · refreshed every 5 s
        </span>
      </div>
      <Problem error={error} />
      <table data-testid="activities">
        <thead>
          <tr>
            <th>activity</th>
            <th>workers</th>
            <th>last heard from</th>
            <th>description</th>
          </tr>
        </thead>
        <tbody>
          {activities?.map((a) => (
            <tr key={a.name} data-activity={a.name}>
              <td>
                <code>{a.name}</code>
              </td>
              <td class={a.workers === 0 ? 'bad' : ''}>{a.workers}</td>
              <td>{time(a.lastSeen)}</td>
              <td class="muted">{a.description ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {activities?.length === 0 ? (
        <p class="muted">
          No worker has announced an activity: steps that need one wait until a worker does.
        </p>
      ) : null}
      <Section
        title="Steps waiting for an activity nobody serves"
        aside={<button onClick={() => setCheck(check + 1)}>check again</button>}
      >
        <p class="muted">
          The active steps of the {CHECKED_RUNS} newest running runs whose activity no worker serves
          now (a step whose activity is an expression is not checked).
        </p>
        {stranded === undefined ? null : stranded.length === 0 ? (
          <p data-testid="stranded-none">none</p>
        ) : (
          <table data-testid="stranded">
            <tbody>
              {stranded.map((s) => (
                <tr key={`${s.runId}/${s.stepId}`}>
                  <td>
                    <a href={`#/runs/${enc(s.runId)}`}>{s.runId}</a>
                  </td>
                  <td>{s.stepId}</td>
                  <td>
                    <code>{s.activity}</code>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Section>
    </main>
  );
};
