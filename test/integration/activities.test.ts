import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNatsServer, type NatsServerHandle } from '../support/natsServer.ts';
import { waitFor } from '../support/wait.ts';
import {
  spawnWeft,
  startServe,
  testClient,
  weftNode,
  type TestClient,
  type WeftProcess,
} from '../support/weft.ts';

/**
 * Workers announce what they serve and the runtime lists it (`weft.activities.list`, `weft
 * activities`), with real processes: nats-server, `weft serve` and `weft worker` on
 * test/support/announcedActivities.ts. A worker's heartbeat interval is set per test
 * (`WEFT_WORKER_HEARTBEAT_MS`) so that what is asserted can only come from the mechanism the test
 * names: a goodbye or a discovery is proven with a heartbeat far longer than the test's deadline.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/weft.js', import.meta.url));
const MODULE = 'test/support/announcedActivities.ts';
/** Three missed heartbeats of this are three minutes: longer than any deadline below. */
const SLOW_HEARTBEAT_MS = 60_000;

interface Activity {
  readonly name: string;
  readonly workers: number;
  readonly lastSeen: string;
  readonly description?: string;
  readonly input?: unknown;
  readonly output?: unknown;
}

let nats: NatsServerHandle;
let dir: string;
let store: string;
let runtime: WeftProcess;
let client: TestClient;
const workers = new Set<WeftProcess>();

const startWorker = async (heartbeatMs: number): Promise<WeftProcess> => {
  const worker = await spawnWeft(['worker', MODULE, '--nats', nats.url], /worker serving/, {
    WEFT_WORKER_HEARTBEAT_MS: String(heartbeatMs),
  });
  workers.add(worker);
  return worker;
};

const stopWorker = async (worker: WeftProcess, how: 'stop' | 'kill9'): Promise<void> => {
  if (how === 'stop') await worker.stop();
  else await worker.kill9();
  workers.delete(worker);
};

const list = async (): Promise<readonly Activity[]> =>
  (await client.call<{ activities: Activity[] }>('weft.activities.list', {})).activities;

const find = async (name: string): Promise<Activity | undefined> =>
  (await list()).find((a) => a.name === name);

/** Waits until `name` is listed with `count` live workers. */
const workersAre = (name: string, count: number, timeoutMs = 10_000) =>
  waitFor(async () => ((await find(name))?.workers === count ? true : undefined), {
    timeoutMs,
    message: `${name} served by ${count} workers`,
  });

const cli = (args: readonly string[]) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      weftNode(),
      [BIN, ...args, '--nats', nats.url],
      { cwd: ROOT, env: { ...process.env, WEFT_PREFIX: 'weft' }, timeout: 25_000 },
      (error, stdout, stderr) =>
        resolve({
          code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1,
          stdout,
          stderr,
        }),
    );
  });

beforeAll(async () => {
  nats = await startNatsServer();
  dir = mkdtempSync(join(tmpdir(), 'weft-activities-'));
  store = `sqlite:${join(dir, 'events.db')}`;
  runtime = await startServe(nats.url, store);
  client = await testClient(nats.url);
});

afterAll(async () => {
  await client.close();
  await Promise.all([...workers].map((w) => w.stop()));
  await runtime.stop();
  await nats.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('workers announce the activities they serve', () => {
  it("a worker's activities are listed with workers 1, the declared description and schemas", async () => {
    const worker = await startWorker(SLOW_HEARTBEAT_MS);
    try {
      await workersAre('charge_card', 1);
      const activities = await list();
      const charge = activities.find((a) => a.name === 'charge_card');
      expect({ ...charge, lastSeen: typeof charge?.lastSeen }).toEqual({
        name: 'charge_card',
        workers: 1,
        lastSeen: 'string',
        description: 'Charges a card once per task',
        input: {
          type: 'object',
          properties: { amount: { type: 'number' } },
          required: ['amount'],
        },
        output: { type: 'object', properties: { charged: { type: 'number' } } },
      });
      expect(Number.isNaN(Date.parse(charge?.lastSeen ?? ''))).toBe(false);
      // A plain exported function is served under its export name, with nothing declared.
      const ship = activities.find((a) => a.name === 'ship_order');
      expect({ ...ship, lastSeen: typeof ship?.lastSeen }).toEqual({
        name: 'ship_order',
        workers: 1,
        lastSeen: 'string',
      });
      // The export name of a defineActivity is not an activity name.
      expect(activities.some((a) => a.name === 'chargeCard')).toBe(false);
    } finally {
      await stopWorker(worker, 'stop');
    }
  });

  it('two workers count 2; a stopped worker says goodbye and is no longer counted', async () => {
    const first = await startWorker(SLOW_HEARTBEAT_MS);
    const second = await startWorker(SLOW_HEARTBEAT_MS);
    try {
      await workersAre('charge_card', 2);
      await stopWorker(second, 'stop');
      // Expiry would take three minutes: only the goodbye explains this.
      await workersAre('charge_card', 1);
      await stopWorker(first, 'stop');
      await workersAre('charge_card', 0);
      await workersAre('ship_order', 0);
    } finally {
      for (const worker of [first, second])
        if (workers.has(worker)) await stopWorker(worker, 'stop');
    }
  });

  it('heartbeats keep a worker live; a SIGKILLed worker expires after its missed heartbeats', async () => {
    const heartbeatMs = 300;
    const worker = await startWorker(heartbeatMs);
    await workersAre('charge_card', 1);
    const firstSeen = Date.parse((await find('charge_card'))?.lastSeen ?? '');
    // Past three missed intervals the worker would have expired without its heartbeats.
    const later = await waitFor(
      async () => {
        const seen = await find('charge_card');
        return seen !== undefined && Date.parse(seen.lastSeen) > firstSeen + 4 * heartbeatMs
          ? seen
          : undefined;
      },
      { message: 'a heartbeat after four intervals' },
    );
    expect(later?.workers).toBe(1);
    await stopWorker(worker, 'kill9');
    await workersAre('charge_card', 0);
  });

  it('a runtime started after its workers learns them without waiting for a heartbeat', async () => {
    const worker = await startWorker(SLOW_HEARTBEAT_MS);
    try {
      await workersAre('charge_card', 1);
      expect(await runtime.stop()).toBe(0);
      runtime = await startServe(nats.url, store);
      // The next heartbeat is a minute away: the new runtime's discovery request is answered.
      await workersAre('charge_card', 1);
    } finally {
      await stopWorker(worker, 'stop');
    }
  });

  it('weft activities prints the table, and the list as JSON with --json', async () => {
    const worker = await startWorker(SLOW_HEARTBEAT_MS);
    try {
      await workersAre('charge_card', 1);
      const table = await cli(['activities']);
      expect(table.code).toBe(0);
      const lines = table.stdout.trim().split('\n');
      expect(lines[0]).toMatch(/^NAME\s+WORKERS\s+LAST SEEN\s+DESCRIPTION$/);
      expect(lines).toContainEqual(
        expect.stringMatching(/^charge_card\s+1\s+\S+Z\s+Charges a card once per task$/),
      );
      expect(lines).toContainEqual(expect.stringMatching(/^ship_order\s+1\s+\S+Z$/));
      const json = await cli(['activities', '--json']);
      expect(json.code).toBe(0);
      const parsed = JSON.parse(json.stdout) as { activities: Activity[] };
      expect(parsed.activities.find((a) => a.name === 'charge_card')).toMatchObject({
        workers: 1,
        description: 'Charges a card once per task',
      });
    } finally {
      await stopWorker(worker, 'stop');
    }
  });
});

interface Warning {
  readonly path: string;
  readonly code: string;
  readonly message: string;
  readonly hint?: string;
  readonly severity: string;
}

describe('validation warns about activities no worker serves', () => {
  let worker: WeftProcess;
  const typo = (name: string) => ({
    name,
    steps: [
      { id: 'pay', type: 'activity', activity: 'charge_crad' },
      { id: 'ship', type: 'activity', activity: 'ship_order' },
    ],
  });

  beforeAll(async () => {
    worker = await startWorker(SLOW_HEARTBEAT_MS);
    await workersAre('charge_card', 1);
  });
  afterAll(async () => {
    await stopWorker(worker, 'stop');
  });

  const expectTypoWarning = (warnings: readonly Warning[] | undefined) => {
    expect(warnings).toHaveLength(1);
    const [warning] = warnings ?? [];
    expect(warning).toMatchObject({
      path: '$.steps[0].activity',
      code: 'unknown_activity',
      severity: 'warning',
    });
    expect(warning?.message).toContain('charge_crad');
    expect(warning?.hint).toContain('Did you mean "charge_card"?');
    expect(warning?.hint).toContain('charge_card, ship_order');
  };

  it('put stores a blueprint naming an unserved activity and returns the unknown_activity warning', async () => {
    const stored = await client.call<{ created: boolean; version: number; warnings?: Warning[] }>(
      'weft.blueprints.put',
      { blueprint: typo('typo_put') },
    );
    expect(stored).toMatchObject({ created: true, version: 1 });
    expectTypoWarning(stored.warnings);
    // Served names only: no warnings field at all.
    const clean = await client.call<Record<string, unknown>>('weft.blueprints.put', {
      blueprint: {
        name: 'served_put',
        steps: [{ id: 'pay', type: 'activity', activity: 'charge_card' }],
      },
    });
    expect(clean).toMatchObject({ created: true });
    expect(clean).not.toHaveProperty('warnings');
  });

  it('validate lists it with severity warning and stays valid; an error beside it makes it invalid', async () => {
    const checked = await client.call<{ valid: boolean; diagnostics: Warning[] }>(
      'weft.blueprints.validate',
      { blueprint: typo('typo_validate') },
    );
    expect(checked.valid).toBe(true);
    expectTypoWarning(checked.diagnostics);
    const broken = await client.call<{ valid: boolean; diagnostics: Warning[] }>(
      'weft.blueprints.validate',
      {
        blueprint: {
          ...typo('typo_broken'),
          steps: [...typo('x').steps, { id: 'pay', type: 'activity', activity: 'ship_order' }],
        },
      },
    );
    expect(broken.valid).toBe(false);
    expect(broken.diagnostics.map((d) => [d.code, d.severity]).sort()).toEqual([
      ['duplicate_id', 'error'],
      ['unknown_activity', 'warning'],
    ]);
  });

  it('an inline start is not blocked: the run starts and the reply carries the warning', async () => {
    const started = await client.call<{ runId: string; existing: boolean; warnings?: Warning[] }>(
      'weft.runs.start',
      { blueprint: typo('typo_start') },
    );
    expect(started.existing).toBe(false);
    expectTypoWarning(started.warnings);
    const summary = await client.call<{ status: string }>(`weft.runs.${started.runId}.get`);
    expect(summary.status).toBe('running');
    await client.call(`weft.runs.${started.runId}.cancel`, {});
  });

  it('the CLI prints the warning on stderr and succeeds (put, validate, start)', async () => {
    const file = join(dir, 'typo_cli.json');
    writeFileSync(file, JSON.stringify(typo('typo_cli')));
    // An inline start stores its blueprint too: its own name keeps it out of the put's way.
    const startFile = join(dir, 'typo_cli_start.json');
    writeFileSync(startFile, JSON.stringify(typo('typo_cli_start')));
    const line =
      /^warning \[unknown_activity\] \$\.steps\[0\]\.activity: .*charge_crad.*\(hint: Did you mean "charge_card"\?/m;
    const [put, validate, start] = await Promise.all([
      cli(['blueprint', 'put', file]),
      cli(['blueprint', 'validate', file]),
      cli(['start', startFile]),
    ]);
    expect(put.code).toBe(0);
    expect(put.stdout).toMatch(/^stored: typo_cli v1/);
    expect(put.stderr).toMatch(line);
    expect(validate.code).toBe(0);
    expect(validate.stdout.trim()).toBe('valid');
    expect(validate.stderr).toMatch(line);
    expect(start.code).toBe(0);
    expect(start.stdout).toMatch(/^started run /);
    expect(start.stderr).toMatch(line);
    const runId = /^started run (\S+)/.exec(start.stdout)?.[1] ?? '';
    await client.call(`weft.runs.${runId}.cancel`, {});
  });
});
