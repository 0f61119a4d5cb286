import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { isBlueprintFile } from '../../src/cli/dev.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Blueprint } from '../../src/blueprints/schema.ts';
import { buildAbVariants, buildAgentChain } from '../../examples/multi_agent/build.ts';
import { buildRuntimeBlueprint } from '../../examples/runtime_built/build.ts';
import * as exampleActivities from '../../examples/worker.ts';
import { startNatsServer, type NatsServerHandle } from '../support/natsServer.ts';
import { monotonicMs, waitFor } from '../support/wait.ts';
import {
  startServe,
  startWorker,
  testClient,
  type TestClient,
  type WeftProcess,
  type Summary,
  type HistoryEvent,
} from '../support/weft.ts';

/**
 * The seed examples under examples/<name>/, each run end to end the way a user runs it: its
 * blueprints put by name (children first), its activities served by one `weft worker
 * examples/worker.ts` process, a real nats-server, the runtime on sqlite. Each output is asserted
 * exactly, as CONTRACT §2 defines step outputs.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const EXAMPLES = join(ROOT, 'examples');

let nats: NatsServerHandle;
let dir: string;
let runtime: WeftProcess;
let worker: WeftProcess;
let client: TestClient;

const readJson = (...path: string[]): unknown =>
  JSON.parse(readFileSync(join(EXAMPLES, ...path), 'utf8'));
const blueprintFile = (example: string, file = 'blueprint.json') =>
  readJson(example, file) as Blueprint;
const inputOf = (example: string) => readJson(example, 'input.json') as Record<string, unknown>;

const put = (blueprint: Blueprint) =>
  client.call<{ name: string; version: number; hash: string; created: boolean }>(
    'weft.blueprints.put',
    { blueprint },
  );
const execute = (
  blueprint: string | Blueprint,
  input: unknown,
  extra: Record<string, unknown> = {},
) =>
  client.call<Summary>(
    'weft.runs.execute',
    { blueprint, input, timeoutMs: 20_000, ...extra },
    25_000,
  );
const start = (blueprint: string, input: unknown, runId: string) =>
  client.call<{ runId: string; blueprint: { name: string; version: number }; existing: boolean }>(
    'weft.runs.start',
    {
      blueprint,
      input,
      runId,
    },
  );
const summary = (runId: string) => client.call<Summary>(`weft.runs.${runId}.get`);
const history = async (runId: string) =>
  (await client.call<{ events: HistoryEvent[] }>(`weft.runs.${runId}.history`, {})).events;
/** Polls the run's summary until it has ended; returns it. */
const ended = (runId: string, timeoutMs = 20_000) =>
  waitFor(
    async () => {
      const s = await summary(runId);
      return s.status === 'running' ? undefined : s;
    },
    { timeoutMs, message: `run ${runId} to end` },
  );
/** Activity names of the run's StepScheduled events, in order (README: the event carries `activity`). */
const scheduledActivities = (events: readonly HistoryEvent[]) =>
  events.filter((e) => e.type === 'StepScheduled').map((e) => e.data.activity);
const scheduledSteps = (events: readonly HistoryEvent[]) =>
  events.filter((e) => e.type === 'StepScheduled').map((e) => e.data.stepId);

beforeAll(async () => {
  nats = await startNatsServer();
  dir = mkdtempSync(join(tmpdir(), 'weft-examples-'));
  runtime = await startServe(nats.url, `sqlite:${join(dir, 'events.db')}`);
  worker = await startWorker(nats.url, 'examples/worker.ts');
  client = await testClient(nats.url);
});

afterAll(async () => {
  await client.close();
  await worker.stop();
  await runtime.stop();
  await nats.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('the examples are well formed', () => {
  const blueprintFiles = readdirSync(EXAMPLES, { withFileTypes: true })
    .filter((d) => d.isDirectory() && d.name !== 'blueprints')
    .flatMap((d) =>
      readdirSync(join(EXAMPLES, d.name))
        .filter(isBlueprintFile)
        .map((f) => [d.name, f] as const),
    );

  it('every example blueprint is valid', async () => {
    expect(blueprintFiles.length).toBeGreaterThanOrEqual(13);
    for (const [example, file] of blueprintFiles) {
      const reply = await client.call<{ valid: boolean; diagnostics: unknown[] }>(
        'weft.blueprints.validate',
        {
          blueprint: blueprintFile(example, file),
        },
      );
      expect(reply, `${example}/${file}`).toEqual({ valid: true, diagnostics: [] });
    }
  });

  it('the worker serves every example activity, and every literal activity name has one', () => {
    const exported = Object.keys(exampleActivities).sort();
    const served = /weft worker serving (.*) on /u.exec(worker.output())?.[1]?.split(', ').sort();
    expect(served).toEqual(exported);
    const literal = new Set<string>();
    const walk = (value: unknown): void => {
      if (Array.isArray(value)) value.forEach(walk);
      else if (value !== null && typeof value === 'object') {
        const record = value as Record<string, unknown>;
        if (
          record.type === 'activity' &&
          typeof record.activity === 'string' &&
          !record.activity.includes('{%')
        )
          literal.add(record.activity);
        Object.values(record).forEach(walk);
      }
    };
    for (const [example, file] of blueprintFiles) walk(blueprintFile(example, file));
    expect([...literal].filter((name) => !exported.includes(name))).toEqual([]);
  });

  it('the committed built blueprints are what the build functions make', () => {
    expect(buildRuntimeBlueprint()).toEqual(blueprintFile('runtime_built'));
    expect(buildAgentChain()).toEqual(blueprintFile('multi_agent'));
    const [a, b] = buildAbVariants();
    expect(a).toEqual(blueprintFile('multi_agent', 'variant_a.json'));
    expect(b).toEqual(blueprintFile('multi_agent', 'variant_b.json'));
  });
});

describe('config_pipeline: activities named by configuration, a loop over transformations, if', () => {
  it('runs the configured validator, transformations in order and the enricher', async () => {
    await put(blueprintFile('config_pipeline'));
    const input = inputOf('config_pipeline');
    const config = input.config as Record<string, unknown>;
    const [full, unenriched, invalid] = await Promise.all([
      execute('config_pipeline', input),
      execute('config_pipeline', {
        ...input,
        config: {
          ...config,
          transformations: [{ activity: 'cfg_scale', field: 'score', by: 10 }],
          enrich: false,
        },
      }),
      execute('config_pipeline', { ...input, data: [{ name: 'ada', score: 41 }, { score: -1 }] }),
    ]);

    expect(full).toMatchObject({ status: 'completed' });
    // loop → array of the iterations' outputs; `if` true → the step runs
    expect(full.output).toEqual({
      checked: 2,
      applied: ['uppercase(name)', 'scale(score,2)', 'rename(score,points)'],
      enriched: true,
      records: [
        { name: 'ADA', points: 82, rank: 1, source: 'crm' },
        { name: 'GRACE', points: 74, rank: 2, source: 'crm' },
      ],
    });
    // every activity was picked from the configuration by an expression
    expect(scheduledActivities(await history(full.runId))).toEqual([
      'cfg_validate',
      'cfg_uppercase',
      'cfg_scale',
      'cfg_rename',
      'cfg_enrich',
    ]);

    // another configuration, same blueprint: one transformation, `if` false → skipped, output null
    expect(unenriched).toMatchObject({ status: 'completed' });
    expect(unenriched.output).toEqual({
      checked: 2,
      applied: ['scale(score,10)'],
      enriched: false,
      records: [
        { name: 'ada', score: 410 },
        { name: 'grace', score: 370 },
      ],
    });
    expect(scheduledActivities(await history(unenriched.runId))).toEqual([
      'cfg_validate',
      'cfg_scale',
    ]);

    // a TerminalError from the validator fails the run at once
    expect(invalid.status).toBe('failed');
    expect(invalid.error).toMatchObject({ code: 'step_failed', stepId: 'validate' });
    expect(invalid.error?.message).toContain("record 1: 'name' is required");
    expect(scheduledActivities(await history(invalid.runId))).toEqual(['cfg_validate']);
  });
});

describe('media_processing: a map of child runs chosen by type', () => {
  it('processes a mixed list through image, video and document children, in item order', async () => {
    for (const child of ['image', 'video', 'document'])
      await put(blueprintFile('media_processing', `${child}.json`));
    await put(blueprintFile('media_processing'));
    const result = await execute('media_processing', inputOf('media_processing'));
    expect(result).toMatchObject({ status: 'completed' });
    // map → array in item order (the video, first, finishes last); child → the child run's output
    expect(result.output).toEqual({
      results: [
        {
          kind: 'video',
          name: 'intro.mp4',
          renditions: ['360p', '720p', '1080p'],
          poster: 'poster_intro.jpg',
        },
        {
          kind: 'image',
          name: 'cat.png',
          thumbnail: { file: 'thumb_cat.jpg', width: 200, height: 133 },
          tags: ['landscape', 'large'],
        },
        { kind: 'document', name: 'report.pdf', pages: 12, words: 3000 },
        {
          kind: 'image',
          name: 'logo.svg',
          thumbnail: { file: 'thumb_logo.jpg', width: 64, height: 64 },
          tags: ['square', 'small'],
        },
      ],
      catalogue: {
        count: 4,
        kinds: { video: 1, image: 2, document: 1 },
        names: ['intro.mp4', 'cat.png', 'report.pdf', 'logo.svg'],
      },
    });
    // each item ran as a child run of the blueprint its type chose
    for (const [name, count] of [
      ['media_image', 2],
      ['media_video', 1],
      ['media_document', 1],
    ] as const) {
      const { runs } = await client.call<{ runs: Summary[] }>('weft.runs.list', {
        blueprint: name,
      });
      expect(
        runs.map((r) => r.status),
        name,
      ).toEqual(Array.from({ length: count }, () => 'completed'));
    }
  });
});

describe('runtime_built: a blueprint made by code', () => {
  it('builds, validates, puts and runs fetch → parallel → loop ×3 → condition', async () => {
    const blueprint = buildRuntimeBlueprint();
    expect(await client.call('weft.blueprints.validate', { blueprint })).toEqual({
      valid: true,
      diagnostics: [],
    });
    expect(await put(blueprint)).toMatchObject({
      name: 'runtime_built',
      version: 1,
      created: true,
    });
    expect(await put(buildRuntimeBlueprint())).toMatchObject({
      name: 'runtime_built',
      version: 1,
      created: false,
    });

    const [high, low] = await Promise.all([
      execute('runtime_built', inputOf('runtime_built')),
      execute('runtime_built', { source: 'sensor_b', count: 3 }),
    ]);
    expect(high).toMatchObject({ status: 'completed' });
    expect(high.output).toEqual({
      // parallel → array of branch outputs
      branches: [
        { total: 15 },
        {
          count: 5,
          labels: ['sensor_a:1', 'sensor_a:2', 'sensor_a:3', 'sensor_a:4', 'sensor_a:5'],
        },
      ],
      // loop → array of the iterations' outputs; $iteration counts from 0
      iterations: [
        { iteration: 0, value: 30 },
        { iteration: 1, value: 60 },
        { iteration: 2, value: 120 },
      ],
      // condition → the taken branch's output
      decision: { published: true, value: 120, labels: 5 },
    });
    expect(low).toMatchObject({ status: 'completed' });
    expect(low.output).toEqual({
      branches: [{ total: 6 }, { count: 3, labels: ['sensor_b:1', 'sensor_b:2', 'sensor_b:3'] }],
      iterations: [
        { iteration: 0, value: 12 },
        { iteration: 1, value: 24 },
        { iteration: 2, value: 48 },
      ],
      decision: { published: false, value: 48 },
    });
    expect(scheduledSteps(await history(low.runId))).not.toContain('publish');

    // other options, another blueprint, run inline without a put
    const small = buildRuntimeBlueprint({
      name: 'runtime_built_small',
      iterations: 1,
      threshold: 10,
    });
    const inline = await execute(small, { source: 'sensor_c', count: 3 });
    expect(inline.output).toEqual({
      branches: [{ total: 6 }, { count: 3, labels: ['sensor_c:1', 'sensor_c:2', 'sensor_c:3'] }],
      iterations: [{ iteration: 0, value: 12 }],
      decision: { published: true, value: 12, labels: 3 },
    });
  });
});

describe('conditional_graph: a step routed on failure', () => {
  it('skips the recovery step when the charge succeeds, and runs it with $error when it fails', async () => {
    await put(blueprintFile('conditional_graph'));
    const [paid, declined] = await Promise.all([
      execute('conditional_graph', inputOf('conditional_graph')),
      execute('conditional_graph', {
        orderId: 'B200',
        amount: 99,
        card: 'declined',
        express: false,
      }),
    ]);

    expect(paid).toMatchObject({ status: 'completed' });
    // the onError target is not on the success path: skipped, output null
    expect(paid.output).toEqual({
      orderId: 'A100',
      receipt: 'rcpt_A100',
      review: null,
      fulfilment: { shipped: 'A100', service: 'express' },
    });
    expect(scheduledSteps(await history(paid.runId))).not.toContain('manual_review');

    // a routed failure does not fail the run: control goes to manual_review, which sees $error
    expect(declined).toMatchObject({ status: 'completed' });
    expect(declined.output).toEqual({
      orderId: 'B200',
      receipt: null,
      review: {
        ticket: 'review_B200',
        reason: expect.stringContaining(
          'card declined for order B200: insufficient funds',
        ) as unknown,
      },
      fulfilment: { held: 'B200' },
    });
    const steps = scheduledSteps(await history(declined.runId));
    expect(steps.filter((s) => s === 'charge')).toHaveLength(1); // a TerminalError is not retried
    expect(steps).toContain('manual_review');
    expect(steps).not.toContain('ship');
  });
});

describe('ai_data_pipeline: fetch 100 → map (double, concurrency 10) → save', () => {
  it('doubles every item, at most ten at a time, and saves them in item order', async () => {
    await put(blueprintFile('ai_data_pipeline'));
    const result = await execute('ai_data_pipeline', inputOf('ai_data_pipeline'));
    expect(result).toMatchObject({ status: 'completed' });
    expect(result.output).toEqual({ saved: 100, total: 10100, first: 2, last: 200 });

    const events = await history(result.runId);
    expect(scheduledActivities(events).filter((a) => a === 'ai_double')).toHaveLength(100);
    const open = new Set<unknown>();
    let most = 0;
    for (const e of events) {
      if (e.type === 'StepScheduled' && e.data.activity === 'ai_double') open.add(e.data.taskId);
      if (e.type === 'StepCompleted' || e.type === 'StepFailed') open.delete(e.data.taskId);
      most = Math.max(most, open.size);
    }
    expect(most).toBeGreaterThan(1);
    expect(most).toBeLessThanOrEqual(10);
  });
});

describe('etl: a map that tolerates bad rows', () => {
  it('records {"error": …} for bad rows, separates them, and loads the good ones', async () => {
    await put(blueprintFile('etl'));
    const result = await execute('etl', inputOf('etl'));
    // onError: "continue" on the map's step: the run completes despite three bad rows
    expect(result).toMatchObject({ status: 'completed' });
    expect(result.output).toEqual({
      loaded: { loaded: 3, ids: [1, 4, 6], amount: 113.75 },
      rejected: [
        { line: 3, reason: 'line 3: amount "abc" is not a number' },
        { line: 4, reason: 'line 4: name is empty' },
        { line: 6, reason: 'line 6: id "x5" is not a positive integer' },
      ],
    });
    const events = await history(result.runId);
    expect(events.filter((e) => e.type === 'StepFailed')).toHaveLength(3); // TerminalErrors: one attempt each
    expect(scheduledActivities(events).filter((a) => a === 'etl_validate_row')).toHaveLength(6);
  });
});

describe('multi_agent: a chain built from a list of agents, and an A/B pair', () => {
  it('feeds each agent the previous agent’s output', async () => {
    await put(blueprintFile('multi_agent'));
    const chain = await execute('multi_agent', inputOf('multi_agent'));
    expect(chain).toMatchObject({ status: 'completed' });
    expect(chain.output).toEqual({
      role: 'reviewer',
      turn: 3,
      text: 'approved: neutral article from [notes on event sourcing]',
    });

    const longer = buildAgentChain({
      name: 'multi_agent_long',
      agents: ['researcher', 'fact_checker', 'writer', 'reviewer'],
    });
    const result = await execute(longer, { topic: 'NATS' });
    expect(result.output).toEqual({
      role: 'reviewer',
      turn: 4,
      text: 'approved: neutral article from [fact_checker(notes on NATS)]',
    });
    expect(scheduledSteps(await history(result.runId))).toEqual([
      'researcher',
      'fact_checker',
      'writer',
      'reviewer',
    ]);
  });

  it('runs two variants that differ in one parameter side by side', async () => {
    const [a, b] = buildAbVariants();
    await Promise.all([put(a), put(b)]);
    const input = inputOf('multi_agent');
    const [startedA, startedB] = await Promise.all([
      start('multi_agent_a', input, 'ab-test-a'),
      start('multi_agent_b', input, 'ab-test-b'),
    ]);
    expect(startedA).toMatchObject({
      runId: 'ab-test-a',
      blueprint: { name: 'multi_agent_a', version: 1 },
      existing: false,
    });
    expect(startedB).toMatchObject({
      runId: 'ab-test-b',
      blueprint: { name: 'multi_agent_b', version: 1 },
      existing: false,
    });
    const [endA, endB] = await Promise.all([ended('ab-test-a'), ended('ab-test-b')]);
    expect(endA).toMatchObject({
      status: 'completed',
      output: {
        role: 'reviewer',
        turn: 3,
        text: 'approved: formal article from [notes on event sourcing]',
      },
    });
    expect(endB).toMatchObject({
      status: 'completed',
      output: {
        role: 'reviewer',
        turn: 3,
        text: 'approved: casual article from [notes on event sourcing]',
      },
    });
  });
});

describe('approval: wait for a signal, sleep, act', () => {
  const approval = blueprintFile('approval');
  const input = inputOf('approval');
  const signal = (runId: string, payload: unknown) =>
    client.call(`weft.runs.${runId}.signal.approve`, payload);
  const completedSteps = async (runId: string) =>
    (await history(runId)).filter((e) => e.type === 'StepCompleted').map((e) => e.data.stepId);

  beforeAll(async () => {
    await put(approval);
  });

  it('goes on with the signal payload once approved, after a 200ms sleep', async () => {
    await start('approval', input, 'approval-waiting');
    await waitFor(async () => (await completedSteps('approval-waiting')).includes('prepare'), {
      message: 'prepare to complete',
    });
    await waitFor(
      async () =>
        (
          await client.call<{ waitingFor: string[] }>('weft.runs.approval-waiting.query.get_status')
        ).waitingFor.includes('approve'),
      { message: 'the run to wait for approve' },
    );
    expect((await summary('approval-waiting')).status).toBe('running');
    const sentAt = monotonicMs();
    expect(await signal('approval-waiting', { approved: true })).toEqual({ accepted: true });
    const end = await ended('approval-waiting');
    expect(monotonicMs() - sentAt).toBeGreaterThanOrEqual(200); // the sleep step is a real 200ms timer
    // wait → the signal's payload; sleep → null
    expect(end).toMatchObject({
      status: 'completed',
      output: {
        requestId: 'req_1',
        amount: 250,
        status: 'approved',
        decision: { approved: true },
        cooledOff: true,
      },
    });
  });

  it('keeps a signal sent before the wait step is reached', async () => {
    await start('approval', { ...input, requestId: 'req_2', delayMs: 3_000 }, 'approval-early');
    expect(await signal('approval-early', { approved: true, note: 'sent early' })).toEqual({
      accepted: true,
    });
    expect(await ended('approval-early')).toMatchObject({
      status: 'completed',
      output: {
        requestId: 'req_2',
        status: 'approved',
        decision: { approved: true, note: 'sent early' },
        cooledOff: true,
      },
    });
    // The history, not the clock, shows that the signal came while the first step still ran.
    const events = await history('approval-early');
    const received = events.findIndex((e) => e.type === 'SignalReceived');
    const prepared = events.findIndex(
      (e) => e.type === 'StepCompleted' && e.data.stepId === 'prepare',
    );
    expect(received).toBeGreaterThan(-1);
    expect(received).toBeLessThan(prepared);
  });

  it('fails the run when the wait times out', async () => {
    const json = readJson('approval', 'blueprint.json') as { steps: Record<string, unknown>[] };
    const short = {
      ...json,
      name: 'approval_short_wait',
      steps: json.steps.map((s) => (s.id === 'wait_approval' ? { ...s, timeout: '500ms' } : s)),
    } as unknown as Blueprint;
    const started = monotonicMs();
    const result = await execute(short, input);
    expect(monotonicMs() - started).toBeGreaterThanOrEqual(500);
    expect(result.status).toBe('failed');
    expect(result.error).toMatchObject({ code: 'step_failed', stepId: 'wait_approval' });
    expect(JSON.stringify(result.error)).toMatch(/time(d)?[ _-]?out/iu);
    const steps = await completedSteps(result.runId);
    expect(steps).toContain('prepare');
    expect(steps).not.toContain('finalize');
  });
});
