#!/usr/bin/env node
// Makes sure PostgreSQL's server binaries (`initdb`, `postgres`) are available for the test
// suite, which starts a private cluster of its own (test/support/postgres.ts).
//
// Silent and fast (no child process) when they are already in /usr/lib/postgresql/<v>/bin or on
// PATH. Otherwise installs the Debian/Ubuntu package when this user may (root, or passwordless
// sudo), and else prints the command to run and exits 1. Skipped when WEFT_TEST_POSTGRES names a
// server to use instead, or when WEFT_SKIP_POSTGRES_INSTALL=1.
//
// Plain JavaScript on purpose, like ensure-nats.mjs: it runs under whatever node the machine has.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, readdirSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** @param {string} file */
function isExecutable(file) {
  try {
    if (!statSync(file).isFile()) return false;
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** A directory holding both `initdb` and `postgres`, or undefined. Starts no process. */
function findPostgresBinDir() {
  /** @type {string[]} */
  let versions = [];
  try {
    versions = readdirSync('/usr/lib/postgresql');
  } catch {
    versions = [];
  }
  const dirs = [
    ...versions.map((v) => join('/usr/lib/postgresql', v, 'bin')),
    ...(process.env.PATH ?? '').split(delimiter).filter((dir) => dir !== ''),
  ];
  return dirs.find(
    (dir) => isExecutable(join(dir, 'initdb')) && isExecutable(join(dir, 'postgres')),
  );
}

/** @param {string} name @param {readonly string[]} extra */
function findExecutable(name, extra = []) {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter((dir) => dir !== '');
  for (const dir of dirs) {
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return extra.find(isExecutable);
}

/** @param {string} message */
function say(message) {
  process.stderr.write(`ensure-postgres: ${message}\n`);
}

/** @param {string} command @param {readonly string[]} args */
function run(command, args) {
  say(`running: ${[command, ...args].join(' ')}`);
  const result = spawnSync(command, args, {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (result.error) say(`could not run ${command}: ${result.error.message}`);
  return result.status === 0;
}

/** @param {string} aptGetPath @param {string | undefined} sudo @param {readonly string[]} args */
function aptGet(aptGetPath, sudo, args) {
  return sudo === undefined
    ? run(aptGetPath, args)
    : run(sudo, ['-n', 'env', 'DEBIAN_FRONTEND=noninteractive', aptGetPath, ...args]);
}

function main() {
  if (process.env.WEFT_SKIP_POSTGRES_INSTALL === '1') return 0;
  if ((process.env.WEFT_TEST_POSTGRES ?? '') !== '') return 0;
  if (findPostgresBinDir() !== undefined) return 0;

  const aptGetPath =
    process.platform === 'linux' ? findExecutable('apt-get', ['/usr/bin/apt-get']) : undefined;
  if (aptGetPath === undefined) {
    say('PostgreSQL (initdb, postgres) was not found and this is not a Debian/Ubuntu system.');
    say('Install the PostgreSQL server (e.g. `brew install postgresql`) with initdb on PATH,');
    say('or set WEFT_TEST_POSTGRES=postgres://user:pass@host:port/db to use a server you run.');
    return 1;
  }

  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const sudo = isRoot ? undefined : findExecutable('sudo', ['/usr/bin/sudo']);
  const sudoWorks =
    sudo !== undefined && spawnSync(sudo, ['-n', 'true'], { stdio: 'ignore' }).status === 0;

  if (!isRoot && !sudoWorks) {
    say('PostgreSQL is required (the tests start a private server) but was not found.');
    say('Install it with:');
    say('  sudo apt-get install -y postgresql');
    say('or set WEFT_TEST_POSTGRES=<url> to use an existing server,');
    say('or WEFT_SKIP_POSTGRES_INSTALL=1 to skip this check.');
    return 1;
  }

  say('initdb not found; installing the postgresql package with apt-get.');
  const installed =
    aptGet(aptGetPath, sudo, ['update']) &&
    aptGet(aptGetPath, sudo, ['install', '-y', 'postgresql']);
  const found = findPostgresBinDir();
  if (!installed || found === undefined) {
    say('installing postgresql failed. Install it with:');
    say('  sudo apt-get install -y postgresql');
    return 1;
  }
  say(`PostgreSQL installed in ${found}`);
  return 0;
}

process.exitCode = main();
