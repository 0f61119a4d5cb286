import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import {
  connect,
  PermissionViolationError,
  type NatsConnection,
  type Subscription,
} from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createClient,
  ForbiddenError,
  RunNotFoundError,
  WeftClientError,
  type WeftClient,
} from 'weft/client';
import { startNatsServer, type NatsServerHandle } from '../support/natsServer.ts';
import { countStoredEvents } from '../support/stores.ts';
import { makeTestCertificates, type TestCertificates } from '../support/tls.ts';
import { sleep, waitFor } from '../support/wait.ts';
import { act, runWeft, startServe, startWorker, type WeftProcess } from '../support/weft.ts';

/**
 * Tenants kept apart by NATS (examples/secure/README.md): one runtime per tenant, each with its
 * own store, and NATS deciding who may use which subjects. A real nats-server 2.9 loads the
 * templates of examples/secure/ as they are (their passwords come from its environment); each
 * tenant gets a real `weft serve` on its own sqlite file, a real `weft worker` serving the same
 * activity names as the other tenant's, and the typed client.
 *
 * (a) One account, tenants by prefix (`acme`, `globex`) and per-user permissions, over TLS that
 * verifies every client's certificate (made by the test with openssl): each tenant's
 * own work runs to its end, and every attempt of acme's client, worker or runtime at globex's
 * runs, tasks or streams is denied by NATS (a "Permissions Violation" the connection hears) or
 * refused by weft; nothing reaches globex's store, and no task reaches the other tenant's worker.
 * (b) One account per tenant (`ACME`, `GLOBEX`), both with the prefix `weft`. Then the
 * configuration of docker-compose.yml (compose.conf).
 */

const SECURE = fileURLToPath(new URL('../../examples/secure/', import.meta.url));
const WORKER_MODULE = 'test/support/tenantActivities.ts';

type TenantName = 'acme' | 'globex';
type Role = 'runtime' | 'worker' | 'client';

/** The variable a template reads a user's password from, e.g. `ACME_WORKER_PASSWORD`. */
const passwordVariable = (tenant: TenantName, role: Role): string =>
  `${tenant.toUpperCase()}_${role.toUpperCase()}_PASSWORD`;

/**
 * Fresh passwords in this process's environment, which the nats-server child inherits (the
 * templates read them from there, as in production). nats-server parses a variable's value as a
 * configuration value, so each starts with a letter (`35e1…` would be read as a number).
 */
const setPasswords = (variables: readonly string[]): void => {
  for (const variable of variables) process.env[variable] = `p${randomBytes(12).toString('hex')}`;
};

const passwordOf = (variable: string): string => {
  const value = process.env[variable];
  if (value === undefined) throw new Error(`${variable} is not set`);
  return value;
};

const tenantPasswords = (): string[] =>
  (['acme', 'globex'] as const).flatMap((tenant) =>
    (['runtime', 'worker', 'client'] as const).map((role) => passwordVariable(tenant, role)),
  );

/** A secured nats-server, and the TLS certificates its clients need when it takes TLS. */
interface Secured {
  readonly nats: NatsServerHandle;
  readonly certs?: TestCertificates;
}

/**
 * A nats-server with JetStream on a template of examples/secure/ as it is, logging to `log`; with
 * `certs`, the template's text with a `tls` block after it (nats-server's `include` only takes
 * paths relative to the including file), verifying clients' certificates.
 */
const startSecured = async (
  template: string,
  log: string,
  certs?: TestCertificates,
): Promise<Secured> =>
  certs === undefined
    ? { nats: await startNatsServer({ args: ['-c', join(SECURE, template), '-l', log] }) }
    : {
        nats: await startNatsServer({
          config: [
            readFileSync(join(SECURE, template), 'utf8'),
            'tls {',
            `  cert_file: "${certs.serverCert}"`,
            `  key_file: "${certs.serverKey}"`,
            `  ca_file: "${certs.ca}"`,
            '  verify: true',
            '}',
            '',
          ].join('\n'),
          args: ['-l', log],
        }),
        certs,
      };

/** The client certificate and the CA as nats.js takes them (none without TLS). */
const tlsOf = (server: Secured) =>
  server.certs === undefined
    ? {}
    : {
        tls: {
          caFile: server.certs.ca,
          certFile: server.certs.clientCert,
          keyFile: server.certs.clientKey,
        },
      };

/** The same as `--tls-*` flags and as `WEFT_NATS_TLS_*` variables. */
const tlsFlags = (server: Secured): string[] =>
  server.certs === undefined
    ? []
    : [
        '--tls-ca',
        server.certs.ca,
        '--tls-cert',
        server.certs.clientCert,
        '--tls-key',
        server.certs.clientKey,
      ];
const tlsEnv = (server: Secured): Record<string, string> =>
  server.certs === undefined
    ? {}
    : {
        WEFT_NATS_TLS_CA: server.certs.ca,
        WEFT_NATS_TLS_CERT: server.certs.clientCert,
        WEFT_NATS_TLS_KEY: server.certs.clientKey,
      };

/** The server's "Publish Violation" / "Subscription Violation" lines. */
const violationLines = (log: string): string[] =>
  existsSync(log)
    ? readFileSync(log, 'utf8')
        .split('\n')
        .filter((line) => / Violation - /u.test(line))
    : [];

const collect = async <T>(items: AsyncIterable<T>): Promise<T[]> => {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
};

const GATE = {
  name: 'tenant_gate',
  signals: [{ name: 'go', handler: 'store' as const }],
  queries: [{ name: 'seen', expr: '{% $data.go %}' }],
  steps: [
    { id: 'hello', type: 'activity' as const, activity: 'work', input: '{% $input %}' },
    { id: 'gate', type: 'wait' as const, signal: 'go' },
    { id: 'bye', type: 'activity' as const, activity: 'work', input: '{% $steps.gate %}' },
  ],
  output: '{% $steps.bye %}',
};

const BURST = {
  name: 'tenant_burst',
  steps: [
    { id: 'a', type: 'activity' as const, activity: 'work' },
    { id: 'b', type: 'activity' as const, activity: 'work' },
  ],
};

interface Tenant {
  readonly name: TenantName;
  readonly prefix: string;
  readonly store: string;
  /** The run ids of the tasks its worker ran, one line each (test/support/tenantActivities.ts). */
  readonly executions: string;
  readonly serve: WeftProcess;
  readonly worker: WeftProcess;
  readonly client: WeftClient;
}

/**
 * The tenant's runtime (password and inbox prefix by flag), then its worker (by environment: it
 * only looks the streams up, so its runtime has created them first), then its client, each as its
 * own NATS user reading its replies under its own inbox prefix; the client puts the test's
 * blueprints.
 */
const startTenant = async (
  server: Secured,
  dir: string,
  name: TenantName,
  prefix: string,
  inboxOf: (role: Role) => string,
): Promise<Tenant> => {
  const user = (role: Role) => `${name}_${role}`;
  const store = `sqlite:${join(dir, `${name}.db`)}`;
  const executions = join(dir, `${name}.executions`);
  const url = server.nats.url;
  const serve = await startServe(url, store, prefix, {
    args: [
      '--user',
      user('runtime'),
      '--password',
      passwordOf(passwordVariable(name, 'runtime')),
      '--inbox-prefix',
      inboxOf('runtime'),
      ...tlsFlags(server),
    ],
    env: { WEFT_RUNTIME_ID: `${name}-runtime` },
  });
  const worker = await startWorker(url, WORKER_MODULE, prefix, {
    env: {
      WEFT_NATS_USER: user('worker'),
      WEFT_NATS_PASSWORD: passwordOf(passwordVariable(name, 'worker')),
      WEFT_NATS_INBOX_PREFIX: inboxOf('worker'),
      WEFT_TEST_EXECUTIONS: executions,
      ...tlsEnv(server),
    },
  });
  const client = await createClient({
    servers: url,
    prefix,
    user: user('client'),
    pass: passwordOf(passwordVariable(name, 'client')),
    inboxPrefix: inboxOf('client'),
    ...tlsOf(server),
  });
  await client.blueprints.put(GATE);
  await client.blueprints.put(BURST);
  return { name, prefix, store, executions, serve, worker, client };
};

const stopTenant = async (tenant: Tenant | undefined): Promise<void> => {
  if (tenant === undefined) return;
  await tenant.client.close().catch(() => undefined);
  await tenant.worker.stop();
  await tenant.serve.stop();
};

/**
 * A tenant's own work through its own client: a blueprint put, a run started, watched, queried,
 * signalled to its end (its steps run by its own worker), read back and listed; another cancelled.
 */
const ownWork = async (tenant: Tenant, runId: string): Promise<void> => {
  const { client } = tenant;
  // Put again (at start too): the same blueprint is the same version.
  expect(await client.blueprints.put(GATE)).toMatchObject({ version: 1, created: false });
  expect(
    await client.start({ blueprint: GATE.name, runId, input: { tenant: tenant.name } }),
  ).toMatchObject({ runId, existing: false });
  const events: string[] = [];
  const watching = (async () => {
    for await (const event of client.watch(runId)) events.push(event.type);
  })();
  await expect(client.query(runId, 'seen')).resolves.toBeNull();
  expect(await client.signal(runId, 'go', { by: tenant.name })).toEqual({ accepted: true });
  await watching;
  expect(events[0]).toBe('RunStarted');
  expect(events.at(-1)).toBe('RunCompleted');
  expect(await client.get(runId)).toMatchObject({
    status: 'completed',
    output: { runId, step: 'bye', got: { by: tenant.name } },
  });
  const cancelled = `${runId}-cancelled`;
  await client.start({ blueprint: GATE.name, runId: cancelled });
  expect(await client.cancel(cancelled, 'test')).toEqual({ cancelled: true });
  const listed = (await collect(client.list())).map((run) => run.runId);
  expect(listed).toEqual(expect.arrayContaining([runId, cancelled]));
};

/** Runs `count` two-step runs of every tenant at once; each must complete. */
const burst = async (tenants: readonly Tenant[], count: number): Promise<void> => {
  const runs = tenants.flatMap((tenant) =>
    Array.from({ length: count }, (_, i) =>
      tenant.client.execute({
        blueprint: BURST.name,
        runId: `${tenant.name}-burst-${String(i)}`,
        timeoutMs: 20_000,
      }),
    ),
  );
  for (const run of await Promise.all(runs)) expect(run.status).toBe('completed');
};

/** How many of the tasks each tenant's worker ran belong to the other tenant's runs. */
const deliveries = (tenants: readonly Tenant[]) =>
  tenants.map((tenant) => {
    const runIds = existsSync(tenant.executions)
      ? readFileSync(tenant.executions, 'utf8')
          .split('\n')
          .filter((line) => line !== '')
      : [];
    return {
      tenant: tenant.name,
      own: runIds.filter((id) => id.startsWith(`${tenant.name}-`)).length,
      foreign: runIds.filter((id) => !id.startsWith(`${tenant.name}-`)).length,
    };
  });

/** What is in a tenant's store and list: unchanged by anything another tenant tries. */
const footprint = async (tenant: Tenant) => {
  const { total, byStream } = await countStoredEvents(tenant.store);
  return {
    total,
    streams: [...byStream].sort(([a], [b]) => a.localeCompare(b)),
    runs: (await collect(tenant.client.list())).map((run) => `${run.runId}:${run.status}`).sort(),
  };
};

/**
 * A connection made to attack: the NATS user of another role or tenant, named `attacker-…` so its
 * violations can be told apart in the server's log, hearing every Permissions Violation NATS sends
 * it (nats.js hands them to `status()`, and also rejects the request or closes the subscription
 * the violation names).
 */
interface Attacker {
  readonly nc: NatsConnection;
  readonly violations: PermissionViolationError[];
}

const attacker = async (
  server: Secured,
  user: string,
  pass: string,
  name: string,
  inboxPrefix?: string,
): Promise<Attacker> => {
  const nc = await connect({
    servers: server.nats.url,
    ...tlsOf(server),
    user,
    pass,
    name: `attacker-${name}`,
    ...(inboxPrefix === undefined ? {} : { inboxPrefix }),
  });
  const violations: PermissionViolationError[] = [];
  void (async () => {
    for await (const status of nc.status())
      if (status.type === 'error' && status.error instanceof PermissionViolationError)
        violations.push(status.error);
  })();
  return { nc, violations };
};

/**
 * How an attempt ended: NATS said no, weft answered with an error, a subscription heard nothing
 * (another account's subjects), or it got through.
 */
type Outcome = 'denied by NATS' | 'refused by weft' | 'heard nothing' | 'got through';

interface Attempt {
  readonly what: string;
  readonly by: Attacker;
  /** The subject NATS must refuse (for attempts through the attacker's own runtime: none). */
  readonly subject?: string;
  readonly operation?: 'publish' | 'subscription';
  readonly expected: Outcome;
  /** The attempt; it may resolve to its own verdict (an answer only weft's reply tells apart). */
  readonly run: () => Promise<unknown>;
}

/** Messages received on subscriptions the attempts made: every one must stay at 0. */
const heard = new Map<string, number>();

/**
 * A subscription attempt: subscribes (in `queue` when given) and counts what arrives for
 * `listenMs` or until NATS closes it.
 */
const subscribing =
  (by: Attacker, subject: string, queue?: string, listenMs = 1_000) =>
  async (): Promise<void> => {
    heard.set(subject, 0);
    const sub: Subscription = by.nc.subscribe(subject, {
      ...(queue === undefined ? {} : { queue }),
      callback: (error) => {
        if (error === null) heard.set(subject, (heard.get(subject) ?? 0) + 1);
      },
    });
    const timer = new AbortController();
    const closed = await Promise.race([
      sub.closed.then(() => 'closed' as const),
      sleep(listenMs, timer.signal).then(() => 'open' as const),
    ]);
    timer.abort();
    if (closed === 'open') sub.unsubscribe();
  };

/** A plain publish, flushed so NATS has seen it before the verdict is looked for. */
const publishing = (by: Attacker, subject: string, body: unknown) => async (): Promise<void> => {
  by.nc.publish(subject, JSON.stringify(body));
  await by.nc.flush();
};

const requesting = (by: Attacker, subject: string, body: unknown) => () =>
  by.nc.request(subject, JSON.stringify(body), { timeout: 2_000 });

const OUTCOMES: readonly unknown[] = [
  'denied by NATS',
  'refused by weft',
  'heard nothing',
  'got through',
] satisfies Outcome[];

/**
 * Runs one attempt and classifies it: denied when NATS sent a violation naming its subject (and
 * operation); else refused when weft answered with an error of its own (or `run` says so); else a
 * subscription that received nothing heard nothing; anything else got through.
 */
const tryAttempt = async (attempt: Attempt): Promise<Outcome> => {
  let failure: unknown;
  let returned: unknown;
  try {
    returned = await attempt.run();
  } catch (error) {
    failure = error;
  }
  // A violation is sent before the answer to a later PING: after a flush it has been heard.
  await attempt.by.nc.flush().catch(() => undefined);
  const violated = () =>
    attempt.subject !== undefined &&
    attempt.by.violations.some(
      (v) => v.subject === attempt.subject && v.operation === attempt.operation,
    );
  if (attempt.subject !== undefined)
    await waitFor(violated, { timeoutMs: 1_000 }).catch(() => undefined);
  if (violated()) return 'denied by NATS';
  if (OUTCOMES.includes(returned)) return returned as Outcome;
  if (failure instanceof WeftClientError && failure.code !== 'unavailable')
    return 'refused by weft';
  if (failure === undefined && attempt.operation === 'subscription')
    return (heard.get(attempt.subject ?? '') ?? 0) === 0 ? 'heard nothing' : 'got through';
  return 'got through';
};

const runAttempts = async (attempts: readonly Attempt[]) => {
  const outcomes: { readonly what: string; readonly outcome: Outcome }[] = [];
  for (const attempt of attempts)
    outcomes.push({ what: attempt.what, outcome: await tryAttempt(attempt) });
  return outcomes;
};

/** The text of one `NAME = { … }` block of a template, without comments and blank lines. */
const block = (text: string, name: string): string => {
  const start = text.indexOf(`\n${name} = {`);
  if (start === -1) throw new Error(`no block ${name}`);
  const end = text.indexOf('\n}\n', start);
  return text
    .slice(start + 1, end + 2)
    .split('\n')
    .map((line) => line.replace(/#.*$/u, '').trimEnd())
    .filter((line) => line.trim() !== '')
    .join('\n');
};

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'weft-tenants-it-'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('(a) one account, tenants by prefix and per-user permissions (prefix-permissions.conf)', () => {
  let server: Secured;
  let nats: NatsServerHandle;
  let log: string;
  let acme: Tenant | undefined;
  let globex: Tenant | undefined;
  const tenants = (): [Tenant, Tenant] => {
    if (acme === undefined || globex === undefined) throw new Error('tenants not started');
    return [acme, globex];
  };

  beforeAll(async () => {
    setPasswords(tenantPasswords());
    log = join(dir, 'prefix-nats.log');
    const pki = join(dir, 'pki');
    mkdirSync(pki);
    server = await startSecured('prefix-permissions.conf', log, makeTestCertificates(pki));
    nats = server.nats;
    [acme, globex] = await Promise.all(
      (['acme', 'globex'] as const).map((name) =>
        startTenant(server, dir, name, name, (role) => `_INBOX_${name}_${role}`),
      ),
    );
  }, 60_000);

  afterAll(async () => {
    await Promise.all([stopTenant(acme), stopTenant(globex)]);
    await nats.stop();
  });

  it('the globex templates are the acme ones renamed, and weft-roles.conf has the same lists', () => {
    const text = readFileSync(join(SECURE, 'prefix-permissions.conf'), 'utf8');
    const roles = readFileSync(join(SECURE, 'weft-roles.conf'), 'utf8');
    const renamed = (source: string, to: string) =>
      source.replaceAll('acme', to.toLowerCase()).replaceAll('ACME', to);
    for (const role of ['RUNTIME', 'WORKER', 'CLIENT']) {
      expect(block(text, `GLOBEX_${role}`)).toBe(renamed(block(text, `ACME_${role}`), 'GLOBEX'));
    }
    // weft-roles.conf's runtime and worker: the same lists, for the prefix `weft` (its inbox
    // prefixes name the role alone: `_INBOX_runtime`).
    for (const role of ['RUNTIME', 'WORKER'])
      expect(block(roles, `WEFT_${role}`)).toBe(
        renamed(block(text, `ACME_${role}`), 'WEFT').replaceAll('_INBOX_weft_', '_INBOX_'),
      );
  });

  it("each tenant's client puts, starts, watches, queries, signals, cancels and lists its own runs, run by its own worker", async () => {
    const [a, g] = tenants();
    await Promise.all([ownWork(a, 'acme-gate-1'), ownWork(g, 'globex-gate-1')]);
    expect(violationLines(log)).toEqual([]);
  }, 60_000);

  it("a worker never gets a task of the other tenant's, though both serve the same activity names", async () => {
    const both = tenants();
    await burst(both, 10);
    for (const count of deliveries(both)) {
      // 2 tasks of the gate run and 20 of the burst at least (a retried task may add one)
      expect(count.own, count.tenant).toBeGreaterThanOrEqual(22);
      expect(count.foreign, count.tenant).toBe(0);
    }
  }, 60_000);

  it("every attempt of acme's client, worker or runtime on globex is denied by NATS or refused by weft, and nothing reaches globex", async () => {
    const [a, g] = tenants();
    // A globex run waiting for its signal: the target of the attempts.
    await g.client.start({ blueprint: GATE.name, runId: 'globex-open', input: { n: 1 } });
    await waitFor(async () => (await collect(g.client.history('globex-open'))).length >= 4, {
      message: 'globex-open waits at its gate',
    });
    const before = await footprint(g);
    // globex's JetStream streams, as its own runtime user sees them: nothing lands there either.
    const globexRuntime = await connect({
      servers: nats.url,
      ...tlsOf(server),
      user: 'globex_runtime',
      pass: passwordOf(passwordVariable('globex', 'runtime')),
      inboxPrefix: '_INBOX_globex_runtime',
    });
    const jsm = await jetstreamManager(globexRuntime);
    const streamsOf = async () =>
      Promise.all(
        ['GLOBEX_TASKS', 'GLOBEX_RESULTS'].map(async (name) => {
          const { state } = await jsm.streams.info(name);
          return { name, lastSeq: state.last_seq, messages: state.messages };
        }),
      );
    const streamsBefore = await streamsOf();

    const pw = (role: Role) => passwordOf(passwordVariable('acme', role));
    const client = await attacker(
      server,
      'acme_client',
      pw('client'),
      'client',
      '_INBOX_acme_client',
    );
    const worker = await attacker(
      server,
      'acme_worker',
      pw('worker'),
      'worker',
      '_INBOX_acme_worker',
    );
    const runtime = await attacker(
      server,
      'acme_runtime',
      pw('runtime'),
      'runtime',
      '_INBOX_acme_runtime',
    );
    // acme's client credentials, aimed at globex's prefix
    const aimed = await createClient({ connection: client.nc, prefix: 'globex', timeoutMs: 3_000 });
    const forgedResult = {
      taskId: 'globex-open:bye:1',
      runId: 'globex-open',
      stepId: 'bye',
      attempt: 1,
      ok: true,
      output: { forged: true },
    };
    const deniedAt = (
      by: Attacker,
      what: string,
      operation: 'publish' | 'subscription',
      subject: string,
      run: () => Promise<unknown>,
    ): Attempt => ({ what, by, subject, operation, expected: 'denied by NATS', run });

    const attempts: Attempt[] = [
      deniedAt(client, 'client: start a run', 'publish', 'globex.runs.start', () =>
        aimed.start({ blueprint: GATE.name, runId: 'globex-evil' }),
      ),
      deniedAt(client, 'client: execute a run', 'publish', 'globex.runs.execute', () =>
        aimed.execute({ blueprint: GATE.name, runId: 'globex-evil-2', timeoutMs: 1_000 }),
      ),
      deniedAt(client, 'client: signal', 'publish', 'globex.runs.globex-open.signal.go', () =>
        aimed.signal('globex-open', 'go', { by: 'acme' }),
      ),
      deniedAt(client, 'client: query', 'publish', 'globex.runs.globex-open.query.seen', () =>
        aimed.query('globex-open', 'seen'),
      ),
      deniedAt(client, 'client: cancel', 'publish', 'globex.runs.globex-open.cancel', () =>
        aimed.cancel('globex-open', 'acme was here'),
      ),
      deniedAt(client, 'client: get', 'publish', 'globex.runs.globex-gate-1.get', () =>
        aimed.get('globex-gate-1'),
      ),
      deniedAt(client, 'client: history', 'publish', 'globex.runs.globex-gate-1.history', () =>
        collect(aimed.history('globex-gate-1')),
      ),
      deniedAt(client, 'client: list', 'publish', 'globex.runs.list', () => collect(aimed.list())),
      deniedAt(
        client,
        'client: watch a run',
        'subscription',
        'globex.runs.globex-open.events',
        () => collect(aimed.watch('globex-open')),
      ),
      deniedAt(client, 'client: put a blueprint', 'publish', 'globex.blueprints.put', () =>
        aimed.blueprints.put({ ...GATE, name: 'evil' }),
      ),
      deniedAt(client, 'client: list activities', 'publish', 'globex.activities.list', () =>
        aimed.activities(),
      ),
      deniedAt(
        client,
        'client: read tasks',
        'subscription',
        'globex.tasks.>',
        subscribing(client, 'globex.tasks.>'),
      ),
      deniedAt(
        client,
        'client: read everything',
        'subscription',
        'globex.>',
        subscribing(client, 'globex.>'),
      ),
      deniedAt(
        client,
        "client: read others' replies",
        'subscription',
        '_INBOX.>',
        subscribing(client, '_INBOX.>'),
      ),
      {
        what: "client: globex's run id through acme's own runtime (get)",
        by: client,
        expected: 'refused by weft',
        run: () => a.client.get('globex-open'),
      },
      {
        what: "client: globex's run id through acme's own runtime (signal)",
        by: client,
        expected: 'refused by weft',
        run: () => a.client.signal('globex-open', 'go', { by: 'acme' }),
      },
      deniedAt(
        worker,
        'worker: a result into the results stream',
        'publish',
        'globex.tasks.result.globex-open',
        () =>
          jetstream(worker.nc).publish(
            'globex.tasks.result.globex-open',
            JSON.stringify(forgedResult),
          ),
      ),
      deniedAt(
        worker,
        'worker: a result handed to the runtime',
        'publish',
        'globex.tasks.report.globex-open',
        requesting(worker, 'globex.tasks.report.globex-open', forgedResult),
      ),
      deniedAt(
        worker,
        'worker: take offered tasks',
        'subscription',
        'globex.tasks.offer.work',
        subscribing(worker, 'globex.tasks.offer.work', 'weft-workers'),
      ),
      deniedAt(
        worker,
        "worker: pull from globex's consumer",
        'publish',
        '$JS.API.CONSUMER.MSG.NEXT.GLOBEX_TASKS.activity_work',
        requesting(worker, '$JS.API.CONSUMER.MSG.NEXT.GLOBEX_TASKS.activity_work', {
          batch: 1,
          no_wait: true,
        }),
      ),
      deniedAt(
        worker,
        'worker: read the task stream',
        'subscription',
        'globex.tasks.exec.>',
        subscribing(worker, 'globex.tasks.exec.>'),
      ),
      deniedAt(
        worker,
        "worker: read globex's worker replies (pulled tasks)",
        'subscription',
        '_INBOX_globex_worker.>',
        subscribing(worker, '_INBOX_globex_worker.>'),
      ),
      deniedAt(
        worker,
        "worker: read everyone's plain replies",
        'subscription',
        '_INBOX.>',
        subscribing(worker, '_INBOX.>'),
      ),
      deniedAt(
        runtime,
        "runtime: serve globex's API",
        'subscription',
        'globex.runs.start',
        subscribing(runtime, 'globex.runs.start', 'weft-runtime'),
      ),
      deniedAt(
        runtime,
        'runtime: forge run events',
        'publish',
        'globex.runs.globex-open.events',
        publishing(runtime, 'globex.runs.globex-open.events', {
          revision: 99,
          type: 'RunCompleted',
          data: {},
          at: new Date().toISOString(),
        }),
      ),
      deniedAt(
        runtime,
        "runtime: put a task into globex's stream",
        'publish',
        'globex.tasks.exec.work.globex-open.bye:1.1',
        publishing(runtime, 'globex.tasks.exec.work.globex-open.bye:1.1', {
          taskId: 'globex-open:bye:1',
        }),
      ),
      deniedAt(
        runtime,
        "runtime: read globex's leases",
        'publish',
        '$JS.API.DIRECT.GET.KV_GLOBEX_PARTITIONS.$KV.GLOBEX_PARTITIONS.partition.0',
        requesting(
          runtime,
          '$JS.API.DIRECT.GET.KV_GLOBEX_PARTITIONS.$KV.GLOBEX_PARTITIONS.partition.0',
          {},
        ),
      ),
      deniedAt(
        runtime,
        "runtime: read globex's runtime replies (pulled results)",
        'subscription',
        '_INBOX_globex_runtime.>',
        subscribing(runtime, '_INBOX_globex_runtime.>'),
      ),
      deniedAt(
        runtime,
        "runtime: read everyone's plain replies",
        'subscription',
        '_INBOX.>',
        subscribing(runtime, '_INBOX.>'),
      ),
      deniedAt(
        runtime,
        "runtime: delete globex's task stream",
        'publish',
        '$JS.API.STREAM.DELETE.GLOBEX_TASKS',
        requesting(runtime, '$JS.API.STREAM.DELETE.GLOBEX_TASKS', {}),
      ),
    ];
    let outcomes;
    try {
      outcomes = await runAttempts(attempts);
    } finally {
      await Promise.all([client.nc.close(), worker.nc.close(), runtime.nc.close()]);
    }
    expect(outcomes).toEqual(attempts.map((t) => ({ what: t.what, outcome: t.expected })));
    for (const [subject, count] of heard) expect(count, subject).toBe(0);

    // Nothing reached globex: its store and its list are as they were, the attacked run still waits.
    expect(await footprint(g)).toEqual(before);
    try {
      expect(await streamsOf()).toEqual(streamsBefore);
    } finally {
      await globexRuntime.close();
    }
    await expect(g.client.get('globex-evil')).rejects.toBeInstanceOf(RunNotFoundError);
    expect(await g.client.get('globex-open')).toMatchObject({ status: 'running' });
    // ... and ends as its own tenant decides.
    await g.client.signal('globex-open', 'go', { by: 'globex' });
    await waitFor(async () => (await g.client.get('globex-open')).status === 'completed', {
      message: 'globex-open completed',
    });
    expect(await g.client.get('globex-open')).toMatchObject({ output: { got: { by: 'globex' } } });

    // Only the attackers were refused anything: weft's own processes needed nothing more.
    const lines = violationLines(log);
    expect(lines.filter((line) => !/nats\.js:attacker-/u.test(line))).toEqual([]);
    expect(lines.length).toBeGreaterThanOrEqual(attempts.filter((t) => t.subject).length);

    const kept = outcomes.filter(
      (o) => o.outcome === 'denied by NATS' || o.outcome === 'refused by weft',
    );
    const byNats = outcomes.filter((o) => o.outcome === 'denied by NATS').length;
    const foreign = deliveries(tenants()).reduce((sum, count) => sum + count.foreign, 0);
    console.log(
      `[security] denied ${kept.length}/${attempts.length} cross-tenant attempts ` +
        `(${byNats} by NATS, ${kept.length - byNats} by weft); ${foreign} cross-tenant task deliveries`,
    );
    expect(kept.length).toBe(attempts.length);
    expect(foreign).toBe(0);
  }, 90_000);
});

describe('(b) one NATS account per tenant, the same prefix in each (accounts.conf)', () => {
  let server: Secured;
  let nats: NatsServerHandle;
  let log: string;
  let acme: Tenant | undefined;
  let globex: Tenant | undefined;

  beforeAll(async () => {
    setPasswords(tenantPasswords());
    log = join(dir, 'accounts-nats.log');
    server = await startSecured('accounts.conf', log);
    nats = server.nats;
    const own = join(dir, 'accounts');
    mkdirSync(own);
    [acme, globex] = await Promise.all(
      (['acme', 'globex'] as const).map((name) =>
        startTenant(server, own, name, 'weft', (role) => `_INBOX_${role}`),
      ),
    );
  }, 60_000);

  afterAll(async () => {
    await Promise.all([stopTenant(acme), stopTenant(globex)]);
    await nats.stop();
  });

  it('each tenant runs its own work under the same prefix, streams and activity names, and is kept out of the other one', async () => {
    if (acme === undefined || globex === undefined) throw new Error('tenants not started');
    const [a, g] = [acme, globex];
    await Promise.all([ownWork(a, 'acme-gate-1'), ownWork(g, 'globex-gate-1')]);
    await burst([a, g], 10);
    for (const count of deliveries([a, g]))
      expect(count.own, count.tenant).toBeGreaterThanOrEqual(22);
    expect(violationLines(log)).toEqual([]);

    const pw = (role: Role) => passwordOf(passwordVariable('acme', role));
    const client = await attacker(server, 'acme_client', pw('client'), 'client', '_INBOX_client');
    const worker = await attacker(server, 'acme_worker', pw('worker'), 'worker', '_INBOX_worker');
    const outcomes: { readonly what: string; readonly outcome: Outcome }[] = [];
    const attempts: Attempt[] = [];
    try {
      // Watching globex's run id in acme's account while globex moves that run on: acme hears
      // nothing, while a listener of globex's (its client user) hears the events.
      await g.client.start({ blueprint: GATE.name, runId: 'globex-moving' });
      await waitFor(async () => (await collect(g.client.history('globex-moving'))).length >= 4, {
        message: 'globex-moving waits at its gate',
      });
      let control = 0;
      const events = 'weft.runs.globex-moving.events';
      const controlSub = g.client.nc.subscribe(events, {
        callback: () => {
          control += 1;
        },
      });
      const watch: Attempt = {
        what: "client: watch globex's run id while it moves",
        by: client,
        subject: events,
        operation: 'subscription',
        expected: 'heard nothing',
        run: async () => {
          const listening = subscribing(client, events, undefined, 2_000)();
          await sleep(200);
          await g.client.signal('globex-moving', 'go', { by: 'globex' });
          await listening;
        },
      };
      attempts.push(watch);
      outcomes.push(...(await runAttempts([watch])));
      controlSub.unsubscribe();
      expect(control).toBeGreaterThanOrEqual(3);

      await g.client.start({ blueprint: GATE.name, runId: 'globex-only' });
      await waitFor(async () => (await collect(g.client.history('globex-only'))).length >= 4, {
        message: 'globex-only waits at its gate',
      });
      const before = await footprint(g);
      const byWeft = (what: string, run: () => Promise<unknown>): Attempt => ({
        what,
        by: client,
        expected: 'refused by weft',
        run,
      });
      const deniedAt = (by: Attacker, what: string, subject: string, queue?: string): Attempt => ({
        what,
        by,
        subject,
        operation: 'subscription',
        expected: 'denied by NATS',
        run: subscribing(by, subject, queue),
      });
      // globex's run, asked for by its id in acme's account: acme's runtime does not know it.
      const rest: Attempt[] = [
        byWeft('client: get', () => a.client.get('globex-only')),
        byWeft('client: history', () => collect(a.client.history('globex-only'))),
        byWeft('client: signal', () => a.client.signal('globex-only', 'go', { by: 'acme' })),
        byWeft('client: query', () => a.client.query('globex-only', 'seen')),
        byWeft('client: cancel', () => a.client.cancel('globex-only')),
        {
          what: "worker: a result for globex's run handed to the runtime",
          by: worker,
          expected: 'refused by weft',
          run: async () => {
            const reply = await requesting(worker, 'weft.tasks.report.globex-only', {
              taskId: 'globex-only:bye:1',
              runId: 'globex-only',
              stepId: 'bye',
              attempt: 1,
              ok: true,
              output: null,
            })();
            const answer = reply.json<{ ok?: boolean; error?: string }>();
            return answer.ok !== true && answer.error === 'not_sent'
              ? 'refused by weft'
              : 'got through';
          },
        },
        // Roles still hold inside an account.
        deniedAt(client, 'client: read the task stream (role)', 'weft.tasks.>'),
        deniedAt(client, "client: read others' replies (role)", '_INBOX.>'),
        deniedAt(worker, "worker: read the runtime's replies (role)", '_INBOX_runtime.>'),
        deniedAt(worker, 'worker: serve the API (role)', 'weft.runs.start', 'weft-runtime'),
      ];
      attempts.push(...rest);
      outcomes.push(...(await runAttempts(rest)));
      expect(await footprint(g)).toEqual(before);
    } finally {
      await Promise.all([client.nc.close(), worker.nc.close()]);
    }
    expect(outcomes).toEqual(attempts.map((t) => ({ what: t.what, outcome: t.expected })));
    for (const [subject, count] of heard) expect(count, subject).toBe(0);
    expect(violationLines(log).filter((line) => !/nats\.js:attacker-/u.test(line))).toEqual([]);

    const foreign = deliveries([a, g]).reduce((sum, count) => sum + count.foreign, 0);
    const count = (outcome: Outcome) => outcomes.filter((o) => o.outcome === outcome).length;
    console.log(
      `[security] accounts: kept out ${attempts.length - count('got through')}/${attempts.length} ` +
        `cross-tenant attempts (${count('denied by NATS')} denied by NATS, ` +
        `${count('refused by weft')} refused by weft, ${count('heard nothing')} heard nothing); ` +
        `${foreign} cross-tenant task deliveries`,
    );
    expect(foreign).toBe(0);
  }, 90_000);
});

describe("docker-compose.yml's NATS users (compose.conf)", () => {
  const VARIABLES = ['RUNTIME', 'WORKER', 'CLIENT', 'OPERATOR'].map(
    (role) => `WEFT_NATS_${role}_PASSWORD`,
  );
  let nats: NatsServerHandle;
  let log: string;
  let serve: WeftProcess | undefined;
  let worker: WeftProcess | undefined;

  beforeAll(async () => {
    setPasswords(VARIABLES);
    log = join(dir, 'compose-nats.log');
    ({ nats } = await startSecured('compose.conf', log));
    serve = await startServe(nats.url, `sqlite:${join(dir, 'compose.db')}`, 'weft', {
      env: {
        WEFT_NATS_USER: 'runtime',
        WEFT_NATS_PASSWORD: passwordOf(VARIABLES[0] ?? ''),
        WEFT_NATS_INBOX_PREFIX: '_INBOX_runtime',
      },
    });
    worker = await startWorker(nats.url, WORKER_MODULE, 'weft', {
      env: {
        WEFT_NATS_USER: 'worker',
        WEFT_NATS_PASSWORD: passwordOf(VARIABLES[1] ?? ''),
        WEFT_NATS_INBOX_PREFIX: '_INBOX_worker',
      },
    });
  }, 60_000);

  afterAll(async () => {
    await worker?.stop();
    await serve?.stop();
    await nats.stop();
  });

  it('runtime and worker run what the operator (weft CLI) and a client (weft/client) start; without its inbox prefix a client or the CLI is refused its replies at once (forbidden)', async () => {
    const file = join(dir, 'compose_check.json');
    writeFileSync(file, JSON.stringify({ name: 'compose_check', steps: [act('only', 'work')] }));
    const operator = ['--user', 'operator', '--password', passwordOf(VARIABLES[3] ?? '')];
    const cli = await runWeft(
      ['start', file, '--wait', '--json', '--nats', nats.url, ...operator],
      { env: { WEFT_NATS_INBOX_PREFIX: '_INBOX_operator' }, timeoutMs: 20_000 },
    );
    expect(cli.stderr).toBe('');
    expect((JSON.parse(cli.stdout) as { status: string }).status).toBe('completed');
    // The same by flag: the operator lists the run.
    const runs = await runWeft(
      ['runs', '--json', '--nats', nats.url, ...operator, '--inbox-prefix', '_INBOX_operator'],
      { timeoutMs: 20_000 },
    );
    expect(runs.stderr).toBe('');
    expect((JSON.parse(runs.stdout) as { runs: unknown[] }).runs).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ blueprint: { name: 'compose_check', version: 1 } }),
      ]),
    );

    const auth = { user: 'client', pass: passwordOf(VARIABLES[2] ?? '') };
    const client = await createClient({ servers: nats.url, ...auth, inboxPrefix: '_INBOX_client' });
    try {
      const run = await client.execute({ blueprint: 'compose_check', timeoutMs: 15_000 });
      expect(run.status).toBe('completed');
    } finally {
      await client.close();
    }
    expect(violationLines(log)).toEqual([]);

    // Without its inbox prefix NATS refuses the client its replies: a ForbiddenError that says
    // what to set, at once (not a timeout); the same from the command line.
    const plain = await createClient({ servers: nats.url, ...auth, timeoutMs: 3_000 });
    try {
      const refused = await plain.activities().catch((error: unknown) => error);
      if (!(refused instanceof ForbiddenError))
        throw new Error(`not forbidden: ${String(refused)}`);
      expect(refused.code).toBe('forbidden');
      expect(refused.details.operation).toBe('subscription');
      expect(refused.details.subject).toMatch(/^_INBOX\./u);
      expect(refused.message).toContain('--inbox-prefix');
    } finally {
      await plain.close();
    }
    const bare = await runWeft(['runs', '--nats', nats.url, ...operator], { timeoutMs: 20_000 });
    expect(bare.code).toBe(1);
    expect(bare.stderr).toMatch(
      /forbidden.*NATS does not let this user read replies on "_INBOX\./u,
    );
    expect(bare.stderr.trim().split('\n')).toHaveLength(1);
  }, 60_000);

  it('a runtime or a worker without the inbox prefix its user may read stops at once: exit 1, one forbidden line', async () => {
    const runtime = ['--user', 'runtime', '--password', passwordOf(VARIABLES[0] ?? '')];
    const serveRun = await runWeft(
      ['serve', '--nats', nats.url, '--store', `sqlite:${join(dir, 'bare.db')}`, ...runtime],
      { timeoutMs: 20_000 },
    );
    const worker = ['--user', 'worker', '--password', passwordOf(VARIABLES[1] ?? '')];
    const workerRun = await runWeft(['worker', WORKER_MODULE, '--nats', nats.url, ...worker], {
      timeoutMs: 20_000,
    });
    for (const run of [serveRun, workerRun]) {
      expect(run.code).toBe(1);
      expect(run.stderr.trim().split('\n')).toEqual([
        expect.stringMatching(
          /^error \[forbidden\]: NATS does not let this user read replies on "_INBOX\.[^"]+" .*--inbox-prefix/u,
        ),
      ]);
    }
  }, 60_000);
});
