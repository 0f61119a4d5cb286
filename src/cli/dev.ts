import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { NatsConnection } from '@nats-io/transport-node';
import { createWorker, type Activity } from '../actors/worker.ts';
import { validateBlueprint } from '../blueprints/validate.ts';
import { activities } from '../demo/activities.ts';
import { natsServers } from '../config.ts';
import { connectNats, redactNatsUrl, refusedCredentials, type NatsAuth } from '../natsAuth.ts';
import { exposure } from '../http/auth.ts';
import { parseAddress, startHttp, type HttpServer } from '../http/server.ts';
import { startRuntime } from '../main.ts';
import { redactStoreUrl } from '../store/redact.ts';

/**
 * `weft dev`: everything on one machine. Uses the NATS server at the configured URL, or starts
 * `nats-server -js` itself on loopback (data under ./.weft/nats) when none answers; runs the
 * runtime on the embedded store, a demo worker, registers the demo blueprints, runs one demo and
 * prints what to try next.
 */

const EXAMPLES_ROOT = fileURLToPath(new URL('../../examples/', import.meta.url));
const EXAMPLES = join(EXAMPLES_ROOT, 'blueprints');
const NATS_BINARIES = [
  'nats-server',
  '/usr/sbin/nats-server',
  '/usr/bin/nats-server',
  '/usr/local/bin/nats-server',
];

/**
 * Whether a NATS server answers at `servers`. One that refuses the credentials answers: that is
 * thrown (`UnavailableError`), not taken for "no server" (no server of our own is started then).
 */
const reachable = async (servers: string, auth: NatsAuth): Promise<boolean> => {
  try {
    const nc = await connectNats(servers, auth, { timeout: 1000, reconnect: false });
    await nc.close();
    return true;
  } catch (error) {
    if ((error as Error).cause !== undefined && refusedCredentials((error as Error).cause))
      throw error;
    return false;
  }
};

const spawnNats = async (url: string): Promise<ChildProcess> => {
  const first = new URL(natsServers(url)[0] ?? 'nats://127.0.0.1:4222');
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(first.hostname)) {
    throw new Error(
      `no NATS server answers at ${redactNatsUrl(url)}, and weft dev only starts one on loopback`,
    );
  }
  const port = first.port === '' ? '4222' : first.port;
  mkdirSync('.weft/nats', { recursive: true });
  const log = openSync('.weft/nats.log', 'a');
  for (const binary of NATS_BINARIES) {
    if (binary.startsWith('/') && !existsSync(binary)) continue;
    const child = spawn(binary, ['-js', '-a', '127.0.0.1', '-p', port, '-sd', '.weft/nats'], {
      stdio: ['ignore', log, log],
    });
    const failed = await new Promise<boolean>((resolve) => {
      child.once('error', () => resolve(true));
      child.once('spawn', () => resolve(false));
    });
    if (failed) continue;
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null)
        throw new Error(`nats-server exited with code ${child.exitCode}; see .weft/nats.log`);
      if (await reachable(`nats://127.0.0.1:${port}`, {})) return child;
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill('SIGKILL');
    throw new Error('nats-server did not start within 10 s; see .weft/nats.log');
  }
  throw new Error(
    'nats-server is not installed: run `apt-get install -y nats-server` (or `npm install`, which does it)',
  );
};

/** A blueprint of the examples: any `.json` but inputs, canned results and recorded model answers. */
export const isBlueprintFile = (f: string): boolean =>
  f.endsWith('.json') && !/(input|\.results|\.response)\.json$/u.test(f);

/** Every blueprint under examples/: the demo's, and each seed example's (children included). */
export const demoBlueprints = (): unknown[] => {
  const files = readdirSync(EXAMPLES_ROOT, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .flatMap((d) =>
      readdirSync(join(EXAMPLES_ROOT, d.name))
        .filter(isBlueprintFile)
        .map((f) => join(EXAMPLES_ROOT, d.name, f)),
    )
    .sort();
  return files.map((f) => JSON.parse(readFileSync(f, 'utf8')) as unknown);
};

/** The demo activities, plus the seed examples' when their module can be loaded (a checkout). */
const demoActivities = async (): Promise<Record<string, Activity>> => {
  try {
    const examples = (await import(pathToFileURL(join(EXAMPLES_ROOT, 'worker.ts')).href)) as Record<
      string,
      unknown
    >;
    const extra = Object.fromEntries(
      Object.entries(examples).filter(([, v]) => typeof v === 'function'),
    ) as Record<string, Activity>;
    return { ...activities, ...extra };
  } catch {
    return { ...activities };
  }
};

export const runDev = async (options: {
  readonly nats: string;
  /** For the NATS server at `nats`; a server `weft dev` starts itself has no credentials. */
  readonly auth: NatsAuth;
  readonly prefix: string;
  readonly store: string;
  readonly once: boolean;
  /** Where the HTTP API listens (`host:port`); `off`: not at all. Not in `once` mode. */
  readonly http?: string;
  /** The bearer token its `/api` requests must carry (`--http-token`); none when undefined. */
  readonly httpToken?: string | undefined;
}): Promise<number> => {
  const say = (line = '') => process.stdout.write(`${line}\n`);
  let nats: ChildProcess | undefined;
  let url = options.nats;
  let auth = options.auth;
  if (!(await reachable(url, auth))) {
    nats = await spawnNats(url);
    url = `nats://127.0.0.1:${new URL(natsServers(url)[0] ?? 'nats://127.0.0.1:4222').port || '4222'}`;
    auth = {};
    say(`started nats-server -js on ${url} (pid ${nats.pid ?? '?'}, data in .weft/nats)`);
  } else {
    say(`using the NATS server at ${redactNatsUrl(url)}`);
  }
  const runtime = await startRuntime({
    nats: url,
    auth,
    store: options.store,
    prefix: options.prefix,
  });
  const worker = await createWorker({
    servers: url,
    auth,
    prefix: options.prefix,
    activities: await demoActivities(),
    log: () => undefined,
  });
  say(`runtime up: store ${redactStoreUrl(options.store)}, prefix '${options.prefix}'`);
  say(
    `demo worker up: ${worker.activities.length} activities (${worker.activities.slice(0, 6).join(', ')}, …)`,
  );

  const names: string[] = [];
  for (const content of demoBlueprints()) {
    const validated = validateBlueprint(content);
    if (!validated.ok)
      throw new Error(`demo blueprint is invalid: ${JSON.stringify(validated.diagnostics)}`);
    const stored = await runtime.registry.put(validated.blueprint);
    names.push(stored.name);
    say(`blueprint ${stored.name} v${stored.version} registered`);
  }

  const demos = [
    { blueprint: 'data_pipeline', input: join(EXAMPLES, 'data_pipeline.input.json') },
    { blueprint: 'ai_data_pipeline', input: join(EXAMPLES_ROOT, 'ai_data_pipeline', 'input.json') },
  ].filter((d) => names.includes(d.blueprint) && existsSync(d.input));
  let allCompleted = true;
  let firstRun = '';
  for (const demo of demos) {
    const input = JSON.parse(readFileSync(demo.input, 'utf8')) as never;
    const started = await runtime.runs.start({ blueprint: demo.blueprint, input });
    firstRun ||= started.runId;
    const ended = await runtime.runs.waitForEnd(started.runId, 30_000);
    allCompleted &&= ended?.status === 'completed';
    say();
    say(`demo ${demo.blueprint} — run ${started.runId}: ${ended?.status ?? 'still running'}`);
    if (ended?.output !== undefined) say(`  output: ${JSON.stringify(ended.output).slice(0, 300)}`);
    if (ended?.error !== undefined) say(`  error: [${ended.error.code}] ${ended.error.message}`);
  }
  // The web UI and its HTTP API, on loopback: at the port asked for, or any free one when that is taken.
  let http: HttpServer | undefined;
  let httpConnection: NatsConnection | undefined;
  if (!options.once && options.http !== 'off') {
    const address = parseAddress(options.http ?? '127.0.0.1:7777');
    httpConnection = await connectNats(url, auth, { name: 'weft-http' });
    const start = (port: number) =>
      startHttp({
        nc: httpConnection as NatsConnection,
        prefix: options.prefix,
        ...address,
        port,
        ...(options.httpToken === undefined ? {} : { token: options.httpToken }),
      });
    http = await start(address.port).catch(() => start(0));
  }

  say();
  if (http !== undefined) {
    say(`weft UI: ${http.url}/  (open it in a browser; the JSON API is under ${http.url}/api)`);
    const warning = exposure(http.url, options.httpToken, false);
    if (warning !== undefined) say(`warning: ${warning}`);
    say();
  }
  say('try next (in another terminal):');
  say(`  npx weft blueprint list`);
  say(
    `  npx weft start data_pipeline --input @examples/blueprints/data_pipeline.input.json --wait`,
  );
  say(`  npx weft history ${firstRun}`);
  say(`  npx weft runs --status completed`);
  say(`  npx weft start approval --input @examples/approval/input.json --id approval-1`);
  say(`  npx weft query approval-1 get_status`);
  say(`  npx weft signal approval-1 approve '{"approved": true}'`);
  say(`  npx weft blueprint validate examples/conditional_graph/blueprint.json`);
  say(`  npx weft blueprint schema > blueprint.schema.json   # hand it to an LLM`);
  say(`  npx weft worker examples/worker.ts   # one more worker`);

  const stop = async () => {
    await http?.close();
    await httpConnection?.close();
    await worker.close();
    await runtime.close();
    if (nats !== undefined) {
      nats.kill('SIGTERM');
      await new Promise((r) => (nats.exitCode !== null ? r(undefined) : nats.once('exit', r)));
    }
  };
  if (options.once) {
    await stop();
    return allCompleted ? 0 : 1;
  }
  say();
  say('weft dev is running; Ctrl-C stops it.');
  return new Promise((resolve) => {
    const onSignal = () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      stop().then(
        () => resolve(0),
        () => resolve(1),
      );
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
};
