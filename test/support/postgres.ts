import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import pg from 'pg';
import { monotonicMs, sleep, waitFor } from './wait.ts';
import { isExecutable } from './executable.ts';

/**
 * A PostgreSQL server for a test suite: a private cluster this process starts (initdb, then the
 * `postgres` binary on a random loopback port, data in a temp dir), or, when `WEFT_TEST_POSTGRES`
 * names one, that existing server (nothing is started or stopped; each suite still works in
 * schemas of its own).
 */
export interface PostgresHandle {
  /** `postgres://weft:<password>@127.0.0.1:<port>/weft_test` (or `WEFT_TEST_POSTGRES`). */
  readonly url: string;
  /** Pid of the private server (changes on `restart`); undefined for an existing one. */
  readonly pid: number | undefined;
  readonly host: string;
  readonly port: number;
  /** The superuser's password of the private server. */
  readonly password: string;
  /** `url` with `?schema=<name>` set: a schema nobody else uses, created by the adapter. */
  freshSchemaUrl(): string;
  /**
   * Private server only: an immediate shutdown (SIGQUIT: every backend quits at once, no
   * checkpoint, so the next start replays the WAL, as after a crash). Follow with `restart`.
   */
  crash(): Promise<void>;
  /**
   * Private server only: SIGKILL of the postmaster, as the OOM killer or `kill -9` does; its
   * backends notice and exit on their own. Follow with `restart`, which waits until they have.
   */
  kill9(): Promise<void>;
  /** Private server only: starts it again on the same port and data directory (stopping it first if it runs). */
  restart(): Promise<void>;
  /** Stops the private server by pid (SIGINT, SIGKILL after a deadline), removes its dir, drops the schemas made by `freshSchemaUrl` on an existing one. Idempotent. */
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 10_000;
const KILL_GRACE_MS = 5_000;
const DATABASE = 'weft_test';
const SUPERUSER = 'weft';

/**
 * The directory holding `initdb` and `postgres`: Debian's `/usr/lib/postgresql/<newest>/bin`, else
 * the directory of an `initdb` on PATH. Throws with the install command when there is none.
 */
export function findPostgresBinDir(): string {
  const root = '/usr/lib/postgresql';
  let versions: string[] = [];
  try {
    versions = readdirSync(root).sort((a, b) => Number(b) - Number(a));
  } catch {
    versions = [];
  }
  const candidates = [
    ...versions.map((v) => join(root, v, 'bin')),
    ...(process.env['PATH'] ?? '').split(delimiter).filter((d) => d !== ''),
  ];
  const found = candidates.find(
    (dir) => isExecutable(join(dir, 'initdb')) && isExecutable(join(dir, 'postgres')),
  );
  if (found === undefined)
    throw new Error(
      'PostgreSQL (initdb, postgres) not found in /usr/lib/postgresql/*/bin or on PATH. ' +
        'Run `node scripts/ensure-postgres.mjs` or `sudo apt-get install -y postgresql`.',
    );
  return found;
}

/** A loopback TCP port free at the time of asking. */
const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });

/** uid and gid to run the server as: this process's own, or the `postgres` (else `nobody`) user's when root. */
const serverUser = (): { uid: number; gid: number } | undefined => {
  if (process.getuid?.() !== 0) return undefined;
  const passwd = readFileSync('/etc/passwd', 'utf8').split('\n');
  for (const name of ['postgres', 'nobody']) {
    const fields = passwd.find((line) => line.startsWith(`${name}:`))?.split(':');
    const uid = Number(fields?.[2]);
    const gid = Number(fields?.[3]);
    if (Number.isInteger(uid) && Number.isInteger(gid) && uid !== 0) return { uid, gid };
  }
  throw new Error(
    'running as root and found neither a postgres nor a nobody user to run PostgreSQL as',
  );
};

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

const connectOnce = async (url: string): Promise<boolean> => {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } finally {
    await client.end().catch(() => undefined);
  }
};

const exited = (child: ChildProcess, ms: number): Promise<boolean> =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve(true)
    : Promise.race([
        new Promise<boolean>((resolve) => child.once('exit', () => resolve(true))),
        sleep(ms).then(() => child.exitCode !== null || child.signalCode !== null),
      ]);

/** Starts a private cluster, or returns a handle on `WEFT_TEST_POSTGRES` when it is set. */
export async function startPostgres(): Promise<PostgresHandle> {
  const existing = process.env['WEFT_TEST_POSTGRES'];
  if (existing !== undefined && existing !== '') return onExisting(existing);

  const bin = findPostgresBinDir();
  const user = serverUser();
  const dir = await mkdtemp(join(tmpdir(), 'weft-pg-'));
  const data = join(dir, 'data');
  const password = randomUUID();
  const as = user === undefined ? {} : { uid: user.uid, gid: user.gid };
  if (user !== undefined) await chown(dir, user.uid, user.gid);
  const pwfile = join(dir, 'pw');
  await writeFile(pwfile, `${password}\n`);
  if (user !== undefined) await chown(pwfile, user.uid, user.gid);

  const init = spawnSync(
    join(bin, 'initdb'),
    [
      '-D',
      data,
      '-U',
      SUPERUSER,
      `--pwfile=${pwfile}`,
      '--auth=scram-sha-256',
      '-E',
      'UTF8',
      '--locale=C',
      '--no-sync',
    ],
    { ...as, cwd: dir, encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } },
  );
  if (init.status !== 0) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`initdb failed (${String(init.status)}): ${init.stderr || String(init.error)}`);
  }

  let log = '';
  /** Starts the server on `port` and waits until it accepts connections; kills it if it does not. */
  const launch = async (port: number): Promise<ChildProcess> => {
    log = '';
    const proc = spawn(
      join(bin, 'postgres'),
      ['-D', data, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-k', dir],
      {
        ...as,
        cwd: dir,
        stdio: ['ignore', 'ignore', 'pipe'],
        env: { ...process.env, LC_ALL: 'C' },
      },
    );
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (chunk: string) => {
      log = (log + chunk).slice(-20_000);
    });
    live.add(proc);
    proc.once('exit', () => live.delete(proc));
    try {
      await waitFor(
        async () => {
          if (proc.exitCode !== null) throw new Error(`postgres exited: ${log}`);
          return connectOnce(`postgres://${SUPERUSER}:${password}@127.0.0.1:${port}/postgres`);
        },
        { timeoutMs: READY_TIMEOUT_MS, intervalMs: 50, message: `postgres on port ${port}` },
      );
      return proc;
    } catch (error) {
      proc.kill('SIGKILL');
      await exited(proc, KILL_GRACE_MS);
      throw error;
    }
  };

  let child: ChildProcess | undefined;
  let port = 0;
  const started = monotonicMs();
  // A port found free may be taken before the server binds it: try a few.
  for (let tries = 0; tries < 3 && child === undefined; tries++) {
    port = await freePort();
    try {
      child = await launch(port);
    } catch (error) {
      if (!/could not bind|already in use/i.test(log)) {
        await rm(dir, { recursive: true, force: true });
        throw error;
      }
    }
  }
  if (child === undefined) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`postgres did not start: ${log}`);
  }
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const proc of live) proc.kill('SIGKILL');
    });
  }

  const admin = new pg.Client({
    connectionString: `postgres://${SUPERUSER}:${password}@127.0.0.1:${port}/postgres`,
  });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${DATABASE}`);
  await admin.end();
  process.stderr.write(
    `test postgres up on 127.0.0.1:${port} (pid ${String(child.pid)}) in ${Math.round(monotonicMs() - started)} ms\n`,
  );

  let server = child;
  let stopping: Promise<void> | undefined;
  /** Ends the server: SIGINT (fast shutdown) or SIGQUIT (immediate: no checkpoint, as a crash), SIGKILL after a deadline. */
  const halt = async (signal: 'SIGINT' | 'SIGQUIT'): Promise<void> => {
    server.kill(signal);
    if (!(await exited(server, STOP_GRACE_MS))) {
      server.kill('SIGKILL');
      await exited(server, KILL_GRACE_MS);
    }
  };
  const url = `postgres://${SUPERUSER}:${password}@127.0.0.1:${port}/${DATABASE}`;
  return {
    url,
    get pid() {
      return server.pid;
    },
    host: '127.0.0.1',
    port,
    password,
    freshSchemaUrl: () => `${url}?schema=t_${randomUUID().replaceAll('-', '').slice(0, 16)}`,
    crash: () => halt('SIGQUIT'),
    kill9: async () => {
      server.kill('SIGKILL');
      await exited(server, KILL_GRACE_MS);
    },
    restart: async () => {
      if (server.exitCode === null && server.signalCode === null) await halt('SIGINT');
      // After a SIGKILL the old backends may still hold the shared memory for a moment: the new
      // postmaster refuses to start then, so it is tried again until they are gone.
      const deadline = monotonicMs() + READY_TIMEOUT_MS;
      for (;;) {
        try {
          server = await launch(port);
          return;
        } catch (error) {
          const busy = /shared memory block is still in use|lock file .* already exists/i;
          if (!busy.test(log) || monotonicMs() > deadline) throw error;
          await sleep(200);
        }
      }
    },
    stop: () => {
      stopping ??= (async () => {
        await halt('SIGINT');
        await rm(dir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}

function onExisting(url: string): PostgresHandle {
  const parsed = new URL(url);
  const schemas: string[] = [];
  let stopping: Promise<void> | undefined;
  return {
    url,
    pid: undefined,
    host: parsed.hostname,
    port: Number(parsed.port === '' ? '5432' : parsed.port),
    password: decodeURIComponent(parsed.password),
    crash: () =>
      Promise.reject(new Error('crash() needs the private server, not WEFT_TEST_POSTGRES')),
    kill9: () =>
      Promise.reject(new Error('kill9() needs the private server, not WEFT_TEST_POSTGRES')),
    restart: () =>
      Promise.reject(new Error('restart() needs the private server, not WEFT_TEST_POSTGRES')),
    freshSchemaUrl: () => {
      const schema = `t_${randomUUID().replaceAll('-', '').slice(0, 16)}`;
      schemas.push(schema);
      const next = new URL(url);
      next.searchParams.set('schema', schema);
      return next.toString();
    },
    stop: () => {
      stopping ??= (async () => {
        if (schemas.length === 0) return;
        const client = new pg.Client({ connectionString: url });
        await client.connect();
        for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        await client.end();
      })();
      return stopping;
    },
  };
}
