import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, savedToken, saveToken } from './api.ts';
import { Activities } from './pages/Activities.tsx';
import { Blueprints } from './pages/Blueprints.tsx';
import { Editor } from './pages/Editor.tsx';
import { Run } from './pages/Run.tsx';
import { Runs } from './pages/Runs.tsx';
import { usePlace } from './parts.tsx';
import './style.css';

/** The weft UI: runs, a run, blueprints, the editor, activities; pages chosen by the URL's hash. */

/** Asks for the API's token (`weft serve --http-token`) and keeps it for the tab. */
const TokenForm = ({ wrong }: { readonly wrong: boolean }) => {
  const [token, setToken] = useState('');
  return (
    <main class="token">
      <h1>This weft needs its token</h1>
      <p>
        {wrong
          ? "That token is not this weft API's."
          : 'The runtime was started with --http-token; give the token to see and act on runs.'}
      </p>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          saveToken(token.trim());
          location.reload();
        }}
      >
        <input
          type="password"
          aria-label="token"
          autoComplete="current-password"
          value={token}
          onInput={(e) => setToken(e.currentTarget.value)}
        />
        <button type="submit">Open</button>
      </form>
    </main>
  );
};

const App = () => {
  const place = usePlace();
  const [readOnly, setReadOnly] = useState(true);
  const [locked, setLocked] = useState<'no' | 'missing' | 'wrong'>('no');
  useEffect(() => {
    api<{ readOnly: boolean }>('GET', '')
      .then((info) => setReadOnly(info.readOnly))
      .catch((error: unknown) => {
        setReadOnly(true);
        if (error instanceof ApiError && error.code === 'unauthorized')
          setLocked(savedToken() === undefined ? 'missing' : 'wrong');
      });
  }, []);
  if (locked !== 'no') return <TokenForm wrong={locked === 'wrong'} />;
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
