import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError } from './api.ts';

/** Small pieces every page uses: a status badge, times, JSON, errors, the hash router. */

export const Status = ({ status }: { readonly status: string }) => (
  <span class={`status status-${status}`} data-status={status}>
    {status.replace('_', ' ')}
  </span>
);

export const time = (iso: string | undefined): string =>
  iso === undefined ? '' : new Date(iso).toLocaleString(undefined, { hour12: false });

export const duration = (from: string, to: string | undefined, now: number): string => {
  const ms = (to === undefined ? now : Date.parse(to)) - Date.parse(from);
  if (!Number.isFinite(ms) || ms < 0) return '';
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
  return `${Math.floor(ms / 3_600_000)} h ${Math.round((ms % 3_600_000) / 60_000)} min`;
};

export const Json = ({ value, testid }: { readonly value: unknown; readonly testid?: string }) => (
  <pre class="json" data-testid={testid}>
    {value === undefined ? '—' : JSON.stringify(value, null, 2)}
  </pre>
);

export const Problem = ({ error }: { readonly error: unknown }) =>
  error === undefined || error === null ? null : (
    <p class="problem" role="alert">
      {error instanceof ApiError ? <code>{error.code}</code> : null} {(error as Error).message}
    </p>
  );

export const Section = ({
  title,
  children,
  aside,
}: {
  readonly title: string;
  readonly children: ComponentChildren;
  readonly aside?: ComponentChildren;
}) => (
  <section class="panel">
    <header>
      <h2>{title}</h2>
      {aside}
    </header>
    {children}
  </section>
);

/** The page's place: `#/runs/abc?x=1` → path `/runs/abc`, params `x=1`. */
export interface Place {
  readonly path: string;
  readonly params: URLSearchParams;
}

const placeNow = (): Place => {
  const hash = location.hash.replace(/^#/u, '') || '/runs';
  const [path = '/runs', search = ''] = hash.split('?');
  return { path, params: new URLSearchParams(search) };
};

export const usePlace = (): Place => {
  const [place, setPlace] = useState(placeNow);
  useEffect(() => {
    const update = () => setPlace(placeNow());
    addEventListener('hashchange', update);
    return () => removeEventListener('hashchange', update);
  }, []);
  return place;
};

export const go = (path: string): void => {
  location.hash = `#${path}`;
};

/** Calls `run` at most once per `ms`, trailing: live updates refetch without a storm. */
export const throttle = (run: () => void, ms: number): (() => void) => {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return () => {
    if (timer !== undefined) return;
    timer = setTimeout(() => {
      timer = undefined;
      run();
    }, ms);
  };
};

/** A JSON text typed by a person: its value, or why it is not JSON. */
export const parseJson = (
  text: string,
):
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly message: string } => {
  if (text.trim() === '') return { ok: true, value: undefined };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (error) {
    return { ok: false, message: (error as Error).message };
  }
};
