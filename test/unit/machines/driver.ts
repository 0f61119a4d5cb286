import fc from 'fast-check';
import type { Json } from '../../../src/blueprints/json.ts';
import { parseDuration } from '../../../src/blueprints/duration.ts';
import { validateBlueprint } from '../../../src/blueprints/validate.ts';
import {
  compileBlueprint,
  openTasks,
  type CompiledRun,
  type RunSnapshot,
} from '../../../src/machines/compile.ts';
import { LANGUAGE, type RunEvent } from '../../../src/machines/events.ts';
import { handlersOf } from '../../../src/machines/handlers.ts';
import { endingEvent } from '../../../src/machines/messages.ts';
import type { StoredEvent } from '../../../src/machines/replay.ts';
import { initialSnapshot, react, statusOf } from '../../../src/machines/run.ts';

/**
 * Random blueprints and the runs a worker, a clock and clients would give them, driven through the
 * pure `react` the way the run supervisor does (`src/actors/supervisor.ts`): each fact is made from
 * the current state (a result only for an open attempt, a timer only once due, a signal with the
 * handler the run accepts it with), reacted to with the fact's time, and every event is stored as
 * the store keeps it (`{revision, type, data, at}`).
 *
 * Each generated step carries a script (how its attempts, items, child run or signal turn out), so
 * the end of the run is known before it is driven: `expectedStatus`.
 */

/** Attempts 1..failures fail (retryable); the next one succeeds, or fails terminally. */
export interface AttemptScript {
  readonly failures: number;
  readonly then: 'ok' | 'terminal';
}

type OnError = 'fail' | 'continue';

interface Common {
  /** `if: false`: the step is skipped (output null) and its steps never run. */
  readonly skip: boolean;
  /** Indexes of earlier steps of the same list (taken modulo the position); null: after the one before. */
  readonly deps: readonly number[] | null;
}

export type Shape = Common &
  (
    | {
        readonly kind: 'activity';
        readonly script: AttemptScript;
        readonly maxAttempts: number;
        readonly onError: OnError;
        /** With a `scheduleTimeout`: each attempt's start is a fact (`StepStarted`) before its result. */
        readonly scheduled?: boolean;
        /** A `compensate` activity (`<id>_undo`) that succeeds or fails (it never changes the end). */
        readonly compensate?: 'ok' | 'fails' | 'none';
      }
    | {
        readonly kind: 'parallel';
        readonly branches: readonly (readonly Shape[])[];
        /** `first` (a race), `n` (at least n of them), or all. */
        readonly completion: 'all' | 'first' | number;
        /** The whole step is run again on a retryable failure (its outcome is scripted the same). */
        readonly maxAttempts: number;
      }
    | {
        readonly kind: 'condition';
        readonly holds: boolean;
        readonly then: readonly Shape[];
        readonly else: readonly Shape[] | null;
      }
    | {
        readonly kind: 'switch';
        readonly on: 'a' | 'b' | 'z';
        readonly a: readonly Shape[];
        readonly b: readonly Shape[];
        readonly default: readonly Shape[] | null;
      }
    | {
        readonly kind: 'loop';
        /** `count`, or `while $iteration < times` bounded by `maxIterations`. */
        readonly form: 'count' | 'while';
        readonly times: number;
        readonly maxIterations: number;
        readonly onError: OnError;
        readonly body: readonly Shape[];
      }
    | {
        readonly kind: 'map';
        /** Per item: its attempts when the inner step is an activity, its child's end when a child. */
        readonly items: readonly { readonly script: AttemptScript; readonly ok: boolean }[];
        readonly inner: 'activity' | 'child';
        readonly concurrency: number | null;
        readonly maxAttempts: number;
        readonly innerOnError: OnError;
        readonly onError: OnError;
      }
    | { readonly kind: 'child'; readonly ok: boolean; readonly onError: OnError }
    | { readonly kind: 'sleep'; readonly ms: number }
    | {
        readonly kind: 'wait';
        /** `early`: may be sent before the step starts; `never`: the timeout fires. */
        readonly arrives: 'early' | 'late' | 'never';
        readonly timeoutMs: number | null;
        readonly handler: 'store' | 'append' | 'trigger';
        readonly onError: OnError;
        /** `when`: waits until its signal has arrived (`$signals`), instead of for the signal. */
        readonly form?: 'signal' | 'when';
      }
  );

const onError = fc.constantFrom<OnError>('fail', 'continue', 'continue');
const script: fc.Arbitrary<AttemptScript> = fc.record({
  failures: fc.constantFrom(0, 0, 0, 1, 1, 2, 3),
  then: fc.constantFrom<'ok' | 'terminal'>('ok', 'ok', 'ok', 'terminal'),
});
const withCommon = <T extends object>(arb: fc.Arbitrary<T>): fc.Arbitrary<T & Common> =>
  fc
    .tuple(
      arb,
      fc.nat(9).map((n) => n === 0),
      fc.option(fc.array(fc.nat(7), { maxLength: 2 }), { nil: null }),
    )
    .map(([shape, skip, deps]) => ({ ...shape, skip, deps }));

const mapStep: fc.Arbitrary<Shape> = withCommon(
  fc.record({
    kind: fc.constant('map' as const),
    inner: fc.constantFrom<'activity' | 'child'>('activity', 'activity', 'child'),
    items: fc.array(fc.record({ script, ok: fc.nat(4).map((n) => n > 0) }), {
      maxLength: 5,
      size: 'max',
    }),
    concurrency: fc.option(fc.integer({ min: 1, max: 3 }), { nil: null }),
    maxAttempts: fc.integer({ min: 1, max: 3 }),
    innerOnError: onError,
    onError,
  }),
);

const lists = fc.letrec<{
  list: readonly Shape[];
  step: Shape;
}>((tie) => ({
  list: fc.array(tie('step'), { minLength: 1, maxLength: 3 }),
  step: fc.oneof(
    { maxDepth: 3, depthIdentifier: 'steps' },
    withCommon(
      fc.record({
        kind: fc.constant('activity' as const),
        script,
        maxAttempts: fc.integer({ min: 1, max: 3 }),
        onError,
        scheduled: fc.boolean(),
        compensate: fc.constantFrom<'ok' | 'fails' | 'none'>('none', 'ok', 'fails'),
      }),
    ),
    { weight: 2, arbitrary: mapStep },
    withCommon(
      fc.record({
        kind: fc.constant('child' as const),
        ok: fc.nat(3).map((n) => n > 0),
        onError,
      }),
    ),
    withCommon(
      fc.record({ kind: fc.constant('sleep' as const), ms: fc.integer({ min: 1, max: 60_000 }) }),
    ),
    withCommon(
      fc
        .record({
          kind: fc.constant('wait' as const),
          arrives: fc.constantFrom<'early' | 'late' | 'never'>('early', 'late', 'never'),
          timeoutMs: fc.option(fc.integer({ min: 1_000, max: 60_000 }), { nil: null }),
          handler: fc.constantFrom<'store' | 'append' | 'trigger'>('store', 'append', 'trigger'),
          onError,
          form: fc.constantFrom<'signal' | 'when'>('signal', 'when'),
        })
        // Without a timeout a signal that never arrives would leave the run waiting forever.
        .map((w) =>
          w.arrives === 'never' && w.timeoutMs === null ? { ...w, timeoutMs: 5_000 } : w,
        ),
    ),
    withCommon(
      fc.record({
        kind: fc.constant('parallel' as const),
        branches: fc.array(tie('list'), { minLength: 1, maxLength: 3 }),
        completion: fc.constantFrom<'all' | 'first' | number>('all', 'all', 'first', 1, 2),
        maxAttempts: fc.constantFrom(1, 1, 2),
      }),
    ),
    withCommon(
      fc.record({
        kind: fc.constant('condition' as const),
        holds: fc.boolean(),
        then: tie('list'),
        else: fc.option(tie('list'), { nil: null }),
      }),
    ),
    withCommon(
      fc.record({
        kind: fc.constant('switch' as const),
        on: fc.constantFrom<'a' | 'b' | 'z'>('a', 'b', 'z'),
        a: tie('list'),
        b: tie('list'),
        default: fc.option(tie('list'), { nil: null }),
      }),
    ),
    withCommon(
      fc.record({
        kind: fc.constant('loop' as const),
        form: fc.constantFrom<'count' | 'while'>('count', 'while'),
        times: fc.nat(3),
        maxIterations: fc.integer({ min: 1, max: 4 }),
        onError,
        body: tie('list'),
      }),
    ),
  ),
})).list;

/**
 * Lists of 1–3 steps, nested at most 3 deep; every step kind, each with its script. One map is
 * always at the top (more may be nested), so items finishing out of order are common.
 */
export const shapes: fc.Arbitrary<readonly Shape[]> = fc
  .tuple(lists, mapStep, fc.nat())
  .map(([list, map, at]) => {
    const position = at % (list.length + 1);
    return [...list.slice(0, position), map, ...list.slice(position)];
  });

/** What the driver needs to play each step's part. */
export interface Scripts {
  readonly activities: ReadonlyMap<string, AttemptScript>;
  readonly items: ReadonlyMap<string, Shape & { readonly kind: 'map' }>;
  readonly children: ReadonlyMap<string, boolean>;
  readonly waits: ReadonlyMap<string, Shape & { readonly kind: 'wait' }>;
}

export interface Generated {
  readonly blueprint: Json;
  readonly scripts: Scripts;
  /** How the run ends when nobody cancels it. */
  readonly expectedStatus: 'completed' | 'failed';
}

const failsAfterAttempts = (s: AttemptScript, maxAttempts: number): boolean =>
  s.failures >= maxAttempts || s.then === 'terminal';

const itemFails = (map: Shape & { readonly kind: 'map' }, index: number): boolean => {
  const item = map.items[index];
  if (item === undefined) return false;
  return map.inner === 'child' ? !item.ok : failsAfterAttempts(item.script, map.maxAttempts);
};

/**
 * Whether the list, run to its end, fails the run. Without `onError` jumps nothing is abandoned,
 * so every step of a taken branch runs unless the run fails first: the run fails exactly when one
 * of them fails with `onError: fail` and no enclosing loop with `onError: continue` catches it.
 */
const fatal = (list: readonly Shape[]): boolean => list.some(fatalStep);

const fatalStep = (s: Shape): boolean => {
  if (s.skip) return false;
  switch (s.kind) {
    case 'activity':
      return s.onError === 'fail' && failsAfterAttempts(s.script, s.maxAttempts);
    case 'parallel': {
      // A race fails when every branch fails (failed branches drop out); a quorum when fewer than
      // it needs succeed; all, when any fails.
      const failing = s.branches.filter(fatal).length;
      if (s.completion === 'first') return failing === s.branches.length;
      if (typeof s.completion === 'number')
        return s.branches.length - failing < Math.min(s.completion, s.branches.length);
      return failing > 0;
    }
    case 'condition':
      return fatal(s.holds ? s.then : (s.else ?? []));
    case 'switch':
      return fatal(s.on === 'a' ? s.a : s.on === 'b' ? s.b : (s.default ?? []));
    case 'loop': {
      const iterations = s.form === 'count' ? s.times : Math.min(s.times, s.maxIterations);
      const exhausted = s.form === 'while' && s.times > s.maxIterations;
      // Its `onError` also catches what fails inside it (containers own their inside).
      return s.onError === 'fail' && ((iterations > 0 && fatal(s.body)) || exhausted);
    }
    case 'map':
      return (
        s.onError === 'fail' && s.innerOnError === 'fail' && s.items.some((_, i) => itemFails(s, i))
      );
    case 'child':
      return s.onError === 'fail' && !s.ok;
    case 'sleep':
      return false;
    case 'wait':
      return s.onError === 'fail' && s.arrives === 'never';
  }
};

/**
 * Gives every step an id (`s0`, `s1`, … in document order) and writes the blueprint; with
 * `cleanup`, a `finally` activity (`fin`) that runs at every end.
 */
export const toBlueprint = (list: readonly Shape[], cleanup = false): Generated => {
  let next = 0;
  const activities = new Map<string, AttemptScript>();
  const items = new Map<string, Shape & { readonly kind: 'map' }>();
  const children = new Map<string, boolean>();
  const waits = new Map<string, Shape & { readonly kind: 'wait' }>();
  const signals: Json[] = [];

  const writeList = (shapes: readonly Shape[]): Json[] => {
    const ids: string[] = [];
    return shapes.map((shape, position) => {
      const id = `s${next++}`;
      ids.push(id);
      const dependsOn =
        shape.deps === null
          ? {}
          : {
              dependsOn: [
                ...new Set(
                  position === 0 ? [] : shape.deps.map((d) => ids[d % position] as string),
                ),
              ],
            };
      const base = { id, ...dependsOn, ...(shape.skip ? { if: '{% false %}' } : {}) };
      switch (shape.kind) {
        case 'activity':
          activities.set(id, shape.script);
          const undo = shape.compensate ?? 'none';
          if (undo !== 'none')
            activities.set(`${id}_undo`, {
              failures: 0,
              then: undo === 'ok' ? 'ok' : 'terminal',
            });
          return {
            ...base,
            type: 'activity',
            activity: `do_${id}`,
            maxAttempts: shape.maxAttempts,
            backoff: { initial: '100ms', factor: 2, max: '1s' },
            onError: shape.onError,
            ...(shape.scheduled === true ? { scheduleTimeout: '30s' } : {}),
            ...(undo === 'none'
              ? {}
              : {
                  compensate: {
                    id: `${id}_undo`,
                    type: 'activity',
                    activity: `undo_${id}`,
                    input: `{% $steps.${id} %}`,
                  },
                }),
          };
        case 'parallel':
          return {
            ...base,
            type: 'parallel',
            branches: shape.branches.map(writeList),
            ...(shape.completion === 'all'
              ? {}
              : {
                  completion:
                    shape.completion === 'first'
                      ? 'first'
                      : { atLeast: Math.min(shape.completion, shape.branches.length) },
                }),
            ...(shape.maxAttempts > 1 ? { maxAttempts: shape.maxAttempts } : {}),
          };
        case 'condition':
          return {
            ...base,
            type: 'condition',
            when: `{% ${String(shape.holds)} %}`,
            then: writeList(shape.then),
            ...(shape.else === null ? {} : { else: writeList(shape.else) }),
          };
        case 'switch':
          return {
            ...base,
            type: 'switch',
            on: `{% '${shape.on}' %}`,
            cases: { a: writeList(shape.a), b: writeList(shape.b) },
            ...(shape.default === null ? {} : { default: writeList(shape.default) }),
          };
        case 'loop':
          return {
            ...base,
            type: 'loop',
            ...(shape.form === 'count'
              ? { count: shape.times }
              : {
                  while: `{% $iteration < ${shape.times} %}`,
                  maxIterations: shape.maxIterations,
                }),
            onError: shape.onError,
            steps: writeList(shape.body),
          };
        case 'map':
          items.set(id, shape);
          return {
            ...base,
            type: 'map',
            over: `{% [${shape.items.map((_, i) => i).join(', ')}] %}`,
            ...(shape.concurrency === null ? {} : { concurrency: shape.concurrency }),
            onError: shape.onError,
            step:
              shape.inner === 'activity'
                ? {
                    type: 'activity',
                    activity: `do_${id}`,
                    input: '{% {"item": $item, "index": $index} %}',
                    maxAttempts: shape.maxAttempts,
                    onError: shape.innerOnError,
                  }
                : { type: 'child', blueprint: 'kid', onError: shape.innerOnError },
          };
        case 'child':
          children.set(id, shape.ok);
          return { ...base, type: 'child', blueprint: 'kid', onError: shape.onError };
        case 'sleep':
          return { ...base, type: 'sleep', duration: `${shape.ms}ms` };
        case 'wait':
          waits.set(id, shape);
          signals.push({ name: `go_${id}`, handler: shape.handler });
          return {
            ...base,
            type: 'wait',
            ...(shape.form === 'when'
              ? { when: `{% $count($signals[name = 'go_${id}']) > 0 %}` }
              : { signal: `go_${id}` }),
            ...(shape.timeoutMs === null ? {} : { timeout: `${shape.timeoutMs}ms` }),
            onError: shape.onError,
          };
      }
    });
  };

  const steps = writeList(list);
  if (cleanup) activities.set('fin', { failures: 1, then: 'ok' });
  return {
    blueprint: {
      name: 'generated',
      signals: [...signals, { name: 'note', handler: 'append' }, { name: 'flag' }],
      steps,
      ...(cleanup
        ? { finally: [{ id: 'fin', type: 'activity', activity: 'do_fin', maxAttempts: 2 }] }
        : {}),
    },
    scripts: { activities, items, children, waits },
    expectedStatus: fatal(list) ? 'failed' : 'completed',
  };
};

/** How the driver picks among the facts that could happen next. */
export interface Choices {
  /** Cycled through: each picks the next fact among those possible (mod their number). */
  readonly picks: readonly number[];
  /** Milliseconds the clock moves before each fact (cycled). */
  readonly gaps: readonly number[];
  /** Signals nobody waits for (`note`, `flag`) sent during the run. */
  readonly extraSignals: number;
  /** Cancel the run before this fact, if it still runs then. */
  readonly cancelAt: number | null;
  /** At `cancelAt`, the run's `timeout` passes instead (`RunTimedOut`). */
  readonly timesOut?: boolean;
}

export interface Driven {
  readonly compiled: CompiledRun;
  readonly snapshot: RunSnapshot;
  /** The stream as the store keeps it. */
  readonly stored: readonly StoredEvent[];
  /** Whether the run was cancelled by the driver. */
  readonly cancelled: boolean;
  /** Whether the driver ended the run by its timeout instead. */
  readonly timedOut: boolean;
}

export const RUN_ID = 'prop-run';
const START = Date.UTC(2026, 0, 1);
/** A run that needs more facts than this is stuck: the driver throws. */
const MAX_FACTS = 2_000;

const dataOf = (event: RunEvent): Json => {
  const { type: _type, ...data } = event;
  return data as unknown as Json;
};

export const compile = (blueprint: unknown): CompiledRun => {
  const validated = validateBlueprint(blueprint);
  if (!validated.ok) throw new Error(JSON.stringify(validated.diagnostics));
  return compileBlueprint(validated.blueprint, parseDuration);
};

const attemptOutcome = (s: AttemptScript, attempt: number): 'ok' | 'retryable' | 'terminal' =>
  attempt <= s.failures ? 'retryable' : s.then === 'ok' ? 'ok' : 'terminal';

/** Drives a run of `blueprint` from its start to its end through `react`; throws if it gets stuck. */
export const drive = async (
  blueprint: Json,
  scripts: Scripts,
  choices: Choices,
  input: Json = { items: [1, 2, 3] },
): Promise<Driven> => {
  const compiled = compile(blueprint);
  const handlers = handlersOf(compiled, undefined);
  const identity = { id: RUN_ID, blueprint: 'generated', version: 1 };
  let snapshot = initialSnapshot(compiled);
  const stored: StoredEvent[] = [];
  let now = START;
  let extras = choices.extraSignals;
  let cancelled = false;
  let timedOut = false;
  /** Attempts whose `StepStarted` was recorded. */
  const started = new Set<string>();

  const apply = async (fact: RunEvent, at: number) => {
    now = at;
    if (fact.type === 'StepStarted') started.add(`${fact.taskId}/${fact.attempt}`);
    const reaction = await react(compiled, snapshot, identity, fact, { now, parseDuration });
    snapshot = reaction.snapshot;
    for (const event of reaction.events)
      stored.push({
        revision: stored.length,
        type: event.type,
        data: dataOf(event),
        at: new Date(now).toISOString(),
      });
  };

  const signal = (name: string, payload: Json): RunEvent => {
    const handler = handlers.signals.get(name);
    if (handler === undefined) throw new Error(`the run accepts no signal '${name}'`);
    return { type: 'SignalReceived', name, payload, handler, signalId: `sig-${stored.length}` };
  };

  const possibleFacts = (): { readonly event: RunEvent; readonly at: number }[] => {
    const { context } = snapshot;
    const facts: { event: RunEvent; at: number }[] = [];
    for (const task of openTasks(context)) {
      const map = task.item === undefined ? undefined : scripts.items.get(task.stepId);
      const item = task.item === undefined ? undefined : map?.items[task.item];
      const s = item === undefined ? scripts.activities.get(task.stepId) : item.script;
      if (s === undefined) throw new Error(`no script for task ${task.taskId}`);
      const base = {
        stepId: task.stepId,
        ...(task.item === undefined ? {} : { item: task.item }),
        taskId: task.taskId,
        attempt: task.attempt,
      };
      if (task.scheduleTimeoutMs !== undefined && !started.has(`${task.taskId}/${task.attempt}`)) {
        facts.push({ at: now, event: { type: 'StepStarted', ...base } });
        continue;
      }
      const outcome = attemptOutcome(s, task.attempt);
      facts.push({
        at: now,
        event:
          outcome === 'ok'
            ? { type: 'StepCompleted', ...base, output: { by: task.taskId, input: task.input } }
            : {
                type: 'StepFailed',
                ...base,
                error: {
                  message: `attempt ${task.attempt} failed`,
                  code: outcome === 'terminal' ? 'terminal' : 'activity_error',
                  retryable: outcome === 'retryable',
                },
              },
      });
    }
    for (const child of Object.values(context.children)) {
      const map = child.item === undefined ? undefined : scripts.items.get(child.stepId);
      const item = child.item === undefined ? undefined : map?.items[child.item];
      const ok = item === undefined ? scripts.children.get(child.stepId) : item.ok;
      if (ok === undefined) throw new Error(`no script for child ${child.childRunId}`);
      const base = {
        stepId: child.stepId,
        ...(child.item === undefined ? {} : { item: child.item }),
        childRunId: child.childRunId,
      };
      facts.push({
        at: now,
        event: ok
          ? { type: 'ChildCompleted', ...base, output: { child: child.childRunId } }
          : {
              type: 'ChildFailed',
              ...base,
              error: { code: 'child_failed', message: 'the child failed', retryable: false },
            },
      });
    }
    for (const [timerId, timer] of Object.entries(context.timers)) {
      // A wait whose signal will come never times out first, so how it ends stays scripted.
      if ((scripts.waits.get(timer.stepId)?.arrives ?? 'never') !== 'never') continue;
      facts.push({ at: Math.max(now, timer.dueAt), event: { type: 'TimerFired', timerId } });
    }
    for (const [stepId, wait] of scripts.waits) {
      if (wait.arrives === 'never') continue;
      const name = `go_${stepId}`;
      const pending = context.signals.some((s, i) => s.name === name && !context.consumed[i]);
      const active = context.entered[stepId] !== undefined && context.done[stepId] !== true;
      const early = wait.arrives === 'early' && context.done[stepId] !== true;
      if (pending || !(active || early)) continue;
      facts.push({ at: now, event: signal(name, { for: stepId }) });
    }
    if (extras > 0) {
      facts.push({ at: now, event: signal(extras % 2 === 0 ? 'note' : 'flag', extras) });
    }
    return facts;
  };

  await apply(
    {
      type: 'RunStarted',
      runId: RUN_ID,
      blueprint: { name: 'generated', version: 1, hash: 'h', content: blueprint },
      input,
      language: LANGUAGE,
    },
    now,
  );
  for (let k = 0; statusOf(snapshot) === 'running'; k++) {
    if (k > MAX_FACTS)
      throw new Error(
        `the run did not end within ${MAX_FACTS} facts; its last events: ${JSON.stringify(stored.slice(-4))}`,
      );
    now += choices.gaps[k % choices.gaps.length] ?? 0;
    // As the runtime decides them (`endingEvent`): a run with compensations or finally steps to
    // run unwinds first (`RunUnwinding`), then ends.
    if (choices.cancelAt === k && choices.timesOut === true) {
      timedOut = true;
      await apply(endingEvent(snapshot, { timeoutMs: now - START }), now);
      continue;
    }
    if (choices.cancelAt === k) {
      cancelled = true;
      await apply(endingEvent(snapshot, { reason: 'the driver cancelled it' }), now);
      continue;
    }
    const facts = possibleFacts();
    const fact = facts[(choices.picks[k % choices.picks.length] ?? 0) % facts.length];
    if (fact === undefined)
      throw new Error(`the run is stuck: nothing can happen in ${JSON.stringify(snapshot.value)}`);
    if (
      fact.event.type === 'SignalReceived' &&
      (fact.event.name === 'note' || fact.event.name === 'flag')
    )
      extras -= 1;
    await apply(fact.event, fact.at);
  }
  return { compiled, snapshot, stored, cancelled, timedOut };
};

export const choices: fc.Arbitrary<Choices> = fc.record({
  picks: fc.array(fc.nat(), { minLength: 8, maxLength: 60 }),
  gaps: fc.array(fc.nat(3_000), { minLength: 1, maxLength: 20 }),
  extraSignals: fc.nat(2),
  // Early indexes too, where most runs are still running: with only nat(30), a corpus of 100
  // runs went without any `RunTimedOut` about once in 60 (seen in CI).
  cancelAt: fc.oneof(
    { weight: 3, arbitrary: fc.constant(null) },
    { weight: 1, arbitrary: fc.nat(8) },
    { weight: 1, arbitrary: fc.nat(30) },
  ),
  timesOut: fc.boolean(),
});
