import { runBinding } from '../machines/identity.ts';
import type { Json } from '../blueprints/json.ts';
import type { ExpressionCache } from '../expressions/sandbox.ts';
import { toRunEvent } from '../machines/events.ts';
import { statusOf } from '../machines/run.ts';
import { answerQuery } from '../projections/runQueries.ts';
import { weftError } from '../wire/errors.ts';
import type { Attempts } from './attempts.ts';
import type { Deadlines } from './deadlines.ts';
import type { LoadedRun } from './runCache.ts';
import type { RunStreams } from './runStreams.ts';
import { activeTasks } from './taskStatus.ts';

/** What a query may look at besides the run's folded state. */
export interface QueryDeps {
  readonly streams: RunStreams;
  readonly expressions: ExpressionCache;
  readonly deadlines: Pick<Deadlines, 'isStarted'>;
  readonly attempts: Pick<Attempts, 'dispatchedAt'>;
  readonly served: (() => readonly string[]) | undefined;
  readonly now: () => number;
}

/**
 * Answers a query from the run's folded state (ended runs too): `get_signals` reads the signals
 * from the stream, `get_status` adds what this runtime knows of the open attempts. Reads only;
 * rejects with `unknown_query`, or `invalid_request` when the query's expression fails.
 */
export const queryRun = async (
  deps: QueryDeps,
  runId: string,
  run: LoadedRun,
  name: string,
  args: Json,
): Promise<Json> => {
  const handler = run.handlers.queries.get(name);
  const builtin = handler?.kind === 'builtin' ? handler.builtin : undefined;
  const signals =
    builtin === 'get_signals'
      ? (await deps.streams.read(runId))
          .filter((r) => r.type === 'SignalReceived')
          .map((r) => {
            const event = toRunEvent(r);
            return {
              name: event.type === 'SignalReceived' ? event.name : '',
              payload: event.type === 'SignalReceived' ? event.payload : null,
              at: r.at,
            };
          })
      : [];
  const answer = await answerQuery(
    {
      compiled: run.compiled,
      handlers: run.handlers,
      run: runBinding(run.identity),
      context: run.snapshot.context,
      status: statusOf(run.snapshot),
      signals,
      ...(builtin === 'get_status'
        ? {
            tasks: activeTasks(run.snapshot.context, {
              served: deps.served?.(),
              isStarted: (task) => deps.deadlines.isStarted(task),
              dispatchedAt: (task) => deps.attempts.dispatchedAt(task),
              now: deps.now(),
            }),
          }
        : {}),
    },
    name,
    args,
    deps.expressions,
  );
  if (answer === undefined)
    throw weftError('unknown_query', `run '${runId}' answers no query '${name}'`, { runId, name });
  if (!answer.ok)
    throw weftError('invalid_request', `query '${name}' failed: ${answer.message}`, {
      code: answer.code,
    });
  return answer.value;
};
