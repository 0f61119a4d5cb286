import type { Diagnostic } from '../../src/blueprints/diagnostics.ts';
import type { ActivityInfo, RunEvent as StoredEvent } from '../../src/client/index.ts';
import type { RunSummary } from '../../src/projections/runSummary.ts';
import type { BlueprintGraph, StepState } from '../../src/projections/runGraph.ts';

/**
 * The pages' one door to weft: the HTTP API the runtime serves under `/api/` (each route one
 * request of the NATS API) and its server-sent events. Replies are `{ok, data}` or `{ok: false,
 * error}`; a failure is thrown as an `ApiError` carrying the error code.
 */

export type { ActivityInfo, BlueprintGraph, Diagnostic, RunSummary, StepState, StoredEvent };

export type RunStatus = RunSummary['status'];

/** A run after event N, as `weft replay --to N` folds it (`GET /api/runs/<id>/state`). */
export interface RunState {
  readonly revision: number;
  readonly events: number;
  readonly status: string;
  readonly state: unknown;
  readonly activeSteps: readonly string[];
  readonly steps: Readonly<Record<string, unknown>>;
  readonly data: unknown;
  readonly progress: Readonly<
    Record<string, { readonly done: number; readonly failed: number; readonly total: number }>
  >;
  readonly stepStates: Readonly<Record<string, StepState>>;
  readonly graph?: BlueprintGraph;
}

/** Where the API's token is kept for this tab (`weft serve --http-token`), once given. */
const TOKEN_KEY = 'weft-token';

export const savedToken = (): string | undefined => {
  try {
    return sessionStorage.getItem(TOKEN_KEY) ?? undefined;
  } catch {
    return undefined;
  }
};

/** Keeps the token for this tab (an empty one forgets it). */
export const saveToken = (token: string): void => {
  if (token === '') sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, token);
};

export class ApiError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

type Reply<T> =
  | { readonly ok: true; readonly data: T }
  | { readonly ok: false; readonly error: { readonly code: string; readonly message: string } };

export const api = async <T>(
  method: 'GET' | 'POST' | 'PUT',
  path: string,
  body?: unknown,
): Promise<T> => {
  let response: Response;
  try {
    const token = savedToken();
    response = await fetch(`/api${path}`, {
      method,
      headers: {
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (error) {
    throw new ApiError('unavailable', `weft does not answer: ${String(error)}`);
  }
  const reply = (await response.json().catch(() => undefined)) as Reply<T> | undefined;
  if (reply === undefined) throw new ApiError('internal', `HTTP ${response.status}, not JSON`);
  if (!reply.ok) throw new ApiError(reply.error.code, reply.error.message);
  return reply.data;
};

export const query = (params: Readonly<Record<string, string | number | undefined>>): string => {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params))
    if (value !== undefined && value !== '') search.set(key, String(value));
  const text = search.toString();
  return text === '' ? '' : `?${text}`;
};

export const enc = encodeURIComponent;

/** A run's events from `start` on, page by page. */
export const history = async (runId: string, start = 0): Promise<StoredEvent[]> => {
  const events: StoredEvent[] = [];
  for (let from: number | undefined = start; from !== undefined;) {
    const page: { events: StoredEvent[]; next?: number } = await api(
      'GET',
      `/runs/${enc(runId)}/history${query({ from, limit: 5000 })}`,
    );
    events.push(...page.events);
    from = page.next;
  }
  return events;
};

export interface LiveEvent {
  readonly runId: string;
  readonly type: string;
}

/** Run events as they are committed (all runs, or one); returns the function that stops them. */
export const liveEvents = (
  runId: string | undefined,
  on: (event: LiveEvent) => void,
): (() => void) => {
  // An EventSource cannot set headers: the token goes in the URL (accepted on this route only).
  const source = new EventSource(`/api/events${query({ runId, access_token: savedToken() })}`);
  const listener = (message: MessageEvent<string>) => {
    try {
      on(JSON.parse(message.data) as LiveEvent);
    } catch {
      // A message that is not JSON is not an event.
    }
  };
  // The server names each message after its event's type (`event: StepCompleted`).
  const types = [
    'RunStarted',
    'StepScheduled',
    'StepStarted',
    'StepCompleted',
    'StepFailed',
    'StepSkipped',
    'StepEntered',
    'LoopChecked',
    'WaitSatisfied',
    'TimerScheduled',
    'TimerFired',
    'ChildRequested',
    'ChildCompleted',
    'ChildFailed',
    'SignalReceived',
    'RunCompleted',
    'RunFailed',
    'RunUnwinding',
    'RunCancelled',
    'RunTimedOut',
  ];
  for (const type of types) source.addEventListener(type, listener);
  return () => source.close();
};
