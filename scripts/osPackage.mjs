// What ensure-nats.mjs and ensure-postgres.mjs share: finding a program, and installing the
// Debian/Ubuntu package that provides it when this user may (root, or passwordless sudo).
//
// Plain JavaScript on purpose: it runs from `npm install` (prepare) and `npm test` under whatever
// node the machine has, Node 20 or later.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** @param {string} file */
export function isExecutable(file) {
  try {
    if (!statSync(file).isFile()) return false;
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The directories on PATH. */
export const pathDirs = () => (process.env.PATH ?? '').split(delimiter).filter((dir) => dir !== '');

/**
 * The first executable `name` on PATH, else the first executable in `extra`, else undefined.
 * Only looks at the file system; starts no process.
 * @param {string} name
 * @param {readonly string[]} extra
 */
export function findExecutable(name, extra = []) {
  for (const dir of pathDirs()) {
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return extra.find(isExecutable);
}

/**
 * Makes sure `find()` finds the program, installing `pkg` with apt-get when it does not; returns
 * the process exit code (0: found or installed). Silent and fast (no child process) when found.
 * @param {{
 *   script: string,
 *   what: string,
 *   pkg: string,
 *   find: () => string | undefined,
 *   notDebian: readonly string[],
 *   otherwise: readonly string[],
 *   optional?: string,
 * }} options `script` prefixes every line it prints; `what` names the program in them;
 *   `notDebian` says how to install it elsewhere; `otherwise` lists the ways around the check.
 *   `optional`, when given, makes the program optional: it says what goes without it (e.g. "the
 *   browser tests will be skipped"), and a failure prints that and why on one line and returns 0
 *   instead of printing `notDebian` / `otherwise` and returning 1.
 */
export function ensurePackage({ script, what, pkg, find, notDebian, otherwise, optional }) {
  /** @param {string} message */
  const say = (message) => process.stderr.write(`${script}: ${message}\n`);
  /**
   * Gives up: prints `lines` and returns 1 for a required program; for an optional one prints
   * the single line naming `reason` and returns 0.
   * @param {string} reason @param {readonly string[]} lines
   */
  const fail = (reason, lines) => {
    if (optional !== undefined) {
      say(`${what} is not available (${reason}); ${optional}.`);
      return 0;
    }
    for (const line of lines) say(line);
    return 1;
  };
  /** @param {string} command @param {readonly string[]} args */
  const run = (command, args) => {
    say(`running: ${[command, ...args].join(' ')}`);
    const result = spawnSync(command, args, {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    if (result.error) say(`could not run ${command}: ${result.error.message}`);
    return result.status === 0;
  };

  if (find() !== undefined) return 0;
  const aptGetPath =
    process.platform === 'linux' ? findExecutable('apt-get', ['/usr/bin/apt-get']) : undefined;
  if (aptGetPath === undefined) {
    return fail(`not found, and this is not a Debian/Ubuntu system: ${notDebian.join(' ')}`, [
      `${what} was not found and this is not a Debian/Ubuntu system.`,
      ...notDebian,
    ]);
  }

  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const sudo = isRoot ? undefined : findExecutable('sudo', ['/usr/bin/sudo']);
  const sudoWorks =
    sudo !== undefined && spawnSync(sudo, ['-n', 'true'], { stdio: 'ignore' }).status === 0;
  if (!isRoot && !sudoWorks) {
    return fail(`not found, and installing it needs root: sudo apt-get install -y ${pkg}`, [
      `${what} is required by the tests but was not found. Install it with:`,
      `  sudo apt-get install -y ${pkg}`,
      ...otherwise,
    ]);
  }

  /** `apt-get <args>` as root: directly, or through passwordless sudo. @param {readonly string[]} args */
  const aptGet = (args) =>
    sudo === undefined
      ? run(aptGetPath, args)
      : run(sudo, ['-n', 'env', 'DEBIAN_FRONTEND=noninteractive', aptGetPath, ...args]);
  say(`${what} not found; installing the ${pkg} package with apt-get.`);
  const installed = aptGet(['update']) && aptGet(['install', '-y', pkg]);
  const found = find();
  if (!installed || found === undefined) {
    return fail(`apt-get install -y ${pkg} failed`, [
      `installing ${pkg} failed. Install it with:`,
      `  sudo apt-get install -y ${pkg}`,
    ]);
  }
  say(`${what} installed at ${found}`);
  return 0;
}
