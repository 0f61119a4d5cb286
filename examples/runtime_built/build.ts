import { blueprint, type Blueprint } from 'weft/blueprint';

/**
 * A blueprint built at runtime by code rather than written by hand: fetch → parallel(transform,
 * enrich) → loop (refine, `iterations` times) → condition (publish when the refined value reaches
 * `threshold`, else hold). Pure: the same options give the same blueprint, so putting it twice
 * makes one version. `blueprint.json` next to this file is `buildRuntimeBlueprint()`. Written with
 * the blueprint builder, which validates what it builds: invalid options throw `BlueprintInvalid`.
 */

export interface RuntimeBlueprintOptions {
  readonly name?: string;
  /** How many times the loop refines the value. */
  readonly iterations?: number;
  /** The refined value at or above which the result is published. */
  readonly threshold?: number;
}

export const buildRuntimeBlueprint = ({
  name = 'runtime_built',
  iterations = 3,
  threshold = 100,
}: RuntimeBlueprintOptions = {}): Blueprint => {
  if (!Number.isInteger(iterations) || iterations < 0)
    throw new RangeError(`iterations must be a whole number, got ${iterations}`);
  if (!Number.isFinite(threshold))
    throw new RangeError(`threshold must be a finite number, got ${threshold}`);
  return blueprint(name)
    .input<{ source: string; count: number }>()
    .description(
      `Built by examples/runtime_built/build.ts: fetch, then transform and enrich in parallel, refine ${iterations} times, publish if the value reaches ${threshold}.`,
    )
    .defaults({
      maxAttempts: 3,
      timeout: '10s',
      backoff: { initial: '100ms', factor: 2, max: '2s' },
    })
    .activity('fetch', { activity: 'rt_fetch' })
    .parallel('fan_out', {
      branches: [
        (branch) => branch.activity('transform', { activity: 'rt_transform' }),
        (branch) => branch.activity('enrich', { activity: 'rt_enrich' }),
      ],
    })
    .loop('refine', {
      count: iterations,
      steps: (body) =>
        body.activity('refine_value', {
          activity: 'rt_refine',
          input:
            "{% {'iteration': $iteration, 'value': $iteration = 0 ? $steps.transform.total : $steps.refine_value.value} %}",
        }),
    })
    .condition('decide', {
      when: `{% $steps.refine_value.value >= ${threshold} %}`,
      then: (branch) =>
        branch.activity('publish', {
          activity: 'rt_publish',
          input: "{% {'value': $steps.refine_value.value, 'labels': $steps.enrich.labels} %}",
        }),
      else: (branch) =>
        branch.activity('hold', {
          activity: 'rt_hold',
          input: "{% {'value': $steps.refine_value.value} %}",
        }),
    })
    .output(
      "{% {'branches': $steps.fan_out, 'iterations': $steps.refine, 'decision': $steps.decide} %}",
    )
    .build();
};
