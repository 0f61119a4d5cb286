import { expect } from 'vitest';
import type { Json } from '../../../src/blueprints/json.ts';
import { parseDuration } from '../../../src/blueprints/duration.ts';
import { validateBlueprint } from '../../../src/blueprints/validate.ts';
import {
  compileBlueprint,
  openTasks,
  type CompileOptions,
  type CompiledRun,
  type RunSnapshot,
} from '../../../src/machines/compile.ts';
import { LANGUAGE, timeOf, type RunEvent } from '../../../src/machines/events.ts';
import type { RunIdentity } from '../../../src/machines/decide.ts';
import { initialSnapshot, react, replay, statusOf } from '../../../src/machines/run.ts';
import { endingEvent } from '../../../src/machines/messages.ts';

/**
 * A tiny in-memory "world" for the pure machine: it answers activities with a function, finishes
 * child runs, fires timers and sends signals; every run it drives is checked to replay to the
 * same state.
 */

export const RUN = 'r1';
export const NOW = 1_000_000;

export const compile = (blueprint: unknown, options?: CompileOptions): CompiledRun => {
  const validated = validateBlueprint(blueprint);
  if (!validated.ok) throw new Error(JSON.stringify(validated.diagnostics));
  return compileBlueprint(validated.blueprint, parseDuration, options);
};

export type Activity = (
  input: Json,
  attempt: number,
) =>
  { ok: true; output: Json } | { ok: false; retryable: boolean; message?: string; code?: string };

export interface World {
  readonly activities?: Record<string, Activity>;
  readonly children?: Record<string, (input: Json) => { ok: true; output: Json } | { ok: false }>;
  /** Signals to send before the run starts working, or when it waits for them. */
  readonly signals?: readonly {
    readonly name: string;
    readonly payload: Json;
    readonly early?: boolean;
  }[];
  /** Fire due timers (sleep, wait timeouts) when nothing else can happen. */
  readonly fireTimers?: boolean;
  /** Cancel the run (as `weft.runs.<id>.cancel` does) once this many tasks were answered. */
  readonly cancelAfter?: number;
  /** Told how many tasks are open each time the world answers one. */
  readonly onOpenTasks?: (count: number) => void;
}

/** A run of `blueprint` folded fact by fact through `react`, as the supervisor does; started. */
export const startRun = async (blueprint: unknown, input: Json) => {
  const compiled = compile(blueprint);
  // As the run actors keep it: the start time is the first fact's, from then on.
  let identity: RunIdentity = { id: RUN, blueprint: 'bp', version: 1 };
  const run = {
    compiled,
    snapshot: initialSnapshot(compiled) as RunSnapshot,
    stream: [] as RunEvent[],
    async apply(event: RunEvent) {
      const reaction = await react(compiled, run.snapshot, identity, event, {
        now: NOW,
        parseDuration,
      });
      if (event.type === 'RunStarted')
        identity = { ...identity, startedAt: timeOf(reaction.events[0] ?? event) ?? NOW };
      run.snapshot = reaction.snapshot;
      run.stream.push(...reaction.events);
    },
  };
  await run.apply({
    type: 'RunStarted',
    runId: RUN,
    blueprint: { name: 'bp', version: 1, hash: 'h', content: null },
    input,
    language: LANGUAGE,
  });
  return run;
};

export const drive = async (blueprint: unknown, input: Json, world: World) => {
  const run = await startRun(blueprint, input);
  const { compiled, stream } = run;
  const apply = (event: RunEvent) => run.apply(event);
  const pending = [...(world.signals ?? [])];
  // As the run accepts them: the handler its blueprint declares, else `trigger` (a wait's signal).
  const declared = ((blueprint as { signals?: { name: string; handler?: string }[] }).signals ??
    []) as { name: string; handler?: 'store' | 'append' | 'trigger' }[];
  const handler = (name: string) => {
    const found = declared.find((d) => d.name === name);
    return found === undefined ? 'trigger' : (found.handler ?? 'store');
  };
  for (const s of pending.filter((p) => p.early === true)) {
    await apply({
      type: 'SignalReceived',
      name: s.name,
      payload: s.payload,
      handler: handler(s.name),
    });
  }
  let answered = 0;
  for (let guard = 0; guard < 5000 && statusOf(run.snapshot) === 'running'; guard++) {
    const { context } = run.snapshot;
    if (answered === world.cancelAfter) {
      answered += 1;
      await apply(endingEvent(run.snapshot, { reason: 'stop' }));
      continue;
    }
    const open = openTasks(context);
    const task = open[0];
    if (task !== undefined) {
      answered += 1;
      world.onOpenTasks?.(open.length);
      const fn = world.activities?.[task.activity];
      if (fn === undefined) throw new Error(`no activity ${task.activity}`);
      const result = fn(task.input, task.attempt);
      const base = {
        stepId: task.stepId,
        ...(task.item === undefined ? {} : { item: task.item }),
        taskId: task.taskId,
        attempt: task.attempt,
      };
      await apply(
        result.ok
          ? { type: 'StepCompleted', ...base, output: result.output }
          : {
              type: 'StepFailed',
              ...base,
              error: {
                message: result.message ?? 'failed',
                code: result.code ?? 'e',
                retryable: result.retryable,
              },
            },
      );
      continue;
    }
    const child = Object.values(context.children)[0];
    if (child !== undefined) {
      const request = stream.find(
        (e) => e.type === 'ChildRequested' && e.childRunId === child.childRunId,
      );
      if (request?.type !== 'ChildRequested') throw new Error('child without request');
      const outcome = world.children?.[request.blueprint]?.(request.input) ?? { ok: false };
      const base = {
        stepId: child.stepId,
        ...(child.item === undefined ? {} : { item: child.item }),
        childRunId: child.childRunId,
      };
      await apply(
        outcome.ok
          ? { type: 'ChildCompleted', ...base, output: outcome.output }
          : {
              type: 'ChildFailed',
              ...base,
              error: { message: 'child failed', code: 'child_failed', retryable: false },
            },
      );
      continue;
    }
    const signal = pending.find((p) => p.early !== true);
    if (signal !== undefined) {
      pending.splice(pending.indexOf(signal), 1);
      await apply({
        type: 'SignalReceived',
        name: signal.name,
        payload: signal.payload,
        handler: handler(signal.name),
      });
      continue;
    }
    const timer = Object.keys(context.timers)[0];
    if (timer !== undefined && world.fireTimers === true) {
      await apply({ type: 'TimerFired', timerId: timer });
      continue;
    }
    break;
  }
  const replayed = replay(compiled, stream);
  expect(replayed.value).toEqual(run.snapshot.value);
  expect(replayed.context).toEqual(run.snapshot.context);
  return {
    snapshot: run.snapshot,
    stream,
    status: statusOf(run.snapshot),
    output: run.snapshot.context.output,
    failure: run.snapshot.context.failure,
  };
};

export const ok = (output: Json) => ({ ok: true as const, output });
export const act = (id: string, activity: string, extra: Record<string, unknown> = {}) => ({
  id,
  type: 'activity',
  activity,
  ...extra,
});
export const obj = (v: Json): Record<string, Json> =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, Json>) : {};
export const activities: Record<string, Activity> = {
  echo: (input) => ok(input),
  inc: (input) => ok((typeof input === 'number' ? input : 0) + 1),
  double: (input) => ok(Number(obj(input).item ?? input) * 2),
  tag: (input) => ok({ tagged: input }),
};
