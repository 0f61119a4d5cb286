import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, enc, type BlueprintGraph, type Diagnostic } from '../api.ts';
import { Graph } from '../Graph.tsx';
import { placeOf } from '../jsonPlace.ts';
import { go, parseJson, Problem, Section } from '../parts.tsx';
import { drawBlueprint } from './Blueprints.tsx';

/**
 * A blueprint being written: checked as one types (every diagnostic at its line, with its path,
 * code, message and hint), the graph of what is written, then put as a new version and started.
 */

const SAMPLE = `{
  "name": "hello_ui",
  "description": "Greets, waits for an approval, then finishes.",
  "signals": [{ "name": "approve", "handler": "store" }],
  "steps": [
    { "id": "greet", "type": "activity", "activity": "echo", "input": "{% $input %}" },
    { "id": "approval", "type": "wait", "signal": "approve", "timeout": "1h" },
    { "id": "done", "type": "set", "data": { "approved": "{% $data.approve %}" } }
  ]
}
`;

interface Placed extends Diagnostic {
  readonly line?: number;
  readonly column?: number;
}

interface Checked {
  readonly diagnostics: readonly Placed[];
  readonly graph?: BlueprintGraph;
  readonly valid: boolean;
}

/** A JSON.parse failure's place, from V8's message (`… (line 3 column 5)` or `at position 45`). */
const parsePlace = (text: string, message: string): { line: number; column: number } => {
  const lineColumn = /line (\d+) column (\d+)/u.exec(message);
  if (lineColumn !== null) return { line: Number(lineColumn[1]), column: Number(lineColumn[2]) };
  const position = Number(/position (\d+)/u.exec(message)?.[1] ?? text.length);
  const before = text.slice(0, position).split('\n');
  return { line: before.length, column: (before.at(-1)?.length ?? 0) + 1 };
};

export const Editor = ({
  params,
  readOnly,
}: {
  readonly params: URLSearchParams;
  readonly readOnly: boolean;
}) => {
  const from = params.get('from');
  const [text, setText] = useState(from === null ? SAMPLE : '');
  const [checked, setChecked] = useState<Checked>();
  const [saved, setSaved] = useState<{ name: string; version: number }>();
  const [input, setInput] = useState('{}');
  const [error, setError] = useState<unknown>();
  const area = useRef<HTMLTextAreaElement>(null);
  const gutter = useRef<HTMLDivElement>(null);

  useEffect(() => {
    if (from === null) return;
    api<{ blueprint: unknown }>(
      'GET',
      `/blueprints/${enc(from)}${params.has('version') ? `?version=${params.get('version') ?? ''}` : ''}`,
    )
      .then((found) => setText(`${JSON.stringify(found.blueprint, null, 2)}\n`))
      .catch(setError);
  }, [from]);

  // Checked a quarter second after the last key; an older answer never replaces a newer one.
  const asked = useRef(0);
  useEffect(() => {
    const ask = ++asked.current;
    const timer = setTimeout(() => {
      const parsed = parseJson(text);
      if (!parsed.ok) {
        setChecked({
          valid: false,
          diagnostics: [
            {
              path: '$',
              code: 'invalid_json',
              message: parsed.message,
              severity: 'error',
              ...parsePlace(text, parsed.message),
            },
          ],
        });
        return;
      }
      drawBlueprint(parsed.value)
        .then((result) => {
          if (ask !== asked.current) return;
          setChecked({
            valid: result.valid,
            ...(result.graph === undefined ? {} : { graph: result.graph }),
            diagnostics: result.diagnostics.map((d) => {
              const place = placeOf(text, d.path);
              return place === undefined ? d : { ...d, line: place.line, column: place.column };
            }),
          });
        })
        .catch(setError);
    }, 250);
    return () => clearTimeout(timer);
  }, [text]);

  const lines = useMemo(() => text.split('\n').length, [text]);
  const marked = new Map<number, Diagnostic['severity']>();
  for (const d of checked?.diagnostics ?? [])
    if (d.line !== undefined && marked.get(d.line) !== 'error') marked.set(d.line, d.severity);

  const show = (d: Placed) => {
    const textarea = area.current;
    if (textarea === null || d.line === undefined) return;
    const before = text.split('\n').slice(0, d.line - 1);
    const offset = before.reduce((sum, l) => sum + l.length + 1, 0) + (d.column ?? 1) - 1;
    textarea.focus();
    textarea.setSelectionRange(offset, offset);
    textarea.scrollTop = (d.line - 3) * 18;
  };

  const put = () => {
    const parsed = parseJson(text);
    if (!parsed.ok) return;
    setError(undefined);
    api<{ name: string; version: number }>('PUT', '/blueprints', { blueprint: parsed.value })
      .then(setSaved)
      .catch(setError);
  };

  const start = (event: Event) => {
    event.preventDefault();
    const parsed = parseJson(input);
    if (saved === undefined) return;
    if (!parsed.ok) {
      setError(new Error(`the input is not JSON: ${parsed.message}`));
      return;
    }
    api<{ runId: string }>('POST', '/runs', {
      blueprint: saved.name,
      version: saved.version,
      ...(parsed.value === undefined ? {} : { input: parsed.value }),
    })
      .then((started) => go(`/runs/${enc(started.runId)}`))
      .catch(setError);
  };

  const errors = checked?.diagnostics.filter((d) => d.severity === 'error').length ?? 0;
  return (
    <main class="editor">
      <div class="toolbar">
        <h1>Editor</h1>
        <span data-testid="editor-verdict" class={checked?.valid === true ? 'ok' : 'bad'}>
          {checked === undefined
            ? 'checking…'
            : checked.valid
              ? `valid${checked.diagnostics.length > 0 ? `, ${checked.diagnostics.length} warning(s)` : ''}`
              : `${errors} error(s)`}
        </span>
        {readOnly ? null : (
          <button data-testid="put-blueprint" disabled={checked?.valid !== true} onClick={put}>
            Put as a new version
          </button>
        )}
        {saved === undefined ? null : (
          <span data-testid="saved">
            saved{' '}
            <a href={`#/blueprints/${enc(saved.name)}?version=${saved.version}`}>
              {saved.name} v{saved.version}
            </a>
          </span>
        )}
      </div>
      <Problem error={error} />
      {saved === undefined || readOnly ? null : (
        <form class="action start" onSubmit={start}>
          <label>
            input (JSON) <textarea value={input} onInput={(e) => setInput(e.currentTarget.value)} />
          </label>
          <button type="submit" data-testid="editor-start">
            Start a run of v{saved.version}
          </button>
        </form>
      )}
      <div class="columns">
        <div class="code">
          <div class="gutter" ref={gutter} aria-hidden="true">
            {Array.from({ length: lines }, (_, i) => (
              <div class={`gutter-line ${marked.get(i + 1) ?? ''}`}>{i + 1}</div>
            ))}
          </div>
          <textarea
            ref={area}
            data-testid="editor-text"
            spellcheck={false}
            value={text}
            onInput={(e) => setText(e.currentTarget.value)}
            onScroll={(e) => {
              if (gutter.current !== null) gutter.current.scrollTop = e.currentTarget.scrollTop;
            }}
          />
        </div>
        <div class="side">
          <Section title="Diagnostics">
            <ul class="diagnostics" data-testid="diagnostics">
              {checked?.diagnostics.length === 0 ? <li class="muted">none</li> : null}
              {checked?.diagnostics.map((d) => (
                <li class={d.severity} data-code={d.code}>
                  <button class="link" onClick={() => show(d)}>
                    {d.line === undefined ? '' : `line ${d.line}:${d.column ?? 1}`}
                  </button>{' '}
                  <code>{d.code}</code> <span class="path">{d.path}</span>
                  <div>{d.message}</div>
                  {d.hint === undefined ? null : <div class="hint">{d.hint}</div>}
                </li>
              ))}
            </ul>
          </Section>
          <Section title="Graph">
            <div class="graph-box">
              {checked?.graph === undefined ? (
                <p class="muted">The graph shows when the blueprint is valid.</p>
              ) : (
                <Graph graph={checked.graph} />
              )}
            </div>
          </Section>
        </div>
      </div>
    </main>
  );
};
