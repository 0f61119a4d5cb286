#!/usr/bin/env node
// Makes sure a `nats-server` binary is available for the test suite and `weft dev`: installs the
// Debian/Ubuntu package when it is missing (see osPackage.mjs), else prints the command to run
// and exits 1. WEFT_SKIP_NATS_INSTALL=1 turns the whole check off (e.g. in Docker builds).
import { ensurePackage, findExecutable } from './osPackage.mjs';

const WELL_KNOWN = ['/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server'];

process.exitCode =
  process.env.WEFT_SKIP_NATS_INSTALL === '1'
    ? 0
    : ensurePackage({
        script: 'ensure-nats',
        what: 'nats-server',
        pkg: 'nats-server',
        find: () => findExecutable('nats-server', WELL_KNOWN),
        notDebian: [
          'Install it (e.g. `brew install nats-server`, or a release from',
          'https://github.com/nats-io/nats-server/releases) and put it on PATH, then re-run.',
        ],
        otherwise: ['or set WEFT_SKIP_NATS_INSTALL=1 to skip this check.'],
      });
