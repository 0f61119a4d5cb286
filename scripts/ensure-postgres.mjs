#!/usr/bin/env node
// Makes sure PostgreSQL's server binaries (`initdb`, `postgres`) are available for the test
// suite, which starts a private cluster of its own (test/support/postgres.ts): installs the
// Debian/Ubuntu package when they are missing (see osPackage.mjs), else prints the command to run
// and exits 1. Skipped when WEFT_TEST_POSTGRES names a server to use instead, or when
// WEFT_SKIP_POSTGRES_INSTALL=1.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ensurePackage, isExecutable, pathDirs } from './osPackage.mjs';

/** A directory holding both `initdb` and `postgres`, or undefined. Starts no process. */
function findPostgresBinDir() {
  /** @type {string[]} */
  let versions = [];
  try {
    versions = readdirSync('/usr/lib/postgresql');
  } catch {
    versions = [];
  }
  const dirs = [...versions.map((v) => join('/usr/lib/postgresql', v, 'bin')), ...pathDirs()];
  return dirs.find(
    (dir) => isExecutable(join(dir, 'initdb')) && isExecutable(join(dir, 'postgres')),
  );
}

process.exitCode =
  process.env.WEFT_SKIP_POSTGRES_INSTALL === '1' || (process.env.WEFT_TEST_POSTGRES ?? '') !== ''
    ? 0
    : ensurePackage({
        script: 'ensure-postgres',
        what: 'PostgreSQL (initdb, postgres)',
        pkg: 'postgresql',
        find: findPostgresBinDir,
        notDebian: [
          'Install the PostgreSQL server (e.g. `brew install postgresql`) with initdb on PATH,',
          'or set WEFT_TEST_POSTGRES=postgres://user:pass@host:port/db to use a server you run.',
        ],
        otherwise: [
          'or set WEFT_TEST_POSTGRES=<url> to use an existing server,',
          'or WEFT_SKIP_POSTGRES_INSTALL=1 to skip this check.',
        ],
      });
