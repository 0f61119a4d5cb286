import { existsSync, readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/wait.ts';
import { runEnded, startStack, type HistoryEvent, type Stack } from '../support/weft.ts';

/**
 * The language, round two, on a real runtime, worker and nats-server: activity error codes from
 * the worker SDK routed by `onError` and `nonRetryable`; `fail` (stopping a branch still running,
 * its activity aborted on the worker), `succeed` and `set`; `$run.startedAt`.
 */

let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
});

afterAll(async () => {
  await stack.stop();
});

const history = async (runId: string): Promise<HistoryEvent[]> =>
  (
    await stack.client.call<{ events: HistoryEvent[] }>(`weft.runs.${runId}.history`, {
      limit: 1000,
    })
  ).events;

const errorsOf = (events: readonly HistoryEvent[]) =>
  events
    .filter((e) => e.type === 'StepFailed')
    .map((e) => ({ stepId: e.data['stepId'], attempt: e.data['attempt'], error: e.data['error'] }));

/** The marker file the `slow` activity leaves when an attempt of `runId` is aborted. */
const aborted = (runId: string) =>
  waitFor(() => readdirSync(stack.dir).find((f) => f.startsWith(runId) && f.endsWith('.aborted')), {
    timeoutMs: 10_000,
    message: `an aborted activity of ${runId}`,
  });

describe('activity error codes', () => {
  const blueprint = {
    name: 'charge_card',
    steps: [
      {
        id: 'charge',
        type: 'activity',
        activity: 'coded',
        input: '{% $input %}',
        maxAttempts: 3,
        backoff: { initial: '10ms' },
        nonRetryable: ['card_declined'],
        onError: { card_declined: 'tell_customer', default: 'continue' },
      },
      { id: 'ship', type: 'activity', activity: 'echo' },
      {
        id: 'tell_customer',
        type: 'activity',
        activity: 'echo',
        input: '{% {"code": $error.code, "why": $error.message} %}',
      },
    ],
  };

  beforeAll(async () => {
    await stack.client.call('weft.blueprints.put', { blueprint });
  });

  it('records the code an activity throws; a nonRetryable code runs once and takes its own route', async () => {
    await stack.client.call('weft.runs.start', {
      blueprint: 'charge_card',
      runId: 'declined-1',
      input: { code: 'card_declined' },
    });
    const summary = await runEnded(stack.client, 'declined-1');
    expect(summary.status).toBe('completed');
    expect(summary.output).toEqual({
      step: 'tell_customer',
      got: { code: 'card_declined', why: 'failed with card_declined' },
    });
    const events = await history('declined-1');
    expect(errorsOf(events)).toEqual([
      {
        stepId: 'charge',
        attempt: 1,
        error: { code: 'card_declined', message: 'failed with card_declined', retryable: true },
      },
    ]);
    expect(events.some((e) => e.type === 'StepScheduled' && e.data['stepId'] === 'ship')).toBe(
      false,
    );
  });

  it('retries other codes, then routes them to "default"; a TerminalError keeps its code and is not retried', async () => {
    await stack.client.call('weft.runs.start', {
      blueprint: 'charge_card',
      runId: 'gateway-1',
      input: { code: 'gateway_down' },
    });
    await stack.client.call('weft.runs.start', {
      blueprint: 'charge_card',
      runId: 'terminal-1',
      input: { code: 'fraud_suspected', terminal: true },
    });
    const gateway = await runEnded(stack.client, 'gateway-1');
    expect(gateway.status).toBe('completed');
    expect(errorsOf(await history('gateway-1')).map((f) => [f.attempt, f.error])).toEqual(
      [1, 2, 3].map((attempt) => [
        attempt,
        { code: 'gateway_down', message: 'failed with gateway_down', retryable: true },
      ]),
    );
    const terminal = await runEnded(stack.client, 'terminal-1');
    expect(terminal.status).toBe('completed');
    expect(errorsOf(await history('terminal-1'))).toEqual([
      {
        stepId: 'charge',
        attempt: 1,
        error: { code: 'fraud_suspected', message: 'terminal fraud_suspected', retryable: false },
      },
    ]);
  });
});

describe('fail, succeed and set', () => {
  it('a fail step ends the run failed with its code, message and output, and aborts the activity still running', async () => {
    const blueprint = {
      name: 'fail_fast',
      steps: [
        {
          id: 'both',
          type: 'parallel',
          branches: [
            [
              { id: 'quick', type: 'activity', activity: 'echo' },
              {
                id: 'give_up',
                type: 'fail',
                error: { code: 'quota_exceeded', message: '{% "over by " & $input.over %}' },
                output: { partial: '{% $steps.quick.got.over %}' },
              },
            ],
            [
              {
                id: 'long',
                type: 'activity',
                activity: 'slow',
                input: { dir: stack.dir },
                timeout: '1m',
              },
            ],
          ],
        },
      ],
    };
    await stack.client.call('weft.runs.start', { blueprint, runId: 'fail-1', input: { over: 3 } });
    const summary = await runEnded(stack.client, 'fail-1');
    expect(summary.status).toBe('failed');
    expect(summary.error).toEqual({
      code: 'quota_exceeded',
      message: 'over by 3',
      stepId: 'give_up',
    });
    expect(summary.output).toEqual({ partial: 3 });
    // The branch's activity was running on the worker; the run's end aborted it there.
    const marker = await waitFor(
      () => readdirSync(stack.dir).find((f) => f.startsWith('fail-1') && f.endsWith('.aborted')),
      { timeoutMs: 10_000, message: "the slow activity's abort marker" },
    );
    expect(marker).toBeDefined();
    expect(existsSync(`${stack.dir}/${marker ?? ''}`)).toBe(true);
  });

  it('set stores values for later steps, succeed ends the run early with its output, $run.startedAt is the start', async () => {
    const blueprint = {
      name: 'early_exit',
      steps: [
        { id: 'prepare', type: 'set', data: { limit: '{% $input.limit * 2 %}' } },
        { id: 'look', type: 'activity', activity: 'echo', input: '{% $data.limit %}' },
        {
          id: 'cached',
          type: 'succeed',
          if: '{% $steps.look.got > 5 %}',
          output: { limit: '{% $data.limit %}', started: '{% $run.startedAt %}' },
        },
        { id: 'compute', type: 'activity', activity: 'echo', input: '{% $steps.look %}' },
      ],
    };
    await stack.client.call('weft.runs.start', {
      blueprint,
      runId: 'early-1',
      input: { limit: 4 },
    });
    await stack.client.call('weft.runs.start', { blueprint, runId: 'late-1', input: { limit: 1 } });
    const early = await runEnded(stack.client, 'early-1');
    expect(early.status).toBe('completed');
    const output = early.output as { limit: number; started: string };
    expect(output.limit).toBe(8);
    // The decision time of the start: at most the commit time the summary shows, and close to it.
    const startedAt = Date.parse(output.started);
    expect(startedAt).toBeLessThanOrEqual(Date.parse(early.startedAt));
    expect(Date.parse(early.startedAt) - startedAt).toBeLessThan(5_000);
    const events = await history('early-1');
    expect(events.some((e) => e.type === 'StepScheduled' && e.data['stepId'] === 'compute')).toBe(
      false,
    );
    const late = await runEnded(stack.client, 'late-1');
    expect(late.status).toBe('completed');
    expect(late.output).toEqual({ step: 'compute', got: { step: 'look', got: 2 } });
  });
});

describe('containers own their inside', () => {
  it("a loop's timeout stops the activity running inside it, and its onError continue lets the run go on", async () => {
    const blueprint = {
      name: 'bounded_retry_loop',
      steps: [
        {
          id: 'poll',
          type: 'loop',
          count: 100,
          timeout: '1500ms',
          onError: 'continue',
          steps: [
            {
              id: 'check',
              type: 'activity',
              activity: 'slow',
              input: { ms: 400, dir: stack.dir },
              timeout: '1m',
            },
          ],
        },
        {
          id: 'report',
          type: 'activity',
          activity: 'echo',
          input: '{% $steps.poll.error.code %}',
        },
      ],
    };
    const started = Date.now();
    await stack.client.call('weft.runs.start', { blueprint, runId: 'scoped-loop-1' });
    const summary = await runEnded(stack.client, 'scoped-loop-1');
    expect(summary.status).toBe('completed');
    expect(summary.output).toEqual({ step: 'report', got: 'timeout' });
    // 100 iterations of 400 ms would take 40 s; the loop's 1.5 s bound stopped it.
    expect(Date.now() - started).toBeLessThan(15_000);
    const events = await history('scoped-loop-1');
    const iterations = events.filter((e) => e.type === 'StepScheduled').length - 1;
    expect(iterations).toBeGreaterThanOrEqual(2);
    expect(iterations).toBeLessThan(100);
    expect(await aborted('scoped-loop-1')).toBeDefined();
  });

  it("a parallel's onError by code catches a branch's coded failure and aborts the other branch's activity", async () => {
    const blueprint = {
      name: 'race_to_fail',
      steps: [
        {
          id: 'both',
          type: 'parallel',
          onError: { quota_exceeded: 'fallback' },
          branches: [
            [
              {
                id: 'quota',
                type: 'activity',
                activity: 'coded',
                input: { code: 'quota_exceeded', terminal: true },
              },
            ],
            [
              {
                id: 'long',
                type: 'activity',
                activity: 'slow',
                input: { dir: stack.dir },
                timeout: '1m',
              },
            ],
          ],
        },
        { id: 'fallback', type: 'activity', activity: 'echo', input: '{% $error.code %}' },
      ],
    };
    await stack.client.call('weft.runs.start', { blueprint, runId: 'scoped-par-1' });
    const summary = await runEnded(stack.client, 'scoped-par-1');
    expect(summary.status).toBe('completed');
    expect(summary.output).toEqual({ step: 'fallback', got: 'quota_exceeded' });
    expect(await aborted('scoped-par-1')).toBeDefined();
  });

  it('a parallel with completion "first" takes the faster branch and aborts the slower one', async () => {
    const blueprint = {
      name: 'two_sources',
      steps: [
        {
          id: 'fastest',
          type: 'parallel',
          completion: 'first',
          branches: [
            [
              {
                id: 'mirror',
                type: 'activity',
                activity: 'slow',
                input: { dir: stack.dir },
                timeout: '1m',
              },
            ],
            [{ id: 'primary', type: 'activity', activity: 'echo', input: 'primary' }],
          ],
        },
        // A step after the race: the slower branch is stopped when the race is won, not when the
        // run ends.
        { id: 'use', type: 'activity', activity: 'slow', input: { ms: 2000 }, timeout: '1m' },
      ],
    };
    await stack.client.call('weft.runs.start', { blueprint, runId: 'race-1' });
    expect(await aborted('race-1')).toBeDefined();
    const during = await stack.client.call<{ status: string }>('weft.runs.race-1.get', {});
    expect(during.status).toBe('running');
    const summary = await runEnded(stack.client, 'race-1');
    expect(summary.status).toBe('completed');
    expect(summary.output).toEqual({ slept: 2000 });
    const completed = (await history('race-1'))
      .filter((e) => e.type === 'StepCompleted')
      .map((e) => e.data['stepId']);
    expect(completed).toEqual(['primary', 'use']);
  });
});

describe('compensation and finally', () => {
  const book = (id: string, undo: string) => ({
    id,
    type: 'activity',
    activity: 'echo',
    input: id,
    compensate: { id: undo, type: 'activity', activity: 'echo', input: `{% $steps.${id}.got %}` },
  });
  const scheduled = (events: readonly HistoryEvent[]) =>
    events.filter((e) => e.type === 'StepScheduled').map((e) => e.data['stepId']);

  it('a saga that fails undoes the bookings it made, last first, runs finally, and ends failed with compensated', async () => {
    const blueprint = {
      name: 'book_trip',
      steps: [
        book('flight', 'cancel_flight'),
        book('hotel', 'cancel_hotel'),
        {
          id: 'car',
          type: 'activity',
          activity: 'coded',
          input: { code: 'no_cars', terminal: true },
        },
      ],
      finally: [{ id: 'notify', type: 'activity', activity: 'echo', input: '{% $error.stepId %}' }],
    };
    await stack.client.call('weft.runs.start', { blueprint, runId: 'saga-1' });
    const summary = await runEnded(stack.client, 'saga-1');
    expect(summary.status).toBe('failed');
    expect(summary.error).toMatchObject({ code: 'step_failed', stepId: 'car' });
    expect(summary.compensated).toBe(true);
    const events = await history('saga-1');
    expect(scheduled(events)).toEqual([
      'flight',
      'hotel',
      'car',
      'cancel_hotel',
      'cancel_flight',
      'notify',
    ]);
    const outputs: Record<string, unknown> = {};
    for (const e of events)
      if (e.type === 'StepCompleted')
        outputs[String(e.data['stepId'])] = (e.data['output'] as { got: unknown }).got;
    expect(outputs).toMatchObject({
      cancel_hotel: 'hotel',
      cancel_flight: 'flight',
      notify: 'car',
    });
  });

  it('a cancel aborts what runs, undoes what completed, runs finally, and ends cancelled with compensated', async () => {
    const blueprint = {
      name: 'cancel_cleanup',
      steps: [
        book('reserve', 'release'),
        // With a scheduleTimeout, the attempt's start is recorded (StepStarted).
        {
          id: 'hold',
          type: 'activity',
          activity: 'slow',
          input: { dir: stack.dir },
          timeout: '1m',
          scheduleTimeout: '1m',
        },
      ],
      finally: [{ id: 'tidy', type: 'activity', activity: 'echo', input: 'tidy' }],
    };
    await stack.client.call('weft.runs.start', { blueprint, runId: 'saga-cancel-1' });
    await waitFor(
      async () =>
        (await history('saga-cancel-1')).some(
          (e) => e.type === 'StepStarted' && e.data['stepId'] === 'hold',
        ) || undefined,
      { timeoutMs: 10_000, message: 'the slow step started' },
    );
    await stack.client.call('weft.runs.saga-cancel-1.cancel', { reason: 'customer left' });
    const summary = await runEnded(stack.client, 'saga-cancel-1');
    expect(summary.status).toBe('cancelled');
    expect(summary.compensated).toBe(true);
    const events = await history('saga-cancel-1');
    expect(events.map((e) => e.type)).toContain('RunUnwinding');
    expect(scheduled(events)).toEqual(['reserve', 'hold', 'release', 'tidy']);
    expect(await aborted('saga-cancel-1')).toBeDefined();
  });
});

describe('$progress', () => {
  it("a query sees a running map's progress, item by item, before the map ends", async () => {
    const blueprint = {
      name: 'label_everything',
      queries: [{ name: 'labelled', expr: '{% $progress.labels %}' }],
      steps: [
        {
          id: 'labels',
          type: 'map',
          over: '{% [0, 1, 2, 3] %}',
          concurrency: 1,
          step: {
            type: 'activity',
            activity: 'slow',
            // The last item runs until the run is cancelled.
            input: `{% $item < 3 ? {"ms": 10} : {"dir": "${stack.dir}"} %}`,
            timeout: '1m',
          },
        },
      ],
    };
    await stack.client.call('weft.runs.start', { blueprint, runId: 'progress-1' });
    const labelled = await waitFor(
      async () => {
        const value = await stack.client.call<{ done: number }>(
          'weft.runs.progress-1.query.labelled',
          {},
        );
        return value.done === 3 ? value : undefined;
      },
      { timeoutMs: 10_000, message: 'three items labelled' },
    );
    expect(labelled).toEqual({ done: 3, failed: 0, total: 4 });
    const status = await stack.client.call<{ progress?: unknown }>(
      'weft.runs.progress-1.query.get_status',
      {},
    );
    expect(status.progress).toEqual({ labels: { done: 3, failed: 0, total: 4 } });
    await stack.client.call('weft.runs.progress-1.cancel', {});
    expect((await runEnded(stack.client, 'progress-1')).status).toBe('cancelled');
  });
});

describe('wait until a condition holds', () => {
  const election = {
    name: 'election',
    signals: [{ name: 'vote', handler: 'append' }],
    steps: [
      {
        id: 'votes_in',
        type: 'wait',
        when: "{% $count($data.vote[$ = 'yes']) >= 3 %}",
        timeout: '1s',
        onError: 'continue',
      },
      {
        id: 'result',
        type: 'activity',
        activity: 'echo',
        input:
          "{% {'yes': $count($data.vote[$ = 'yes']), 'timedOut': $exists($steps.votes_in.error)} %}",
      },
    ],
  };

  it('goes on once three yes votes have arrived (a no vote does not count)', async () => {
    await stack.client.call('weft.runs.start', {
      blueprint: {
        ...election,
        steps: [{ ...election.steps[0], timeout: '1m' }, election.steps[1]],
      },
      runId: 'election-1',
    });
    for (const vote of ['yes', 'no', 'yes', 'yes'])
      await stack.client.call('weft.runs.election-1.signal.vote', vote);
    const summary = await runEnded(stack.client, 'election-1');
    expect(summary.status).toBe('completed');
    expect(summary.output).toEqual({ step: 'result', got: { yes: 3, timedOut: false } });
    const events = await history('election-1');
    expect(events.filter((e) => e.type === 'WaitSatisfied')).toHaveLength(1);
  });

  it('gives up at its timeout when too few votes arrived', async () => {
    await stack.client.call('weft.runs.start', { blueprint: election, runId: 'election-2' });
    await stack.client.call('weft.runs.election-2.signal.vote', 'yes');
    const summary = await runEnded(stack.client, 'election-2');
    expect(summary.status).toBe('completed');
    expect(summary.output).toEqual({ step: 'result', got: { yes: 1, timedOut: true } });
  });
});

describe('graph step', () => {
  it('runs jobs whose dependencies come from the input, each as soon as its own are done', async () => {
    const blueprint = {
      name: 'build_jobs',
      steps: [
        {
          id: 'build',
          type: 'graph',
          over: '{% $input.jobs %}',
          node: '{% $item.name %}',
          after: '{% $item.after %}',
          concurrency: 4,
          step: {
            type: 'activity',
            activity: 'echo',
            input: '{% {"job": $item.name, "inputs": [$keys($after)]} %}',
          },
        },
      ],
    };
    const jobs = [
      { name: 'compile', after: ['fetch'] },
      { name: 'fetch' },
      { name: 'lint', after: ['fetch'] },
      { name: 'package', after: ['compile', 'lint'] },
    ];
    await stack.client.call('weft.runs.start', { blueprint, runId: 'graph-1', input: { jobs } });
    const summary = await runEnded(stack.client, 'graph-1');
    expect(summary.status).toBe('completed');
    const got = (job: string, inputs: string[]) => ({
      step: 'build',
      got: { job, inputs },
    });
    expect(summary.output).toEqual({
      compile: got('compile', ['fetch']),
      fetch: got('fetch', []),
      lint: got('lint', ['fetch']),
      package: got('package', ['compile', 'lint']),
    });
    // fetch first; package last, once both compile and lint are done.
    const started = (await history('graph-1'))
      .filter((e) => e.type === 'StepScheduled')
      .map((e) => jobs[e.data['item'] as number]?.name);
    expect(started[0]).toBe('fetch');
    expect(started[3]).toBe('package');
  });

  it('fails with graph_cycle, naming the cycle', async () => {
    const blueprint = {
      name: 'cyclic_jobs',
      steps: [
        {
          id: 'build',
          type: 'graph',
          over: '{% $input %}',
          node: '{% $item.name %}',
          after: '{% $item.after %}',
          step: { type: 'activity', activity: 'echo' },
        },
      ],
    };
    await stack.client.call('weft.runs.start', {
      blueprint,
      runId: 'graph-2',
      input: [
        { name: 'a', after: ['b'] },
        { name: 'b', after: ['a'] },
      ],
    });
    const summary = await runEnded(stack.client, 'graph-2');
    expect(summary.status).toBe('failed');
    expect(summary.error?.details).toMatchObject({
      error: {
        code: 'graph_cycle',
        message: "graph step 'build': its nodes wait on each other: a → b → a",
      },
    });
  });
});

describe('map of steps', () => {
  it('runs a sequence of steps per item, each as a child run seeing $item and $index', async () => {
    const blueprint = {
      name: 'fulfil_orders',
      steps: [
        {
          id: 'orders',
          type: 'map',
          over: '{% $input.orders %}',
          concurrency: 2,
          steps: [
            {
              id: 'reserve',
              type: 'activity',
              activity: 'echo',
              input: '{% {"items": $item.items} %}',
            },
            {
              id: 'vip',
              type: 'condition',
              when: '{% $item.vip %}',
              then: [{ id: 'gift', type: 'set', data: { gift: true } }],
            },
            {
              id: 'confirm',
              type: 'activity',
              activity: 'echo',
              input:
                '{% {"order": $item.id, "position": $index, "reserved": $steps.reserve.got.items, "gift": $exists($data.gift)} %}',
            },
          ],
        },
      ],
    };
    const orders = [
      { id: 'o1', items: ['a'], vip: false },
      { id: 'o2', items: ['b', 'c'], vip: true },
      { id: 'o3', items: ['d'], vip: false },
    ];
    await stack.client.call('weft.runs.start', {
      blueprint,
      runId: 'per-item-1',
      input: { orders },
    });
    const summary = await runEnded(stack.client, 'per-item-1');
    expect(summary.status).toBe('completed');
    expect(summary.output).toEqual(
      orders.map((o, i) => ({
        step: 'confirm',
        got: {
          order: o.id,
          position: i,
          reserved: o.items,
          gift: o.vip,
        },
      })),
    );
    // Each item is a run of its own, linked to its parent's map step.
    const requested = (await history('per-item-1')).filter((e) => e.type === 'ChildRequested');
    expect(requested.map((e) => e.data['item'])).toEqual([0, 1, 2]);
    const second = String(requested[1]?.data['childRunId']);
    const item = await stack.client.call<{ status: string; blueprint: { name: string } }>(
      `weft.runs.${second}.get`,
      {},
    );
    expect(item).toMatchObject({
      status: 'completed',
      blueprint: { name: 'fulfil_orders__orders' },
    });
  });
});

describe('container retries', () => {
  it('runs a failed group again from its start, per its maxAttempts', async () => {
    const blueprint = {
      name: 'prepare_and_send',
      steps: [
        {
          id: 'attempt',
          type: 'condition',
          when: '{% true %}',
          maxAttempts: 3,
          then: [
            { id: 'prepare', type: 'activity', activity: 'echo', input: 'draft' },
            {
              id: 'send',
              type: 'activity',
              activity: 'fails_first',
              input: { key: 'retry-group-1', times: 2 },
              maxAttempts: 1,
            },
          ],
        },
      ],
    };
    await stack.client.call('weft.runs.start', { blueprint, runId: 'retry-group-1' });
    const summary = await runEnded(stack.client, 'retry-group-1');
    expect(summary.status).toBe('completed');
    expect(summary.output).toEqual({ key: 'retry-group-1', calls: 3 });
    const scheduled = (await history('retry-group-1'))
      .filter((e) => e.type === 'StepScheduled')
      .map((e) => e.data['stepId']);
    expect(scheduled).toEqual(['prepare', 'send', 'prepare', 'send', 'prepare', 'send']);
  });
});
