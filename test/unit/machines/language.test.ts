import { describe, expect, it } from 'vitest';
import { validateBlueprint } from '../../../src/blueprints/validate.ts';
import type { Json } from '../../../src/blueprints/json.ts';
import { checkRun } from '../../../src/machines/check.ts';
import { LANGUAGE, type RunEvent } from '../../../src/machines/events.ts';
import type { StoredEvent } from '../../../src/machines/stream.ts';
import { replay, statusOf } from '../../../src/machines/run.ts';
import { act, activities, compile, drive, NOW, obj, ok, startRun, type Activity } from './world.ts';
import { endingEvent } from '../../../src/machines/messages.ts';
import { openTasks } from '../../../src/machines/compile.ts';

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

/** An activity failing for good with code `boom`, and the error it records. */
const boom: Activity = () => ({ ok: false, retryable: false, code: 'boom', message: 'boom!' });
const boomError = { code: 'boom', message: 'boom!', retryable: false };

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

describe('containers own their inside', () => {
  it("a loop's onError catches its body's failure: continue gives the loop {error} and the run goes on", async () => {
    const blueprint = {
      name: 'bp',
      steps: [
        {
          id: 'tries',
          type: 'loop',
          count: 3,
          onError: 'continue',
          steps: [act('work', 'maybe', { input: '{% $iteration %}', maxAttempts: 1 })],
        },
        act('after', 'echo', { input: '{% $steps.tries %}' }),
      ],
    };
    const maybe: Activity = (input) => (input === 1 ? boom(input, 1) : ok(input));
    const run = await drive(blueprint, null, { activities: { ...activities, maybe } });
    expect(run.status).toBe('completed');
    expect(run.snapshot.context.steps.tries).toEqual({ error: boomError });
    expect(run.output).toEqual({ error: boomError });
    // The third iteration never ran.
    expect(ofType(run.stream, 'StepScheduled').map((e) => e.input)).toEqual([
      0,
      1,
      { error: boomError },
    ]);
  });

  it("a parallel's onError jump catches a branch's failure and stops the other branch", async () => {
    const blueprint = {
      name: 'bp',
      steps: [
        {
          id: 'both',
          type: 'parallel',
          onError: 'recover',
          branches: [
            [act('bad', 'boom', { maxAttempts: 1 })],
            [act('slow', 'echo'), act('next', 'echo')],
          ],
        },
        act('after', 'echo'),
        act('recover', 'tag', { input: '{% $error.code %}' }),
      ],
    };
    const run = await drive(blueprint, 1, { activities: { ...activities, boom } });
    expect(run.status).toBe('completed');
    expect(run.output).toEqual({ tagged: 'boom' });
    // `slow` was in flight when `bad` failed: dropped, never answered, `next` never scheduled.
    const scheduled = ofType(run.stream, 'StepScheduled').map((e) => e.stepId);
    expect(scheduled).toEqual(['bad', 'slow', 'recover']);
    expect(run.snapshot.context.tasks).toEqual({});
  });

  it('routes a caught failure by its code; a code it does not route fails the run through the container', async () => {
    const blueprint = (code: string) => ({
      name: 'bp',
      steps: [
        {
          id: 'group',
          type: 'condition',
          when: '{% true %}',
          onError: { [code]: 'continue' },
          then: [act('inner', 'boom', { maxAttempts: 1 })],
        },
      ],
    });
    const caught = await drive(blueprint('boom'), 1, { activities: { boom } });
    expect(caught.status).toBe('completed');
    expect(caught.output).toEqual({ error: boomError });
    const passed = await drive(blueprint('other'), 1, { activities: { boom } });
    expect(passed.status).toBe('failed');
    expect(passed.failure).toEqual({
      code: 'step_failed',
      message: "step 'group' failed: boom!",
      stepId: 'group',
      details: { error: boomError },
    });
  });

  it('a failure passes a container that does not catch and is caught by the next one out', async () => {
    const blueprint = {
      name: 'bp',
      steps: [
        {
          id: 'outer',
          type: 'loop',
          count: 1,
          onError: 'continue',
          steps: [
            {
              id: 'inner',
              type: 'parallel',
              branches: [[act('bad', 'boom', { maxAttempts: 1 })]],
            },
          ],
        },
      ],
    };
    const run = await drive(blueprint, 1, { activities: { boom } });
    expect(run.status).toBe('completed');
    expect(run.output).toEqual({ error: boomError });
  });

  it("a container's timeout starts at its entry, stops what runs inside and fails it with timeout", async () => {
    const blueprint = {
      name: 'bp',
      steps: [
        {
          id: 'group',
          type: 'parallel',
          timeout: '5s',
          onError: 'continue',
          branches: [[{ id: 'hold', type: 'wait', signal: 'never' }], [act('fine', 'echo')]],
        },
        act('after', 'echo', { input: '{% $steps.group.error.code %}' }),
      ],
    };
    const run = await drive(blueprint, 1, { activities, fireTimers: true });
    expect(run.status).toBe('completed');
    expect(ofType(run.stream, 'TimerScheduled')).toEqual([
      { type: 'TimerScheduled', timerId: 'group:1', stepId: 'group', dueAt: NOW + 5000 },
    ]);
    expect(run.output).toBe('timeout');
    expect(run.snapshot.context.steps.group).toEqual({
      error: {
        code: 'timeout',
        message: "step 'group' did not finish within its timeout of 5s",
        retryable: true,
      },
    });
    expect(run.snapshot.context.timers).toEqual({});
  });

  it('a timer of a container that finished in time is forgotten, and never fails it', async () => {
    const blueprint = {
      name: 'bp',
      steps: [{ id: 'group', type: 'loop', count: 2, timeout: '1m', steps: [act('w', 'inc')] }],
    };
    const run = await drive(blueprint, 0, { activities, fireTimers: true });
    expect(run.status).toBe('completed');
    expect(run.output).toEqual([1, 1]);
    expect(run.snapshot.context.timers).toEqual({});
    expect(ofType(run.stream, 'TimerFired')).toEqual([]);
  });

  it('runs started before (RunStarted without language 2) replay as they ran: the loop did not catch', async () => {
    const blueprint = {
      name: 'bp',
      steps: [
        {
          id: 'l',
          type: 'loop',
          count: 1,
          onError: 'continue',
          timeout: '1s',
          steps: [act('a', 'boom', { maxAttempts: 1 })],
        },
      ],
    };
    const stream: RunEvent[] = [
      {
        type: 'RunStarted',
        runId: 'old',
        blueprint: { name: 'bp', version: 1, hash: 'h', content: blueprint },
        input: null,
      },
      { type: 'StepEntered', stepId: 'l', input: null, value: { count: 1 } },
      { type: 'LoopChecked', stepId: 'l', iteration: 0, proceed: true },
      {
        type: 'StepScheduled',
        stepId: 'a',
        taskId: 'old:a:1',
        attempt: 1,
        activity: 'boom',
        input: null,
        delayMs: 0,
        timeoutMs: 30_000,
      },
      { type: 'StepFailed', stepId: 'a', taskId: 'old:a:1', attempt: 1, error: boomError },
      {
        type: 'RunFailed',
        error: {
          code: 'step_failed',
          message: "step 'a' failed: boom!",
          stepId: 'a',
          details: { error: boomError },
        },
      },
    ];
    const compiled = compile(blueprint, { scopes: false, handlerScope: false });
    expect(statusOf(replay(compiled, stream))).toBe('failed');
    const stored = (events: readonly RunEvent[]): StoredEvent[] =>
      events.map(({ type, ...data }, revision) => ({
        revision,
        type,
        data: data as unknown as Json,
        at: new Date(NOW).toISOString(),
      }));
    // `weft replay --check` decides every fact again: the old stream checks under the old rules…
    expect(await checkRun(stored(stream))).toEqual({ ok: true, events: stream.length });
    // …and the same facts under today's rules diverge: the loop would have caught the failure.
    const [started, ...rest] = stream;
    const today = await checkRun(
      stored([{ ...(started as RunEvent), language: LANGUAGE } as RunEvent, ...rest]),
    );
    expect(today.ok).toBe(false);
  });
});

describe('$error inside an error handler (language 3)', () => {
  /** `charge` fails and jumps to `recover`, a container whose steps, nested two deep, read `$error`. */
  const blueprint = {
    name: 'bp',
    steps: [
      act('charge', 'boom', { onError: 'recover' }),
      act('receipt', 'echo'),
      {
        id: 'recover',
        type: 'parallel',
        branches: [
          [act('notify', 'echo', { input: '{% {"code": $error.code, "from": "notify"} %}' })],
          [
            {
              id: 'known',
              type: 'condition',
              when: '{% $error.code = "boom" %}',
              then: [act('undo', 'echo', { input: '{% $error.message %}' })],
              else: [act('unknown', 'echo', { input: 'unknown' })],
            },
          ],
        ],
      },
      act('after', 'echo', { input: '{% $type($error) = "object" %}' }),
    ],
  };

  it('binds $error in every step nested in the handler, not after it; the stream checks as it ran', async () => {
    const run = await drive(blueprint, null, { activities: { ...activities, boom } });
    expect(run.status).toBe('completed');
    const inputs = Object.fromEntries(
      ofType(run.stream, 'StepScheduled').map((e) => [e.stepId, e.input]),
    );
    expect(inputs).toEqual({
      charge: null,
      notify: { code: 'boom', from: 'notify' },
      undo: 'boom!',
      after: false,
    });
    expect(ofType(run.stream, 'StepSkipped').map((e) => e.stepId)).toContain('receipt');
    // `weft replay --check` decides every fact again (the world's RunStarted holds no content).
    const stored = (language: number): StoredEvent[] =>
      run.stream.map((event, revision) => {
        const { type, ...data } =
          event.type === 'RunStarted'
            ? {
                ...event,
                blueprint: { ...event.blueprint, content: blueprint as unknown as Json },
                language,
              }
            : event;
        return { revision, type, data: data as unknown as Json, at: new Date(NOW).toISOString() };
      });
    expect(await checkRun(stored(LANGUAGE))).toEqual({ ok: true, events: run.stream.length });
    // A run recorded under language 2 decides as it did: the same facts, with `$error` unbound
    // inside the handler (`$error.code` is nothing), so this stream diverges at `notify`.
    expect(await checkRun(stored(2))).toMatchObject({
      ok: false,
      expected: { type: 'StepScheduled', stepId: 'notify', input: { from: 'notify' } },
      recorded: { stepId: 'notify', input: { code: 'boom', from: 'notify' } },
    });
  });
});

describe('parallel completion', () => {
  it('"first": the first branch to finish gives its output; the others are dropped unanswered', async () => {
    const blueprint = {
      name: 'bp',
      steps: [
        {
          id: 'race',
          type: 'parallel',
          completion: 'first',
          branches: [[act('a1', 'inc'), act('a2', 'inc')], [act('b', 'tag')]],
        },
        act('after', 'echo', { input: '{% $steps.race %}' }),
      ],
    };
    // The world answers the oldest open task first: a1, then b (branch 1 ends), so a2 never runs.
    const run = await drive(blueprint, 1, { activities });
    expect(run.status).toBe('completed');
    expect(run.output).toEqual({ tagged: 1 });
    const scheduled = ofType(run.stream, 'StepScheduled').map((e) => e.stepId);
    expect(scheduled).toEqual(['a1', 'b', 'a2', 'after']);
    expect(ofType(run.stream, 'StepCompleted').map((e) => e.stepId)).toEqual(['a1', 'b', 'after']);
    expect(run.snapshot.context.tasks).toEqual({});
  });

  it('"first": a branch that fails drops out of the race and the other wins; all failing fails the step', async () => {
    const blueprint = (other: string) => ({
      name: 'bp',
      steps: [
        {
          id: 'race',
          type: 'parallel',
          completion: 'first',
          onError: 'continue',
          branches: [
            [act('bad', 'boom', { maxAttempts: 1 })],
            [act('b', other, { maxAttempts: 1 })],
          ],
        },
      ],
    });
    const won = await drive(blueprint('tag'), 1, { activities: { ...activities, boom } });
    expect(won.status).toBe('completed');
    expect(won.output).toEqual({ tagged: 1 });
    const lost = await drive(blueprint('boom'), 1, { activities: { ...activities, boom } });
    expect(lost.status).toBe('completed');
    expect(lost.output).toEqual({
      error: {
        code: 'quorum_not_met',
        message: "0 of 2 branches of 'race' succeeded; 1 needed",
        retryable: false,
        details: { errors: [boomError, boomError] },
      },
    });
  });

  it('"first": a branch won in the reaction that entered another branch\'s child step requests no child run', async () => {
    const blueprint = {
      name: 'bp',
      steps: [
        {
          id: 'race',
          type: 'parallel',
          completion: 'first',
          branches: [
            [{ id: 'sub', type: 'child', blueprint: 'kid' }],
            [{ id: 'quick', type: 'set', data: { won: true } }],
          ],
        },
      ],
    };
    const run = await drive(blueprint, null, { activities });
    expect(run.status).toBe('completed');
    expect(run.output).toEqual({ won: true });
    expect(ofType(run.stream, 'ChildRequested')).toEqual([]);
    expect(run.snapshot.context.children).toEqual({});
  });

  it('{atLeast}: failed branches give null and the step completes when enough succeeded', async () => {
    const blueprint = {
      name: 'bp',
      steps: [
        {
          id: 'quotes',
          type: 'parallel',
          completion: { atLeast: 2 },
          branches: [
            [act('q1', 'inc')],
            [act('q2', 'boom', { maxAttempts: 1 })],
            [act('q3a', 'inc'), act('q3b', 'inc')],
          ],
        },
      ],
    };
    const run = await drive(blueprint, 1, { activities: { ...activities, boom } });
    expect(run.status).toBe('completed');
    expect(run.output).toEqual([2, null, 3]);
  });

  it('{atLeast}: fails with quorum_not_met, every branch error in details, when too few succeeded', async () => {
    const blueprint = {
      name: 'bp',
      steps: [
        {
          id: 'quotes',
          type: 'parallel',
          completion: { atLeast: 2 },
          branches: [
            [act('q1', 'boom', { maxAttempts: 1 })],
            [act('q2', 'boom', { maxAttempts: 1 })],
            [act('q3', 'inc')],
          ],
        },
      ],
    };
    const run = await drive(blueprint, 1, { activities: { ...activities, boom } });
    expect(run.status).toBe('failed');
    expect(run.failure).toEqual({
      code: 'step_failed',
      message: "step 'quotes' failed: 1 of 3 branches of 'quotes' succeeded; 2 needed",
      stepId: 'quotes',
      details: {
        error: {
          code: 'quorum_not_met',
          message: "1 of 3 branches of 'quotes' succeeded; 2 needed",
          retryable: false,
          details: { errors: [boomError, boomError, null] },
        },
      },
    });
  });

  it('{atLeast} inside a loop starts each pass with no branch failed', async () => {
    const blueprint = {
      name: 'bp',
      steps: [
        {
          id: 'rounds',
          type: 'loop',
          count: 2,
          steps: [
            {
              id: 'quotes',
              type: 'parallel',
              completion: { atLeast: 1 },
              branches: [
                [act('q1', 'flaky', { input: '{% $iteration %}', maxAttempts: 1 })],
                [act('q2', 'inc', { input: '{% $iteration %}' })],
              ],
            },
          ],
        },
      ],
    };
    const flaky: Activity = (input) => (input === 0 ? boom(input, 1) : ok('fine'));
    const run = await drive(blueprint, null, { activities: { ...activities, flaky } });
    expect(run.status).toBe('completed');
    expect(run.output).toEqual([
      [null, 1],
      ['fine', 2],
    ]);
  });

  it('refuses atLeast above the number of branches, at its path', () => {
    const result = validateBlueprint({
      name: 'bp',
      steps: [
        {
          id: 'p',
          type: 'parallel',
          completion: { atLeast: 3 },
          branches: [[act('a', 'x')], [act('b', 'x')]],
        },
      ],
    });
    expect(result.diagnostics.map((d) => [d.path, d.code])).toEqual([
      ['$.steps[0].completion.atLeast', 'invalid_completion'],
    ]);
  });
});

describe('compensation and finally', () => {
  /** A booking that gives its own name, and its undo that says what it undid. */
  const trip = (failAt?: string) => ({
    name: 'bp',
    steps: [
      act('flight', 'book', {
        input: 'flight',
        compensate: act('unflight', 'undo', { input: '{% $steps.flight %}' }),
      }),
      act('hotel', 'book', {
        input: 'hotel',
        compensate: [
          act('unhotel', 'undo', { input: '{% $steps.hotel %}' }),
          act('tell_hotel', 'undo', { input: '{% "told " & $error.code %}' }),
        ],
      }),
      act('car', failAt === 'car' ? 'boom' : 'book', { input: 'car', maxAttempts: 1 }),
    ],
    finally: [act('notify', 'undo', { input: 'notify' })],
  });
  const log: Json[] = [];
  const world = {
    activities: {
      ...activities,
      boom,
      book: (input: Json) => ok(`booked ${JSON.stringify(input)}`),
      undo: (input: Json) => {
        log.push(input);
        return ok(`undone ${JSON.stringify(input)}`);
      },
    },
  };

  it('a failed run undoes what completed, last first, then runs finally, and ends failed with compensated', async () => {
    log.length = 0;
    const run = await drive(trip('car'), null, world);
    expect(run.status).toBe('failed');
    expect(log).toEqual(['booked "hotel"', 'told step_failed', 'booked "flight"', 'notify']);
    const [failed] = ofType(run.stream, 'RunFailed');
    expect(failed).toMatchObject({
      error: { code: 'step_failed', stepId: 'car' },
      compensated: true,
    });
    expect(failed).not.toHaveProperty('cleanupErrors');
  });

  it('a completed run runs finally only, and keeps its output', async () => {
    log.length = 0;
    const run = await drive(trip(), null, world);
    expect(run.status).toBe('completed');
    expect(log).toEqual(['notify']);
    expect(run.output).toBe('booked "car"');
    expect(ofType(run.stream, 'RunCompleted')[0]).toEqual({
      type: 'RunCompleted',
      output: 'booked "car"',
    });
  });

  it('a cancel unwinds first (RunUnwinding), then the run ends cancelled with compensated', async () => {
    log.length = 0;
    const run = await drive(trip(), null, { ...world, cancelAfter: 1 });
    expect(run.status).toBe('cancelled');
    // The flight was booked; the hotel's attempt was in flight and is dropped, so only the flight is undone.
    expect(log).toEqual(['booked "flight"', 'notify']);
    expect(ofType(run.stream, 'RunUnwinding')).toEqual([
      expect.objectContaining({ type: 'RunUnwinding', cause: 'cancelled', reason: 'stop' }),
    ]);
    expect(ofType(run.stream, 'RunCancelled')).toEqual([
      expect.objectContaining({ reason: 'stop', compensated: true }),
    ]);
    expect(run.snapshot.context.tasks).toEqual({});
  });

  it('a step in a loop is undone once per completion', async () => {
    log.length = 0;
    const blueprint = {
      name: 'bp',
      steps: [
        {
          id: 'each',
          type: 'loop',
          count: 2,
          steps: [
            act('reserve', 'book', {
              input: '{% $iteration %}',
              compensate: act('release', 'undo', { input: '{% $steps.reserve %}' }),
            }),
          ],
        },
        { id: 'stop', type: 'fail', error: { code: 'no_stock', message: 'none left' } },
      ],
    };
    const run = await drive(blueprint, null, world);
    expect(run.status).toBe('failed');
    expect(run.failure).toEqual({ code: 'no_stock', message: 'none left', stepId: 'stop' });
    // $steps.reserve is its latest output for both undos.
    expect(log).toEqual(['booked 1', 'booked 1']);
  });

  it('a failing compensation is recorded and the others still run', async () => {
    log.length = 0;
    const blueprint = {
      name: 'bp',
      steps: [
        act('a', 'book', { input: 'a', compensate: act('undo_a', 'undo', { input: 'a' }) }),
        act('b', 'book', { input: 'b', compensate: act('undo_b', 'boom', { maxAttempts: 1 }) }),
        act('c', 'boom', { maxAttempts: 1 }),
      ],
      finally: [act('last', 'undo', { input: 'last' })],
    };
    const run = await drive(blueprint, null, world);
    expect(run.status).toBe('failed');
    expect(log).toEqual(['a', 'last']);
    expect(ofType(run.stream, 'RunFailed')[0]).toMatchObject({
      compensated: true,
      cleanupErrors: [{ stepId: 'undo_b', error: boomError }],
    });
  });

  it('a skipped step or one that failed onto a route owes no compensation', async () => {
    log.length = 0;
    const blueprint = {
      name: 'bp',
      steps: [
        act('skipped', 'book', {
          if: '{% false %}',
          compensate: act('u1', 'undo', { input: 'u1' }),
        }),
        act('caught', 'boom', {
          maxAttempts: 1,
          onError: 'continue',
          compensate: act('u2', 'undo', { input: 'u2' }),
        }),
        act('done', 'book', { input: 'x', compensate: act('u3', 'undo', { input: 'u3' }) }),
        { id: 'stop', type: 'fail', error: { code: 'stop', message: 'stop' } },
      ],
    };
    const run = await drive(blueprint, null, world);
    expect(run.status).toBe('failed');
    expect(log).toEqual(['u3']);
  });

  it('validates compensation and finally lists like any list', () => {
    const result = validateBlueprint({
      name: 'bp',
      steps: [
        act('a', 'x', { compensate: [act('a', 'y'), act('u', 'y', { dependsOn: ['nope'] })] }),
      ],
      finally: [act('f', 'y', { onError: 'missing' })],
    });
    expect(result.diagnostics.map((d) => [d.path, d.code])).toEqual(
      expect.arrayContaining([
        ['$.steps[0].compensate[0].id', 'duplicate_id'],
        ['$.steps[0].compensate[1].dependsOn[0]', 'unknown_dependency'],
        ['$.finally[0].onError', 'unknown_on_error_target'],
      ]),
    );
  });
});

describe('$progress', () => {
  it("shows each map's and loop's done, failed and total to the steps that run meanwhile", async () => {
    const blueprint = {
      name: 'bp',
      steps: [
        {
          id: 'rows',
          type: 'map',
          over: '{% [1, 2, 3] %}',
          concurrency: 1,
          step: {
            type: 'activity',
            activity: 'maybe',
            input: '{% {"item": $item, "seen": $progress.rows} %}',
            maxAttempts: 1,
            onError: 'continue',
          },
        },
        {
          id: 'pages',
          type: 'loop',
          count: 2,
          steps: [act('page', 'echo', { input: '{% $progress.pages %}' })],
        },
        {
          id: 'while',
          type: 'loop',
          while: '{% $iteration < 1 %}',
          maxIterations: 3,
          steps: [act('w', 'echo', { input: '{% $progress %}' })],
        },
      ],
    };
    const maybe: Activity = (input) =>
      obj(input).item === 2 ? boom(input, 1) : ok(obj(input).seen ?? null);
    const run = await drive(blueprint, null, { activities: { ...activities, maybe } });
    expect(run.status).toBe('completed');
    expect(run.snapshot.context.steps.rows).toEqual([
      { done: 0, failed: 0, total: 3 },
      { error: { code: 'boom', message: 'boom!', retryable: false } },
      { done: 2, failed: 1, total: 3 },
    ]);
    expect(run.snapshot.context.steps.pages).toEqual([
      { done: 0, failed: 0, total: 2 },
      { done: 1, failed: 0, total: 2 },
    ]);
    // The while loop's one iteration sees every map and loop so far, itself in its first pass.
    expect(run.output).toEqual([
      {
        rows: { done: 3, failed: 1, total: 3 },
        pages: { done: 2, failed: 0, total: 2 },
        while: { done: 0, failed: 0, total: null },
      },
    ]);
  });
});

describe('wait until a condition holds', () => {
  const votes = (extra: Record<string, unknown> = {}) => ({
    name: 'bp',
    signals: [{ name: 'vote', handler: 'append' }],
    steps: [
      {
        id: 'quorum',
        type: 'wait',
        when: "{% $count($data.vote) >= 2 and $count($signals[name = 'vote']) >= 2 %}",
        ...extra,
      },
      act('after', 'echo', { input: '{% $data.vote %}' }),
    ],
  });

  it('waits until signals make it true, then goes on with its value', async () => {
    const run = await drive(votes(), null, {
      activities,
      signals: [
        { name: 'vote', payload: 'yes' },
        { name: 'vote', payload: 'no' },
      ],
    });
    expect(run.status).toBe('completed');
    expect(run.snapshot.context.steps.quorum).toBe(true);
    expect(run.output).toEqual(['yes', 'no']);
    expect(ofType(run.stream, 'WaitSatisfied')).toEqual([
      { type: 'WaitSatisfied', stepId: 'quorum', value: true },
    ]);
  });

  it('is done at once when it already holds (signals sent before it started count)', async () => {
    const { steps, ...rest } = votes();
    const blueprint = { ...rest, steps: [act('first', 'echo'), ...steps] };
    const run = await drive(blueprint, null, {
      activities,
      signals: [
        { name: 'vote', payload: 1, early: true },
        { name: 'vote', payload: 2, early: true },
      ],
    });
    expect(run.status).toBe('completed');
    expect(ofType(run.stream, 'WaitSatisfied')).toEqual([]);
    expect(ofType(run.stream, 'StepEntered')[0]).toMatchObject({
      stepId: 'quorum',
      value: { met: true, value: true },
    });
  });

  it('times out with code timeout when the signals never make it true', async () => {
    const run = await drive(votes({ timeout: '10m', onError: 'continue' }), null, {
      activities,
      signals: [{ name: 'vote', payload: 'lonely' }],
      fireTimers: true,
    });
    expect(run.status).toBe('completed');
    expect(run.snapshot.context.steps.quorum).toMatchObject({ error: { code: 'timeout' } });
  });

  it('is checked again when a set step in another branch stores data', async () => {
    const blueprint = {
      name: 'bp',
      steps: [
        {
          id: 'both',
          type: 'parallel',
          branches: [
            [{ id: 'gate', type: 'wait', when: '{% $data.ready = true %}' }],
            [act('work', 'echo'), { id: 'flag', type: 'set', data: { ready: true } }],
          ],
        },
      ],
    };
    const run = await drive(blueprint, null, { activities });
    expect(run.status).toBe('completed');
    expect(ofType(run.stream, 'WaitSatisfied')).toEqual([
      { type: 'WaitSatisfied', stepId: 'gate', value: true },
    ]);
  });

  it('fails the step when the condition cannot be evaluated', async () => {
    const blueprint = {
      name: 'bp',
      signals: [{ name: 'go' }],
      steps: [{ id: 'gate', type: 'wait', when: '{% $data.go ? $error("bad go") : false %}' }],
    };
    const run = await drive(blueprint, null, { activities, signals: [{ name: 'go', payload: 1 }] });
    expect(run.status).toBe('failed');
    expect(run.failure).toMatchObject({ code: 'step_failed', stepId: 'gate' });
  });

  it('refuses a wait with both signal and when, or neither', () => {
    const codes = (step: Record<string, unknown>) =>
      validateBlueprint({
        name: 'bp',
        steps: [{ id: 'w', type: 'wait', ...step }],
      }).diagnostics.map((d) => [d.path, d.code]);
    expect(codes({ signal: 'go', when: '{% true %}' })).toEqual([
      ['$.steps[0]', 'wait_signal_or_when'],
    ]);
    expect(codes({})).toEqual([['$.steps[0]', 'wait_signal_or_when']]);
  });
});

describe('graph step', () => {
  const graph = (extra: Record<string, unknown> = {}) => ({
    name: 'bp',
    steps: [
      {
        id: 'jobs',
        type: 'graph',
        over: '{% $input %}',
        node: '{% $item.name %}',
        after: '{% $item.after %}',
        step: {
          type: 'activity',
          activity: 'job',
          input: '{% {"name": $item.name, "after": $after} %}',
        },
        ...extra,
      },
    ],
  });
  const job: Activity = (input) =>
    ok(
      `${JSON.stringify(obj(input).name)}(${Object.keys(obj(obj(input).after ?? null)).join(',')})`.replaceAll(
        '"',
        '',
      ),
    );
  const world = { activities: { ...activities, job } };
  const scheduledItems = (stream: readonly RunEvent[]) =>
    stream.flatMap((e) => (e.type === 'StepScheduled' ? [e.item] : []));

  it('runs each node when the nodes it runs after are done, with their outputs, and outputs by node id', async () => {
    const input = [
      { name: 'b' },
      { name: 'a' },
      { name: 'c', after: ['b'] },
      { name: 'd', after: ['c', 'a'] },
    ];
    const run = await drive(graph(), input, world);
    expect(run.status).toBe('completed');
    expect(run.output).toEqual({ b: 'b()', a: 'a()', c: 'c(b)', d: 'd(c,a)' });
    // c starts as soon as b is done, while a still runs: not level by level.
    const order = run.stream.flatMap((e) =>
      e.type === 'StepScheduled' || e.type === 'StepCompleted'
        ? [`${e.type === 'StepScheduled' ? '+' : '-'}${e.item}`]
        : [],
    );
    expect(order.slice(0, 4)).toEqual(['+0', '+1', '-0', '+2']);
    expect(scheduledItems(run.stream)).toEqual([0, 1, 2, 3]);
  });

  it('keeps to its concurrency', async () => {
    let most = 0;
    const input = [{ name: 'a' }, { name: 'b' }, { name: 'c', after: ['a', 'b'] }];
    const run = await drive(graph({ concurrency: 1 }), input, {
      ...world,
      onOpenTasks: (n) => (most = Math.max(most, n)),
    });
    expect(run.status).toBe('completed');
    expect(most).toBe(1);
    expect(run.output).toEqual({ a: 'a()', b: 'b()', c: 'c(a,b)' });
  });

  it('fails with graph_cycle naming the cycle, and with graph_invalid for a node that is not there', async () => {
    const cyclic = await drive(
      graph(),
      [
        { name: 'x' },
        { name: 'a', after: ['c'] },
        { name: 'b', after: ['a', 'x'] },
        { name: 'c', after: ['b'] },
      ],
      world,
    );
    expect(cyclic.status).toBe('failed');
    expect(cyclic.failure?.details).toEqual({
      error: {
        code: 'graph_cycle',
        message: "graph step 'jobs': its nodes wait on each other: a → c → b → a",
        retryable: false,
      },
    });
    const unknown = await drive(graph(), [{ name: 'a', after: ['nope'] }], world);
    expect(unknown.failure?.details).toMatchObject({
      error: {
        code: 'graph_invalid',
        message: "graph step 'jobs': node 'a' runs after 'nope', which is no node of it",
      },
    });
    const twice = await drive(graph(), [{ name: 'a' }, { name: 'a' }], world);
    expect(twice.failure?.details).toMatchObject({ error: { code: 'graph_invalid' } });
  });

  it('has {} as its output for no nodes, and shows its progress', async () => {
    const empty = await drive(graph(), [], world);
    expect(empty.output).toEqual({});
    const blueprint = {
      ...graph(),
      steps: [...graph().steps, act('after', 'echo', { input: '{% $progress.jobs %}' })],
    };
    const run = await drive(blueprint, [{ name: 'a' }, { name: 'b', after: ['a'] }], world);
    expect(run.output).toEqual({ done: 2, failed: 0, total: 2 });
  });
});

describe('map of steps', () => {
  it('runs each item as a child run of its own blueprint: the item steps, the defaults, the item as input', async () => {
    const blueprint = {
      name: 'bp',
      defaults: { maxAttempts: 2 },
      steps: [
        {
          id: 'orders',
          type: 'map',
          over: '{% $input %}',
          concurrency: 2,
          steps: [
            act('reserve', 'reserve_items', { input: '{% $item.items %}' }),
            act('confirm', 'confirm_order', { input: '{% {"order": $item.id, "at": $index} %}' }),
          ],
        },
      ],
    };
    const run = await drive(blueprint, [{ id: 'o1' }, { id: 'o2' }], {
      activities,
      children: { bp__orders: (input) => ok({ done: obj(input).id ?? null }) },
    });
    expect(run.status).toBe('completed');
    expect(run.output).toEqual([{ done: 'o1' }, { done: 'o2' }]);
    const [first] = ofType(run.stream, 'ChildRequested');
    expect(first).toMatchObject({
      stepId: 'orders',
      item: 0,
      blueprint: 'bp__orders',
      input: { id: 'o1' },
      content: {
        name: 'bp__orders',
        defaults: { maxAttempts: 2 },
        steps: blueprint.steps[0]?.steps,
      },
    });
  });

  it('refuses a map with both step and steps, or neither, and checks the item steps like any list', () => {
    const diagnostics = (map: Record<string, unknown>) =>
      validateBlueprint({ name: 'bp', steps: [{ id: 'm', type: 'map', ...map }] }).diagnostics.map(
        (d) => [d.path, d.code],
      );
    expect(diagnostics({})).toEqual([['$.steps[0]', 'map_step_or_steps']]);
    expect(
      diagnostics({ step: { type: 'activity', activity: 'a' }, steps: [act('x', 'a')] }),
    ).toEqual([['$.steps[0]', 'map_step_or_steps']]);
    expect(diagnostics({ steps: [act('x', 'a'), act('y', 'a', { dependsOn: ['z'] })] })).toEqual([
      ['$.steps[0].steps[1].dependsOn[0]', 'unknown_dependency'],
    ]);
  });
});

describe('container retries', () => {
  /** Fails (retryable) on the first `times` calls, then succeeds with the call count. */
  const flakyTimes = (times: number) => {
    const calls = { count: 0 };
    const fn: Activity = () => {
      calls.count += 1;
      return calls.count <= times
        ? { ok: false, retryable: true, code: 'flaky', message: `call ${calls.count}` }
        : ok(calls.count);
    };
    return { fn, calls };
  };
  const group = (extra: Record<string, unknown>) => ({
    name: 'bp',
    steps: [
      {
        id: 'group',
        type: 'condition',
        when: '{% true %}',
        then: [act('first', 'echo'), act('work', 'flaky', { maxAttempts: 1 })],
        ...extra,
      },
    ],
  });

  it('runs a failed container again from its start, up to maxAttempts', async () => {
    const flaky = flakyTimes(2);
    const run = await drive(group({ maxAttempts: 3 }), 'in', {
      activities: { ...activities, flaky: flaky.fn },
    });
    expect(run.status).toBe('completed');
    expect(run.output).toBe(3);
    // Three attempts of the group: each entered afresh, its first step run again.
    expect(ofType(run.stream, 'StepEntered').filter((e) => e.stepId === 'group')).toHaveLength(3);
    expect(ofType(run.stream, 'StepScheduled').map((e) => e.stepId)).toEqual([
      'first',
      'work',
      'first',
      'work',
      'first',
      'work',
    ]);
  });

  it('takes its onError with the last error once its attempts are spent', async () => {
    const flaky = flakyTimes(5);
    const run = await drive(group({ maxAttempts: 2, onError: 'continue' }), 'in', {
      activities: { ...activities, flaky: flaky.fn },
    });
    expect(run.status).toBe('completed');
    expect(run.output).toEqual({ error: { code: 'flaky', message: 'call 2', retryable: true } });
    expect(flaky.calls.count).toBe(2);
  });

  it('never runs again for an error that is not retryable', async () => {
    const run = await drive(
      {
        ...group({ maxAttempts: 3 }),
        steps: [
          { ...group({ maxAttempts: 3 }).steps[0], then: [act('bad', 'boom', { maxAttempts: 1 })] },
        ],
      },
      'in',
      { activities: { ...activities, boom } },
    );
    expect(run.status).toBe('failed');
    expect(ofType(run.stream, 'StepScheduled')).toHaveLength(1);
  });

  it('runs again when its timeout passes, and starts counting afresh in each loop iteration', async () => {
    const blueprint = {
      name: 'bp',
      steps: [
        {
          id: 'rounds',
          type: 'loop',
          count: 2,
          steps: [
            {
              id: 'poll',
              type: 'parallel',
              timeout: '1s',
              maxAttempts: 2,
              onError: 'continue',
              branches: [[{ id: 'hold', type: 'wait', signal: 'never' }]],
            },
          ],
        },
      ],
    };
    const run = await drive(blueprint, null, { activities, fireTimers: true });
    expect(run.status).toBe('completed');
    // Two iterations, each: two attempts of poll timing out, then continue.
    expect(ofType(run.stream, 'TimerFired')).toHaveLength(4);
    expect(ofType(run.stream, 'StepEntered').filter((e) => e.stepId === 'poll')).toHaveLength(4);
    expect(run.output).toEqual([
      { error: expect.objectContaining({ code: 'timeout' }) as unknown },
      { error: expect.objectContaining({ code: 'timeout' }) as unknown },
    ]);
  });
});

describe('unwinding, cut short', () => {
  it('a second cancel while the run unwinds ends it at once, the rest of its compensations not run', async () => {
    const blueprint = {
      name: 'bp',
      steps: [
        act('a', 'echo', { compensate: act('undo_a', 'echo') }),
        act('b', 'echo', { compensate: act('undo_b', 'echo') }),
        act('hold', 'echo'),
      ],
    };
    const run = await startRun(blueprint, null);
    const answer = async () => {
      const task = openTasks(run.snapshot.context)[0];
      if (task === undefined) throw new Error('no task open');
      await run.apply({
        type: 'StepCompleted',
        stepId: task.stepId,
        taskId: task.taskId,
        attempt: task.attempt,
        output: task.stepId,
      });
    };
    await answer(); // a
    await answer(); // b
    await run.apply(endingEvent(run.snapshot, { reason: 'first' }));
    expect(ofType(run.stream, 'RunUnwinding')).toHaveLength(1);
    // undo_b runs first; the second cancel comes while it does.
    expect(openTasks(run.snapshot.context).map((t) => t.stepId)).toEqual(['undo_b']);
    await run.apply(endingEvent(run.snapshot, { reason: 'second' }));
    expect(statusOf(run.snapshot)).toBe('cancelled');
    const cancelled = ofType(run.stream, 'RunCancelled');
    expect(cancelled).toHaveLength(1);
    expect(cancelled[0]).toMatchObject({ reason: 'second' });
    expect(cancelled[0]).not.toHaveProperty('compensated');
    expect(ofType(run.stream, 'StepScheduled').map((e) => e.stepId)).not.toContain('undo_a');
  });
});
