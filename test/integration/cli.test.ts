import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNatsServer, type NatsServerHandle } from '../support/natsServer.ts';
import { waitFor } from '../support/wait.ts';
import {
  runWeft,
  startServe,
  startWorker,
  type WeftProcess,
  type WeftRun,
  type Summary,
  type HistoryEvent,
  act,
  testClient,
} from '../support/weft.ts';

/**
 * The `weft` client verbs, run the way a user runs them (`node bin/weft.js … --nats URL`) against
 * a real nats-server, a `weft serve` on an sqlite file and a `weft worker` serving
 * test/support/activities.ts. Independent commands run at once: each costs a node start.
 */

/** Nothing listens on port 1: connecting is refused at once. */
const UNREACHABLE = 'nats://127.0.0.1:1';

let nats: NatsServerHandle;
let dir: string;
let runtime: WeftProcess | undefined;
let worker: WeftProcess | undefined;

/** Runs `weft <args> --nats <url>` and resolves with its exit code and output; kills it after `timeoutMs`. */
const weft = (
  args: readonly string[],
  { url = nats.url, timeoutMs = 25_000 }: { url?: string; timeoutMs?: number } = {},
) =>
  runWeft([...args, '--nats', url], {
    env: { WEFT_PREFIX: 'weft', WEFT_STORE: 'memory:' },
    timeoutMs,
  });

/** Parses stdout as JSON (one document). */
const json = (result: WeftRun): unknown => JSON.parse(result.stdout);

/** A file in the temp dir holding `content` (JSON unless a string); returns its path. */
const file = (name: string, content: unknown): string => {
  const path = join(dir, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return path;
};

/** Runs `weft get <runId> --json` until the run has ended; returns its summary. */
const ended = (runId: string) =>
  waitFor(
    async () => {
      const summary = json(await weft(['get', runId, '--json'])) as Summary;
      return summary.status === 'running' ? undefined : summary;
    },
    { timeoutMs: 20_000, message: `run ${runId} to end` },
  );

const PIPE = { name: 'cli_pipe', steps: [act('one', 'echo')] };
const WAIT = { name: 'cli_wait', steps: [{ id: 'gate', type: 'wait', signal: 'go' }] };
const FAIL = { name: 'cli_fail', steps: [act('charge', 'declined')] };
const DOOMED = { name: 'cli_doomed', steps: [act('one', 'echo')] };
/** The blueprint commands' own copies, so that their first `put` really stores a new blueprint. */
const STORED = { ...PIPE, name: 'cli_stored' };
const STORED_WAIT = { ...WAIT, name: 'cli_stored_wait' };
const STORED_FAIL = { ...FAIL, name: 'cli_stored_fail' };
/** A bad name and a cycle: two diagnostics. */
const BAD = {
  name: 'bad name',
  steps: [act('a', 'echo', { dependsOn: ['b'] }), act('b', 'echo', { dependsOn: ['a'] })],
};
const INLINE = {
  name: 'cli_inline',
  steps: [act('calc', 'value', { input: "{% {'base': $input.base} %}" })],
};

const paths = {
  stored: '',
  storedWait: '',
  storedFail: '',
  doomed: '',
  bad: '',
  inline: '',
  notJson: '',
  input: '',
};

beforeAll(async () => {
  nats = await startNatsServer();
  dir = mkdtempSync(join(tmpdir(), 'weft-cli-'));
  paths.stored = file('stored.json', STORED);
  paths.storedWait = file('stored-wait.json', STORED_WAIT);
  paths.storedFail = file('stored-fail.json', STORED_FAIL);
  paths.doomed = file('doomed.json', DOOMED);
  paths.bad = file('bad.json', BAD);
  paths.inline = file('inline.json', INLINE);
  paths.notJson = file('not-json.json', 'not json {');
  paths.input = file('input.json', { a: 2 });
  [runtime, worker] = await Promise.all([
    startServe(nats.url, `sqlite:${join(dir, 'events.db')}`),
    startWorker(nats.url),
  ]);
  // The blueprints the run commands use, stored here so that each test stands on its own.
  const client = await testClient(nats.url);
  try {
    for (const blueprint of [PIPE, WAIT, FAIL])
      await client.call('weft.blueprints.put', { blueprint });
  } finally {
    await client.close();
  }
}, 60_000);

afterAll(async () => {
  await worker?.stop();
  await runtime?.stop();
  await nats.stop();
  rmSync(dir, { recursive: true, force: true });
}, 30_000);

describe('the weft CLI against a real runtime', { timeout: 60_000 }, () => {
  it('prints the blueprint JSON Schema without a server, and fails fast when NATS is unreachable', async () => {
    const [result, unreachable] = await Promise.all([
      weft(['blueprint', 'schema'], { url: UNREACHABLE }),
      weft(['get', 'nope'], { url: UNREACHABLE }),
    ]);
    // a refused connection is reported at once: no waiting out the connect timeout, no reconnect loop
    expect(unreachable.code).toBe(1);
    expect(unreachable.stdout).toBe('');
    expect(unreachable.stderr).toMatch(
      /^error \[unavailable\]: cannot reach NATS at nats:\/\/127\.0\.0\.1:1\b/,
    );
    expect(unreachable.ms).toBeLessThan(8_000);

    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    const schema = json(result) as Record<string, unknown>;
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(schema.type).toBe('object');
  });

  it('validates a blueprint --offline, with no server at all', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'weft-offline-'));
    try {
      const good = join(dir, 'good.json');
      const bad = join(dir, 'bad.json');
      writeFileSync(
        good,
        JSON.stringify({
          name: 'off',
          steps: [{ id: 'a', type: 'activity', activity: 'nobody_serves_this' }],
        }),
      );
      writeFileSync(
        bad,
        JSON.stringify({ name: 'off', steps: [{ id: 'a', type: 'sleep', duration: 5 }] }),
      );
      const [valid, invalid] = await Promise.all([
        weft(['blueprint', 'validate', good, '--offline'], { url: UNREACHABLE }),
        weft(['blueprint', 'validate', bad, '--offline', '--json'], { url: UNREACHABLE }),
      ]);
      // No runtime: no activity check, so no unknown_activity warning either.
      expect(valid).toMatchObject({ code: 0, stdout: 'valid\n', stderr: '' });
      expect(invalid.code).toBe(1);
      const data = json(invalid) as {
        valid: boolean;
        diagnostics: { code: string; path: string }[];
      };
      expect(data.valid).toBe(false);
      expect(data.diagnostics).toContainEqual(
        expect.objectContaining({ code: 'duration_unit', path: '$.steps[0].duration' }),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stores, validates, lists, gets and removes blueprints', async () => {
    const [put, putJson, putFail, putDoomed, putBad, valid, invalid, invalidJson, notJson] =
      await Promise.all([
        weft(['blueprint', 'put', paths.stored]),
        weft(['blueprint', 'put', paths.storedWait, '--json']),
        weft(['blueprint', 'put', paths.storedFail]),
        weft(['blueprint', 'put', paths.doomed]),
        weft(['blueprint', 'put', paths.bad]),
        weft(['blueprint', 'validate', paths.stored]),
        weft(['blueprint', 'validate', paths.bad]),
        weft(['blueprint', 'validate', paths.bad, '--json']),
        weft(['blueprint', 'validate', paths.notJson]),
      ]);

    expect(put.code).toBe(0);
    expect(put.stdout).toMatch(/^stored: cli_stored v1 \([0-9a-f]{12}\)\n$/);
    expect(putJson.code).toBe(0);
    expect(json(putJson)).toEqual({
      name: 'cli_stored_wait',
      version: 1,
      hash: expect.stringMatching(/^[0-9a-f]{64}$/) as unknown,
      created: true,
    });
    expect(putFail.code).toBe(0);
    expect(putDoomed.code).toBe(0);

    // an invalid blueprint is refused with every diagnostic, one per line
    expect(putBad.code).toBe(1);
    expect(putBad.stderr).toContain('error [invalid_blueprint]');
    expect(putBad.stderr).toMatch(/^ {2}\$\.name {2}invalid_name {2}/m);
    expect(putBad.stderr).toMatch(
      /^ {2}\$\.steps\[1\]\.dependsOn {2}cycle {2}dependency cycle: a → b → a/m,
    );

    expect(valid.code).toBe(0);
    expect(valid.stdout).toBe('valid\n');

    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toBe('');
    const lines = invalid.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^\$\.name {2}invalid_name {2}"bad name" is not a valid name/);
    expect(lines[1]).toMatch(/^\$\.steps\[1\]\.dependsOn {2}cycle {2}dependency cycle: a → b → a/);

    expect(invalidJson.code).toBe(1);
    const report = json(invalidJson) as {
      valid: boolean;
      diagnostics: { path: string; code: string; message: string }[];
    };
    expect(report.valid).toBe(false);
    expect(report.diagnostics.map((d) => [d.path, d.code])).toEqual([
      ['$.name', 'invalid_name'],
      ['$.steps[1].dependsOn', 'cycle'],
    ]);

    expect(notJson.code).toBe(1);
    expect(notJson.stdout).toBe('');
    expect(notJson.stderr).toMatch(/^error \[invalid_json\]: .*not-json\.json is not valid JSON/);

    const [again, againJson, get, getJson, list, listJson] = await Promise.all([
      weft(['blueprint', 'put', paths.stored]),
      weft(['blueprint', 'put', paths.stored, '--json']),
      weft(['blueprint', 'get', 'cli_stored']),
      weft(['blueprint', 'get', 'cli_stored', '--json']),
      weft(['blueprint', 'list']),
      weft(['blueprint', 'list', '--json']),
    ]);
    const hash = put.stdout.slice('stored: cli_stored v1 ('.length, -2);
    expect(again.code).toBe(0);
    expect(again.stdout).toBe(`unchanged: cli_stored v1 (${hash})\n`);
    expect(againJson.code).toBe(0);
    const stored = json(againJson) as {
      name: string;
      version: number;
      hash: string;
      created: boolean;
    };
    expect(stored).toMatchObject({ name: 'cli_stored', version: 1, created: false });
    expect(stored.hash.startsWith(hash)).toBe(true);

    expect(get.code).toBe(0);
    expect(json(get)).toEqual(STORED);
    expect(getJson.code).toBe(0);
    expect(json(getJson)).toEqual({ blueprint: STORED, version: 1, hash: stored.hash });

    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^NAME\s+LATEST$/m);
    for (const name of ['cli_stored', 'cli_stored_wait', 'cli_stored_fail', 'cli_doomed'])
      expect(list.stdout).toMatch(new RegExp(`^${name}\\s+v1$`, 'm'));
    expect(listJson.code).toBe(0);
    expect(
      (json(listJson) as { blueprints: { name: string; latestVersion: number }[] }).blueprints,
    ).toEqual(
      expect.arrayContaining([
        { name: 'cli_stored', latestVersion: 1 },
        { name: 'cli_stored_wait', latestVersion: 1 },
      ]),
    );

    const rm = await weft(['blueprint', 'rm', 'cli_doomed']);
    expect(rm.code).toBe(0);
    expect(rm.stdout).toBe('deleted cli_doomed\n');
    const [gone, rmAgain] = await Promise.all([
      weft(['blueprint', 'get', 'cli_doomed']),
      weft(['blueprint', 'rm', 'cli_doomed', '--json']),
    ]);
    expect(gone.code).toBe(1);
    expect(gone.stdout).toBe('');
    expect(gone.stderr).toMatch(/^error \[blueprint_not_found\]: .*cli_doomed/);
    expect(rmAgain.code).toBe(1);
    expect(json(rmAgain)).toEqual({ deleted: false });
  });

  it('starts runs: --wait, --id twice, an inline blueprint file, a failing run, --input @file', async () => {
    const [waited, waitedJson, inline, failed, failedJson, fromFile, first] = await Promise.all([
      weft(['start', 'cli_pipe', '--input', '{"a":1}', '--wait']),
      weft(['start', 'cli_pipe', '--input', '{"a":1}', '--wait', '--json']),
      weft(['start', paths.inline, '--input', '{"base":10}', '--wait']),
      weft(['start', 'cli_fail', '--wait']),
      weft(['start', 'cli_fail', '--wait', '--json']),
      weft(['start', 'cli_pipe', '--input', `@${paths.input}`, '--wait', '--json']),
      weft(['start', 'cli_pipe', '--id', 'cli_once']),
    ]);

    expect(waited.code).toBe(0);
    const head = /^run (\S+) completed\n/.exec(waited.stdout);
    expect(head).not.toBeNull();
    expect(JSON.parse(waited.stdout.slice(head?.[0].length))).toEqual({
      step: 'one',
      got: { a: 1 },
    });

    expect(waitedJson.code).toBe(0);
    expect(json(waitedJson)).toEqual({
      runId: expect.any(String) as unknown,
      status: 'completed',
      output: { step: 'one', got: { a: 1 } },
    });

    expect(inline.code).toBe(0);
    expect(inline.stdout).toMatch(/^run \S+ completed\n/);
    expect(JSON.parse(inline.stdout.replace(/^.*\n/, ''))).toEqual({ value: 10 + 'calc'.length });

    expect(failed.code).toBe(1);
    expect(failed.stdout).toMatch(/^run \S+ failed\n\[step_failed\] .*card declined/);
    expect(failedJson.code).toBe(1);
    expect(json(failedJson)).toMatchObject({ status: 'failed', error: { code: 'step_failed' } });

    expect(fromFile.code).toBe(0);
    expect(json(fromFile)).toMatchObject({
      status: 'completed',
      output: { step: 'one', got: { a: 2 } },
    });

    expect(first.code).toBe(0);
    expect(first.stdout).toBe('started run cli_once (cli_pipe v1)\n');
    const [second, secondJson] = await Promise.all([
      weft(['start', 'cli_pipe', '--id', 'cli_once']),
      weft(['start', 'cli_pipe', '--id', 'cli_once', '--json']),
    ]);
    expect(second.code).toBe(0);
    expect(second.stdout).toBe('existing run cli_once (cli_pipe v1)\n');
    expect(json(secondJson)).toEqual({
      runId: 'cli_once',
      blueprint: { name: 'cli_pipe', version: 1 },
      existing: true,
    });
  });

  it('shows a run, lists runs and prints history', async () => {
    const [waited, listed, ...fails] = await Promise.all([
      weft(['start', 'cli_pipe', '--input', '{"a":1}', '--wait', '--json']),
      weft(['start', 'cli_pipe', '--id', 'cli_listed', '--wait']),
      weft(['start', 'cli_fail', '--wait']),
      weft(['start', 'cli_fail', '--wait']),
    ]);
    expect([waited.code, listed.code, ...fails.map((f) => f.code)]).toEqual([0, 0, 1, 1]);
    const waitedRunId = (json(waited) as { runId: string }).runId;
    const [get, getJson, history, historyJson, failedRuns] = await Promise.all([
      weft(['get', waitedRunId]),
      weft(['get', waitedRunId, '--json']),
      weft(['history', waitedRunId]),
      weft(['history', waitedRunId, '--json']),
      weft(['runs', '--status', 'failed', '--json']),
    ]);

    expect(get.code).toBe(0);
    expect(get.stdout).toContain(`run       ${waitedRunId}\n`);
    expect(get.stdout).toContain('status    completed\n');
    expect(get.stdout).toContain('blueprint cli_pipe v1\n');
    expect(get.stdout).toContain('input     {"a":1}\n');
    expect(get.stdout).toContain('output    {"step":"one","got":{"a":1}}\n');

    expect(getJson.code).toBe(0);
    expect(json(getJson)).toMatchObject({
      runId: waitedRunId,
      status: 'completed',
      blueprint: { name: 'cli_pipe', version: 1 },
      input: { a: 1 },
      output: { step: 'one', got: { a: 1 } },
    });

    expect(history.code).toBe(0);
    const [header, ...rows] = history.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^#\s+AT\s+TYPE\s+DATA$/);
    const types = rows.map((row) => row.split(/\s{2,}/)[2]);
    expect(types).toEqual(['RunStarted', 'StepScheduled', 'StepCompleted', 'RunCompleted']);
    expect(rows.map((row) => row.split(/\s+/)[0])).toEqual(['0', '1', '2', '3']);

    expect(historyJson.code).toBe(0);
    const events = (json(historyJson) as { events: HistoryEvent[] }).events;
    expect(events.map((e) => [e.revision, e.type])).toEqual([
      [0, 'RunStarted'],
      [1, 'StepScheduled'],
      [2, 'StepCompleted'],
      [3, 'RunCompleted'],
    ]);
    expect(events[0]?.data.input).toEqual({ a: 1 });
    expect(events[3]?.data.output).toEqual({ step: 'one', got: { a: 1 } });

    expect(failedRuns.code).toBe(0);
    const failed = (json(failedRuns) as { runs: Summary[] }).runs;
    expect(failed.length).toBeGreaterThanOrEqual(2);
    expect(failed.every((r) => r.status === 'failed' && r.blueprint.name === 'cli_fail')).toBe(
      true,
    );

    // the list is a projection: poll until it shows the run
    const completed = await waitFor(
      async () => {
        const result = await weft(['runs', '--status', 'completed']);
        return result.code === 0 && result.stdout.includes(waitedRunId) ? result.stdout : '';
      },
      { timeoutMs: 20_000, message: `runs --status completed to list ${waitedRunId}` },
    );
    expect(completed).toMatch(/^RUN\s+STATUS\s+BLUEPRINT\s+STARTED$/m);
    expect(completed).toMatch(
      new RegExp(`^${waitedRunId}\\s+completed\\s+cli_pipe v1\\s+\\d{4}-`, 'm'),
    );
    expect(completed).not.toMatch(/\bfailed\b/);

    const runsJson = await weft(['runs', '--json']);
    expect(runsJson.code).toBe(0);
    const all = (json(runsJson) as { runs: Summary[] }).runs;
    expect(all).toContainEqual(
      expect.objectContaining({ runId: waitedRunId, status: 'completed', input: { a: 1 } }),
    );
    expect(all).toContainEqual(expect.objectContaining({ runId: 'cli_listed' }));
  });

  it('queries, signals and cancels runs', async () => {
    const [started, other] = await Promise.all([
      weft(['start', 'cli_wait', '--id', 'cli_gate']),
      weft(['start', 'cli_wait', '--id', 'cli_gate_cancelled']),
    ]);
    expect(started.code).toBe(0);
    expect(other.code).toBe(0);

    const [status, statusJson, unknownQuery, cancel] = await Promise.all([
      weft(['query', 'cli_gate', 'get_status']),
      weft(['query', 'cli_gate', 'get_status', '--json']),
      weft(['query', 'cli_gate', 'no_such_query']),
      weft(['cancel', 'cli_gate_cancelled', '--reason', 'not needed']),
    ]);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ status: 'running', waitingFor: ['go'] });
    expect(status.stdout).toContain('\n  "waitingFor": [\n    "go"\n  ]');
    expect(statusJson.code).toBe(0);
    expect(json(statusJson)).toEqual({
      status: 'running',
      activeSteps: [],
      waitingFor: ['go'],
      tasks: [],
    });
    expect(unknownQuery.code).toBe(1);
    expect(unknownQuery.stderr).toMatch(/^error \[unknown_query\]/);
    expect(cancel.code).toBe(0);
    expect(cancel.stdout).toBe('cancelled\n');

    const signal = await weft(['signal', 'cli_gate', 'go', '{"x":1}']);
    expect(signal.code).toBe(0);
    expect(JSON.parse(signal.stdout)).toEqual({ accepted: true });

    const [done, cancelled] = await Promise.all([ended('cli_gate'), ended('cli_gate_cancelled')]);
    expect(done).toMatchObject({ status: 'completed', output: { x: 1 } });
    expect(cancelled).toMatchObject({ status: 'cancelled', error: { code: 'cancelled' } });

    const [cancelDone, cancelDoneJson] = await Promise.all([
      weft(['cancel', 'cli_gate']),
      weft(['cancel', 'cli_gate', '--json']),
    ]);
    expect(cancelDone.code).toBe(1);
    expect(cancelDone.stderr).toMatch(/^error \[run_not_running\]: .*cli_gate/);
    expect(cancelDoneJson.code).toBe(1);
    expect(json(cancelDoneJson)).toMatchObject({ ok: false, error: { code: 'run_not_running' } });
  });

  it('reports usage errors, bad input, missing runs and missing servers', async () => {
    const [
      unknown,
      noId,
      noIdNoServer,
      notFound,
      notFoundJson,
      unreachableJson,
      noRuntime,
      badInput,
      missingInput,
      notJsonNoServer,
    ] = await Promise.all([
      weft(['frobnicate']),
      weft(['get']),
      weft(['get'], { url: UNREACHABLE }),
      weft(['get', 'nope']),
      weft(['get', 'nope', '--json']),
      weft(['runs', '--json'], { url: UNREACHABLE }),
      weft(['get', 'nope', '--prefix', 'nobody_home']),
      weft(['start', 'cli_pipe', '--input', '{bad']),
      weft(['start', 'cli_pipe', '--input', `@${join(dir, 'missing.json')}`]),
      weft(['blueprint', 'validate', paths.notJson], { url: UNREACHABLE }),
    ]);

    expect(unknown.code).toBe(2);
    expect(unknown.stdout).toBe('');
    expect(unknown.stderr).toMatch(/^weft: unknown command 'frobnicate'\n/);
    expect(unknown.stderr).toContain('usage: weft <command>');

    expect(noId.code).toBe(2);
    expect(noId.stderr).toMatch(/^weft: missing run id\n/);
    expect(noId.stderr).toContain('usage: weft <command>');
    // a usage error is found before connecting
    expect(noIdNoServer.code).toBe(2);
    expect(noIdNoServer.stderr).toMatch(/^weft: missing run id\n/);

    expect(notFound.code).toBe(1);
    expect(notFound.stdout).toBe('');
    expect(notFound.stderr).toBe("error [run_not_found]: no run 'nope'\n");
    expect(notFoundJson.code).toBe(1);
    expect(notFoundJson.stderr).toBe('');
    expect(json(notFoundJson)).toEqual({
      ok: false,
      error: { code: 'run_not_found', message: "no run 'nope'", details: { runId: 'nope' } },
    });

    expect(unreachableJson.code).toBe(1);
    expect(json(unreachableJson)).toMatchObject({
      ok: false,
      error: {
        code: 'unavailable',
        message: expect.stringContaining('cannot reach NATS') as unknown,
      },
    });

    expect(noRuntime.code).toBe(1);
    expect(noRuntime.stderr).toMatch(
      /^error \[unavailable\]: no weft runtime answers on nobody_home\.runs\.nope\.get/,
    );

    expect(badInput.code).toBe(1);
    expect(badInput.stderr).toMatch(/^error \[invalid_json\]: --input is not valid JSON/);
    expect(missingInput.code).toBe(1);
    expect(missingInput.stderr).toMatch(/^error \[invalid_request\]: cannot read .*missing\.json/);

    // a local file that is not JSON is reported as such, also without a server
    expect(notJsonNoServer.code).toBe(1);
    expect(notJsonNoServer.stderr).toMatch(
      /^error \[invalid_json\]: .*not-json\.json is not valid JSON/,
    );
  });
});
