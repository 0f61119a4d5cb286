import type { NatsConnection } from '@nats-io/transport-node';
import { WeftClientError } from '../client/errors.ts';
import { requester } from '../client/index.ts';
import { connectNats, type NatsAuth } from '../natsAuth.ts';

/** The CLI's request-reply client: the typed client's requests, by subject. */

export { WeftClientError as ClientError };

export interface Client {
  readonly nc: NatsConnection;
  request<T = unknown>(subject: string, body: unknown, timeoutMs?: number): Promise<T>;
  close(): Promise<void>;
}

/**
 * Connects once, with no retry: NATS unreachable or refusing the credentials throws an
 * `UnavailableError` naming the server (redacted) and the cause.
 */
export const openClient = async (servers: string, auth: NatsAuth): Promise<Client> => {
  const nc = await connectNats(servers, auth, { name: 'weft-cli', timeout: 3000 });
  return { nc, request: requester(nc), close: () => nc.close() };
};
