#!/usr/bin/env node
// The `weft` command.
//
// weft needs Node 24 (type stripping, node:sqlite). When started by an older node, this file
// runs itself again under the Node 24 that the `node` devDependency puts in
// <package root>/node_modules/.bin/node, so `npx weft` works in a checkout whose system node is
// older. In a checkout it runs the TypeScript source (src/cli/main.ts), which Node 24 runs
// directly, so a checkout needs no build and never runs a stale one; an installed package (which
// ships dist/ and not src/) runs the built CLI.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as nodeModule from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const REQUIRED_MAJOR = 24;
const REEXEC_MARKER = 'WEFT_NODE24_REEXEC';
/**
 * The long-running commands cap V8's young generation at 16 MB a half-space. Left to itself V8
 * grows it to 64 MB under a burst of requests and keeps that memory resident afterwards: 10,000
 * idle runs measured 306 MB resident with the default and 229 MB with the cap, at no measured cost
 * in throughput.
 */
const LONG_RUNNING = new Set(['serve', 'dev']);
const SEMI_SPACE_FLAG = '--max-semi-space-size=16';

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const major = Number(process.versions.node.split('.')[0]);

if (major < REQUIRED_MAJOR) {
  const node24 = join(packageRoot, 'node_modules', '.bin', 'node');
  if (process.env[REEXEC_MARKER] === '1' || !existsSync(node24)) {
    process.stderr.write(
      `weft needs Node.js ${REQUIRED_MAJOR} or later; this is ${process.version}.\n` +
        `Install Node ${REQUIRED_MAJOR}, or run \`npm install\` in the weft checkout ` +
        `(it provides Node ${REQUIRED_MAJOR} in node_modules/.bin/node).\n`,
    );
    process.exit(1);
  }
  reexec(node24);
} else if (
  LONG_RUNNING.has(argv[0] ?? '') &&
  typeof process.execve === 'function' &&
  ![...process.execArgv, process.env['NODE_OPTIONS'] ?? ''].some((flag) =>
    flag.includes('--max-semi-space-size'),
  )
) {
  // Replaces this process (same pid, so signals and process managers are unaffected).
  process.execve(process.execPath, [
    process.execPath,
    ...process.execArgv,
    SEMI_SPACE_FLAG,
    fileURLToPath(import.meta.url),
    ...argv,
  ]);
} else {
  await run();
}

/**
 * Runs this file under `node24` with the same arguments and stdio, and exits as it does.
 * SIGINT from a terminal reaches both processes, so this one only waits; SIGTERM and SIGHUP
 * (sent to this pid alone by process managers) are passed on.
 * @param {string} node24
 */
function reexec(node24) {
  const child = spawn(node24, [...process.execArgv, fileURLToPath(import.meta.url), ...argv], {
    stdio: 'inherit',
    env: { ...process.env, [REEXEC_MARKER]: '1' },
  });
  /** @type {NodeJS.Signals[]} */
  const forwarded = ['SIGTERM', 'SIGHUP'];
  for (const signal of forwarded) process.on(signal, () => child.kill(signal));
  process.on('SIGINT', () => undefined);
  child.on('error', (error) => {
    process.stderr.write(`weft: could not start ${node24}: ${error.message}\n`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => {
    if (signal !== null) {
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
    }
    process.exit(code ?? 1);
  });
}

async function run() {
  const source = join(packageRoot, 'src', 'cli', 'main.ts');
  const checkout = existsSync(source);
  // In a checkout, `weft`, `weft/client`, `weft/worker`, … (the package's own entry points, as
  // a worker module or an example imports them) resolve to the TypeScript source: the exports'
  // `weft-source` condition, which only this package declares.
  if (checkout) {
    // Imported as a namespace: Node 20, which only re-runs this file under Node 24, lacks it.
    nodeModule.registerHooks({
      resolve: (specifier, context, next) =>
        next(specifier, { ...context, conditions: [...context.conditions, 'weft-source'] }),
    });
  }
  const entry = checkout ? source : join(packageRoot, 'dist', 'cli', 'main.js');
  // The CLI module's contract: main(argv) resolves to the process exit code.
  /** @type {(url: string) => Promise<{ main: (argv: string[]) => Promise<number> }>} */
  const importCli = (url) => import(url);
  const cli = await importCli(pathToFileURL(entry).href);
  process.exitCode = await cli.main(argv);
}
