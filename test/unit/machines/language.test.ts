import { describe, expect, it } from 'vitest';
import { validateBlueprint } from '../../../src/blueprints/validate.ts';
import type { RunEvent } from '../../../src/machines/events.ts';
import { act, activities, drive, NOW, ok, type Activity } from './world.ts';

/**
 * The language, round two, on the pure machine: `fail`, `succeed` and `set` steps, error codes
 * (`onError` by code, `nonRetryable`) and `$run.startedAt`. Every run is also replayed from its
 * stream (by `drive`) and must reach the same state.
 */

const ofType = <T extends RunEvent['type']>(stream: readonly RunEvent[], type: T) =>
  stream.filter((e): e is Extract<RunEvent, { type: T }> => e.type === type);

/** An activity that fails with `code` (retryable unless said otherwise), counting its calls. */
const failing = (code: string, retryable = true) => {
  const calls = { count: 0 };
  const fn: Activity = () => {
    calls.count += 1;
    return { ok: false, retryable, code, message: `${code}!` };
  };
  return { fn, calls };
};

describe('fail step', () => {
  it('ends the run failed with its evaluated code, message and output, with a branch still running', async () => {
    const blueprint = {
      name: 'bp',
      steps: [
        {
          id: 'p',
          type: 'parallel',
          branches: [
            [
              act('check', 'inc'),
              {
                id: 'stop',
                type: 'fail',
                error: {
                  code: '{% $steps.check > 1 ? "too_big" : "too_small" %}',
                  message: '{% "check gave " & $string($steps.check) %}',
                },
                output: { seen: '{% $steps.check %}' },
              },
            ],
            [act('slow', 'echo')],
          ],
        },
        act('after', 'echo'),
      ],
    };
    const run = await drive(blueprint, 4, { activities });
    expect(run.status).toBe('failed');
    expect(run.failure).toEqual({ code: 'too_big', message: 'check gave 5', stepId: 'stop' });
    const [failed] = ofType(run.stream, 'RunFailed');
    expect(failed).toEqual({
      type: 'RunFailed',
      error: { code: 'too_big', message: 'check gave 5', stepId: 'stop' },
      output: { seen: 5 },
    });
    // The other branch's activity was in flight and never answered; nothing after the parallel ran.
    expect(ofType(run.stream, 'StepCompleted').map((e) => e.stepId)).toEqual(['check']);
    expect(ofType(run.stream, 'StepScheduled').some((e) => e.stepId === 'after')).toBe(false);
  });

  it('runs only where the flow reaches it: a condition not taken leaves the run to complete', async () => {
    const blueprint = {
      name: 'bp',
      steps: [
        {
          id: 'gate',
          type: 'condition',
          when: '{% $input.amount > 100 %}',
          then: [
            { id: 'refuse', type: 'fail', error: { code: 'over_limit', message: 'too much' } },
          ],
        },
        act('pay', 'echo', { input: '{% $input.amount %}' }),
      ],
    };
    const small = await drive(blueprint, { amount: 5 }, { activities });
    expect(small.status).toBe('completed');
    expect(small.output).toBe(5);
    const big = await drive(blueprint, { amount: 500 }, { activities });
    expect(big.status).toBe('failed');
    expect(big.failure?.code).toBe('over_limit');
    expect(ofType(big.stream, 'RunFailed')[0]).not.toHaveProperty('output');
  });

  it('fails as a step, with invalid_error_code, when its code expression gives no valid code', async () => {
    const blueprint = {
      name: 'bp',
      steps: [{ id: 'stop', type: 'fail', error: { code: '{% "not a code" %}', message: 'x' } }],
    };
    const run = await drive(blueprint, null, { activities });
    expect(run.status).toBe('failed');
    expect(run.failure?.code).toBe('step_failed');
    expect(ofType(run.stream, 'StepFailed')[0]?.error.code).toBe('invalid_error_code');
  });
});

describe('succeed step', () => {
  it('ends the run completed at once with its output; later steps never run', async () => {
    const blueprint = {
      name: 'bp',
      output: '{% "not used" %}',
      steps: [
        act('look', 'inc'),
        {
          id: 'cached',
          type: 'succeed',
          if: '{% $steps.look > 1 %}',
          output: { from: 'cache', value: '{% $steps.look %}' },
        },
        act('compute', 'tag'),
      ],
    };
    const hit = await drive(blueprint, 1, { activities });
    expect(hit.status).toBe('completed');
    expect(hit.output).toEqual({ from: 'cache', value: 2 });
    expect(ofType(hit.stream, 'StepScheduled').map((e) => e.stepId)).toEqual(['look']);
    const miss = await drive(blueprint, 0, { activities });
    expect(miss.output).toBe('not used');
    expect(ofType(miss.stream, 'StepScheduled').map((e) => e.stepId)).toEqual(['look', 'compute']);
  });

  it("without output, ends with the blueprint's output over what ran so far", async () => {
    const blueprint = {
      name: 'bp',
      output: { look: '{% $steps.look %}', compute: '{% $steps.compute %}' },
      steps: [act('look', 'inc'), { id: 'done', type: 'succeed' }, act('compute', 'tag')],
    };
    const run = await drive(blueprint, 1, { activities });
    expect(run.status).toBe('completed');
    expect(run.output).toEqual({ look: 2, compute: null });
  });
});

describe('set step', () => {
  it('stores computed values in $data for the steps after it, and outputs them', async () => {
    const blueprint = {
      name: 'bp',
      steps: [
        act('price', 'inc'),
        {
          id: 'totals',
          type: 'set',
          data: { total: '{% $steps.price * 2 %}', currency: 'EUR' },
        },
        act('bill', 'echo', { input: '{% $data %}' }),
      ],
    };
    const run = await drive(blueprint, 10, { activities });
    expect(run.status).toBe('completed');
    expect(run.snapshot.context.steps.totals).toEqual({ total: 22, currency: 'EUR' });
    expect(run.output).toEqual({ total: 22, currency: 'EUR' });
    expect(run.snapshot.context.data).toEqual({ total: 22, currency: 'EUR' });
  });

  it('keeps values a loop sets from one iteration to the next', async () => {
    const blueprint = {
      name: 'bp',
      steps: [
        { id: 'start', type: 'set', data: { sum: 0 } },
        {
          id: 'add',
          type: 'loop',
          count: 4,
          steps: [{ id: 'acc', type: 'set', data: { sum: '{% $data.sum + $iteration %}' } }],
        },
      ],
      output: '{% $data.sum %}',
    };
    const run = await drive(blueprint, null, { activities });
    expect(run.output).toBe(6);
  });
});

describe('error codes', () => {
  const routed = {
    name: 'bp',
    steps: [
      act('charge', 'charge', {
        maxAttempts: 3,
        nonRetryable: ['card_declined'],
        onError: { card_declined: 'tell_customer', gateway_down: 'continue', default: 'fail' },
      }),
      act('ship', 'echo'),
      act('tell_customer', 'tag', { input: '{% $error.code %}' }),
    ],
  };

  it('routes by code, and a nonRetryable code is tried once', async () => {
    const declined = failing('card_declined');
    const run = await drive(routed, 1, { activities: { ...activities, charge: declined.fn } });
    expect(declined.calls.count).toBe(1);
    expect(run.status).toBe('completed');
    expect(run.snapshot.context.steps.tell_customer).toEqual({ tagged: 'card_declined' });
    expect(ofType(run.stream, 'StepScheduled').some((e) => e.stepId === 'ship')).toBe(false);
  });

  it('retries other codes per maxAttempts, then takes their route ("continue")', async () => {
    const down = failing('gateway_down');
    const run = await drive(routed, 1, { activities: { ...activities, charge: down.fn } });
    expect(down.calls.count).toBe(3);
    expect(run.status).toBe('completed');
    expect(run.snapshot.context.steps.charge).toEqual({
      error: { code: 'gateway_down', message: 'gateway_down!', retryable: true },
    });
    expect(run.snapshot.context.steps.ship).toEqual({
      error: { code: 'gateway_down', message: 'gateway_down!', retryable: true },
    });
  });

  it('sends every code it does not name to "default"', async () => {
    const other = failing('activity_error', false);
    const run = await drive(routed, 1, { activities: { ...activities, charge: other.fn } });
    expect(other.calls.count).toBe(1);
    expect(run.status).toBe('failed');
    expect(run.failure?.code).toBe('step_failed');
  });

  it('without "default", a code it does not name fails the run', async () => {
    const blueprint = {
      name: 'bp',
      steps: [act('charge', 'charge', { maxAttempts: 1, onError: { card_declined: 'continue' } })],
    };
    const run = await drive(blueprint, 1, {
      activities: { charge: failing('gateway_down').fn },
    });
    expect(run.status).toBe('failed');
  });

  it("takes nonRetryable from the blueprint's defaults", async () => {
    const blueprint = {
      name: 'bp',
      defaults: { nonRetryable: ['bad_input'] },
      steps: [act('parse', 'parse', { onError: 'continue' })],
    };
    const bad = failing('bad_input');
    const run = await drive(blueprint, 1, { activities: { parse: bad.fn } });
    expect(bad.calls.count).toBe(1);
    expect(run.status).toBe('completed');
  });

  it("settles a map's failed items by the inner step's routes: continue for one code, fail the map for others", async () => {
    const blueprint = (codes: Record<string, string>) => ({
      name: 'bp',
      steps: [
        {
          id: 'each',
          type: 'map',
          step: { type: 'activity', activity: 'check', maxAttempts: 1, onError: codes },
        },
      ],
    });
    const check: Activity = (input) =>
      input === 2 ? { ok: false, retryable: true, code: 'skip_me' } : ok(input);
    const kept = await drive(blueprint({ skip_me: 'continue' }), [1, 2, 3], {
      activities: { check },
    });
    expect(kept.status).toBe('completed');
    expect(kept.output).toEqual([
      1,
      { error: { code: 'skip_me', message: 'failed', retryable: true } },
      3,
    ]);
    const failed = await drive(blueprint({ other: 'continue' }), [1, 2, 3], {
      activities: { check },
    });
    expect(failed.status).toBe('failed');
  });
});

describe('$run.startedAt', () => {
  it('is the run start as an ISO time, the same in every later reaction', async () => {
    const blueprint = {
      name: 'bp',
      steps: [
        act('first', 'echo', { input: '{% $run.startedAt %}' }),
        act('second', 'echo', { input: '{% $run.startedAt %}' }),
      ],
    };
    const run = await drive(blueprint, null, { activities });
    const expected = new Date(NOW).toISOString();
    expect(run.snapshot.context.steps).toEqual({ first: expected, second: expected });
  });
});

describe('validation of the new language', () => {
  const diagnostics = (blueprint: unknown) => {
    const result = validateBlueprint(blueprint);
    return result.ok ? [] : result.diagnostics.map((d) => ({ path: d.path, code: d.code }));
  };

  it('names an onError route by code that is no step of the list, at its own path', () => {
    expect(
      diagnostics({
        name: 'bp',
        steps: [act('a', 'x', { onError: { card_declined: 'nowhere', default: 'fail' } })],
      }),
    ).toEqual([{ path: '$.steps[0].onError.card_declined', code: 'unknown_on_error_target' }]);
  });

  it('finds a cycle through an onError route by code', () => {
    const found = diagnostics({
      name: 'bp',
      steps: [act('handler', 'x'), act('a', 'x', { onError: { oops: 'handler' } })],
    });
    expect(found).toContainEqual({ path: '$.steps[1].onError.oops', code: 'cycle' });
  });

  it('refuses nonRetryable on a step that runs no activity, and a fail step without an error', () => {
    const found = diagnostics({
      name: 'bp',
      steps: [
        { id: 'p', type: 'parallel', nonRetryable: ['x'], branches: [[act('a', 'x')]] },
        { id: 'f', type: 'fail' },
      ],
    });
    expect(found.map((d) => d.path)).toEqual(
      expect.arrayContaining(['$.steps[0].nonRetryable', '$.steps[1].error']),
    );
  });

  it('refuses an error code that is not a name, and a set step with nothing to set', () => {
    const found = diagnostics({
      name: 'bp',
      steps: [
        { id: 'f', type: 'fail', error: { code: 'has space', message: 'm' } },
        { id: 's', type: 'set', data: {} },
      ],
    });
    expect(found.map((d) => d.path)).toEqual(
      expect.arrayContaining(['$.steps[0].error.code', '$.steps[1].data']),
    );
  });
});
