import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  BlueprintInvalid,
  blueprint,
  step,
  steps,
  type BlueprintBuilder,
  type DurationString,
  type ExpressionString,
  type InputOf,
  type StepList,
  type TypedBlueprint,
} from '../../../src/blueprints/builder.ts';
import type { ActivityStep, Blueprint } from '../../../src/blueprints/schema.ts';

// What the compiler checks in the blueprint builder. `tsc --noEmit` checks this file (test/ is in
// tsconfig): each `@ts-expect-error` must meet an error on the line below it, or compilation
// fails. Adding a step never throws (only `build()` validates), so the refused calls run too.

describe('blueprint builder types', () => {
  it('tracks the ids of a list and the declared input', () => {
    const b = blueprint('order')
      .input<{ orderId: string }>()
      .activity('charge', { activity: 'charge_card', input: '{% $input %}', maxAttempts: 3 })
      .wait('approval', { signal: 'approve', timeout: '1h', dependsOn: ['charge'] });
    expectTypeOf(b).toEqualTypeOf<
      BlueprintBuilder<'charge' | 'approval', never, { orderId: string }>
    >();
    const built = b.build();
    expectTypeOf(built).toEqualTypeOf<TypedBlueprint<{ orderId: string }>>();
    expectTypeOf(built).toExtend<Blueprint>();
    expectTypeOf<InputOf<typeof built>>().toEqualTypeOf<{ orderId: string }>();
  });

  it('dependsOn names only ids added before, in the same list', () => {
    blueprint('a')
      .activity('fetch', { activity: 'fetch' })
      // @ts-expect-error -- "fecth" is not a step of this list
      .activity('save', { activity: 'save', dependsOn: ['fecth'] });
    blueprint('a')
      .activity('fetch', { activity: 'fetch' })
      .condition('c', {
        when: '{% true %}',
        // @ts-expect-error -- a nested list has its own ids: "fetch" is outside it
        then: (b) => b.activity('x', { activity: 'x', dependsOn: ['fetch'] }),
      });
  });

  it('refuses a duplicate id and an id that is not a name', () => {
    blueprint('a')
      .activity('fetch', { activity: 'fetch' })
      // @ts-expect-error -- "fetch" is already in this list
      .activity('fetch', { activity: 'again' });
    // @ts-expect-error -- "-" is not allowed in a name
    blueprint('a').activity('charge-card', { activity: 'charge' });
  });

  it('an onError jump must find its step in the list, before or after', () => {
    const forward = blueprint('a')
      .activity('charge', { activity: 'charge', onError: 'review' })
      .activity('review', { activity: 'review' });
    expectTypeOf(forward).toEqualTypeOf<BlueprintBuilder<'charge' | 'review'>>();
    const byCode = blueprint('a')
      .activity('review', { activity: 'review' })
      .activity('charge', {
        activity: 'charge',
        onError: { card_declined: 'review', default: 'continue' },
      });
    expectTypeOf(byCode).toEqualTypeOf<BlueprintBuilder<'review' | 'charge'>>();
    const dangling = blueprint('a').activity('charge', { activity: 'charge', onError: 'reveiw' });
    expectTypeOf(dangling).toEqualTypeOf<BlueprintBuilder<'charge', 'reveiw'>>();
    // @ts-expect-error -- "reveiw" is never added: build() does not compile (and throws)
    expect(() => dangling.build()).toThrow(BlueprintInvalid);
    blueprint('a').parallel('p', {
      // @ts-expect-error -- a branch whose onError jump names no step of it
      branches: [(b) => b.activity('x', { activity: 'x', onError: 'nowhere' })],
    });
  });

  it('each step type takes its own fields only', () => {
    // @ts-expect-error -- activity is not a field of wait
    blueprint('a').wait('w', { signal: 's', activity: 'x' });
    // @ts-expect-error -- maxAttempts (a retry setting) is not a field of sleep
    blueprint('a').sleep('s', { duration: '1s', maxAttempts: 2 });
    // @ts-expect-error -- a wait gives signal or when, not both
    blueprint('a').wait('w', { signal: 's', when: '{% true %}' });
    blueprint('a').child('c', {
      blueprint: 'x',
      // @ts-expect-error -- a child gives blueprint or byType, not both
      byType: { on: '{% 1 %}', blueprints: {} },
    });
    // @ts-expect-error -- a map gives step or steps, not both
    blueprint('a').map('m', { step: { activity: 'x' }, steps: [] });
    // @ts-expect-error -- a map's item is an activity or a child: no signal
    blueprint('a').map('m', { step: { signal: 'x' } });
    // @ts-expect-error -- a map's item step cannot jump: it is alone in its list
    blueprint('a').map('m', { step: { activity: 'x', onError: 'elsewhere' } });
  });

  it('a while loop needs maxIterations; count and while exclude each other', () => {
    // @ts-expect-error -- while without maxIterations
    blueprint('a').loop('l', { while: '{% true %}', steps: [] });
    // @ts-expect-error -- count and while together
    blueprint('a').loop('l', { count: 2, while: '{% true %}', maxIterations: 3, steps: [] });
    blueprint('a').loop('l', { while: '{% true %}', maxIterations: 3, steps: [] });
    blueprint('a').loop('l', { count: '{% $input.times %}', steps: [] });
  });

  it('sleep takes exactly one of duration and until', () => {
    // @ts-expect-error -- both duration and until
    blueprint('a').sleep('s', { duration: '1s', until: 0 });
    // @ts-expect-error -- neither duration nor until
    blueprint('a').sleep('s', {});
    blueprint('a')
      .sleep('s1', { duration: '1h30m' })
      .sleep('s2', { duration: '{% $input.wait %}' })
      .sleep('s3', { until: '2030-01-01T09:00:00Z' })
      .sleep('s4', { until: 1_900_000_000_000 });
  });

  it('durations need a unit, expressions their braces', () => {
    expectTypeOf<'200ms'>().toExtend<DurationString>();
    expectTypeOf<'1h30m'>().toExtend<DurationString>();
    expectTypeOf<'30'>().not.toExtend<DurationString>();
    expectTypeOf<'{% $input.x %}'>().toExtend<ExpressionString>();
    expectTypeOf<'$input.x'>().not.toExtend<ExpressionString>();
    // @ts-expect-error -- a duration without unit
    blueprint('a').wait('w', { signal: 's', timeout: '30' });
    // @ts-expect-error -- a bare number is not a duration
    blueprint('a').activity('x', { activity: 'x', timeout: 30 });
    // @ts-expect-error -- a condition wants an expression, not JSONata without braces
    blueprint('a').condition('c', { when: '$input.ok', then: [] });
    const threshold: number = 10;
    blueprint('a').condition('c', {
      when: `{% $input.total >= ${threshold} %}`,
      then: (b) => b.succeed('done'),
    });
  });

  it('nested lists: a function, a list built beforehand, or steps', () => {
    const review = steps().activity('review', { activity: 'review' });
    expectTypeOf(review).toEqualTypeOf<StepList<'review'>>();
    const ship = step.activity('ship', { activity: 'ship' });
    expectTypeOf(ship).toExtend<ActivityStep>();
    expectTypeOf(ship.id).toEqualTypeOf<'ship'>();
    const fail = (b: StepList) => b.fail('no', { error: { code: 'no', message: 'no' } });
    blueprint('a').switch('route', {
      on: '{% $input.kind %}',
      cases: { a: review, b: [ship], c: fail },
    });
    // `append` adds a step given as JSON; its id joins the list's ids.
    const appended = blueprint('a').append(ship);
    expectTypeOf(appended).toEqualTypeOf<BlueprintBuilder<'ship'>>();
  });

  it('dynamic ids switch the id checks off for that list', () => {
    const roles: readonly string[] = ['a', 'b'];
    const built = roles.reduce<BlueprintBuilder<string>>(
      (b, role) => b.activity(role, { activity: 'agent', dependsOn: [] }),
      blueprint('agents'),
    );
    expectTypeOf(built.activity('last', { activity: 'x', dependsOn: ['a'] })).toEqualTypeOf<
      BlueprintBuilder<string>
    >();
  });
});
