import { connect, type NatsConnection } from '@nats-io/transport-node';
import { natsServers } from '../config.ts';

/** A request-reply client for the gateway, as any other-language client would speak to it. */

export class ClientError extends Error {
  readonly code: string;
  readonly details: unknown;
  constructor(code: string, message: string, details?: unknown) {
    super(message);
    this.code = code;
    this.details = details;
  }
}

export interface Client {
  readonly nc: NatsConnection;
  request<T = unknown>(subject: string, body: unknown, timeoutMs?: number): Promise<T>;
  close(): Promise<void>;
}

export const openClient = async (servers: string): Promise<Client> => {
  let nc: NatsConnection;
  try {
    nc = await connect({ servers: natsServers(servers), name: 'weft-cli', timeout: 3000 });
  } catch (error) {
    throw new ClientError(
      'unavailable',
      `cannot reach NATS at ${servers}: ${(error as Error).message}`,
    );
  }
  return {
    nc,
    async request<T>(subject: string, body: unknown, timeoutMs = 10_000): Promise<T> {
      let reply;
      try {
        reply = await nc.request(subject, JSON.stringify(body ?? {}), { timeout: timeoutMs });
      } catch (error) {
        const message = (error as Error).message;
        if (/no responders/i.test(message) || (error as { code?: string }).code === '503') {
          throw new ClientError(
            'unavailable',
            `no weft runtime answers on ${subject} (is 'weft serve' or 'weft dev' running?)`,
          );
        }
        if (/timeout/i.test(message))
          throw new ClientError('timeout', `no reply on ${subject} within ${timeoutMs} ms`);
        throw new ClientError('unavailable', message);
      }
      const parsed = reply.json<{
        ok: boolean;
        data?: T;
        error?: { code: string; message: string; details?: unknown };
      }>();
      if (parsed.ok) return parsed.data as T;
      throw new ClientError(
        parsed.error?.code ?? 'internal',
        parsed.error?.message ?? 'unknown error',
        parsed.error?.details,
      );
    },
    async close() {
      await nc.close();
    },
  };
};
