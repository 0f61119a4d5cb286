import { useEffect, useState } from 'preact/hooks';
import { api, enc, type BlueprintGraph, type Diagnostic } from '../api.ts';
import { Graph } from '../Graph.tsx';
import { go, Json, parseJson, Problem, Section } from '../parts.tsx';

/**
 * The blueprints: each with its versions; a version's JSON and its graph; start a run of it with an
 * input; open it in the editor to write the next version.
 */

interface Listed {
  readonly name: string;
  readonly latestVersion: number;
}

interface Version {
  readonly blueprint: unknown;
  readonly version: number;
  readonly hash: string;
}

export const drawBlueprint = (
  blueprint: unknown,
): Promise<{ valid: boolean; diagnostics: Diagnostic[]; graph?: BlueprintGraph }> =>
  api('POST', '/blueprints/graph', { blueprint });

export const Blueprints = ({
  name,
  params,
  readOnly,
}: {
  readonly name: string | undefined;
  readonly params: URLSearchParams;
  readonly readOnly: boolean;
}) => {
  const [list, setList] = useState<readonly Listed[]>([]);
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    api<{ blueprints: Listed[] }>('GET', '/blueprints')
      .then((data) => setList(data.blueprints))
      .catch(setError);
  }, []);
  const latest = list.find((b) => b.name === name)?.latestVersion;
  const version = Number(params.get('version') ?? latest ?? 0) || latest;

  return (
    <main class="blueprints">
      <div class="toolbar">
        <h1>Blueprints</h1>
        {readOnly ? null : <a href="#/editor">New blueprint…</a>}
      </div>
      <Problem error={error} />
      <div class="columns narrow-left">
        <nav class="list" data-testid="blueprint-list">
          {list.map((b) => (
            <a
              class={b.name === name ? 'current' : ''}
              href={`#/blueprints/${enc(b.name)}`}
              data-blueprint={b.name}
            >
              {b.name} <span class="muted">v{b.latestVersion}</span>
            </a>
          ))}
        </nav>
        {name === undefined || latest === undefined || version === undefined ? (
          <p class="muted">Pick a blueprint.</p>
        ) : (
          <BlueprintVersion name={name} version={version} latest={latest} readOnly={readOnly} />
        )}
      </div>
    </main>
  );
};

const BlueprintVersion = ({
  name,
  version,
  latest,
  readOnly,
}: {
  readonly name: string;
  readonly version: number;
  readonly latest: number;
  readonly readOnly: boolean;
}) => {
  const [found, setFound] = useState<Version>();
  const [graph, setGraph] = useState<BlueprintGraph>();
  const [input, setInput] = useState('{}');
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    setFound(undefined);
    setGraph(undefined);
    api<Version>('GET', `/blueprints/${enc(name)}?version=${version}`)
      .then(async (data) => {
        setFound(data);
        setGraph((await drawBlueprint(data.blueprint)).graph);
      })
      .catch(setError);
  }, [name, version]);

  const start = (event: Event) => {
    event.preventDefault();
    const parsed = parseJson(input);
    if (!parsed.ok) {
      setError(new Error(`the input is not JSON: ${parsed.message}`));
      return;
    }
    api<{ runId: string }>('POST', '/runs', {
      blueprint: name,
      version,
      ...(parsed.value === undefined ? {} : { input: parsed.value }),
    })
      .then((started) => go(`/runs/${enc(started.runId)}`))
      .catch(setError);
  };

  return (
    <div class="grow">
      <div class="toolbar">
        <h2>{name}</h2>
        <span class="versions">
          {Array.from({ length: latest }, (_, i) => latest - i).map((v) => (
            <a
              class={v === version ? 'current' : ''}
              href={`#/blueprints/${enc(name)}?version=${v}`}
            >
              v{v}
            </a>
          ))}
        </span>
        {readOnly ? null : (
          <a href={`#/editor?from=${enc(name)}&version=${version}`} data-testid="edit-blueprint">
            Edit as a new version…
          </a>
        )}
      </div>
      <Problem error={error} />
      {readOnly ? null : (
        <form class="action start" onSubmit={start}>
          <label>
            input (JSON){' '}
            <textarea
              data-testid="start-input"
              value={input}
              onInput={(e) => setInput(e.currentTarget.value)}
            />
          </label>
          <button type="submit" data-testid="start-run">
            Start a run of v{version}
          </button>
        </form>
      )}
      <div class="columns">
        <Section title="Graph">
          <div class="graph-box">{graph === undefined ? null : <Graph graph={graph} />}</div>
        </Section>
        <Section title={`v${version}${found === undefined ? '' : ` · ${found.hash.slice(0, 12)}`}`}>
          <Json value={found?.blueprint} testid="blueprint-json" />
        </Section>
      </div>
    </div>
  );
};
