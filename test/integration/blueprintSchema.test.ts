import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blueprintJsonSchema } from '../../src/blueprints/jsonSchema.ts';
import { Subjects } from '../../src/wire/subjects.ts';
import { startNatsServer, type NatsServerHandle } from '../support/natsServer.ts';
import { startServe, testClient, type TestClient, type WeftProcess } from '../support/weft.ts';

/**
 * `<prefix>.blueprints.schema` answers the blueprint JSON Schema from the gateway: a real
 * nats-server and `weft serve` (no worker: nothing here runs).
 */

let nats: NatsServerHandle;
let dir: string;
let runtime: WeftProcess;
let client: TestClient;
const subject = new Subjects('weft').blueprints('schema');

beforeAll(async () => {
  nats = await startNatsServer();
  dir = mkdtempSync(join(tmpdir(), 'weft-schema-'));
  runtime = await startServe(nats.url, `sqlite:${join(dir, 'events.db')}`);
  client = await testClient(nats.url);
}, 60_000);

afterAll(async () => {
  await client.close();
  await runtime.stop();
  await nats.stop();
  rmSync(dir, { recursive: true, force: true });
}, 30_000);

describe('weft.blueprints.schema', { timeout: 30_000 }, () => {
  it('answers {} with {schema}: the compact JSON Schema of blueprints', async () => {
    expect(subject).toBe('weft.blueprints.schema');
    const data = await client.call<{ schema: unknown }>(subject, {});
    expect(data).toEqual({ schema: blueprintJsonSchema() });
    // An empty message is an empty request, as for every request of the API.
    const empty = await client.raw(subject, '');
    expect(empty.ok).toBe(true);
  });

  it('answers a request that is not an object with invalid_request', async () => {
    const reply = await client.request(subject, [1]);
    expect(reply.ok).toBe(false);
    expect(reply.error?.code).toBe('invalid_request');
  });
});
