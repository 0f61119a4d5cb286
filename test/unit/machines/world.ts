import { expect } from 'vitest';
import type { Json } from '../../../src/blueprints/json.ts';
import { parseDuration } from '../../../src/blueprints/duration.ts';
import { validateBlueprint } from '../../../src/blueprints/validate.ts';
import {
  compileBlueprint,
  openTasks,
  type CompileOptions,
  type CompiledRun,
} from '../../../src/machines/compile.ts';
import type { RunEvent } from '../../../src/machines/events.ts';
import { replay, statusOf } from '../../../src/machines/run.ts';
import { endingEvent } from '../../../src/machines/messages.ts';
import { driveRun, startInMemory, type InMemoryRun } from '../../../src/machines/simulate.ts';

/**
 * A tiny in-memory "world" for the pure machine: it answers activities with a function, finishes
 * child runs, fires timers and sends signals, through the driver `weft blueprint simulate` uses
 * (`src/machines/simulate.ts`); every run it drives is checked to replay to the same state.
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

/** A run of `blueprint`, started at `NOW`: `run.apply(fact)` folds a fact through `react`, as the supervisor does. */
export const startRun = (blueprint: unknown, input: Json): Promise<InMemoryRun> =>
  startInMemory(
    compile(blueprint),
    { runId: RUN, blueprint: { name: 'bp', version: 1, hash: 'h' }, content: null, input },
    NOW,
  );

export const drive = async (blueprint: unknown, input: Json, world: World) => {
  const run = await startRun(blueprint, input);
  const { compiled, stream } = run;
  const pending = [...(world.signals ?? [])];
  // As the run accepts them: the handler its blueprint declares, else `trigger` (a wait's signal).
  const declared = ((blueprint as { signals?: { name: string; handler?: string }[] }).signals ??
    []) as { name: string; handler?: 'store' | 'append' | 'trigger' }[];
  const signal = (s: { readonly name: string; readonly payload: Json }): RunEvent => {
    const found = declared.find((d) => d.name === s.name);
    const handler = found === undefined ? 'trigger' : (found.handler ?? 'store');
    return { type: 'SignalReceived', name: s.name, payload: s.payload, handler };
  };
  for (const s of pending.filter((p) => p.early === true)) await run.apply(signal(s));
  let answered = 0;
  await driveRun(run, {
    maxFacts: 5000,
    fireTimers: world.fireTimers === true,
    interject: () => {
      if (answered !== world.cancelAfter) return undefined;
      answered += 1;
      return endingEvent(run.snapshot, { reason: 'stop' });
    },
    task: (task) => {
      answered += 1;
      world.onOpenTasks?.(openTasks(run.snapshot.context).length);
      const fn = world.activities?.[task.activity];
      if (fn === undefined) throw new Error(`no activity ${task.activity}`);
      const result = fn(task.input, task.attempt);
      return result.ok
        ? result
        : {
            ok: false,
            error: {
              message: result.message ?? 'failed',
              code: result.code ?? 'e',
              retryable: result.retryable,
            },
          };
    },
    child: (request) => {
      const outcome = world.children?.[request.blueprint]?.(request.input) ?? { ok: false };
      return {
        result: outcome.ok
          ? outcome
          : {
              ok: false,
              error: { message: 'child failed', code: 'child_failed', retryable: false },
            },
      };
    },
    idle: () => {
      const next = pending.find((p) => p.early !== true);
      if (next === undefined) return undefined;
      pending.splice(pending.indexOf(next), 1);
      return signal(next);
    },
  });
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
