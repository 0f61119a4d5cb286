#!/usr/bin/env node
// Makes sure a `nats-server` binary is available for the test suite and `weft dev`.
//
// Silent and fast (no child process) when the binary is already on PATH or in a well-known
// place. Otherwise installs the Debian/Ubuntu package when this user may (root, or
// passwordless sudo), and else prints the command to run and exits 1.
// WEFT_SKIP_NATS_INSTALL=1 turns the whole check off (e.g. in Docker builds).
//
// Plain JavaScript on purpose: it runs from `npm install` (prepare) under whatever node the
// machine has, Node 20 or later.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

const WELL_KNOWN = ['/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server'];

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

/**
 * The first executable `name` on PATH, else the first executable in `extra`, else undefined.
 * Only looks at the file system; starts no process.
 * @param {string} name
 * @param {readonly string[]} extra
 */
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
  process.stderr.write(`ensure-nats: ${message}\n`);
}

/**
 * Runs a command with inherited stdio; true when it exits 0.
 * @param {string} command
 * @param {readonly string[]} args
 */
function run(command, args) {
  say(`running: ${[command, ...args].join(' ')}`);
  const result = spawnSync(command, args, {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (result.error) say(`could not run ${command}: ${result.error.message}`);
  return result.status === 0;
}

/**
 * Runs `apt-get <args>` as root: directly, or through passwordless sudo when `sudo` is given.
 * @param {string} aptGetPath
 * @param {string | undefined} sudo
 * @param {readonly string[]} args
 */
function aptGet(aptGetPath, sudo, args) {
  return sudo === undefined
    ? run(aptGetPath, args)
    : run(sudo, ['-n', 'env', 'DEBIAN_FRONTEND=noninteractive', aptGetPath, ...args]);
}

function main() {
  if (process.env.WEFT_SKIP_NATS_INSTALL === '1') return 0;
  if (findExecutable('nats-server', WELL_KNOWN) !== undefined) return 0;

  const aptGetPath =
    process.platform === 'linux' ? findExecutable('apt-get', ['/usr/bin/apt-get']) : undefined;
  if (aptGetPath === undefined) {
    say('nats-server was not found on PATH and this is not a Debian/Ubuntu system.');
    say('Install it (e.g. `brew install nats-server`, or a release from');
    say('https://github.com/nats-io/nats-server/releases) and put it on PATH, then re-run.');
    return 1;
  }

  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const sudo = isRoot ? undefined : findExecutable('sudo', ['/usr/bin/sudo']);
  const sudoWorks =
    sudo !== undefined && spawnSync(sudo, ['-n', 'true'], { stdio: 'ignore' }).status === 0;

  if (!isRoot && !sudoWorks) {
    say('nats-server is required (the tests start a real one) but was not found.');
    say('Install it with:');
    say('  sudo apt-get install -y nats-server');
    say('or set WEFT_SKIP_NATS_INSTALL=1 to skip this check.');
    return 1;
  }

  say('nats-server not found; installing the nats-server package with apt-get.');
  const installed =
    aptGet(aptGetPath, sudo, ['update']) &&
    aptGet(aptGetPath, sudo, ['install', '-y', 'nats-server']);
  const found = findExecutable('nats-server', WELL_KNOWN);
  if (!installed || found === undefined) {
    say('installing nats-server failed. Install it with:');
    say('  sudo apt-get install -y nats-server');
    return 1;
  }
  say(`nats-server installed at ${found}`);
  return 0;
}

process.exitCode = main();
