import { connect, type NatsConnection } from '@nats-io/transport-node';
import { UnavailableError, WeftClientError } from '../client/errors.ts';
import { requester } from '../client/index.ts';
import { natsServers } from '../config.ts';

/** The CLI's request-reply client: the typed client's requests, by subject. */

export { WeftClientError as ClientError };

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
    throw new UnavailableError(`cannot reach NATS at ${servers}: ${(error as Error).message}`);
  }
  return { nc, request: requester(nc), close: () => nc.close() };
};
