import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Subjects } from '../../src/wire/subjects.ts';
import { waitFor } from '../support/wait.ts';
import {
  act,
  SKIPS_BLUEPRINT,
  startStack,
  type HistoryEvent,
  type Stack,
  type Summary,
} from '../support/weft.ts';

/**
 * Records the golden streams of the failure paths from real runs: a real nats-server, `weft serve`
 * on a fresh sqlite store and `weft worker test/support/activities.ts`, as the integration tests
 * start them. Each stream is saved as `weft.runs.<id>.history` answers it, in
 * `fixtures/streams/<runId>.json`. Run by hand to re-record (it overwrites those files), all of
 * them or only those named:
 *
 *   node_modules/.bin/node test/replay/record.ts [golden-decision-time golden-skips …]
 *
 * - golden-retry: a skipped step (`if` false), then `flaky` retried twice and succeeding.
 * - golden-failed: `flaky` with two attempts: retried once, then the run fails.
 * - golden-child-failed: a child run fails (`declined`, a terminal error); the parent records
 *   ChildFailed and, with `onError: continue`, goes on and completes.
 * - golden-child-failed-pay-1: that child run's own stream, ending in RunFailed.
 * - golden-cancelled: cancelled while an activity and a sleep are in flight.
 * - golden-decision-time: `$now()` in an input before and after a sleep; each fact records the
 *   time its reaction was decided at (`time`), so the check is exact.
 * - golden-timed-out: the blueprint's `timeout` passes during a sleep (`RunTimedOut`).
 * - golden-deadlines: a step with a `scheduleTimeout` a worker takes (`StepStarted`), and one on
 *   an activity no worker serves: `no_worker` twice (retried), then `onError: continue`.
 * - golden-saga-cancelled: cancelled while a step runs after one with `compensate`: it unwinds
 *   (`RunUnwinding`), the compensation and a `finally` step run, it ends `RunCancelled` compensated.
 * - golden-language: a graph of two nodes, a race (`completion: "first"`), then a wait until two
 *   votes have arrived (`WaitSatisfied`).
 * - golden-skips: a step skipped for each reason (`if_false`, `dependency_failed`, `not_taken`,
 *   `handler_unused`).
 */

const DIR = join(import.meta.dirname, 'fixtures', 'streams');
const subjects = new Subjects('weft');

const history = async (stack: Stack, runId: string): Promise<HistoryEvent[]> =>
  (await stack.client.call<{ events: HistoryEvent[] }>(subjects.run(runId, 'history'))).events;

const save = async (stack: Stack, runId: string): Promise<void> => {
  const events = await history(stack, runId);
  writeFileSync(join(DIR, `${runId}.json`), `${JSON.stringify({ events }, null, 2)}\n`);
  console.log(`${runId}: ${events.length} events, ${events.map((e) => e.type).join(' ')}`);
};

const execute = async (
  stack: Stack,
  runId: string,
  blueprint: unknown,
  input: unknown,
  status: string,
): Promise<void> => {
  const summary = await stack.client.call<Summary>(
    subjects.runs('execute'),
    { blueprint, input, runId, timeoutMs: 20_000 },
    25_000,
  );
  if (summary.status !== status)
    throw new Error(`${runId} ended ${summary.status}, not ${status}: ${JSON.stringify(summary)}`);
  await save(stack, runId);
};

/** The streams to record: all, or those named on the command line. */
const only = new Set(process.argv.slice(2));
const wanted = (runId: string): boolean => only.size === 0 || only.has(runId);

const recordTimeAndSkips = async (stack: Stack): Promise<void> => {
  if (wanted('golden-decision-time'))
    await execute(
      stack,
      'golden-decision-time',
      {
        name: 'decision_time',
        steps: [
          act('before', 'echo', { input: '{% {"at": $now(), "order": $input.order} %}' }),
          { id: 'nap', type: 'sleep', duration: '300ms' },
          act('after', 'echo', { input: '{% {"at": $now(), "was": $steps.before.got.at} %}' }),
        ],
        output: '{% {"before": $steps.before.got.at, "after": $steps.after.got.at} %}',
      },
      { order: 11 },
      'completed',
    );
  if (wanted('golden-skips'))
    await execute(
      stack,
      'golden-skips',
      SKIPS_BLUEPRINT,
      { order: 12, audit: false, express: false },
      'completed',
    );
};

/** A step with a `scheduleTimeout` taken in time (`StepStarted`), and one no worker takes (`no_worker`, retried, then `onError`). */
const recordDeadlines = async (stack: Stack): Promise<void> => {
  if (!wanted('golden-deadlines')) return;
  await execute(
    stack,
    'golden-deadlines',
    {
      name: 'deadlines',
      steps: [
        act('served', 'echo', { scheduleTimeout: '30s' }),
        act('unserved', 'nobody_serves_this', {
          scheduleTimeout: '300ms',
          maxAttempts: 2,
          backoff: { initial: '50ms' },
          onError: 'continue',
        }),
        act('after', 'echo'),
      ],
    },
    { order: 13 },
    'completed',
  );
};

/** A run whose blueprint `timeout` passes during a sleep: `RunTimedOut`, status `timed_out`. */
const recordRunTimeout = async (stack: Stack): Promise<void> => {
  if (!wanted('golden-timed-out')) return;
  await execute(
    stack,
    'golden-timed-out',
    {
      name: 'run_timeout',
      timeout: '1s',
      steps: [act('first', 'echo'), { id: 'nap', type: 'sleep', duration: '1m' }],
    },
    { order: 14 },
    'timed_out',
  );
};

const record = async (stack: Stack): Promise<void> => {
  await recordTimeAndSkips(stack);
  await recordDeadlines(stack);
  await recordRunTimeout(stack);
  await recordSagaCancelled(stack);
  await recordLanguage(stack);
  if (only.size > 0) return;
  await execute(
    stack,
    'golden-retry',
    {
      name: 'retry_after_skip',
      steps: [
        act('audit', 'echo', { if: '{% $input.audit %}' }),
        act('fetch', 'flaky', { maxAttempts: 3, backoff: { initial: '50ms', factor: 2 } }),
      ],
      output: '{% $steps.fetch %}',
    },
    { audit: false, order: 7 },
    'completed',
  );

  await execute(
    stack,
    'golden-failed',
    {
      name: 'retries_spent',
      steps: [
        act('prepare', 'echo'),
        act('fetch', 'flaky', { maxAttempts: 2, backoff: { initial: '50ms' } }),
      ],
    },
    { order: 8 },
    'failed',
  );

  await stack.client.call(subjects.blueprints('put'), {
    blueprint: { name: 'charge_card', steps: [act('charge', 'declined')] },
  });
  await execute(
    stack,
    'golden-child-failed',
    {
      name: 'checkout',
      steps: [
        { id: 'pay', type: 'child', blueprint: 'charge_card', onError: 'continue' },
        act('notify', 'echo'),
      ],
      output: '{% $steps.notify %}',
    },
    { order: 9, amount: 120 },
    'completed',
  );
  await save(stack, 'golden-child-failed-pay-1');

  const cancelled = 'golden-cancelled';
  await stack.client.call(subjects.runs('start'), {
    runId: cancelled,
    input: { order: 10 },
    blueprint: {
      name: 'cancel_midway',
      steps: [
        {
          id: 'both',
          type: 'parallel',
          branches: [
            [act('long', 'slow', { timeout: '1m' })],
            [{ id: 'nap', type: 'sleep', duration: '10m' }],
          ],
        },
      ],
    },
  });
  await waitFor(
    async () => {
      const types = (await history(stack, cancelled)).map((e) => e.type);
      return types.includes('StepScheduled') && types.includes('TimerScheduled');
    },
    { message: 'the activity and the sleep are in flight' },
  );
  await stack.client.call(subjects.run(cancelled, 'cancel'), { reason: 'recording a cancel' });
  await save(stack, cancelled);
};

/** The language, round two: a graph, a race, then a wait until a signal's count holds. */
const recordLanguage = async (stack: Stack): Promise<void> => {
  const runId = 'golden-language';
  if (!wanted(runId)) return;
  await stack.client.call(subjects.runs('start'), {
    runId,
    input: { jobs: [{ name: 'b', after: ['a'] }, { name: 'a' }] },
    blueprint: {
      name: 'language_two',
      signals: [{ name: 'vote', handler: 'append' }],
      steps: [
        {
          id: 'jobs',
          type: 'graph',
          over: '{% $input.jobs %}',
          node: '{% $item.name %}',
          after: '{% $item.after %}',
          step: { type: 'activity', activity: 'echo', input: '{% [$keys($after)] %}' },
        },
        {
          id: 'race',
          type: 'parallel',
          completion: 'first',
          branches: [[act('fast', 'echo')], [act('never', 'slow', { timeout: '1m' })]],
        },
        { id: 'votes', type: 'wait', when: '{% $count($data.vote) >= 2 %}', timeout: '1m' },
      ],
    },
  });
  await waitFor(
    async () => (await history(stack, runId)).some((e) => e.type === 'TimerScheduled'),
    { message: 'the wait is waiting' },
  );
  for (const vote of ['yes', 'no'])
    await stack.client.call(subjects.signal(runId, 'vote'), vote);
  await waitFor(async () => (await history(stack, runId)).some((e) => e.type === 'RunCompleted'), {
    message: 'the run completes',
  });
  await save(stack, runId);
};

/** A saga cancelled midway: it unwinds (`RunUnwinding`), undoes its booking, runs finally. */
const recordSagaCancelled = async (stack: Stack): Promise<void> => {
  const runId = 'golden-saga-cancelled';
  if (!wanted(runId)) return;
  await stack.client.call(subjects.runs('start'), {
    runId,
    input: { order: 11 },
    blueprint: {
      name: 'saga_cancelled',
      steps: [
        act('reserve', 'echo', {
          compensate: act('release', 'echo', { input: '{% $steps.reserve %}' }),
        }),
        act('hold', 'slow', { timeout: '1m', scheduleTimeout: '1m' }),
      ],
      finally: [act('tidy', 'echo', { input: 'tidy' })],
    },
  });
  await waitFor(async () => (await history(stack, runId)).some((e) => e.type === 'StepStarted'), {
    message: 'the slow step is running',
  });
  await stack.client.call(subjects.run(runId, 'cancel'), { reason: 'recording an unwinding' });
  await waitFor(async () => (await history(stack, runId)).some((e) => e.type === 'RunCancelled'), {
    message: 'the saga ends cancelled',
  });
  await save(stack, runId);
};

const stack = await startStack();
try {
  await record(stack);
} finally {
  await stack.stop();
}
