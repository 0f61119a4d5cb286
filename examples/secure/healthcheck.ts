import { jetstreamManager } from '@nats-io/jetstream';
import { DEFAULT_NATS_URL } from '../../src/config.ts';
import { connectNats, natsAuthFromEnv } from '../../src/natsAuth.ts';
import { Subjects } from '../../src/wire/subjects.ts';

/**
 * The containers' healthcheck in docker-compose.yml (`node examples/secure/healthcheck.ts`): exits
 * 0 once NATS accepts this container's credentials (`WEFT_NATS_URL`, `WEFT_NATS_USER`,
 * `WEFT_NATS_PASSWORD`, …) and JetStream has the tasks stream of its prefix (`WEFT_PREFIX`,
 * default `weft`), which a runtime creates when it starts; otherwise 1, with the reason on stderr.
 * The workers, whose NATS user may look the streams up but not create them, start once a runtime
 * is healthy. Both roles may ask this (examples/secure/weft-roles.conf).
 */

const subjects = new Subjects(process.env['WEFT_PREFIX'] ?? 'weft');
try {
  const nc = await connectNats(
    process.env['WEFT_NATS_URL'] ?? DEFAULT_NATS_URL,
    natsAuthFromEnv(),
    {
      name: 'weft-healthcheck',
      timeout: 3_000,
      reconnect: false,
    },
  );
  try {
    await (await jetstreamManager(nc)).streams.info(subjects.tasksStream);
  } finally {
    await nc.close();
  }
} catch (error) {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
}
