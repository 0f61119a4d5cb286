import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { existsSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startNatsServer, type NatsServerHandle } from '../support/natsServer.ts';
import { waitFor } from '../support/wait.ts';

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('test support: nats-server harness', () => {
  let server: NatsServerHandle | undefined;

  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  it('starts a JetStream server on loopback, answers a request, and stops by pid', async () => {
    server = await startNatsServer();
    expect(server.url).toBe(`nats://127.0.0.1:${server.port}`);
    expect(isAlive(server.pid)).toBe(true);

    const nc = await connect({ servers: server.url });
    try {
      const sub = nc.subscribe('support.echo', {
        callback: (_error, msg) => {
          msg.respond(`echo:${msg.string()}`);
        },
      });
      await nc.flush();
      const reply = await nc.request('support.echo', 'hello', { timeout: 2_000 });
      expect(reply.string()).toBe('echo:hello');
      sub.unsubscribe();

      const jsm = await jetstreamManager(nc);
      const info = await jsm.getAccountInfo();
      expect(info.streams).toBe(0);
    } finally {
      await nc.close();
    }

    const { pid, storeDir } = server;
    await server.stop();
    expect(isAlive(pid)).toBe(false);
    expect(existsSync(storeDir)).toBe(false);
  });

  it('restarts on the same port and store after a kill -9', async () => {
    server = await startNatsServer();
    const { port } = server;
    const nc = await connect({ servers: server.url });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: 'support_restart', subjects: ['support.restart.>'] });
    await nc.close();

    const firstPid = server.pid;
    server.kill9();
    await waitFor(() => !isAlive(firstPid), { message: 'the killed server to be gone' });
    await server.restart();
    expect(server.port).toBe(port);
    expect(server.pid).not.toBe(firstPid);

    const again = await connect({ servers: server.url });
    try {
      const info = await (await jetstreamManager(again)).streams.info('support_restart');
      expect(info.config.name).toBe('support_restart');
    } finally {
      await again.close();
    }
  });

  it('can start without JetStream', async () => {
    server = await startNatsServer({ jetstream: false });
    const nc = await connect({ servers: server.url });
    try {
      await expect(jetstreamManager(nc)).rejects.toThrow('jetstream is not enabled');
    } finally {
      await nc.close();
    }
  });
});

describe('test support: waitFor', () => {
  it('returns the first truthy value', async () => {
    let calls = 0;
    const value = await waitFor(() => (++calls >= 3 ? 'ready' : undefined), { intervalMs: 1 });
    expect(value).toBe('ready');
    expect(calls).toBe(3);
  });

  it('retries a throwing callback and reports the last error with the message', async () => {
    await expect(
      waitFor(
        () => {
          throw new Error('not yet');
        },
        { timeoutMs: 50, intervalMs: 5, message: 'the impossible' },
      ),
    ).rejects.toThrow(/timed out after 50 ms.*the impossible; last error: not yet/);
  });

  it('abandons an attempt that never settles at the deadline', async () => {
    await expect(
      waitFor(() => new Promise<never>(() => undefined), { timeoutMs: 50, message: 'a hang' }),
    ).rejects.toThrow(/a hang; the last attempt did not settle/);
  });

  it('keeps to the real clock under fake timers', async () => {
    vi.useFakeTimers();
    try {
      let calls = 0;
      await expect(waitFor(() => ++calls > 2, { intervalMs: 1 })).resolves.toBe(true);
      await expect(waitFor(() => false, { timeoutMs: 30 })).rejects.toThrow(/timed out/);
    } finally {
      vi.useRealTimers();
    }
  });
});
