import { describe, expect, it } from 'vitest';
import type { Json } from '../../../src/blueprints/json.ts';
import {
  cannedFrom,
  CannedInvalid,
  simulateBlueprint,
  type Simulation,
} from '../../../src/machines/simulation.ts';
import { act } from './world.ts';

/**
 * `weft blueprint simulate` over the pure machine: a blueprint, an input and a canned results
 * document in, the path the run takes and how it ends out.
 */

const simulate = async (blueprint: unknown, input: Json, results: unknown): Promise<Simulation> => {
  const result = await simulateBlueprint(blueprint, input, cannedFrom(results));
  if (!result.ok) throw new Error(JSON.stringify(result.diagnostics));
  return result.simulation;
};

/** The path without times and values: what happened to which step. */
const trail = (simulation: Simulation): string[] =>
  simulation.path.map((entry) => {
    switch (entry.kind) {
      case 'activity':
        return `${entry.step}${entry.item === undefined ? '' : `[${entry.item}]`}#${entry.attempt} ${'error' in entry ? entry.error.code : 'ok'}`;
      case 'skipped':
        return `${entry.step} skipped ${entry.reason ?? ''}`;
      case 'entered':
        return `${entry.step} entered ${JSON.stringify(entry.value)}`;
      case 'signal':
        return `signal ${entry.name}`;
      case 'iteration':
        return `${entry.step} iteration ${entry.iteration} ${entry.proceed}`;
      case 'child':
      case 'failed':
      case 'satisfied':
      case 'timer':
      case 'done':
      case 'unwinding':
        return `${entry.kind} ${'step' in entry ? entry.step : entry.cause}`;
    }
  });

const chain = {
  name: 'chain',
  steps: [
    act('fetch', 'fetch_order'),
    act('price', 'price_order', { input: '{% {"lines": $steps.fetch.lines} %}' }),
    act('save', 'save_order'),
  ],
};

const chainResults = {
  activities: {
    fetch_order: { output: { lines: [1, 2] } },
    price_order: { output: { total: 3 } },
    save_order: { output: 'saved' },
  },
};

describe('weft blueprint simulate', () => {
  it('runs an activity chain on canned results: each step input and output, the run output', async () => {
    const run = await simulate(chain, { order: 7 }, chainResults);
    expect(run.status).toBe('completed');
    expect(run.output).toBe('saved');
    expect(trail(run)).toEqual(['fetch#1 ok', 'price#1 ok', 'save#1 ok']);
    expect(run.path[0]).toMatchObject({ activity: 'fetch_order', input: { order: 7 } });
    expect(run.steps).toEqual({
      fetch: { type: 'activity', input: { order: 7 }, attempts: 1, output: { lines: [1, 2] } },
      price: { type: 'activity', input: { lines: [1, 2] }, attempts: 1, output: { total: 3 } },
      save: { type: 'activity', input: { total: 3 }, attempts: 1, output: 'saved' },
    });
    expect(run.elapsedMs).toBe(0);
    expect(run.unused).toEqual([]);
    // The same blueprint, input and results give the same simulation.
    expect(await simulate(chain, { order: 7 }, chainResults)).toEqual(run);
  });

  it('takes a condition branch and says which, and skips the other', async () => {
    const blueprint = {
      name: 'routing',
      steps: [
        {
          id: 'size',
          type: 'condition',
          when: '{% $input.total > 100 %}',
          then: [act('review', 'manual_review')],
          else: [act('auto', 'auto_approve')],
        },
      ],
    };
    const results = {
      activities: { manual_review: { output: 'reviewed' }, auto_approve: { output: 'approved' } },
    };
    const small = await simulate(blueprint, { total: 50 }, results);
    expect(trail(small)).toEqual([
      'size entered "else"',
      'review skipped not_taken',
      'auto#1 ok',
      'done size',
    ]);
    expect(small.output).toBe('approved');
    expect(small.steps.review).toEqual({ type: 'activity', skipped: 'not_taken' });
    expect(small.unused).toEqual(['activities.manual_review']);
    const big = await simulate(blueprint, { total: 500 }, results);
    expect(trail(big)).toEqual([
      'size entered "then"',
      'auto skipped not_taken',
      'review#1 ok',
      'done size',
    ]);
    expect(big.output).toBe('reviewed');
  });

  it('retries a canned failure after its backoff, and a terminal one fails the run at once', async () => {
    const blueprint = {
      name: 'pay',
      steps: [
        act('charge', 'charge_card', {
          maxAttempts: 3,
          backoff: { initial: '1s', factor: 2, max: '10s' },
        }),
      ],
    };
    const run = await simulate(blueprint, 10, {
      activities: {
        charge_card: [
          { error: { code: 'gateway_down', message: '502 from the gateway' } },
          { error: { code: 'gateway_down' } },
          { output: { id: 'ch_1' } },
        ],
      },
    });
    expect(run.status).toBe('completed');
    expect(trail(run)).toEqual(['charge#1 gateway_down', 'charge#2 gateway_down', 'charge#3 ok']);
    expect(run.path.map((e) => e.at)).toEqual([0, 1000, 3000]);
    expect(run.path[0]).toMatchObject({
      error: { code: 'gateway_down', message: '502 from the gateway', retryable: true },
    });
    expect(run.steps.charge).toMatchObject({ attempts: 3, output: { id: 'ch_1' } });
    expect(run.elapsedMs).toBe(3000);

    const declined = await simulate(blueprint, 10, {
      steps: { charge: { error: { code: 'card_declined', retryable: false } } },
      activities: { charge_card: { output: 'unused' } },
    });
    expect(declined.status).toBe('failed');
    expect(trail(declined)).toEqual(['charge#1 card_declined']);
    expect(declined.error).toMatchObject({ stepId: 'charge' });
    expect(declined.unused).toEqual(['activities.charge_card']);
  });

  it('maps over items, taking a list of results in item order', async () => {
    const blueprint = {
      name: 'each',
      steps: [
        {
          id: 'double',
          type: 'map',
          over: '{% $input.items %}',
          concurrency: 2,
          step: { type: 'activity', activity: 'times_two', input: '{% {"n": $item} %}' },
        },
      ],
    };
    const run = await simulate(
      blueprint,
      { items: [1, 2, 3] },
      {
        activities: { times_two: [{ output: 2 }, { output: 4 }, { output: 6 }] },
      },
    );
    expect(run.status).toBe('completed');
    expect(run.output).toEqual([2, 4, 6]);
    expect(trail(run)).toEqual([
      'double entered {"items":[1,2,3]}',
      'double[0]#1 ok',
      'double[1]#1 ok',
      'double[2]#1 ok',
      'done double',
    ]);
    expect(run.steps.double?.items).toEqual([
      { input: { n: 1 }, attempts: 1, output: 2 },
      { input: { n: 2 }, attempts: 1, output: 4 },
      { input: { n: 3 }, attempts: 1, output: 6 },
    ]);
  });

  const gate = (timeout?: string) => ({
    name: 'gated',
    steps: [
      act('prepare', 'prepare'),
      {
        id: 'gate',
        type: 'wait',
        signal: 'approve',
        ...(timeout === undefined ? {} : { timeout }),
      },
      act('finish', 'finish', { input: '{% $steps.gate %}' }),
    ],
  });
  const both = { prepare: { output: 1 }, finish: { output: 'done' } };

  it('releases a wait with a canned signal, sent when the run waits', async () => {
    const run = await simulate(gate('1h'), null, {
      activities: both,
      signals: [{ name: 'approve', payload: { approved: true } }],
    });
    expect(run.status).toBe('completed');
    expect(trail(run)).toEqual([
      'prepare#1 ok',
      'gate entered {"timeoutMs":3600000}',
      'signal approve',
      'done gate',
      'finish#1 ok',
    ]);
    expect(run.steps.finish?.input).toEqual({ approved: true });
    expect(run.elapsedMs).toBe(0);
  });

  it('times a wait out when no signal comes: its timer fires, time moves to it', async () => {
    const run = await simulate(gate('1h'), null, { activities: both });
    expect(run.status).toBe('failed');
    expect(trail(run)).toEqual([
      'prepare#1 ok',
      'gate entered {"timeoutMs":3600000}',
      'timer gate',
      'failed gate',
    ]);
    expect(run.steps.gate?.error?.code).toBe('timeout');
    expect(run.elapsedMs).toBe(3_600_000);
    expect(run.error?.stepId).toBe('gate');
    expect(run.unused).toEqual(['activities.finish']);
  });

  it('ends waiting, saying for what, when nothing more can happen', async () => {
    const stuck = await simulate(gate(), null, { activities: both });
    expect(stuck.status).toBe('waiting');
    expect(stuck.waitingFor).toEqual([{ step: 'gate', signal: 'approve' }]);
    expect(stuck.output).toBeUndefined();

    const sleeping = await simulate(
      { name: 'nap', steps: [{ id: 'nap', type: 'sleep', duration: '2h' }] },
      null,
      { timers: 'never', start: '2026-03-01T00:00:00Z' },
    );
    expect(sleeping.status).toBe('waiting');
    expect(sleeping.waitingFor).toEqual([{ step: 'nap', timer: '2026-03-01T02:00:00.000Z' }]);
  });

  it('stops at an activity without a canned result, naming it and its step', async () => {
    const run = await simulate(chain, null, { activities: { fetch_order: { output: {} } } });
    expect(run.status).toBe('incomplete');
    expect(run.problem).toMatch(
      /^no canned result for activity 'price_order' at step 'price' \(activity 'price_order', attempt 1\)/,
    );
    expect(trail(run)).toEqual(['fetch#1 ok']);
    // `default` answers every activity without one.
    const defaulted = await simulate(chain, null, { default: { output: 'x' } });
    expect(defaulted.status).toBe('completed');
  });

  it('stops when a list of results runs out', async () => {
    const run = await simulate(chain, null, {
      default: { output: null },
      steps: { price: [{ error: { message: 'flaky' } }] },
    });
    expect(run.status).toBe('incomplete');
    expect(run.problem).toMatch(/^the 1 canned result of steps\.price ran out at step 'price'/);
  });

  it('sends signals at the start and right after a step is done', async () => {
    const blueprint = {
      name: 'notes',
      signals: [{ name: 'note', handler: 'append' }],
      steps: [
        act('first', 'work'),
        act('second', 'work', { input: '{% $data.note %}' }),
        act('third', 'work', { input: '{% $data.note %}' }),
      ],
    };
    const run = await simulate(blueprint, null, {
      activities: { work: { output: 'w' } },
      signals: [
        { name: 'note', payload: 'after first', after: 'first' },
        { name: 'note', payload: 'at start', at: 'start' },
      ],
    });
    expect(trail(run)).toEqual([
      'signal note',
      'first#1 ok',
      'signal note',
      'second#1 ok',
      'third#1 ok',
    ]);
    // `second` started as `first` ended, in the same reaction: before the signal.
    expect(run.steps.second?.input).toEqual(['at start']);
    expect(run.steps.third?.input).toEqual(['at start', 'after first']);
  });

  it('answers child steps from `children`, and runs the items of a map of `steps` itself', async () => {
    const blueprint = {
      name: 'parent',
      steps: [
        { id: 'invoice', type: 'child', blueprint: 'make_invoice' },
        {
          id: 'orders',
          type: 'map',
          over: '{% $input.orders %}',
          steps: [
            act('reserve', 'reserve', { input: '{% $item %}' }),
            act('confirm', 'confirm', { input: '{% {"order": $item, "r": $steps.reserve} %}' }),
          ],
        },
      ],
      output: '{% {"invoice": $steps.invoice, "orders": $steps.orders} %}',
    };
    const run = await simulate(
      blueprint,
      { orders: ['a', 'b'] },
      {
        children: { make_invoice: { output: { no: 1 } } },
        activities: { reserve: { output: 'r' }, confirm: [{ output: 'A' }, { output: 'B' }] },
      },
    );
    expect(run.status).toBe('completed');
    expect(run.output).toEqual({ invoice: { no: 1 }, orders: ['A', 'B'] });
    const items = run.path.filter((e) => e.kind === 'child' && e.item !== undefined);
    expect(items).toHaveLength(2);
    const first = items[0];
    if (first?.kind !== 'child' || first.run === undefined) throw new Error('no item run');
    expect(first.run.status).toBe('completed');
    expect(first.run.steps.confirm?.input).toEqual({ order: 'a', r: 'r' });

    const missing = await simulate(blueprint, { orders: [] }, {});
    expect(missing.status).toBe('incomplete');
    expect(missing.problem).toMatch(/^no canned result for child blueprint 'make_invoice'/);
  });

  it('ends a run by its blueprint timeout when a timer is due after it', async () => {
    const run = await simulate(
      { name: 'slow', timeout: '5s', steps: [{ id: 'nap', type: 'sleep', duration: '1m' }] },
      null,
      {},
    );
    expect(run.status).toBe('timed_out');
    expect(run.elapsedMs).toBe(5000);
  });

  it('refuses a results file of the wrong shape, a signal the blueprint does not take, and an invalid blueprint', async () => {
    expect(() => cannedFrom({ activities: { a: { outptu: 1 } } })).toThrow(CannedInvalid);
    expect(() => cannedFrom({ timers: 'sometimes' })).toThrow(/timers/);
    expect(() => cannedFrom({ start: 'yesterday' })).toThrow(/not an ISO time/);
    await expect(
      simulateBlueprint(chain, null, cannedFrom({ signals: [{ name: 'nope' }] })),
    ).rejects.toThrow("signals[0]: the blueprint accepts no signal 'nope'");
    const invalid = await simulateBlueprint({ name: 'x', steps: [{ id: 'a' }] }, null, {});
    expect(invalid.ok).toBe(false);
  });
});
