import { readFileSync } from 'node:fs';
import { isIP, connect as tcpConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import {
  AccessDeniedError,
  AppendConsistencyViolationError,
  AppendRecordSizeExceededError,
  InvalidArgumentError,
  InvalidTransactionError,
  MaxAppendSizeExceededError,
  RequiredMetadataPropertyMissingError,
  StreamDeletedError,
  StreamTombstonedError,
  TransactionMaxSizeExceededError,
  UnsupportedError,
} from '@kurrent/kurrentdb-client';
import type { RefusalReason } from './errors.ts';
import type { KurrentConfig } from './kurrentdbConfig.ts';
import { causeMessage } from './shared.ts';

/*
 * How the KurrentDB adapter classifies a client error (`@kurrent/kurrentdb-client` 1.3.1 classes):
 *
 * | client error                                                      | class                    |
 * | ----------------------------------------------------------------- | ------------------------ |
 * | WrongExpectedVersionError                                         | VersionConflict (kurrentdb.ts) |
 * | StreamNotFoundError (reads)                                        | an empty stream (kurrentdb.ts) |
 * | AccessDeniedError                                                 | refused: `access_denied` |
 * | MaxAppendSizeExceededError, AppendRecordSizeExceededError, TransactionMaxSizeExceededError | refused: `too_large` |
 * | StreamDeletedError, StreamTombstonedError                          | refused: `stream_deleted` |
 * | InvalidArgumentError, InvalidTransactionError, AppendConsistencyViolationError, RequiredMetadataPropertyMissingError, UnsupportedError | refused: `invalid` |
 * | UnavailableError, DeadlineExceededError, TimeoutError, NotLeaderError, CancelledError, UnknownError, any other error | transient |
 */
const REFUSED: readonly (readonly [abstract new (...args: never[]) => Error, RefusalReason])[] = [
  [AccessDeniedError, 'access_denied'],
  [MaxAppendSizeExceededError, 'too_large'],
  [AppendRecordSizeExceededError, 'too_large'],
  [TransactionMaxSizeExceededError, 'too_large'],
  [StreamDeletedError, 'stream_deleted'],
  [StreamTombstonedError, 'stream_deleted'],
  [InvalidArgumentError, 'invalid'],
  [InvalidTransactionError, 'invalid'],
  [AppendConsistencyViolationError, 'invalid'],
  [RequiredMetadataPropertyMissingError, 'invalid'],
  [UnsupportedError, 'invalid'],
];

/** The refusal a client error means, or undefined when it may pass (see the table above). Pure. */
export const classifyKurrentError = (error: unknown): RefusalReason | undefined =>
  REFUSED.find(([type]) => error instanceof type)?.[1];

const PROBE_TIMEOUT_MS = 3_000;

/** A TLS error in one line: OpenSSL's reason (`wrong version number`) rather than its multi-line message. */
const tlsReason = (error: Error): string => {
  const reason = (error as { reason?: unknown }).reason;
  return typeof reason === 'string' && reason !== ''
    ? reason
    : (error.message.split('\n')[0] ?? '');
};

/**
 * Why a connection to the server fails, found by connecting to its first host as the client would
 * (TCP, then TLS with the same certificate settings): the connection error (`connect ECONNREFUSED
 * 127.0.0.1:2113`), the TLS error (`self-signed certificate`), or a hint when TLS is on one side
 * only. Never rejects; undefined when the connection succeeds as configured.
 */
export const probeConnection = (config: KurrentConfig): Promise<string | undefined> =>
  new Promise((resolve) => {
    const { host, port } = config;
    const where = `${host}:${port}`;
    let ca: Buffer | undefined;
    try {
      ca = config.caFile === undefined ? undefined : readFileSync(config.caFile);
    } catch (error) {
      resolve(`cannot read tlsCAFile: ${causeMessage(error)}`);
      return;
    }
    const tls = (onSecure: () => string | undefined, onError: (e: Error) => string | undefined) => {
      const socket = tlsConnect({
        host,
        port,
        ...(isIP(host) === 0 ? { servername: host } : {}),
        ALPNProtocols: ['h2'],
        rejectUnauthorized: config.verifyCert,
        ...(ca === undefined ? {} : { ca }),
        timeout: PROBE_TIMEOUT_MS,
      });
      const done = (text: string | undefined) => {
        socket.destroy();
        resolve(text);
      };
      socket.once('secureConnect', () => done(onSecure()));
      socket.once('error', (e: Error) => done(onError(e)));
      socket.once('timeout', () => done(`no answer from ${where} within ${PROBE_TIMEOUT_MS} ms`));
    };
    const socket = tcpConnect({ host, port, timeout: PROBE_TIMEOUT_MS });
    socket.once('error', (e) => {
      socket.destroy();
      resolve(e.message);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(`no answer from ${where} within ${PROBE_TIMEOUT_MS} ms`);
    });
    socket.once('connect', () => {
      socket.destroy();
      if (config.tls)
        tls(
          () => undefined,
          (e) =>
            /wrong version number|packet length|ECONNRESET|socket disconnected/i.test(e.message)
              ? `TLS handshake with ${where} failed (${tlsReason(e)}): the server may be insecure (then add tls=false)`
              : `TLS with ${where}: ${tlsReason(e)}`,
        );
      else
        tls(
          () => `${where} speaks TLS but the connection string says tls=false`,
          () => undefined,
        );
    });
  });

/**
 * A client error as one line with its cause. The client's reads report a lost connection as a bare
 * `UnavailableError` (no detail): then the connection is probed (`probeConnection`) for one.
 */
export const explainKurrentError = async (
  error: unknown,
  config: KurrentConfig,
): Promise<string> => {
  const message = causeMessage(error);
  const bare =
    error instanceof Error && (message === error.name || message === error.constructor.name);
  if (!bare) return message;
  const found = await probeConnection(config);
  return found === undefined
    ? `${message} (${config.host}:${config.port} accepts connections)`
    : `${message}: ${found}`;
};
