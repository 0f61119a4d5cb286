import { mkdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { isExecutable } from './executable.ts';

/**
 * The browser tests' Chromium: the OS package (Debian's `chromium`, which
 * scripts/ensure-chromium.mjs installs when it can) driven by playwright-core, which downloads no
 * browser of its own. WEFT_CHROMIUM=<path> names another executable. Without one the browser
 * tests skip themselves, saying why (browserSkipReason).
 */

const ROOT = join(import.meta.dirname, '..', '..');

/** Debian's launcher script; it sources /etc/chromium.d and execs /usr/lib/chromium/chromium. */
const DEBIAN_CHROMIUM = '/usr/bin/chromium';

/**
 * Chromium's switches for a test run on a machine without a display, GPU or outgoing network.
 * Playwright adds its own (`--headless` for `headless: true`, `--user-data-dir` with a fresh
 * profile, `--remote-debugging-pipe`, …); repeating one is harmless.
 */
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  // Outgoing connections are refused here: no update checks, no component downloads, no sync.
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

const onPath = (name: string): string | undefined =>
  (process.env.PATH ?? '')
    .split(delimiter)
    .filter((dir) => dir !== '')
    .map((dir) => join(dir, name))
    .find(isExecutable);

/**
 * The Chromium executable to drive: WEFT_CHROMIUM when set (even when it is no executable; see
 * browserSkipReason), else /usr/bin/chromium, else `chromium` or `chromium-browser` on PATH, else
 * undefined. Looks at the file system only.
 */
export function chromiumPath(): string | undefined {
  const named = process.env.WEFT_CHROMIUM ?? '';
  if (named !== '') return named;
  if (isExecutable(DEBIAN_CHROMIUM)) return DEBIAN_CHROMIUM;
  return onPath('chromium') ?? onPath('chromium-browser');
}

/** Undefined when there is a Chromium to drive; else why the browser tests are skipped. */
export function browserSkipReason(): string | undefined {
  const path = chromiumPath();
  if (path === undefined) {
    return 'Chromium is not installed (apt-get install chromium, or set WEFT_CHROMIUM to its executable); the browser tests are skipped';
  }
  if (!isExecutable(path)) {
    return `WEFT_CHROMIUM=${path} is not an executable file; the browser tests are skipped`;
  }
  return undefined;
}

/** Launches headless Chromium (chromiumPath()); the caller closes it. */
export async function launchBrowser(): Promise<Browser> {
  const skip = browserSkipReason();
  const executablePath = chromiumPath();
  if (skip !== undefined || executablePath === undefined) {
    throw new Error(skip ?? 'no Chromium to launch');
  }
  return chromium.launch({ executablePath, headless: true, args: ARGS, timeout: 30_000 });
}

/** test-results/screenshots under the repository root, created when missing (git ignores it). */
export function screenshotDir(): string {
  const dir = join(ROOT, 'test-results', 'screenshots');
  mkdirSync(dir, { recursive: true });
  return dir;
}
