import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseDuration } from '../../../src/blueprints/duration.ts';
import type { Json } from '../../../src/blueprints/json.ts';
import { validateBlueprint } from '../../../src/blueprints/validate.ts';
import { compileBlueprint, type RunContext } from '../../../src/machines/compile.ts';
import type { RunEvent } from '../../../src/machines/events.ts';
import { handlersOf } from '../../../src/machines/handlers.ts';
import { endingEvent, isRefusal, signalEvent } from '../../../src/machines/messages.ts';
import { replay, statusOf } from '../../../src/machines/run.ts';
import { driveRun, startInMemory, type TaskAnswer } from '../../../src/machines/simulate.ts';
import { answerQuery } from '../../../src/projections/runQueries.ts';

/**
 * docs/language.md, checked: every ```json block is a blueprint named by the
 * `<!-- example: name -->` comment before it; each is validated, then run on the pure machine
 * (`src/machines/simulate.ts`) with canned activity results, signals and timers, and what the
 * page says about it is asserted. The page's table of retry and time fields is checked against
 * the validator cell by cell.
 */

const markdown = readFileSync(new URL('../../../docs/language.md', import.meta.url), 'utf8');

const EXAMPLE = /<!-- example: ([a-z0-9-]+) -->\n```json\n([\s\S]*?)\n```/gu;

const examples = new Map<string, string>(
  [...markdown.matchAll(EXAMPLE)].map((match) => [match[1] ?? '', match[2] ?? '']),
);

/** A fresh copy of an example blueprint. */
const example = (name: string): Record<string, Json> => {
  const text = examples.get(name);
  if (text === undefined) throw new Error(`docs/language.md has no example '${name}'`);
  return JSON.parse(text) as Record<string, Json>;
};

// ---------------------------------------------------------------------------------------------
// A small world around the pure machine.

const START = Date.UTC(2026, 0, 1);

interface Call {
  /** The attempt of this step execution (1, 2, …). */
  readonly attempt: number;
  /** How many calls of this activity came before (0 for the first). */
  readonly n: number;
  readonly item?: number;
}

type Activity = (input: Json, call: Call) => TaskAnswer;

interface World {
  readonly input?: Json;
  readonly activities?: Readonly<Record<string, Activity>>;
  /** Sent in order, each when the run has nothing else to do. */
  readonly signals?: readonly { readonly name: string; readonly payload: Json }[];
  /** Fire due timers when nothing else can happen (default true). */
  readonly timers?: boolean;
  /** Cancel the run (as `weft.runs.<id>.cancel`) once this step is done. */
  readonly cancel?: { readonly after: string; readonly reason: string };
}

const ok =
  (output: Json): Activity =>
  () => ({ ok: true, output });
const echo: Activity = (input) => ({ ok: true, output: input });
const failing =
  (code: string, retryable = true): Activity =>
  () => ({ ok: false, error: { code, message: `${code}!`, retryable } });
/** The n-th call gets the n-th answer; later calls the last one. */
const inTurn =
  (...answers: readonly Activity[]): Activity =>
  (input, call) =>
    (answers[Math.min(call.n, answers.length - 1)] as Activity)(input, call);

const errorOf = (code: string, retryable = true) => ({
  error: { code, message: `${code}!`, retryable },
});

const start = async (blueprint: unknown, world: World) => {
  const validated = validateBlueprint(blueprint);
  if (!validated.ok) throw new Error(JSON.stringify(validated.diagnostics));
  const compiled = compileBlueprint(validated.blueprint, parseDuration);
  const handlers = handlersOf(compiled, undefined);
  const run = await startInMemory(
    compiled,
    {
      runId: 'doc',
      blueprint: { name: validated.blueprint.name, version: 1, hash: 'h' },
      content: null,
      input: world.input ?? null,
    },
    START,
  );
  const query = async (name: string, args: Json = null): Promise<Json> => {
    const { context } = run.snapshot;
    const answer = await answerQuery(
      {
        compiled,
        handlers,
        context,
        status: statusOf(run.snapshot),
        signals: context.signals.map((s) => ({ name: s.name, payload: s.payload, at: '' })),
      },
      name,
      args,
    );
    if (answer === undefined || !answer.ok)
      throw new Error(`query ${name}: ${JSON.stringify(answer)}`);
    return answer.value;
  };
  return { compiled, handlers, run, query };
};

const simulate = async (blueprint: unknown, world: World, stopped = 'ended') => {
  const { compiled, handlers, run, query } = await start(blueprint, world);
  return drive({ compiled, handlers, run, query }, world, stopped);
};

const drive = async (
  { compiled, handlers, run, query }: Awaited<ReturnType<typeof start>>,
  world: World,
  expected = 'ended',
) => {
  const calls: Record<string, Json[]> = {};
  const signals = [...(world.signals ?? [])];
  let cancelled = false;
  const stopped = await driveRun(run, {
    fireTimers: world.timers !== false,
    maxFacts: 5000,
    interject: (r) => {
      if (world.cancel === undefined || cancelled) return undefined;
      if (r.snapshot.context.done[world.cancel.after] !== true) return undefined;
      cancelled = true;
      return endingEvent(r.snapshot, { reason: world.cancel.reason });
    },
    task: (task) => {
      const activity = world.activities?.[task.activity];
      if (activity === undefined) throw new Error(`no canned answer for '${task.activity}'`);
      const list = (calls[task.activity] ??= []);
      list.push(task.input);
      return activity(task.input, {
        attempt: task.attempt,
        n: list.length - 1,
        ...(task.item === undefined ? {} : { item: task.item }),
      });
    },
    child: () => undefined,
    idle: (r) => {
      const next = signals.shift();
      if (next === undefined) return undefined;
      const event = signalEvent(
        { runId: r.runId, snapshot: r.snapshot, handlers },
        { ...next, signalId: `signal-${r.stream.length}` },
      );
      if (event === undefined || isRefusal(event)) throw new Error(`signal ${next.name} refused`);
      return event;
    },
  });
  expect(stopped).toBe(expected);
  // The stream alone rebuilds the run.
  expect(replay(compiled, run.stream).context).toEqual(run.snapshot.context);
  const context: RunContext = run.snapshot.context;
  const stream: readonly RunEvent[] = run.stream;
  return {
    status: statusOf(run.snapshot),
    output: context.output,
    failure: context.failure,
    steps: context.steps,
    data: context.data,
    calls,
    stream,
    last: stream[stream.length - 1],
    elapsedMs: run.now - START,
    /** Step id → why it was skipped. */
    skipped: Object.fromEntries(
      stream.flatMap((e) => (e.type === 'StepSkipped' ? [[e.stepId, e.reason ?? null]] : [])),
    ),
    count: (type: RunEvent['type'], stepId?: string) =>
      stream.filter(
        (e) => e.type === type && (stepId === undefined || ('stepId' in e && e.stepId === stepId)),
      ).length,
    query,
  };
};

// ---------------------------------------------------------------------------------------------

describe('docs/language.md', () => {
  it('names every json block, and every example is a valid blueprint with a scenario here', () => {
    const blocks = markdown.match(/```json/gu) ?? [];
    expect(examples.size).toBe(blocks.length);
    for (const [name, text] of examples) {
      const validated = validateBlueprint(JSON.parse(text));
      expect(validated.diagnostics, name).toEqual([]);
      expect(validated.ok, name).toBe(true);
    }
    expect([...examples.keys()].sort()).toEqual(Object.keys(scenarios).sort());
  });

  const scenarios: Record<string, () => Promise<void>> = {
    'error-handler': async () => {
      const base = {
        ship_order: echo,
        manual_review: (input: Json) => ({ ok: true as const, output: { reviewed: input } }),
        send_report: echo,
      };
      // A routed code: tried once (nonRetryable), the dependant skipped, the handler with $error, then report.
      const declined = await simulate(example('error-handler'), {
        input: { order: 1 },
        activities: { ...base, charge_card: failing('card_declined') },
      });
      expect(declined.status).toBe('completed');
      expect(declined.calls.charge_card).toHaveLength(1);
      expect(declined.steps.charge).toEqual(errorOf('card_declined'));
      expect(declined.skipped).toEqual({ ship: 'dependency_failed' });
      expect(declined.steps.ship).toBeNull();
      expect(declined.calls.ship_order).toBeUndefined();
      expect(declined.calls.manual_review).toEqual([
        { code: 'card_declined', message: 'card_declined!' },
      ]);
      expect(declined.calls.send_report).toEqual([
        { reviewed: { code: 'card_declined', message: 'card_declined!' } },
      ]);
      // Another code: "default": "fail" after three attempts.
      const down = await simulate(example('error-handler'), {
        activities: { ...base, charge_card: failing('gateway_down') },
      });
      expect(down.calls.charge_card).toHaveLength(3);
      expect(down.status).toBe('failed');
      expect(down.failure).toMatchObject({
        code: 'step_failed',
        stepId: 'charge',
        details: errorOf('gateway_down'),
      });
      // Success: the handler is skipped and the step after it runs with null.
      const paid = await simulate(example('error-handler'), {
        activities: { ...base, charge_card: ok({ receipt: 'r1' }) },
      });
      expect(paid.status).toBe('completed');
      expect(paid.skipped).toEqual({ review: 'handler_unused' });
      expect(paid.calls.ship_order).toEqual([{ receipt: 'r1' }]);
      expect(paid.calls.send_report).toEqual([null]);

      // $error is bound in the handler and every step inside it (the first step inside a
      // container handler also gets the error as its input `$`); a step after the handler does not
      // see it, and validation warns so (error_unbound).
      const nested = example('error-handler');
      const steps = nested.steps as Record<string, Json>[];
      steps[2] = {
        id: 'review',
        type: 'condition',
        when: '{% $error.code = "card_declined" %}',
        then: [
          { id: 'look', type: 'activity', activity: 'manual_review' },
          { id: 'tell', type: 'activity', activity: 'send_report', input: '{% $error.code %}' },
        ],
      };
      steps[3] = { ...steps[3], input: "{% {'code': $error.code} %}" };
      expect(validateBlueprint(nested).diagnostics.map((d) => `${d.path} ${d.code}`)).toEqual([
        '$.steps[3].input error_unbound',
      ]);
      const inside = await simulate(nested, {
        activities: { ...base, charge_card: failing('card_declined') },
      });
      expect(inside.calls.manual_review).toEqual([errorOf('card_declined')]);
      expect(inside.calls.send_report).toEqual(['card_declined', {}]);

      // A handler before the step that jumps to it: a cycle.
      const early = example('error-handler');
      const list = early.steps as Json[];
      early.steps = [list[2] ?? null, list[0] ?? null, list[1] ?? null, list[3] ?? null];
      expect(validateBlueprint(early).diagnostics.map((d) => d.code)).toContain('cycle');
    },

    'continue-on-error': async () => {
      const failed = await simulate(example('continue-on-error'), {
        input: { user: 'ada' },
        activities: { enrich_profile: failing('enrich_down'), save_profile: echo },
      });
      expect(failed.calls.enrich_profile).toHaveLength(2);
      expect(failed.status).toBe('completed');
      expect(failed.steps.enrich).toEqual(errorOf('enrich_down'));
      expect(failed.calls.save_profile).toEqual([{ user: 'ada' }]);
      expect(failed.skipped).toEqual({});
      // Without an input, the next step would get the {error} object itself.
      const bare = example('continue-on-error');
      delete (bare.steps as Record<string, Json>[])[1]?.input;
      const plain = await simulate(bare, {
        activities: { enrich_profile: failing('enrich_down'), save_profile: echo },
      });
      expect(plain.calls.save_profile).toEqual([errorOf('enrich_down')]);
    },

    saga: async () => {
      const activities = {
        book_flight: ok({ id: 'F1' }),
        cancel_flight: echo,
        notify_customer: echo,
      };
      const failed = await simulate(example('saga'), {
        activities: { ...activities, book_hotel: failing('sold_out', false) },
      });
      expect(failed.status).toBe('failed');
      expect(failed.failure).toMatchObject({
        code: 'step_failed',
        stepId: 'hotel',
        details: errorOf('sold_out', false),
      });
      expect(failed.calls.cancel_flight).toEqual([{ booking: 'F1', why: 'step_failed' }]);
      expect(failed.calls.notify_customer).toEqual([{ outcome: 'step_failed' }]);
      expect(failed.last).toMatchObject({ type: 'RunFailed', compensated: true });

      // A step that failed onto "continue" owes no compensation.
      const tolerant = example('saga');
      const flight = (tolerant.steps as Record<string, Json>[])[0] as Record<string, Json>;
      flight.onError = 'continue';
      const owed = await simulate(tolerant, {
        activities: {
          ...activities,
          book_flight: failing('no_seats', false),
          book_hotel: failing('sold_out', false),
        },
      });
      expect(owed.status).toBe('failed');
      expect(owed.calls.cancel_flight).toBeUndefined();
      expect(owed.calls.notify_customer).toEqual([{ outcome: 'step_failed' }]);

      const booked = await simulate(example('saga'), {
        activities: { ...activities, book_hotel: ok({ id: 'H1' }) },
      });
      expect(booked.status).toBe('completed');
      expect(booked.calls.cancel_flight).toBeUndefined();
      expect(booked.calls.notify_customer).toEqual([{ outcome: 'booked' }]);
      expect(booked.last).toEqual({ type: 'RunCompleted', output: { id: 'H1' } });

      const cancelled = await simulate(example('saga'), {
        activities: { ...activities, book_hotel: ok({ id: 'H1' }) },
        cancel: { after: 'flight', reason: 'changed plans' },
      });
      expect(cancelled.status).toBe('cancelled');
      expect(cancelled.calls.book_hotel).toBeUndefined();
      expect(cancelled.calls.cancel_flight).toEqual([{ booking: 'F1', why: 'cancelled' }]);
      expect(cancelled.calls.notify_customer).toEqual([{ outcome: 'cancelled' }]);
      expect(cancelled.last).toMatchObject({ type: 'RunCancelled', compensated: true });
    },

    'loop-accumulator': async () => {
      const run = await simulate(example('loop-accumulator'), {
        activities: {
          fetch_page: inTurn(
            ok({ amount: 10, next: 'p2' }),
            ok({ amount: 20, next: 'p3' }),
            ok({ amount: 30, next: null }),
          ),
        },
      });
      expect(run.status).toBe('completed');
      expect(run.calls.fetch_page).toEqual([{ cursor: null }, { cursor: 'p2' }, { cursor: 'p3' }]);
      expect(run.output).toEqual({
        total: 60,
        pages: [{ total: 10 }, { total: 30 }, { total: 60 }],
      });
      expect(run.data).toEqual({ total: 60 });
      // `while` is checked before every iteration: three that proceed, one that stops.
      expect(run.count('LoopChecked', 'pages')).toBe(4);

      // Without an input, the body's first step gets the loop's own input every iteration.
      const plain = example('loop-accumulator');
      const pages = (plain.steps as Record<string, Json>[])[1] as Record<string, Json>;
      delete (pages.steps as Record<string, Json>[])[0]?.input;
      const same = await simulate(plain, {
        activities: {
          fetch_page: inTurn(ok({ amount: 1, next: 'p2' }), ok({ amount: 2, next: null })),
        },
      });
      expect(same.calls.fetch_page).toEqual([{ total: 0 }, { total: 0 }]);
    },

    'quorum-wait': async () => {
      const activities = { adopt_motion: echo, report_no_quorum: echo };
      const held = await simulate(example('quorum-wait'), {
        activities,
        signals: ['yes', 'no', 'yes'].map((payload) => ({ name: 'vote', payload })),
      });
      expect(held.status).toBe('completed');
      expect(held.steps.quorum).toBe(3);
      expect(held.calls.adopt_motion).toEqual([3]);
      expect(held.skipped).toEqual({ no_quorum: 'handler_unused' });

      const timedOut = await simulate(example('quorum-wait'), {
        activities,
        signals: [{ name: 'vote', payload: 'yes' }],
      });
      expect(timedOut.status).toBe('completed');
      expect(timedOut.elapsedMs).toBe(3_600_000);
      expect(timedOut.skipped).toEqual({ adopt: 'dependency_failed' });
      expect(timedOut.calls.report_no_quorum).toEqual([
        {
          code: 'timeout',
          message: "the condition of wait step 'quorum' did not hold within its timeout",
          retryable: false,
        },
      ]);
    },

    'container-retry': async () => {
      const activities = { pull_changes: ok('pulled') };
      const again = await simulate(example('container-retry'), {
        activities: {
          ...activities,
          push_changes: inTurn(failing('push_failed'), ok('pushed')),
        },
      });
      expect(again.status).toBe('completed');
      expect(again.count('StepEntered', 'sync')).toBe(2);
      expect(again.calls.pull_changes).toHaveLength(2);
      expect(again.steps.sync).toEqual(['pulled', 'pushed']);

      const spent = await simulate(example('container-retry'), {
        activities: { ...activities, push_changes: failing('push_failed') },
      });
      expect(spent.status).toBe('completed');
      expect(spent.calls.push_changes).toHaveLength(3);
      expect(spent.count('StepEntered', 'sync')).toBe(3);
      expect(spent.steps.sync).toEqual(errorOf('push_failed'));

      // `defaults.maxAttempts` applies to the activity inside: pull is retried within one run of sync.
      const retried = await simulate(example('container-retry'), {
        activities: {
          pull_changes: inTurn(failing('flaky'), ok('pulled')),
          push_changes: ok('pushed'),
        },
      });
      expect(retried.calls.pull_changes).toHaveLength(2);
      expect(retried.count('StepEntered', 'sync')).toBe(1);
      expect(retried.steps.sync).toEqual(['pulled', 'pushed']);

      // A wait's timeout inside is not retryable: the container is not run again.
      const waiting = example('container-retry');
      const sync = (waiting.steps as Record<string, Json>[])[0] as Record<string, Json[][]>;
      (sync.branches as Json[][])[1] = [{ id: 'ack', type: 'wait', signal: 'ack', timeout: '1m' }];
      const noAck = await simulate(waiting, { activities });
      expect(noAck.count('StepEntered', 'sync')).toBe(1);
      expect(noAck.steps.sync).toMatchObject({ error: { code: 'timeout', retryable: false } });
    },

    'wait-then-branch': async () => {
      const activities = {
        request_approval: ok({ expense: 7 }),
        pay_expense: ok('paid'),
        notify_rejected: echo,
      };
      const approved = await simulate(example('wait-then-branch'), {
        activities,
        signals: [{ name: 'approve', payload: { approved: true } }],
      });
      expect(approved.status).toBe('completed');
      expect(approved.steps.approval).toEqual({ approved: true });
      expect(approved.calls.pay_expense).toEqual([{ expense: 7 }]);
      expect(approved.steps.decide).toBe('paid');
      expect(approved.skipped).toEqual({ reject: 'not_taken' });

      const refused = await simulate(example('wait-then-branch'), {
        activities,
        signals: [{ name: 'approve', payload: { approved: false, comment: 'too much' } }],
      });
      expect(refused.calls.notify_rejected).toEqual([{ reason: 'too much' }]);

      // The timeout: the step failed with code timeout; "continue" makes its output {error}, not null.
      const silent = await simulate(example('wait-then-branch'), { activities });
      expect(silent.status).toBe('completed');
      expect(silent.elapsedMs).toBe(2 * 86_400_000);
      expect(silent.steps.approval).toEqual({
        error: { code: 'timeout', message: 'timed out waiting for a signal', retryable: false },
      });
      expect(silent.calls.notify_rejected).toEqual([{ reason: 'no answer' }]);

      // Without onError the timeout fails the run.
      const strict = example('wait-then-branch');
      delete (strict.steps as Record<string, Json>[])[1]?.onError;
      const failed = await simulate(strict, { activities });
      expect(failed.status).toBe('failed');
      expect(failed.failure).toMatchObject({
        code: 'step_failed',
        stepId: 'approval',
        details: { error: { code: 'timeout', retryable: false } },
      });

      // defaults.timeout does not bound a wait: without its own timeout it waits for ever.
      const forever = example('wait-then-branch');
      forever.defaults = { timeout: '1m' };
      delete (forever.steps as Record<string, Json>[])[1]?.timeout;
      const stuck = await simulate(forever, { activities }, 'stuck');
      expect(stuck.status).toBe('running');
      expect(stuck.count('TimerScheduled')).toBe(0);
    },

    polling: async () => {
      const activities = {
        start_export: ok({ job: 'j1' }),
        download_export: echo,
      };
      const done = await simulate(example('polling'), {
        activities: {
          ...activities,
          export_status: inTurn(
            ok({ state: 'running' }),
            ok({ state: 'running' }),
            ok({ state: 'done', url: 'https://x/e.csv' }),
          ),
        },
      });
      expect(done.status).toBe('completed');
      expect(done.calls.export_status).toEqual([{ job: 'j1' }, { job: 'j1' }, { job: 'j1' }]);
      expect(done.count('TimerFired')).toBe(2);
      expect(done.elapsedMs).toBe(60_000);
      expect(done.calls.download_export).toEqual(['https://x/e.csv']);
      expect(done.steps.poll).toEqual([null, null, null]);

      const never = await simulate(example('polling'), {
        activities: { ...activities, export_status: ok({ state: 'running' }) },
      });
      expect(never.status).toBe('failed');
      expect(never.calls.export_status).toHaveLength(10);
      expect(never.failure).toMatchObject({
        stepId: 'poll',
        details: { error: { code: 'max_iterations' } },
      });

      // The pitfall: `!=` against a step that has not run yet is false, so the loop never runs.
      const naive = example('polling');
      (naive.steps as Record<string, Json>[])[1] = {
        ...((naive.steps as Record<string, Json>[])[1] as Record<string, Json>),
        while: "{% $steps.check.state != 'done' %}",
      };
      const none = await simulate(naive, {
        activities: { ...activities, export_status: ok({ state: 'done' }) },
      });
      expect(none.calls.export_status).toBeUndefined();
      expect(none.steps.poll).toEqual([]);
    },

    'tolerant-map': async () => {
      const resize: Activity = (input) =>
        input === 'b'
          ? { ok: false, error: { code: 'corrupt', message: 'corrupt!', retryable: true } }
          : { ok: true, output: typeof input === 'string' ? input.toUpperCase() : input };
      const run = await simulate(example('tolerant-map'), {
        input: { images: ['a', 'b', 'c'] },
        activities: { resize_image: resize },
      });
      expect(run.status).toBe('completed');
      expect(run.calls.resize_image?.filter((i) => i === 'b')).toHaveLength(2);
      expect(run.steps.resize).toEqual(['A', errorOf('corrupt'), 'C']);
      expect(run.output).toEqual({ resized: ['A', 'C'], failed: 1 });

      // onError on the map itself: the whole map's output is the failed item's error.
      const whole = example('tolerant-map');
      const map = (whole.steps as Record<string, Json>[])[0] as Record<string, Json>;
      delete (map.step as Record<string, Json>).onError;
      map.onError = 'continue';
      const caught = await simulate(whole, {
        input: { images: ['a', 'b', 'c'] },
        activities: { resize_image: resize },
      });
      expect(caught.status).toBe('completed');
      expect(caught.steps.resize).toEqual(errorOf('corrupt'));
    },

    'fan-out-map': async () => {
      const run = await simulate(example('fan-out-map'), {
        input: { items: ['x', 'y', 'z'] },
        activities: {
          enrich: (input) => ({ ok: true, output: { done: input } }),
          save_all: ok('saved'),
        },
      });
      expect(run.status).toBe('completed');
      const outputs = ['x', 'y', 'z'].map((item, position) => ({ done: { item, position } }));
      expect(run.steps.each).toEqual(outputs);
      expect(run.calls.save_all).toEqual([outputs]);
      expect(run.output).toBe('saved');
    },

    'chain-graph': async () => {
      const agent: Activity = (input) => {
        const { role, topic, previous } = input as {
          role: string;
          topic: string;
          previous?: { text: string };
        };
        return { ok: true, output: { text: `${role}(${previous?.text ?? topic})` } };
      };
      const run = await simulate(example('chain-graph'), {
        input: { topic: 'tides', agents: ['researcher', 'writer', 'reviewer'] },
        activities: { agent_work: agent },
      });
      expect(run.status).toBe('completed');
      expect(run.calls.agent_work).toEqual([
        { role: 'researcher', topic: 'tides' },
        { role: 'writer', topic: 'tides', previous: { text: 'researcher(tides)' } },
        { role: 'reviewer', topic: 'tides', previous: { text: 'writer(researcher(tides))' } },
      ]);
      expect(run.output).toEqual({ text: 'reviewer(writer(researcher(tides)))' });
      expect(Object.keys(run.steps.chain as Record<string, Json>)).toEqual([
        'researcher',
        'writer',
        'reviewer',
      ]);
    },

    'signal-query': async () => {
      const world: World = {
        input: { limit: 10 },
        activities: { export_rows: ok('exported') },
        signals: [
          { name: 'set_limit', payload: 50 },
          { name: 'note', payload: 'a' },
          { name: 'set_limit', payload: 40 },
          { name: 'note', payload: 'b' },
          { name: 'start', payload: {} },
        ],
      };
      const started = await start(example('signal-query'), world);
      expect(await started.query('limit')).toBe(10);
      expect(await started.query('notes')).toBe(0);
      // `start` is accepted undeclared, as a trigger, because a wait names it.
      expect(started.handlers.signals.get('start')).toBe('trigger');
      const run = await drive(started, world);
      expect(run.status).toBe('completed');
      expect(run.calls.export_rows).toEqual([{ limit: 40 }]);
      expect(run.data).toEqual({ set_limit: 40, note: ['a', 'b'] });
      expect(await run.query('limit')).toBe(40);
      expect(await run.query('notes')).toBe(2);
      expect(await run.query('get_data')).toEqual({ set_limit: 40, note: ['a', 'b'] });
    },

    'failure-handler': async () => {
      const activities = { send_receipt: ok('receipt sent'), notify_ops: ok('paged') };
      const failed = await simulate(example('failure-handler'), {
        input: { orderId: 'o1' },
        activities: { ...activities, charge_card: failing('declined') },
      });
      expect(failed.calls.charge_card).toHaveLength(2);
      expect(failed.calls.send_receipt).toBeUndefined();
      expect(failed.calls.notify_ops).toEqual([{ order: 'o1', code: 'declined' }]);
      expect(failed.status).toBe('failed');
      expect(failed.failure).toEqual({
        code: 'payment_failed',
        message: 'charge failed: declined!',
        stepId: 'stop',
      });

      const paid = await simulate(example('failure-handler'), {
        input: { orderId: 'o1' },
        activities: { ...activities, charge_card: ok({ id: 'ch_1' }) },
      });
      expect(paid.status).toBe('completed');
      expect(paid.output).toBe('receipt sent');
      expect(paid.skipped).toEqual({ alert: 'handler_unused', stop: 'if_false' });
    },
  };

  for (const [name, scenario] of Object.entries(scenarios)) it(`example ${name}`, scenario);
});

// ---------------------------------------------------------------------------------------------
// The table of section 4 against the validator.

describe('docs/language.md: retry and time fields by step type', () => {
  const act = { id: 'a', type: 'activity', activity: 'x' };
  const blueprint = (step: Record<string, unknown>) => ({ name: 't', steps: [step] });
  const rows: Record<string, (field: Record<string, unknown>) => unknown> = {
    '`activity`': (f) => blueprint({ ...act, ...f }),
    '`map` `step` (activity)': (f) =>
      blueprint({ id: 'm', type: 'map', step: { type: 'activity', activity: 'x', ...f } }),
    '`map` `step` (child)': (f) =>
      blueprint({ id: 'm', type: 'map', step: { type: 'child', blueprint: 'c', ...f } }),
    '`parallel`': (f) => blueprint({ id: 'p', type: 'parallel', branches: [[act]], ...f }),
    '`condition`': (f) =>
      blueprint({ id: 'c', type: 'condition', when: '{% true %}', then: [act], ...f }),
    '`switch`': (f) =>
      blueprint({ id: 's', type: 'switch', on: '{% 1 %}', cases: { '1': [act] }, ...f }),
    '`loop`': (f) => blueprint({ id: 'l', type: 'loop', count: 1, steps: [act], ...f }),
    '`map`': (f) =>
      blueprint({ id: 'm', type: 'map', step: { type: 'activity', activity: 'x' }, ...f }),
    '`graph`': (f) =>
      blueprint({
        id: 'g',
        type: 'graph',
        over: '{% $input %}',
        node: '{% $item %}',
        step: { type: 'activity', activity: 'x' },
        ...f,
      }),
    '`child`': (f) => blueprint({ id: 'k', type: 'child', blueprint: 'c', ...f }),
    '`wait`': (f) => blueprint({ id: 'w', type: 'wait', signal: 'go', ...f }),
    '`sleep`': (f) => blueprint({ id: 'z', type: 'sleep', duration: '1s', ...f }),
    '`fail`': (f) => blueprint({ id: 'f', type: 'fail', error: { code: 'x', message: 'm' }, ...f }),
    '`succeed`': (f) => blueprint({ id: 'y', type: 'succeed', ...f }),
    '`set`': (f) => blueprint({ id: 'd', type: 'set', data: { a: 1 }, ...f }),
    '`defaults`': (f) => ({ name: 't', defaults: f, steps: [act] }),
  };
  const values: Record<string, unknown> = {
    maxAttempts: 2,
    timeout: '10s',
    backoff: { initial: '1s' },
    scheduleTimeout: '5s',
    nonRetryable: ['card_declined'],
  };

  const lines = markdown.split('\n');
  const header = lines.findIndex((line) => line.startsWith('| step |'));
  const cells = (line: string) =>
    line
      .split('|')
      .slice(1, -1)
      .map((cell) => cell.trim());
  const columns = cells(lines[header] ?? '')
    .slice(1)
    .map((c) => c.replaceAll('`', ''));
  const table: string[][] = [];
  for (let i = header + 2; (lines[i] ?? '').startsWith('|'); i++) table.push(cells(lines[i] ?? ''));

  it('has a row for every step type and defaults, and a column for every field', () => {
    expect(columns).toEqual(Object.keys(values));
    expect(table.map((row) => row[0])).toEqual(Object.keys(rows));
  });

  for (const row of table) {
    const [key = '', ...marks] = row;
    it(`${key}: ✓ is accepted, — is refused with a hint`, () => {
      const make = rows[key];
      if (make === undefined) throw new Error(`no fixture for row ${key}`);
      expect(validateBlueprint(make({})).ok).toBe(true);
      columns.forEach((field, i) => {
        const mark = marks[i] ?? '';
        const result = validateBlueprint(make({ [field]: values[field] }));
        if (mark.includes('✓')) {
          expect(result.diagnostics, `${key} ${field}`).toEqual([]);
        } else {
          expect(mark, `${key} ${field}`).toBe('—');
          expect(result.ok, `${key} ${field}`).toBe(false);
          const errors = result.diagnostics.filter((d) => d.severity === 'error');
          expect(errors, `${key} ${field}`).toHaveLength(1);
          expect(errors[0]?.hint, `${key} ${field}`).toBeTruthy();
        }
      });
    });
  }
});
