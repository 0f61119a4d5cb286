import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Json } from '../../../src/blueprints/json.ts';
import { parseDuration } from '../../../src/blueprints/duration.ts';
import { validateBlueprint } from '../../../src/blueprints/validate.ts';
import {
  compileBlueprint,
  UnsupportedStep,
  type CompiledRun,
  type RunSnapshot,
} from '../../../src/machines/compile.ts';
import type { RunEvent } from '../../../src/machines/events.ts';
import {
  activeSteps,
  initialSnapshot,
  react,
  replay,
  statusOf,
} from '../../../src/machines/run.ts';

/** Given events → when an event → then the events the run appends (emmett's DeciderSpecification). */

const RUN = 'r1';
const OPTIONS = { now: 1_000_000, parseDuration };

const compile = (blueprint: unknown): CompiledRun => {
  const validated = validateBlueprint(blueprint);
  if (!validated.ok) throw new Error(JSON.stringify(validated.diagnostics));
  return compileBlueprint(validated.blueprint, parseDuration);
};

const started = (input: Json = { n: 1 }): RunEvent => ({
  type: 'RunStarted',
  runId: RUN,
  blueprint: { name: 'bp', version: 1, hash: 'h', content: null },
  input,
});

const given = (blueprint: unknown, history: readonly RunEvent[]) => {
  const compiled = compile(blueprint);
  const snapshot = replay(compiled, history);
  return {
    compiled,
    snapshot,
    when: async (event: RunEvent) => {
      const reaction = await react(
        compiled,
        snapshot,
        { id: RUN, blueprint: 'bp', version: 1 },
        event,
        OPTIONS,
      );
      return { ...reaction, appended: reaction.events.slice(1) };
    },
  };
};

const act = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  type: 'activity',
  activity: `do_${id}`,
  ...extra,
});

const scheduled = (
  stepId: string,
  input: Json,
  attempt = 1,
  delayMs = 0,
  execution = 1,
): RunEvent => ({
  type: 'StepScheduled',
  stepId,
  taskId: `${RUN}:${stepId}:${execution}`,
  attempt,
  activity: `do_${stepId}`,
  input,
  delayMs,
  timeoutMs: 30_000,
});

const completed = (stepId: string, output: Json, attempt = 1): RunEvent => ({
  type: 'StepCompleted',
  stepId,
  taskId: `${RUN}:${stepId}:1`,
  attempt,
  output,
});

const failed = (stepId: string, attempt: number, retryable = true): RunEvent => ({
  type: 'StepFailed',
  stepId,
  taskId: `${RUN}:${stepId}:1`,
  attempt,
  error: { message: 'boom', code: retryable ? 'activity_error' : 'terminal', retryable },
});

const pipeline = { name: 'bp', steps: [act('a'), act('b'), act('c')] };
const diamond = {
  name: 'bp',
  steps: [
    act('a'),
    act('b', { dependsOn: ['a'] }),
    act('c', { dependsOn: ['a'] }),
    act('d', { dependsOn: ['b', 'c'] }),
  ],
};

describe('sequence', () => {
  it('schedules the first step with the run input when the run starts', async () => {
    const { appended, snapshot } = await given(pipeline, []).when(started({ n: 1 }));
    expect(appended).toEqual([scheduled('a', { n: 1 })]);
    expect(statusOf(snapshot)).toBe('running');
    expect(activeSteps(snapshot.context)).toEqual(['a']);
  });

  it('gives each next step the output of the one before it', async () => {
    const { appended } = await given(pipeline, [started(), scheduled('a', { n: 1 })]).when(
      completed('a', { a: true }),
    );
    expect(appended).toEqual([scheduled('b', { a: true })]);
  });

  it('completes with the output of the single leaf', async () => {
    const history = [
      started(),
      scheduled('a', { n: 1 }),
      completed('a', 1),
      scheduled('b', 1),
      completed('b', 2),
      scheduled('c', 2),
    ];
    const { appended, snapshot } = await given(pipeline, history).when(completed('c', 3));
    expect(appended).toEqual([{ type: 'RunCompleted', output: 3 }]);
    expect(statusOf(snapshot)).toBe('completed');
  });

  it('uses the output expression when there is one', async () => {
    const blueprint = {
      ...pipeline,
      steps: [act('a')],
      output: "{% {'sum': $steps.a + $input.n, 'run': $run.id} %}",
    };
    const { appended } = await given(blueprint, [started({ n: 1 }), scheduled('a', { n: 1 })]).when(
      completed('a', 41),
    );
    expect(appended).toEqual([{ type: 'RunCompleted', output: { sum: 42, run: RUN } }]);
  });
});

describe('dependsOn DAG', () => {
  it('runs both branches of a diamond once their dependency is done', async () => {
    const { appended } = await given(diamond, [started(), scheduled('a', { n: 1 })]).when(
      completed('a', 'A'),
    );
    expect(appended).toEqual([scheduled('b', 'A'), scheduled('c', 'A')]);
  });

  it('waits for every dependency and gives an object keyed by dependency id', async () => {
    const history = [
      started(),
      scheduled('a', { n: 1 }),
      completed('a', 'A'),
      scheduled('b', 'A'),
      scheduled('c', 'A'),
    ];
    const first = await given(diamond, history).when(completed('c', 'C'));
    expect(first.appended).toEqual([]);
    const second = await given(diamond, [...history, completed('c', 'C')]).when(
      completed('b', 'B'),
    );
    expect(second.appended).toEqual([scheduled('d', { b: 'B', c: 'C' })]);
  });

  it('gives an object keyed by leaf id when there are several leaves', async () => {
    const blueprint = { name: 'bp', steps: [act('a'), act('b', { dependsOn: [] })] };
    const history = [
      started(),
      scheduled('a', { n: 1 }),
      scheduled('b', { n: 1 }),
      completed('a', 1),
    ];
    const { appended } = await given(blueprint, history).when(completed('b', 2));
    expect(appended).toEqual([{ type: 'RunCompleted', output: { a: 1, b: 2 } }]);
  });
});

describe('retries and failures', () => {
  const policy = {
    name: 'bp',
    defaults: { maxAttempts: 3, backoff: { initial: '100ms', factor: 3, max: '1s' } },
    steps: [act('a'), act('b')],
  };

  it('retries a retryable failure with the same task id and backoff', async () => {
    const first = await given(policy, [started(), scheduled('a', { n: 1 })]).when(failed('a', 1));
    expect(first.appended).toEqual([scheduled('a', { n: 1 }, 2, 100)]);
    const second = await given(policy, [
      started(),
      scheduled('a', { n: 1 }),
      failed('a', 1),
      scheduled('a', { n: 1 }, 2, 100),
    ]).when(failed('a', 2));
    expect(second.appended).toEqual([scheduled('a', { n: 1 }, 3, 300)]);
  });

  it('fails the run once attempts are spent', async () => {
    const history = [
      started(),
      scheduled('a', { n: 1 }),
      failed('a', 1),
      scheduled('a', { n: 1 }, 2, 100),
      failed('a', 2),
      scheduled('a', { n: 1 }, 3, 300),
    ];
    const { appended, snapshot } = await given(policy, history).when(failed('a', 3));
    expect(appended).toHaveLength(1);
    expect(appended[0]).toMatchObject({
      type: 'RunFailed',
      error: { code: 'step_failed', stepId: 'a' },
    });
    expect(statusOf(snapshot)).toBe('failed');
  });

  it('never retries a terminal error', async () => {
    const { appended } = await given(policy, [started(), scheduled('a', { n: 1 })]).when(
      failed('a', 1, false),
    );
    expect(appended).toMatchObject([
      { type: 'RunFailed', error: { code: 'step_failed', stepId: 'a' } },
    ]);
  });

  it('ignores a result of an attempt that is not the current one', async () => {
    const history = [
      started(),
      scheduled('a', { n: 1 }),
      failed('a', 1),
      scheduled('a', { n: 1 }, 2, 100),
    ];
    const { snapshot, appended } = await given(policy, history).when(completed('a', 'late', 1));
    expect(appended).toEqual([]);
    expect(snapshot.context.tasks.a?.attempt).toBe(2);
    expect(snapshot.context.steps.a).toBeUndefined();
  });

  it('records the error and goes on with onError: continue', async () => {
    const blueprint = {
      name: 'bp',
      steps: [act('a', { onError: 'continue', maxAttempts: 1 }), act('b')],
    };
    const { appended } = await given(blueprint, [started(), scheduled('a', { n: 1 })]).when(
      failed('a', 1),
    );
    expect(appended).toEqual([
      scheduled('b', { error: { message: 'boom', code: 'activity_error', retryable: true } }),
    ]);
  });

  it('fails the step, not the runtime, when an input expression fails', async () => {
    const blueprint = { name: 'bp', steps: [act('a', { input: '{% $error("bad input") %}' })] };
    const { appended } = await given(blueprint, []).when(started());
    expect(appended[0]).toMatchObject({
      type: 'StepFailed',
      stepId: 'a',
      error: { retryable: false },
    });
    expect(appended[1]).toMatchObject({ type: 'RunFailed', error: { stepId: 'a' } });
  });
});

describe('if and activity expressions', () => {
  it('skips a step whose if is false, with output null', async () => {
    const blueprint = { name: 'bp', steps: [act('a', { if: '{% $input.n > 5 %}' }), act('b')] };
    const { appended } = await given(blueprint, []).when(started({ n: 1 }));
    expect(appended).toEqual([{ type: 'StepSkipped', stepId: 'a' }, scheduled('b', null)]);
  });

  it('resolves an activity name from an expression', async () => {
    const blueprint = {
      name: 'bp',
      steps: [{ id: 'a', type: 'activity', activity: '{% $input.use %}' }],
    };
    const { appended } = await given(blueprint, []).when(started({ use: 'do_a' }));
    expect(appended).toEqual([scheduled('a', { use: 'do_a' })]);
  });

  it('fails the step when an activity expression gives no valid name', async () => {
    const blueprint = {
      name: 'bp',
      steps: [{ id: 'a', type: 'activity', activity: '{% $input.use %}' }],
    };
    const { appended } = await given(blueprint, []).when(started({ use: 'bad.name' }));
    expect(appended[0]).toMatchObject({
      type: 'StepFailed',
      error: { code: 'invalid_activity_name' },
    });
  });
});

describe('cancel', () => {
  it('ends a running run as cancelled and ignores later results', async () => {
    const history = [started(), scheduled('a', { n: 1 })];
    const { snapshot } = await given(pipeline, history).when({
      type: 'RunCancelled',
      reason: 'stop',
    });
    expect(statusOf(snapshot)).toBe('cancelled');
    const after = await given(pipeline, [
      ...history,
      { type: 'RunCancelled', reason: 'stop' },
    ]).when(completed('a', 1));
    expect(after.appended).toEqual([]);
  });
});

describe('compiler', () => {
  it('rejects a map whose inner step it cannot execute, by name', () => {
    const blueprint = {
      name: 'bp',
      steps: [{ id: 'm', type: 'map', step: { type: 'sleep', duration: '1s' } }],
    };
    expect(() => compile(blueprint)).toThrow(UnsupportedStep);
    expect(() => compile(blueprint)).toThrow(/'m'/);
  });
});

describe('replay', () => {
  /** Drives a random DAG to its end, completing ready tasks in a random order, then replays the stream. */
  it('reproduces the state of every run exactly', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 7 }).chain((n) =>
          fc.tuple(
            fc.constant(n),
            fc.array(fc.array(fc.boolean(), { minLength: n, maxLength: n }), {
              minLength: n,
              maxLength: n,
            }),
            fc.array(fc.nat(), { minLength: 40, maxLength: 40 }),
            fc.array(fc.constantFrom('ok', 'fail', 'terminal'), { minLength: 40, maxLength: 40 }),
          ),
        ),
        async ([n, edges, picks, outcomes]) => {
          const steps = Array.from({ length: n }, (_, i) => ({
            ...act(`s${i}`),
            dependsOn: Array.from({ length: i }, (_, j) => j)
              .filter((j) => edges[i]?.[j] === true)
              .map((j) => `s${j}`),
          }));
          const compiled = compile({ name: 'bp', defaults: { maxAttempts: 2 }, steps });
          let snapshot: RunSnapshot = initialSnapshot(compiled);
          const stream: RunEvent[] = [];
          const apply = async (event: RunEvent) => {
            const reaction = await react(
              compiled,
              snapshot,
              { id: RUN, blueprint: 'bp', version: 1 },
              event,
              OPTIONS,
            );
            snapshot = reaction.snapshot;
            stream.push(...reaction.events);
          };
          await apply(started());
          for (let k = 0; k < 40 && statusOf(snapshot) === 'running'; k++) {
            const open = Object.entries(snapshot.context.tasks);
            const [stepId, task] = open[(picks[k] ?? 0) % open.length] ?? [];
            if (stepId === undefined || task === undefined) break;
            const base = { stepId, taskId: task.taskId, attempt: task.attempt };
            const outcome = outcomes[k];
            await apply(
              outcome === 'ok'
                ? { type: 'StepCompleted', ...base, output: { from: stepId } }
                : {
                    type: 'StepFailed',
                    ...base,
                    error: { message: 'x', code: 'e', retryable: outcome === 'fail' },
                  },
            );
          }
          const replayed = replay(compiled, stream);
          expect(replayed.value).toEqual(snapshot.value);
          expect(replayed.context).toEqual(snapshot.context);
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('the run context', () => {
  it('keeps at most 18 top-level keys through a run (xstate copies it with Object.assign; with more, V8 makes it a slow dictionary)', async () => {
    const { snapshot, when } = given(diamond, []);
    const first = await when(started());
    expect(Object.keys(snapshot.context).length).toBeLessThanOrEqual(18);
    expect(Object.keys(first.snapshot.context).length).toBeLessThanOrEqual(18);
  });
});
