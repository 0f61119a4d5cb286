import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TLSSocket } from 'node:tls';
import { nkeys } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, UnavailableError, type NatsAuth } from 'weft/client';
import { connectNats } from '../../src/natsAuth.ts';
import { startNatsServer, type NatsServerHandle } from '../support/natsServer.ts';
import { operatorSetup } from '../support/natsJwt.ts';
import { makeTestCertificates, type TestCertificates } from '../support/tls.ts';
import { waitFor } from '../support/wait.ts';
import {
  act,
  runWeft,
  startServe,
  startWorker,
  type WeftExtra,
  type WeftProcess,
  type WeftRun,
} from '../support/weft.ts';

/**
 * Every weft process connects to a secured nats-server like any NATS client (CONTRACT §6
 * "Security"): user and password, token, TLS with a client certificate, an nkey seed file and a
 * JWT credentials file (against an operator setup signed in the test, test/support/natsJwt.ts, as
 * `nsc` would make it), by flag or `WEFT_NATS_*` variable. With the right credentials a run
 * completes through `weft serve`, `weft worker` and a CLI verb; with wrong ones each process ends
 * at once with exit code 1 and a one-line error naming the server and the cause. No password or
 * token is ever printed.
 */

const PASSWORD = 'pw-Zx81-do-not-print';
const TOKEN = 'tok-Qv27-do-not-print';
const SECRETS = [PASSWORD, TOKEN, 'wrong-pw-K3', 'wrong-tok-J9'];

let dir: string;
let blueprint: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'weft-natsauth-it-'));
  blueprint = join(dir, 'auth_check.json');
  writeFileSync(blueprint, JSON.stringify({ name: 'auth_check', steps: [act('hello', 'echo')] }));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Fails when any output holds a password or token (seeds and keys are files, never printed). */
const noSecrets = (...outputs: readonly string[]): void => {
  for (const output of outputs) for (const secret of SECRETS) expect(output).not.toContain(secret);
};

/** `weft start <blueprint> --wait --json` on `url` with the connection settings given. */
const startAndWait = (url: string, { args = [], env = {} }: WeftExtra = {}) =>
  runWeft(['start', blueprint, '--input', '{"n":1}', '--wait', '--json', '--nats', url, ...args], {
    env,
    timeoutMs: 20_000,
  });

const expectCompleted = (run: WeftRun): void => {
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  expect((JSON.parse(run.stdout) as { status: string }).status).toBe('completed');
};

/** The one line a process prints when NATS refuses it (`url` as printed: redacted). */
const refusedLine = (url: string, cause = 'Authorization Violation') =>
  `error [unavailable]: NATS at ${url} refused the credentials: ${cause}\n`;

/** Ended at once, with exit code 1 and exactly `line` on stderr. */
const expectEndedWith = (run: WeftRun, line: string | RegExp): void => {
  if (typeof line === 'string') expect(run.stderr).toBe(line);
  else expect(run.stderr).toMatch(line);
  expect(run.stderr.split('\n').filter((l) => l !== '')).toHaveLength(1);
  expect(run.stdout).toBe('');
  expect(run.code).toBe(1);
  expect(run.ms, `ended after ${String(Math.round(run.ms))} ms: ${run.stderr}`).toBeLessThan(8_000);
};

/** Runs one process after the other, so each is timed alone, not against the others' start. */
const inTurn = async <const T extends readonly (() => Promise<WeftRun>)[]>(
  runs: T,
): Promise<{ [K in keyof T]: WeftRun }> => {
  const ended: WeftRun[] = [];
  for (const run of runs) ended.push(await run());
  return ended as { [K in keyof T]: WeftRun };
};

/** `weft serve` and `weft worker` run to their end (they are expected to fail at once). */
const serveOnce = (url: string, { args = [], env = {} }: WeftExtra = {}) =>
  runWeft(['serve', '--nats', url, '--store', 'memory:', ...args], { env, timeoutMs: 15_000 });
const workerOnce = (url: string, { args = [], env = {} }: WeftExtra = {}) =>
  runWeft(['worker', 'test/support/activities.ts', '--nats', url, ...args], {
    env,
    timeoutMs: 15_000,
  });

/** Runs `use` with a `weft serve` and a `weft worker` on `url`, each with its own settings. */
const withServeAndWorker = async (
  url: string,
  settings: { readonly serve: WeftExtra; readonly worker: WeftExtra },
  use: (processes: { serve: WeftProcess; worker: WeftProcess }) => Promise<void>,
): Promise<void> => {
  const serve = await startServe(url, 'memory:', 'weft', settings.serve);
  let worker: WeftProcess | undefined;
  try {
    worker = await startWorker(url, undefined, 'weft', settings.worker);
    await use({ serve, worker });
  } finally {
    await worker?.stop();
    await serve.stop();
    noSecrets(serve.output(), worker?.output() ?? '');
  }
};

describe('user and password', () => {
  let nats: NatsServerHandle;
  beforeAll(async () => {
    nats = await startNatsServer({
      config: `authorization { users: [ { user: weft, password: "${PASSWORD}" } ] }\n`,
    });
  });
  afterAll(() => nats.stop());

  it('right ones: serve (flags), worker (environment), a CLI verb and the SDK complete a run', async () => {
    await withServeAndWorker(
      nats.url,
      {
        serve: { args: ['--user', 'weft', '--password', PASSWORD] },
        worker: { env: { WEFT_NATS_USER: 'weft', WEFT_NATS_PASSWORD: PASSWORD } },
      },
      async ({ serve }) => {
        expect(serve.output()).toContain(`weft runtime serving on ${nats.url} `);
        const run = await startAndWait(nats.url, {
          args: ['--user', 'weft', '--password', PASSWORD],
        });
        expectCompleted(run);
        noSecrets(run.stdout, run.stderr);
        // credentials in the URL work too, and the URL is printed without its password
        const inUrl = `nats://weft:${PASSWORD}@127.0.0.1:${String(nats.port)}`;
        expectCompleted(await startAndWait(inUrl));
        const client = await createClient({
          servers: nats.url,
          auth: { user: 'weft', password: PASSWORD },
        });
        try {
          const executed = await client.execute({
            blueprint: 'auth_check',
            input: { n: 2 },
            timeoutMs: 15_000,
          });
          expect(executed.status).toBe('completed');
        } finally {
          await client.close();
        }
      },
    );
  });

  it('a wrong password ends serve, worker, dev and a CLI verb at once with one line, unprinted', async () => {
    const wrong = ['--user', 'weft', '--password', 'wrong-pw-K3'];
    const wrongEnv = { WEFT_NATS_USER: 'weft', WEFT_NATS_PASSWORD: 'wrong-pw-K3' };
    const inUrl = `nats://weft:wrong-pw-K3@127.0.0.1:${String(nats.port)}`;
    const [serve, worker, verb, fromUrl, dev, missing] = await inTurn([
      () => serveOnce(nats.url, { args: wrong }),
      () => workerOnce(nats.url, { env: wrongEnv }),
      () => runWeft(['runs', '--nats', nats.url, ...wrong]),
      () => runWeft(['get', 'r1', '--nats', inUrl]),
      () =>
        runWeft(['dev', '--once', '--store', 'memory:', '--http', 'off', '--nats', nats.url], {
          env: wrongEnv,
        }),
      // no credentials at all
      () => runWeft(['activities', '--nats', nats.url]),
    ]);
    for (const run of [serve, worker, verb, dev, missing]) {
      expectEndedWith(run, refusedLine(nats.url));
      noSecrets(run.stdout, run.stderr);
    }
    expectEndedWith(fromUrl, refusedLine(`nats://weft:***@127.0.0.1:${String(nats.port)}`));
    noSecrets(fromUrl.stdout, fromUrl.stderr);

    const sdk = createClient({
      servers: nats.url,
      auth: { user: 'weft', password: 'wrong-pw-K3' },
    });
    await expect(sdk).rejects.toBeInstanceOf(UnavailableError);
    await expect(sdk).rejects.toThrow(
      refusedLine(nats.url).slice('error [unavailable]: '.length, -1),
    );
  });

  it('a password without a user is a usage error, before any connection', async () => {
    const run = await runWeft(['runs', '--nats', nats.url, '--password', PASSWORD]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^weft: --password \(WEFT_NATS_PASSWORD\) needs --user/);
    noSecrets(run.stdout, run.stderr);
  });
});

describe('token', () => {
  let nats: NatsServerHandle;
  beforeAll(async () => {
    nats = await startNatsServer({ config: `authorization { token: "${TOKEN}" }\n` });
  });
  afterAll(() => nats.stop());

  it('the right token (environment or flag) completes a run; a wrong one ends a verb at once', async () => {
    await withServeAndWorker(
      nats.url,
      { serve: { env: { WEFT_NATS_TOKEN: TOKEN } }, worker: { args: ['--token', TOKEN] } },
      async () => {
        const run = await startAndWait(nats.url, { args: ['--token', TOKEN] });
        expectCompleted(run);
        // the flag wins over the variable
        const flagWins = await startAndWait(nats.url, {
          args: ['--token', TOKEN],
          env: { WEFT_NATS_TOKEN: 'wrong-tok-J9' },
        });
        expectCompleted(flagWins);
        noSecrets(run.stdout, run.stderr, flagWins.stdout, flagWins.stderr);
      },
    );
    const [wrong, worker] = await inTurn([
      () => runWeft(['runs', '--nats', nats.url], { env: { WEFT_NATS_TOKEN: 'wrong-tok-J9' } }),
      () => workerOnce(nats.url, { args: ['--token', 'wrong-tok-J9'] }),
    ]);
    for (const run of [wrong, worker]) {
      expectEndedWith(run, refusedLine(nats.url));
      noSecrets(run.stdout, run.stderr);
    }
    await expect(createClient({ servers: nats.url, token: 'wrong-tok-J9' })).rejects.toThrow(
      /refused the credentials: Authorization Violation$/,
    );
  });
});

describe('TLS with a client certificate (verify: true)', () => {
  let nats: NatsServerHandle;
  let certs: TestCertificates;
  beforeAll(async () => {
    const pki = join(dir, 'pki');
    mkdirSync(pki);
    certs = makeTestCertificates(pki);
    nats = await startNatsServer({
      config: [
        'tls {',
        `  cert_file: "${certs.serverCert}"`,
        `  key_file: "${certs.serverKey}"`,
        `  ca_file: "${certs.ca}"`,
        '  verify: true',
        '  timeout: 2',
        '}',
        '',
      ].join('\n'),
    });
  });
  afterAll(() => nats.stop());

  it('the CA and a client certificate complete a run; without them a process ends at once', async () => {
    const tlsArgs = [
      '--tls-ca',
      certs.ca,
      '--tls-cert',
      certs.clientCert,
      '--tls-key',
      certs.clientKey,
    ];
    await withServeAndWorker(
      nats.url,
      {
        serve: { args: tlsArgs },
        worker: {
          env: {
            WEFT_NATS_TLS_CA: certs.ca,
            WEFT_NATS_TLS_CERT: certs.clientCert,
            WEFT_NATS_TLS_KEY: certs.clientKey,
          },
        },
      },
      async () => {
        expectCompleted(await startAndWait(nats.url, { args: tlsArgs }));
        const tls: NatsAuth = {
          tlsCa: certs.ca,
          tlsCert: certs.clientCert,
          tlsKey: certs.clientKey,
        };
        const client = await createClient({ servers: nats.url, auth: tls });
        await client.close();
      },
    );
    const noClientCert = new RegExp(
      `^error \\[unavailable\\]: NATS at ${nats.url} refused the credentials: TLS alert "[a-z ]+" \\(the client certificate: --tls-cert`,
    );
    const [verb, worker, serve, untrusted] = await inTurn([
      () => runWeft(['runs', '--nats', nats.url, '--tls-ca', certs.ca]),
      // a worker's connection reconnects: its first one is checked without, so it fails as fast
      () => workerOnce(nats.url, { args: ['--tls-ca', certs.ca] }),
      () => serveOnce(nats.url, { env: { WEFT_NATS_TLS_CA: certs.ca } }),
      // no CA: the server's certificate is not trusted
      () =>
        runWeft([
          'runs',
          '--nats',
          nats.url,
          '--tls-cert',
          certs.clientCert,
          '--tls-key',
          certs.clientKey,
        ]),
    ]);
    for (const run of [verb, worker, serve]) expectEndedWith(run, noClientCert);
    expectEndedWith(
      untrusted,
      new RegExp(`^error \\[unavailable\\]: cannot reach NATS at ${nats.url}: unable to verify`),
    );
  });
  it('checks a TLS 1.3-only server over TLS 1.3 (nats-server 2.9 cannot be one: a stand-in)', async () => {
    // Speaks just enough NATS: INFO asking for TLS, then PONG to the client's PING.
    const sockets = new Set<TLSSocket>();
    const server = createServer((socket) => {
      socket.write(
        `INFO ${JSON.stringify({ server_id: 'tls13', version: '2.10.0', proto: 1, max_payload: 1_048_576, headers: true, tls_required: true })}\r\n`,
      );
      const secure = new TLSSocket(socket, {
        isServer: true,
        key: readFileSync(certs.serverKey),
        cert: readFileSync(certs.serverCert),
        minVersion: 'TLSv1.3',
      });
      sockets.add(secure);
      secure.on('error', () => undefined);
      secure.on('data', (data: Buffer) => {
        if (data.toString().includes('PING')) secure.write('PONG\r\n');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const nc = await connectNats(`nats://127.0.0.1:${String(port)}`, { tlsCa: certs.ca });
      await nc.close();
      // the check over TLS 1.2 (refused), the check over TLS 1.3, the connection itself
      expect(sockets.size).toBe(3);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('nkey', () => {
  let nats: NatsServerHandle;
  let seedFile: string;
  let otherSeedFile: string;
  beforeAll(async () => {
    const user = nkeys.createUser();
    seedFile = join(dir, 'user.nk');
    writeFileSync(seedFile, `${new TextDecoder().decode(user.getSeed())}\n`);
    otherSeedFile = join(dir, 'other.nk');
    writeFileSync(otherSeedFile, new TextDecoder().decode(nkeys.createUser().getSeed()));
    nats = await startNatsServer({
      config: `authorization { users: [ { nkey: ${user.getPublicKey()} } ] }\n`,
    });
  });
  afterAll(() => nats.stop());

  it('the seed file (flag or environment) completes a run; another seed ends a verb at once', async () => {
    await withServeAndWorker(
      nats.url,
      { serve: { args: ['--nkey', seedFile] }, worker: { env: { WEFT_NATS_NKEY: seedFile } } },
      async () => {
        expectCompleted(await startAndWait(nats.url, { args: ['--nkey', seedFile] }));
      },
    );
    const [other, serve] = await inTurn([
      () => runWeft(['runs', '--nats', nats.url, '--nkey', otherSeedFile]),
      () => serveOnce(nats.url, { env: { WEFT_NATS_NKEY: otherSeedFile } }),
    ]);
    for (const run of [other, serve]) expectEndedWith(run, refusedLine(nats.url));
  });
});

describe('JWT credentials file (operator mode)', () => {
  let nats: NatsServerHandle;
  let credsFile: string;
  let strangerFile: string;
  beforeAll(async () => {
    const setup = operatorSetup();
    credsFile = join(dir, 'weft.creds');
    writeFileSync(credsFile, setup.userCreds());
    strangerFile = join(dir, 'stranger.creds');
    writeFileSync(strangerFile, setup.strangerCreds());
    nats = await startNatsServer({ config: setup.config });
  });
  afterAll(() => nats.stop());

  it('the creds file (flag or environment) completes a run; one of an unknown account ends serve at once', async () => {
    await withServeAndWorker(
      nats.url,
      { serve: { env: { WEFT_NATS_CREDS: credsFile } }, worker: { args: ['--creds', credsFile] } },
      async () => {
        expectCompleted(await startAndWait(nats.url, { args: ['--creds', credsFile] }));
        const client = await createClient({ servers: nats.url, auth: { creds: credsFile } });
        await client.close();
      },
    );
    const [serve, verb] = await inTurn([
      () => serveOnce(nats.url, { args: ['--creds', strangerFile] }),
      () => runWeft(['runs', '--nats', nats.url], { env: { WEFT_NATS_CREDS: strangerFile } }),
    ]);
    for (const run of [serve, verb]) expectEndedWith(run, refusedLine(nats.url));
  });
});

describe('a permission the runtime lacks', () => {
  let nats: NatsServerHandle;
  beforeAll(async () => {
    // `runtime` may do everything but publish run events (for watchers); `ops` may do anything.
    nats = await startNatsServer({
      config: [
        'authorization { users: [',
        `  { user: runtime, password: "${PASSWORD}", permissions: { publish: { allow: [">"], deny: ["weft.runs.*.events"] } } }`,
        `  { user: ops, password: "${PASSWORD}" }`,
        '] }',
        '',
      ].join('\n'),
    });
  });
  afterAll(() => nats.stop());

  it('is not silent: the runtime logs the publishes NATS refused it, while its runs still complete', async () => {
    await withServeAndWorker(
      nats.url,
      {
        serve: { args: ['--user', 'runtime', '--password', PASSWORD] },
        worker: { env: { WEFT_NATS_USER: 'ops', WEFT_NATS_PASSWORD: PASSWORD } },
      },
      async ({ serve }) => {
        expectCompleted(
          await startAndWait(nats.url, { args: ['--user', 'ops', '--password', PASSWORD] }),
        );
        const line =
          /NATS refused this user a publish to "weft\.runs\.[^"]+\.events" \(Permissions Violation\): its permissions must allow it/u;
        await waitFor(() => line.test(serve.output()) || undefined, {
          message: 'the refused publish logged',
        });
      },
    );
  });
});
