import type { Blueprint } from '../../src/blueprints/schema.ts';

/**
 * A blueprint built at runtime by code rather than written by hand: fetch → parallel(transform,
 * enrich) → loop (refine, `iterations` times) → condition (publish when the refined value reaches
 * `threshold`, else hold). Pure: the same options give the same blueprint, so putting it twice
 * makes one version. `blueprint.json` next to this file is `buildRuntimeBlueprint()`.
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
  const activity = (id: string, name: string, input?: string) => ({
    id,
    type: 'activity' as const,
    activity: name,
    ...(input === undefined ? {} : { input }),
  });
  return {
    name,
    description: `Built by examples/runtime_built/build.ts: fetch, then transform and enrich in parallel, refine ${iterations} times, publish if the value reaches ${threshold}.`,
    defaults: {
      maxAttempts: 3,
      timeout: '10s',
      backoff: { initial: '100ms', factor: 2, max: '2s' },
    },
    steps: [
      activity('fetch', 'rt_fetch'),
      {
        id: 'fan_out',
        type: 'parallel',
        branches: [[activity('transform', 'rt_transform')], [activity('enrich', 'rt_enrich')]],
      },
      {
        id: 'refine',
        type: 'loop',
        count: iterations,
        steps: [
          activity(
            'refine_value',
            'rt_refine',
            "{% {'iteration': $iteration, 'value': $iteration = 0 ? $steps.transform.total : $steps.refine_value.value} %}",
          ),
        ],
      },
      {
        id: 'decide',
        type: 'condition',
        when: `{% $steps.refine_value.value >= ${threshold} %}`,
        then: [
          activity(
            'publish',
            'rt_publish',
            "{% {'value': $steps.refine_value.value, 'labels': $steps.enrich.labels} %}",
          ),
        ],
        else: [activity('hold', 'rt_hold', "{% {'value': $steps.refine_value.value} %}")],
      },
    ],
    output:
      "{% {'branches': $steps.fan_out, 'iterations': $steps.refine, 'decision': $steps.decide} %}",
  };
};
