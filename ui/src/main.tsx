import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api } from './api.ts';
import { Activities } from './pages/Activities.tsx';
import { Blueprints } from './pages/Blueprints.tsx';
import { Editor } from './pages/Editor.tsx';
import { Run } from './pages/Run.tsx';
import { Runs } from './pages/Runs.tsx';
import { usePlace } from './parts.tsx';
import './style.css';

/** The weft UI: runs, a run, blueprints, the editor, activities; pages chosen by the URL's hash. */

const App = () => {
  const place = usePlace();
  const [readOnly, setReadOnly] = useState(true);
  useEffect(() => {
    api<{ readOnly: boolean }>('GET', '')
      .then((info) => setReadOnly(info.readOnly))
      .catch(() => setReadOnly(true));
  }, []);
  const [section = 'runs', id] = place.path.split('/').filter((part) => part !== '');
  const named = id === undefined ? undefined : decodeURIComponent(id);
  const page =
    section === 'runs' && named !== undefined ? (
      <Run runId={named} readOnly={readOnly} />
    ) : section === 'blueprints' ? (
      <Blueprints name={named} params={place.params} readOnly={readOnly} />
    ) : section === 'editor' ? (
      <Editor params={place.params} readOnly={readOnly} />
    ) : section === 'activities' ? (
      <Activities />
    ) : (
      <Runs params={place.params} />
    );
  return (
    <>
      <nav class="top">
        <a class="brand" href="#/runs">
          weft
        </a>
        {(['runs', 'blueprints', 'editor', 'activities'] as const).map((s) => (
          <a class={section === s ? 'current' : ''} href={`#/${s}`}>
            {s}
          </a>
        ))}
        {readOnly ? <span class="read-only">read-only</span> : null}
      </nav>
      {page}
    </>
  );
};

const root = document.getElementById('app');
if (root !== null) render(<App />, root);
