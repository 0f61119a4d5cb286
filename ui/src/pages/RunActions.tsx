import { useEffect, useState } from 'preact/hooks';
import { api, enc } from '../api.ts';
import { Json, parseJson, Problem, Section } from '../parts.tsx';

/** A running run's actions: send a signal (the names it accepts offered), run a query, cancel. */

export interface Handlers {
  readonly signals: readonly string[];
  readonly queries: readonly string[];
}

const BUILT_IN_QUERIES = ['get_status', 'get_data', 'get_signals', 'get_handlers'];

export const names = (list: unknown): string[] =>
  Array.isArray(list)
    ? list.flatMap((entry: unknown) =>
        typeof entry === 'string'
          ? [entry]
          : typeof entry === 'object' && entry !== null && 'name' in entry
            ? [String((entry as { name: unknown }).name)]
            : [],
      )
    : [];

/** Signal, query and cancel, for a running run. */
export const Actions = ({
  runId,
  declared,
}: {
  readonly runId: string;
  readonly declared: Handlers;
}) => {
  const [handlers, setHandlers] = useState<Handlers>(declared);
  const [signal, setSignal] = useState('');
  const [payload, setPayload] = useState('');
  const [queryName, setQueryName] = useState('get_status');
  const [answer, setAnswer] = useState<{ readonly value: unknown }>();
  const [said, setSaid] = useState<string>();
  const [error, setError] = useState<unknown>();

  useEffect(() => {
    // What this run accepts right now, and the signals its wait steps wait for.
    Promise.all([
      api<{ signals: unknown; queries: unknown }>(
        'POST',
        `/runs/${enc(runId)}/query/get_handlers`,
        {},
      ),
      api<{ waitingFor?: unknown }>('POST', `/runs/${enc(runId)}/query/get_status`, {}),
    ])
      .then(([accepts, status]) => {
        const signals = [
          ...new Set([...names(status.waitingFor), ...names(accepts.signals), ...declared.signals]),
        ];
        setHandlers({
          signals,
          queries: [
            ...new Set([...BUILT_IN_QUERIES, ...names(accepts.queries), ...declared.queries]),
          ],
        });
        setSignal((current) => (current === '' ? (signals[0] ?? '') : current));
      })
      .catch(setError);
  }, [runId]);

  const body = (): unknown => {
    const parsed = parseJson(payload);
    if (!parsed.ok) throw new Error(`the payload is not JSON: ${parsed.message}`);
    return parsed.value ?? {};
  };
  const act = (work: () => Promise<void>) => {
    setError(undefined);
    setSaid(undefined);
    work().catch(setError);
  };

  return (
    <Section title="Actions">
      <form
        class="action"
        onSubmit={(e) => {
          e.preventDefault();
          act(async () => {
            await api('POST', `/runs/${enc(runId)}/signal/${enc(signal)}`, body());
            setSaid(`signal ${signal} sent`);
          });
        }}
      >
        <label>
          signal{' '}
          <input
            data-testid="signal-name"
            list="signal-names"
            value={signal}
            onInput={(e) => setSignal(e.currentTarget.value)}
          />
          <datalist id="signal-names">
            {handlers.signals.map((s) => (
              <option value={s} />
            ))}
          </datalist>
        </label>
        <textarea
          data-testid="signal-payload"
          placeholder='payload, JSON (e.g. {"approved": true})'
          value={payload}
          onInput={(e) => setPayload(e.currentTarget.value)}
        />
        <button type="submit" data-testid="send-signal" disabled={signal === ''}>
          Send signal
        </button>
      </form>
      <form
        class="action"
        onSubmit={(e) => {
          e.preventDefault();
          act(async () => {
            setAnswer({
              value: await api('POST', `/runs/${enc(runId)}/query/${enc(queryName)}`, {}),
            });
          });
        }}
      >
        <label>
          query{' '}
          <select
            data-testid="query-name"
            value={queryName}
            onChange={(e) => setQueryName(e.currentTarget.value)}
          >
            {handlers.queries.map((q) => (
              <option value={q}>{q}</option>
            ))}
          </select>
        </label>
        <button type="submit" data-testid="run-query">
          Run query
        </button>
      </form>
      {answer === undefined ? null : <Json value={answer.value} testid="query-answer" />}
      <button
        class="danger"
        data-testid="cancel-run"
        onClick={() => {
          if (confirm(`Cancel run ${runId}?`))
            act(async () => {
              await api('POST', `/runs/${enc(runId)}/cancel`, {});
              setSaid('cancel requested');
            });
        }}
      >
        Cancel run
      </button>
      {said === undefined ? null : <p class="said">{said}</p>}
      <Problem error={error} />
    </Section>
  );
};
