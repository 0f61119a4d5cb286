import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNatsServer, type NatsServerHandle } from '../support/natsServer.ts';
import { runWeft } from '../support/weft.ts';

/**
 * A worker that cannot start (here: a nats-server without JetStream, so no tasks stream) ends with
 * exit code 1 and says why, instead of holding its connection open forever.
 */

let nats: NatsServerHandle;

beforeAll(async () => {
  nats = await startNatsServer({ jetstream: false });
});

afterAll(async () => {
  await (nats as NatsServerHandle | undefined)?.stop();
});

describe('a worker whose start fails', () => {
  it('exits with code 1 and an error line', async () => {
    const run = await runWeft(
      ['worker', 'test/support/activities.ts', '--nats', nats.url, '--prefix', 'weft'],
      { timeoutMs: 20_000 },
    );
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^error \[/mu);
  });
});
