#!/usr/bin/env node
// Makes sure Chromium is available for the browser tests (test/browser, driven by playwright-core
// through test/support/browser.ts): installs Debian's `chromium` package when it is missing (see
// osPackage.mjs). Unlike nats-server and PostgreSQL it is optional: when it cannot be had, this
// prints one line saying the browser tests will be skipped and why, and still exits 0.
// WEFT_CHROMIUM=<path> names the executable to use instead; WEFT_SKIP_CHROMIUM_INSTALL=1 turns
// the whole check off.
import { ensurePackage, findExecutable, isExecutable } from './osPackage.mjs';

const SCRIPT = 'ensure-chromium';
const SKIPPED = 'the browser tests will be skipped';

/**
 * The Chromium executable test/support/browser.ts finds when WEFT_CHROMIUM is not set, or
 * undefined. Starts no process.
 */
function findChromium() {
  if (isExecutable('/usr/bin/chromium')) return '/usr/bin/chromium';
  return findExecutable('chromium') ?? findExecutable('chromium-browser');
}

/** The exit code: always 0, the browser tests skip themselves when Chromium is missing. */
function main() {
  if (process.env.WEFT_SKIP_CHROMIUM_INSTALL === '1') return 0;
  const named = process.env.WEFT_CHROMIUM ?? '';
  if (named !== '') {
    if (!isExecutable(named)) {
      process.stderr.write(
        `${SCRIPT}: WEFT_CHROMIUM=${named} is not an executable file; ${SKIPPED}.\n`,
      );
    }
    return 0;
  }
  try {
    ensurePackage({
      script: SCRIPT,
      what: 'Chromium',
      pkg: 'chromium',
      find: findChromium,
      notDebian: ['install Chromium and set WEFT_CHROMIUM to its executable'],
      otherwise: [],
      optional: SKIPPED,
    });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`${SCRIPT}: checking for Chromium failed (${message}); ${SKIPPED}.\n`);
  }
  return 0;
}

process.exitCode = main();
