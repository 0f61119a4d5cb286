import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  BlueprintInvalid,
  blueprint,
  step,
  steps,
  type BlueprintBuilder,
} from '../../../src/blueprints/builder.ts';
import type { Step } from '../../../src/blueprints/schema.ts';
import { validateBlueprint } from '../../../src/blueprints/validate.ts';

const example = (name: string): unknown =>
  JSON.parse(
    readFileSync(new URL(`../../../examples/${name}/blueprint.json`, import.meta.url), 'utf8'),
  );

/** The blueprint `t` whose only steps are `list`, as JSON. */
const only = (...list: unknown[]) => ({ name: 't', steps: list });

/** Asserts the hand-written JSON is valid, and that the builder made exactly it. */
const same = (built: unknown, json: unknown): void => {
  expect(validateBlueprint(json)).toMatchObject({ ok: true });
  expect(built).toStrictEqual(json);
};

const thrown = (build: () => unknown): BlueprintInvalid => {
  try {
    build();
  } catch (error) {
    expect(error).toBeInstanceOf(BlueprintInvalid);
    return error as BlueprintInvalid;
  }
  throw new Error('build() did not throw');
};

describe('blueprint builder: one step type at a time', () => {
  const b = blueprint('t');

  it('activity', () => {
    same(
      b
        .activity('charge', {
          activity: 'charge_card',
          input: "{% {'amount': $input.total} %}",
          maxAttempts: 5,
          timeout: '10s',
          scheduleTimeout: '1m',
          backoff: { initial: '100ms', factor: 2, max: '2s' },
          nonRetryable: ['card_declined'],
          onError: { card_declined: 'tell', default: 'fail' },
        })
        .activity('tell', { activity: 'email', if: '{% $exists($error) %}' })
        .build(),
      only(
        {
          id: 'charge',
          type: 'activity',
          activity: 'charge_card',
          input: "{% {'amount': $input.total} %}",
          maxAttempts: 5,
          timeout: '10s',
          scheduleTimeout: '1m',
          backoff: { initial: '100ms', factor: 2, max: '2s' },
          nonRetryable: ['card_declined'],
          onError: { card_declined: 'tell', default: 'fail' },
        },
        { id: 'tell', type: 'activity', activity: 'email', if: '{% $exists($error) %}' },
      ),
    );
  });

  it('parallel', () => {
    same(
      b
        .parallel('quotes', {
          completion: { atLeast: 1 },
          timeout: '1m',
          branches: [
            (l) => l.activity('acme', { activity: 'quote_acme' }),
            steps().activity('zenith', { activity: 'quote_zenith' }),
            [{ id: 'orbit', type: 'activity', activity: 'quote_orbit' }],
          ],
        })
        .build(),
      only({
        id: 'quotes',
        type: 'parallel',
        completion: { atLeast: 1 },
        timeout: '1m',
        branches: [
          [{ id: 'acme', type: 'activity', activity: 'quote_acme' }],
          [{ id: 'zenith', type: 'activity', activity: 'quote_zenith' }],
          [{ id: 'orbit', type: 'activity', activity: 'quote_orbit' }],
        ],
      }),
    );
  });

  it('condition', () => {
    same(
      b
        .condition('big', {
          when: '{% $input.total > 100 %}',
          then: (l) => l.activity('review', { activity: 'review' }),
          else: (l) => l.activity('ship', { activity: 'ship' }),
        })
        .build(),
      only({
        id: 'big',
        type: 'condition',
        when: '{% $input.total > 100 %}',
        then: [{ id: 'review', type: 'activity', activity: 'review' }],
        else: [{ id: 'ship', type: 'activity', activity: 'ship' }],
      }),
    );
  });

  it('switch', () => {
    same(
      b
        .switch('route', {
          on: '{% $input.kind %}',
          cases: {
            image: (l) => l.activity('img', { activity: 'resize' }),
            video: (l) => l.activity('vid', { activity: 'transcode' }),
          },
          default: (l) => l.succeed('other', { output: null }),
        })
        .build(),
      only({
        id: 'route',
        type: 'switch',
        on: '{% $input.kind %}',
        cases: {
          image: [{ id: 'img', type: 'activity', activity: 'resize' }],
          video: [{ id: 'vid', type: 'activity', activity: 'transcode' }],
        },
        default: [{ id: 'other', type: 'succeed', output: null }],
      }),
    );
  });

  it('loop, by count and by while', () => {
    same(
      b
        .loop('thrice', { count: 3, steps: (l) => l.activity('once', { activity: 'tick' }) })
        .loop('poll', {
          while: "{% $steps.check.state != 'ready' %}",
          maxIterations: 100,
          timeout: '10m',
          onError: { timeout: 'give_up', default: 'fail' },
          steps: (l) =>
            l.activity('check', { activity: 'check_status' }).sleep('pause', { duration: '30s' }),
        })
        .activity('give_up', { activity: 'alert' })
        .build(),
      only(
        {
          id: 'thrice',
          type: 'loop',
          count: 3,
          steps: [{ id: 'once', type: 'activity', activity: 'tick' }],
        },
        {
          id: 'poll',
          type: 'loop',
          while: "{% $steps.check.state != 'ready' %}",
          maxIterations: 100,
          timeout: '10m',
          onError: { timeout: 'give_up', default: 'fail' },
          steps: [
            { id: 'check', type: 'activity', activity: 'check_status' },
            { id: 'pause', type: 'sleep', duration: '30s' },
          ],
        },
        { id: 'give_up', type: 'activity', activity: 'alert' },
      ),
    );
  });

  it('map, with an item step or a list of steps', () => {
    same(
      b
        .map('each', {
          over: '{% $input.rows %}',
          concurrency: 10,
          step: {
            activity: 'check_row',
            input: '{% $item %}',
            maxAttempts: 2,
            onError: 'continue',
          },
        })
        .map('subs', { over: '{% $input.docs %}', step: { id: 'sub', blueprint: 'invoice' } })
        .map('orders', {
          over: '{% $input.orders %}',
          steps: (l) =>
            l
              .activity('reserve', { activity: 'reserve_items', input: '{% $item.items %}' })
              .activity('confirm', { activity: 'confirm_order' }),
        })
        .build(),
      only(
        {
          id: 'each',
          type: 'map',
          over: '{% $input.rows %}',
          concurrency: 10,
          step: {
            type: 'activity',
            activity: 'check_row',
            input: '{% $item %}',
            maxAttempts: 2,
            onError: 'continue',
          },
        },
        {
          id: 'subs',
          type: 'map',
          over: '{% $input.docs %}',
          step: { id: 'sub', type: 'child', blueprint: 'invoice' },
        },
        {
          id: 'orders',
          type: 'map',
          over: '{% $input.orders %}',
          steps: [
            {
              id: 'reserve',
              type: 'activity',
              activity: 'reserve_items',
              input: '{% $item.items %}',
            },
            { id: 'confirm', type: 'activity', activity: 'confirm_order' },
          ],
        },
      ),
    );
  });

  it('graph', () => {
    same(
      b
        .graph('build', {
          over: '{% $input.jobs %}',
          node: '{% $item.name %}',
          after: '{% $item.after %}',
          concurrency: 4,
          step: { activity: 'run_job', input: "{% {'job': $item, 'inputs': $after} %}" },
        })
        .build(),
      only({
        id: 'build',
        type: 'graph',
        over: '{% $input.jobs %}',
        node: '{% $item.name %}',
        after: '{% $item.after %}',
        concurrency: 4,
        step: {
          type: 'activity',
          activity: 'run_job',
          input: "{% {'job': $item, 'inputs': $after} %}",
        },
      }),
    );
  });

  it('child, by name and byType', () => {
    same(
      b
        .child('sub', { blueprint: 'invoice', version: 2, input: { id: '{% $input.id %}' } })
        .child('media', {
          byType: { on: '{% $input.type %}', blueprints: { image: 'media_image' } },
          timeout: '5m',
        })
        .build(),
      only(
        {
          id: 'sub',
          type: 'child',
          blueprint: 'invoice',
          version: 2,
          input: { id: '{% $input.id %}' },
        },
        {
          id: 'media',
          type: 'child',
          byType: { on: '{% $input.type %}', blueprints: { image: 'media_image' } },
          timeout: '5m',
        },
      ),
    );
  });

  it('wait, for a signal or until an expression holds', () => {
    same(
      b
        .signal('vote', { handler: 'append' })
        .wait('gate', { signal: 'approve', timeout: '10m' })
        .wait('votes_in', { when: "{% $count($data.vote[$ = 'yes']) >= 3 %}" })
        .build(),
      {
        name: 't',
        signals: [{ name: 'vote', handler: 'append' }],
        steps: [
          { id: 'gate', type: 'wait', signal: 'approve', timeout: '10m' },
          { id: 'votes_in', type: 'wait', when: "{% $count($data.vote[$ = 'yes']) >= 3 %}" },
        ],
      },
    );
  });

  it('sleep, for a duration or until a time', () => {
    same(
      b
        .sleep('nap', { duration: '2h' })
        .sleep('until', { until: '{% $input.at %}' })
        .sleep('new_year', { until: '2030-01-01T00:00:00Z' })
        .build(),
      only(
        { id: 'nap', type: 'sleep', duration: '2h' },
        { id: 'until', type: 'sleep', until: '{% $input.at %}' },
        { id: 'new_year', type: 'sleep', until: '2030-01-01T00:00:00Z' },
      ),
    );
  });

  it('fail, succeed and set', () => {
    same(
      b
        .set('totals', { data: { total: '{% $sum($input.lines.price) %}', currency: 'EUR' } })
        .succeed('cached', { if: '{% $input.cached %}', output: '{% $input.value %}' })
        .fail('refuse', {
          error: { code: 'over_limit', message: "{% 'total ' & $data.total %}" },
          output: { total: '{% $data.total %}' },
        })
        .build(),
      only(
        {
          id: 'totals',
          type: 'set',
          data: { total: '{% $sum($input.lines.price) %}', currency: 'EUR' },
        },
        {
          id: 'cached',
          type: 'succeed',
          if: '{% $input.cached %}',
          output: '{% $input.value %}',
        },
        {
          id: 'refuse',
          type: 'fail',
          error: { code: 'over_limit', message: "{% 'total ' & $data.total %}" },
          output: { total: '{% $data.total %}' },
        },
      ),
    );
  });

  it('dependsOn, compensate and the blueprint-level fields', () => {
    same(
      blueprint('book_trip')
        .description('Books a trip, and undoes it when a booking fails.')
        .defaults({ maxAttempts: 3, timeout: '30s' })
        .timeout('1h')
        .signal('cancel_requested', { handler: 'trigger' })
        .query('booked', '{% $keys($steps) %}', { description: 'What is booked.' })
        .plugin('analytics', { signals: ['track_event'], queries: ['get_data'] })
        .activity('flight', {
          activity: 'book_flight',
          compensate: step.activity('cancel_flight', { activity: 'cancel_flight' }),
        })
        .activity('hotel', {
          activity: 'book_hotel',
          dependsOn: [],
          compensate: (l) => l.activity('cancel_hotel', { activity: 'cancel_hotel' }),
        })
        .activity('car', { activity: 'book_car', dependsOn: ['flight', 'hotel'] })
        .output('{% $steps.car %}')
        .finally((l) => l.activity('notify', { activity: 'notify_customer' }))
        .build(),
      {
        name: 'book_trip',
        description: 'Books a trip, and undoes it when a booking fails.',
        defaults: { maxAttempts: 3, timeout: '30s' },
        signals: [{ name: 'cancel_requested', handler: 'trigger' }],
        queries: [{ name: 'booked', expr: '{% $keys($steps) %}', description: 'What is booked.' }],
        plugins: [{ name: 'analytics', signals: ['track_event'], queries: ['get_data'] }],
        steps: [
          {
            id: 'flight',
            type: 'activity',
            activity: 'book_flight',
            compensate: { id: 'cancel_flight', type: 'activity', activity: 'cancel_flight' },
          },
          {
            id: 'hotel',
            type: 'activity',
            activity: 'book_hotel',
            dependsOn: [],
            compensate: [{ id: 'cancel_hotel', type: 'activity', activity: 'cancel_hotel' }],
          },
          {
            id: 'car',
            type: 'activity',
            activity: 'book_car',
            dependsOn: ['flight', 'hotel'],
          },
        ],
        output: '{% $steps.car %}',
        timeout: '1h',
        finally: [{ id: 'notify', type: 'activity', activity: 'notify_customer' }],
      },
    );
  });

  it('builders are immutable: one can be extended twice', () => {
    const base = blueprint('t').activity('a', { activity: 'a' });
    const one = base.activity('b', { activity: 'b' }).build();
    const two = base.description('other').activity('c', { activity: 'c' }).build();
    expect(base.steps.map((s) => s.id)).toEqual(['a']);
    expect(one.steps.map((s) => s.id)).toEqual(['a', 'b']);
    expect(two).toStrictEqual({
      name: 't',
      description: 'other',
      steps: [
        { id: 'a', type: 'activity', activity: 'a' },
        { id: 'c', type: 'activity', activity: 'c' },
      ],
    });
  });
});

describe('blueprint builder: build() validates', () => {
  it('throws BlueprintInvalid with every diagnostic', () => {
    const error = thrown(() =>
      blueprint('cyclic')
        .activity('a', { activity: 'a', dependsOn: ['b'] as never[] })
        .activity('b', { activity: 'b', dependsOn: ['a'] })
        .condition('c', { when: '{% $input.( %}', then: [] })
        .build(),
    );
    expect(error._tag).toBe('BlueprintInvalid');
    expect(error.blueprint).toBe('cyclic');
    const codes = error.diagnostics.map((d) => [d.path, d.code]);
    expect(codes).toEqual(
      expect.arrayContaining([
        ['$.steps[1].dependsOn', 'cycle'],
        ['$.steps[2].when', 'expression_syntax'],
        ['$.steps[2].then', 'schema'],
      ]),
    );
    expect(error.message).toMatch(/^blueprint "cyclic" is invalid \(\d+ errors\):\n {2}\$\.steps/u);
  });

  it('checks what the compiler cannot: ids across lists, name rules, counts', () => {
    const error = thrown(() =>
      blueprint('bad name')
        .activity('x', { activity: 'a' })
        .parallel('p', {
          branches: [(l) => l.activity('x', { activity: 'b' })],
          completion: { atLeast: 2 },
        })
        .build(),
    );
    expect(error.diagnostics.map((d) => d.code)).toEqual(
      expect.arrayContaining(['invalid_name', 'duplicate_id', 'invalid_completion']),
    );
  });

  it('the functional form validates too', () => {
    expect(
      blueprint({
        name: 'fn',
        steps: [
          step.activity('fetch', { activity: 'fetch' }),
          step.map('each', { step: { activity: 'double' } }),
        ],
      }),
    ).toStrictEqual({
      name: 'fn',
      steps: [
        { id: 'fetch', type: 'activity', activity: 'fetch' },
        { id: 'each', type: 'map', step: { type: 'activity', activity: 'double' } },
      ],
    });
    const error = thrown(() =>
      blueprint({
        name: 'fn',
        steps: [step.activity('a', { activity: 'a', onError: 'nowhere' })],
      }),
    );
    expect(error.diagnostics.map((d) => d.code)).toContain('unknown_on_error_target');
  });
});

describe('blueprint builder: the examples', () => {
  it('rebuilds examples/conditional_graph/blueprint.json', () => {
    const receive = "{% {'orderId': $steps.receive.orderId} %}";
    const built = blueprint('conditional_graph')
      .description(
        'An order graph with a failure route: when the charge fails, control goes to manual_review (onError names it: next_on_failure); when it succeeds, manual_review is skipped (output null). A condition then ships paid orders and holds the others.',
      )
      .defaults({
        maxAttempts: 3,
        timeout: '10s',
        backoff: { initial: '100ms', factor: 2, max: '2s' },
      })
      .activity('receive', { activity: 'graph_receive_order' })
      .activity('charge', { activity: 'graph_charge_card', onError: 'manual_review' })
      .activity('manual_review', {
        activity: 'graph_manual_review',
        input: "{% {'orderId': $steps.receive.orderId, 'error': $error} %}",
      })
      .condition('fulfil', {
        when: '{% $exists($steps.charge.receipt) %}',
        then: (l) =>
          l.activity('ship', {
            activity: 'graph_ship',
            input: "{% {'orderId': $steps.receive.orderId, 'express': $steps.receive.express} %}",
          }),
        else: (l) => l.activity('hold', { activity: 'graph_hold', input: receive }),
      })
      .output(
        "{% {'orderId': $steps.receive.orderId, 'receipt': $exists($steps.charge.receipt) ? $steps.charge.receipt : null, 'review': $steps.manual_review, 'fulfilment': $steps.fulfil} %}",
      )
      .build();
    same(built, example('conditional_graph'));
  });

  it('a list built in a loop, with dynamic ids', () => {
    const roles = ['researcher', 'writer'];
    const chain = roles.reduce<BlueprintBuilder<string>>(
      (b, role) => b.activity(role, { activity: 'agent_work', input: { role } }),
      blueprint('chain'),
    );
    const expected: Step[] = roles.map((role) => ({
      id: role,
      type: 'activity',
      activity: 'agent_work',
      input: { role },
    }));
    same(chain.build(), { name: 'chain', steps: expected });
  });
});
