import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Activity, ActivityDefinition } from '../actors/worker.ts';
import { Subjects } from '../wire/subjects.ts';
import { ClientError, openClient, type Client } from './client.ts';
import { readWholeHistory, showValue, type HistoryPage } from './pages.ts';
import type { StoredEvent } from '../machines/replay.ts';
import { formatTable, printError } from './format.ts';
import {
  clusterOf,
  configOf,
  flag,
  intFlag,
  jsonArg,
  need,
  out,
  parseArgs,
  readJsonFile,
  requestLimitsFlags,
  UsageError,
  type Parsed,
} from './args.ts';
import { redactStoreUrl } from '../store/redact.ts';
import { redactNatsUrl } from '../natsAuth.ts';

/**
 * The `weft` command. Every verb accepts `--nats`, `--prefix`, the NATS credentials and TLS files
 * (`--user`, `--token`, `--creds`, … : `../natsAuth.ts`), and `--store` where a runtime starts;
 * flags win over `WEFT_NATS_URL`, `WEFT_PREFIX`, `WEFT_NATS_*`, `WEFT_STORE`. Client verbs print for
 * people by default and JSON with `--json`. Returns the exit code: 0 on success, 1 on any error,
 * 2 on a usage error. Client verbs load only the client: the runtime, worker, dev and replay modules
 * are imported by the verbs that need them, so a client command starts fast.
 */

const USAGE = `usage: weft <command>

  dev [--http ADDR|off] [--http-token T]
                                    NATS (found or started), runtime on ./.weft, demo worker and blueprints,
                                    the web UI and its API on 127.0.0.1:7777 (or a free port)
  serve [--partitions N] [--http ADDR] [--http-read-only] [--http-token T]
        [--max-payload BYTES] [--max-signals N] [--max-starts-per-second N] [--max-running N]
                                    the runtime: gateway, run actors, projections (one of a cluster),
                                    and the web UI and its API when --http (WEFT_HTTP) says where
  worker <module>                   run the activities a JS/TS module exports

  blueprint put <file>              store a blueprint (new version when its content changed)
  blueprint validate <file> [--offline]
                                    check a blueprint, listing every problem (--offline: here, with no
                                    runtime, so no check of the activities workers serve)
  blueprint get <name> [--version N]
  blueprint list
  blueprint rm <name>
  blueprint schema                  print the JSON Schema (draft 2020-12) of blueprints
  blueprint simulate <file> [--input JSON|@file] [--results FILE] [--default-output JSON]
                                    a dry run here, with no server: canned activity results, signals
                                    and timers (README "Simulating a blueprint"); the path it takes
  activities                        the activities workers serve: live workers, last seen
  start <blueprint|file> [--input JSON|@file] [--id ID] [--version N] [--wait] [--timeout MS]
  get <runId>
  runs [--status S] [--blueprint NAME] [--limit N]
  history <runId> [--from N] [--limit N]
  cancel <runId> [--reason TEXT]
  signal <runId> <name> [JSON]
  query <runId> <name> [JSON]
  replay <runId> [--to N]           rebuild the run's machine event by event: state, active steps, changes
  replay --check [--store URL]      replay every run in the store through today's code; report divergences

options: --nats URL  --prefix P  --store URL  --limits JSON  --json
NATS credentials (one kind) and TLS: --user U --password P | --token T | --creds FILE | --nkey SEED_FILE
                                    --tls-ca FILE  --tls-cert FILE --tls-key FILE   (or WEFT_NATS_USER, …)
                                    --inbox-prefix P  replies under P instead of _INBOX (WEFT_NATS_INBOX_PREFIX)`;

interface Diagnostic {
  readonly path: string;
  readonly code: string;
  readonly message: string;
  readonly hint?: string;
  readonly severity?: 'error' | 'warning';
}

/** The HTTP API's token (`--http-token`, else `WEFT_HTTP_TOKEN`); blank is none. */
const httpTokenOf = (parsed: Parsed): string | undefined => {
  const token = flag(parsed, 'http-token') ?? process.env.WEFT_HTTP_TOKEN;
  return token === undefined || token.trim() === '' ? undefined : token;
};

/** Warnings of a reply, one per line on stderr; they never change the exit code. */
const warn = (warnings: readonly Diagnostic[] | undefined): void => {
  for (const w of warnings ?? [])
    process.stderr.write(
      `warning [${w.code}] ${w.path}: ${w.message}${w.hint ? ` (hint: ${w.hint})` : ''}\n`,
    );
};
const pretty = (value: unknown) => JSON.stringify(value, null, 2);

/** Waits for SIGINT/SIGTERM, then runs `close`. */
const untilSignal = (close: () => Promise<void>): Promise<number> =>
  new Promise((resolveExit) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      close().then(
        () => resolveExit(0),
        (error: unknown) => {
          process.stderr.write(`error while stopping: ${String(error)}\n`);
          resolveExit(1);
        },
      );
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });

/** A module's activities: exported functions and `defineActivity` definitions (an object with `run`). */
export const loadActivities = async (
  modulePath: string,
): Promise<Record<string, Activity | ActivityDefinition>> => {
  const mod = (await import(pathToFileURL(resolve(modulePath)).href)) as Record<string, unknown>;
  const source = (mod.activities ?? mod.default ?? mod) as Record<string, unknown>;
  const activities: Record<string, Activity | ActivityDefinition> = {};
  for (const [name, value] of Object.entries(source)) {
    if (typeof value === 'function') activities[name] = value as Activity;
    else if (
      typeof value === 'object' &&
      value !== null &&
      typeof (value as { run?: unknown }).run === 'function'
    )
      activities[name] = value as ActivityDefinition;
  }
  if (Object.keys(activities).length === 0) {
    throw new ClientError('invalid_request', `${modulePath} exports no activity functions`);
  }
  return activities;
};

/**
 * Runs `use` with a client that connects on its first request, so that a usage error or a bad
 * local input (a missing argument, a file that is not JSON) is reported as such, without a server.
 */
const client = async <A>(
  parsed: Parsed,
  use: (c: Pick<Client, 'request'>, s: Subjects) => Promise<A>,
): Promise<A> => {
  const config = configOf(parsed);
  const subjects = new Subjects(config.prefix);
  let opened: Promise<Client> | undefined;
  const lazy: Pick<Client, 'request'> = {
    request: async <T>(subject: string, body: unknown, timeoutMs?: number) =>
      (await (opened ??= openClient(config.nats, config.auth))).request<T>(
        subject,
        body,
        timeoutMs,
      ),
  };
  try {
    return await use(lazy, subjects);
  } finally {
    await opened?.then(
      (c) => c.close(),
      () => undefined,
    );
  }
};

interface Summary {
  runId: string;
  status: string;
  blueprint: { name: string; version: number };
  input: unknown;
  output?: unknown;
  error?: { code: string; message: string };
  startedAt: string;
  endedAt?: string;
}

const showSummary = (s: Summary): string =>
  [
    `run       ${s.runId}`,
    `status    ${s.status}`,
    `blueprint ${s.blueprint.name} v${s.blueprint.version}`,
    `started   ${s.startedAt}`,
    ...(s.endedAt === undefined ? [] : [`ended     ${s.endedAt}`]),
    `input     ${showValue(s.input, `weft history ${s.runId} --from 0 --limit 1`)}`,
    ...(s.output === undefined
      ? []
      : [`output    ${showValue(s.output, `the last event of weft history ${s.runId}`)}`]),
    ...(s.error === undefined ? [] : [`error     [${s.error.code}] ${s.error.message}`]),
  ].join('\n');

const command = async (parsed: Parsed): Promise<number> => {
  const json = parsed.flags.has('json');
  const emit = (data: unknown, human: () => string) => out(json ? JSON.stringify(data) : human());
  const [verb, sub] = parsed.positional;
  const config = configOf(parsed);

  switch (verb) {
    case 'dev':
      return (await import('./dev.ts')).runDev({
        ...config,
        store: flag(parsed, 'store') ?? process.env.WEFT_STORE ?? 'sqlite:./.weft/events.db',
        once: parsed.flags.has('once'),
        http: flag(parsed, 'http') ?? process.env.WEFT_HTTP ?? '127.0.0.1:7777',
        httpToken: httpTokenOf(parsed),
      });
    case 'serve': {
      const runtime = await (
        await import('../main.ts')
      ).startRuntime({
        ...config,
        ...clusterOf(parsed),
        requestLimits: await requestLimitsFlags(parsed),
      });
      process.stderr.write(
        `weft runtime serving on ${redactNatsUrl(config.nats)} (prefix '${config.prefix}', store ${redactStoreUrl(config.store)}, runtime ${runtime.runtimeId}, ${String(runtime.ownership.owned().length)} of ${String(runtime.ownership.partitions)} partitions)\n`,
      );
      const httpAddress = flag(parsed, 'http') ?? process.env.WEFT_HTTP;
      if (httpAddress === undefined || httpAddress === 'off')
        return untilSignal(() => runtime.close());
      const { parseAddress, startHttp } = await import('../http/server.ts');
      const { exposure } = await import('../http/auth.ts');
      const httpToken = httpTokenOf(parsed);
      const readOnly = parsed.flags.has('http-read-only');
      const { nc } = await openClient(config.nats, config.auth);
      const http = await startHttp({
        nc,
        prefix: config.prefix,
        ...parseAddress(httpAddress),
        readOnly,
        ...(httpToken === undefined ? {} : { token: httpToken }),
      });
      process.stderr.write(
        `weft UI on ${http.url}/ (its JSON API under /api${httpToken === undefined ? '' : ', with its token'})\n`,
      );
      const warning = exposure(http.url, httpToken, readOnly);
      if (warning !== undefined) process.stderr.write(`warning: ${warning}\n`);
      return untilSignal(async () => {
        await http.close();
        await nc.close();
        await runtime.close();
      });
    }
    case 'worker': {
      const activities = await loadActivities(need(parsed, 1, 'worker module'));
      const concurrency = intFlag(parsed, 'concurrency');
      const { createWorker } = await import('../actors/worker.ts');
      const worker = await createWorker({
        servers: config.nats,
        auth: config.auth,
        prefix: config.prefix,
        activities,
        ...(concurrency === undefined ? {} : { concurrency }),
      });
      process.stderr.write(
        `weft worker serving ${worker.activities.join(', ')} on ${redactNatsUrl(config.nats)}\n`,
      );
      return untilSignal(() => worker.close());
    }
    case 'blueprint':
      switch (sub) {
        case 'schema':
          out(pretty((await import('../blueprints/jsonSchema.ts')).blueprintJsonSchema()));
          return 0;
        case 'simulate': {
          const blueprint = readJsonFile(need(parsed, 2, 'blueprint file'));
          const input = flag(parsed, 'input');
          const results = flag(parsed, 'results');
          const fallback = flag(parsed, 'default-output');
          return (await import('./simulate.ts')).simulate({
            blueprint,
            input: input === undefined ? null : jsonArg(input, '--input'),
            // A file name, `@file` or inline JSON.
            results:
              results === undefined
                ? {}
                : jsonArg(/^\s*[{@]/u.test(results) ? results : `@${results}`, '--results'),
            ...(fallback === undefined
              ? {}
              : { defaultOutput: jsonArg(fallback, '--default-output') }),
            ...(config.limits === undefined ? {} : { limits: config.limits }),
            json,
            out,
            err: (text) => process.stderr.write(`${text}\n`),
          });
        }
        case 'put':
          return client(parsed, async (c, s) => {
            const data = await c.request<{
              name: string;
              version: number;
              hash: string;
              created: boolean;
              warnings?: Diagnostic[];
            }>(s.blueprints('put'), { blueprint: readJsonFile(need(parsed, 2, 'blueprint file')) });
            warn(data.warnings);
            emit(
              data,
              () =>
                `${data.created ? 'stored' : 'unchanged'}: ${data.name} v${data.version} (${data.hash.slice(0, 12)})`,
            );
            return 0;
          });
        case 'validate':
          return client(parsed, async (c, s) => {
            const blueprint = readJsonFile(need(parsed, 2, 'blueprint file'));
            // Offline: the same validator, here, without a runtime (so no check of served activities).
            const data: { valid: boolean; diagnostics: readonly Diagnostic[] } = parsed.flags.has(
              'offline',
            )
              ? await import('../blueprints/validate.ts').then(({ validateBlueprint }) => {
                  const checked = validateBlueprint(blueprint);
                  return { valid: checked.ok, diagnostics: checked.diagnostics };
                })
              : await c.request(s.blueprints('validate'), { blueprint });
            warn(data.diagnostics.filter((d) => d.severity === 'warning'));
            emit(data, () =>
              data.valid
                ? 'valid'
                : data.diagnostics
                    .filter((d) => d.severity !== 'warning')
                    .map(
                      (d) =>
                        `${d.path}  ${d.code}  ${d.message}${d.hint ? ` (hint: ${d.hint})` : ''}`,
                    )
                    .join('\n'),
            );
            return data.valid ? 0 : 1;
          });
        case 'get':
          return client(parsed, async (c, s) => {
            const version = intFlag(parsed, 'version');
            const data = await c.request<{ blueprint: unknown; version: number; hash: string }>(
              s.blueprints('get'),
              {
                name: need(parsed, 2, 'blueprint name'),
                ...(version === undefined ? {} : { version }),
              },
            );
            emit(data, () => pretty(data.blueprint));
            return 0;
          });
        case 'list':
          return client(parsed, async (c, s) => {
            const data = await c.request<{ blueprints: { name: string; latestVersion: number }[] }>(
              s.blueprints('list'),
              {},
            );
            emit(data, () =>
              formatTable(
                ['NAME', 'LATEST'],
                data.blueprints.map((b) => [b.name, `v${b.latestVersion}`]),
              ),
            );
            return 0;
          });
        case 'rm':
          return client(parsed, async (c, s) => {
            const name = need(parsed, 2, 'blueprint name');
            const data = await c.request<{ deleted: boolean }>(s.blueprints('delete'), { name });
            emit(data, () => (data.deleted ? `deleted ${name}` : `no blueprint ${name}`));
            return data.deleted ? 0 : 1;
          });
        default:
          throw new UsageError(`unknown blueprint command '${sub ?? ''}'`);
      }
    case 'activities':
      return client(parsed, async (c, s) => {
        const data = await c.request<{
          activities: { name: string; workers: number; lastSeen: string; description?: string }[];
        }>(s.activities('list'), {});
        emit(data, () =>
          formatTable(
            ['NAME', 'WORKERS', 'LAST SEEN', 'DESCRIPTION'],
            data.activities.map((a) => [
              a.name,
              String(a.workers),
              a.lastSeen,
              a.description ?? '',
            ]),
          ),
        );
        return 0;
      });
    case 'start':
      return client(parsed, async (c, s) => {
        const target = need(parsed, 1, 'blueprint name or file');
        const blueprint = target.endsWith('.json') ? readJsonFile(target) : target;
        const input = flag(parsed, 'input');
        const version = intFlag(parsed, 'version');
        const id = flag(parsed, 'id');
        const request = {
          blueprint,
          ...(input === undefined ? {} : { input: jsonArg(input, '--input') }),
          ...(version === undefined ? {} : { version }),
          ...(id === undefined ? {} : { runId: id }),
        };
        if (parsed.flags.has('wait')) {
          const timeoutMs = intFlag(parsed, 'timeout') ?? 60_000;
          const data = await c.request<{
            runId: string;
            status: string;
            output?: unknown;
            error?: { code: string; message: string };
            warnings?: Diagnostic[];
          }>(s.runs('execute'), { ...request, timeoutMs }, timeoutMs + 5_000);
          warn(data.warnings);
          emit(data, () =>
            [
              `run ${data.runId} ${data.status}`,
              ...(data.output === undefined ? [] : [pretty(data.output)]),
              ...(data.error ? [`[${data.error.code}] ${data.error.message}`] : []),
            ].join('\n'),
          );
          return data.status === 'completed' ? 0 : 1;
        }
        const data = await c.request<{
          runId: string;
          blueprint: { name: string; version: number };
          existing: boolean;
          warnings?: Diagnostic[];
        }>(s.runs('start'), request);
        warn(data.warnings);
        emit(
          data,
          () =>
            `${data.existing ? 'existing' : 'started'} run ${data.runId} (${data.blueprint.name} v${data.blueprint.version})`,
        );
        return 0;
      });
    case 'get':
      return client(parsed, async (c, s) => {
        const data = await c.request<Summary>(s.run(need(parsed, 1, 'run id'), 'get'), {});
        emit(data, () => showSummary(data));
        return 0;
      });
    case 'runs':
      return client(parsed, async (c, s) => {
        const status = flag(parsed, 'status');
        const blueprint = flag(parsed, 'blueprint');
        const limit = intFlag(parsed, 'limit');
        const cursor = flag(parsed, 'cursor');
        const data = await c.request<{ runs: Summary[]; cursor?: string }>(s.runs('list'), {
          ...(status === undefined ? {} : { status }),
          ...(blueprint === undefined ? {} : { blueprint }),
          ...(limit === undefined ? {} : { limit }),
          ...(cursor === undefined ? {} : { cursor }),
        });
        emit(data, () =>
          [
            formatTable(
              ['RUN', 'STATUS', 'BLUEPRINT', 'STARTED'],
              data.runs.map((r) => [
                r.runId,
                r.status,
                `${r.blueprint.name} v${r.blueprint.version}`,
                r.startedAt,
              ]),
            ),
            ...(data.cursor === undefined ? [] : [`more: --cursor '${data.cursor}'`]),
          ].join('\n'),
        );
        return 0;
      });
    case 'history':
      return client(parsed, async (c, s) => {
        const from = intFlag(parsed, 'from');
        const limit = intFlag(parsed, 'limit');
        const data = await c.request<{
          events: { revision: number; type: string; data: unknown; at: string }[];
          next?: number;
        }>(s.run(need(parsed, 1, 'run id'), 'history'), {
          ...(from === undefined ? {} : { from }),
          ...(limit === undefined ? {} : { limit }),
        });
        emit(data, () =>
          [
            formatTable(
              ['#', 'AT', 'TYPE', 'DATA'],
              data.events.map((e) => [String(e.revision), e.at, e.type, JSON.stringify(e.data)]),
            ),
            ...(data.next === undefined ? [] : [`more: --from ${data.next}`]),
          ].join('\n'),
        );
        return 0;
      });
    case 'cancel':
      return client(parsed, async (c, s) => {
        const reason = flag(parsed, 'reason');
        const data = await c.request<{ cancelled: boolean }>(
          s.run(need(parsed, 1, 'run id'), 'cancel'),
          reason === undefined ? {} : { reason },
        );
        emit(data, () => (data.cancelled ? 'cancelled' : 'not cancelled'));
        return 0;
      });
    case 'signal':
    case 'query':
      return client(parsed, async (c, s) => {
        const runId = need(parsed, 1, 'run id');
        const name = need(parsed, 2, `${verb} name`);
        const payload =
          parsed.positional[3] === undefined ? {} : jsonArg(parsed.positional[3], 'payload');
        const subject = verb === 'signal' ? s.signal(runId, name) : s.query(runId, name);
        const data = await c.request(subject, verb === 'query' ? { args: payload } : payload);
        emit(data, () => pretty(data));
        return 0;
      });
    case 'replay': {
      if (parsed.flags.has('check')) {
        const result = await (await import('./replay.ts')).checkStore(config.store, out);
        emit(
          result,
          () =>
            `checked ${result.checked} runs: ${result.diverged === 0 ? 'no divergence' : `${result.diverged} diverged`}`,
        );
        return result.diverged === 0 ? 0 : 1;
      }
      return client(parsed, async (c, s) => {
        const runId = need(parsed, 1, 'run id');
        const events = await readWholeHistory(
          (from) =>
            c.request<HistoryPage<StoredEvent>>(s.run(runId, 'history'), { from, limit: 10_000 }),
          runId,
        );
        const { formatReplay, replayRun } = await import('./replay.ts');
        const steps = replayRun(events, intFlag(parsed, 'to'));
        emit(steps, () => formatReplay(steps));
        return 0;
      });
    }
    case undefined:
    case 'help':
      out(USAGE);
      return verb === undefined ? 2 : 0;
    default:
      throw new UsageError(`unknown command '${verb}'`);
  }
};

/**
 * A reader that closes the pipe early (`weft blueprint schema | head`) ends the command quietly, as
 * SIGPIPE would, instead of crashing it with an unhandled EPIPE.
 */
let stdoutGuarded = false;
const guardStdout = () => {
  if (stdoutGuarded) return;
  stdoutGuarded = true;
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE')
      process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
    throw error;
  });
};

export const main = async (argv: readonly string[]): Promise<number> => {
  guardStdout();
  let parsed: Parsed;
  try {
    parsed = parseArgs(argv);
    if (parsed.flags.has('help')) {
      out(USAGE);
      return 0;
    }
    return await command(parsed);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`weft: ${error.message}\n\n${USAGE}\n`);
      return 2;
    }
    printError(error, argv.includes('--json'));
    return 1;
  }
};
