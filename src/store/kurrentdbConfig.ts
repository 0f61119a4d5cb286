import type { StoreLimits } from './EventStore.ts';
import { redactStoreUrl } from './redact.ts';

/**
 * KurrentDB's default `MaxAppendSize` (server option, `KURRENTDB_MAX_APPEND_SIZE`): the most bytes
 * one append may carry, counted by the server over each event's data, metadata and type.
 */
export const KURRENTDB_MAX_APPEND_SIZE = 1_048_576;

/**
 * What weft keeps free of the server's `MaxAppendSize` for what `StoreLimits` does not count: the
 * event types (the server counts each twice, as UTF-16) and any metadata. 64 KiB, or an eighth of
 * a smaller `maxAppendSize`.
 */
const margin = (maxAppendSize: number): number => Math.min(65_536, Math.floor(maxAppendSize / 8));

export interface KurrentConfig {
  /** The connection string handed to the client: weft's own parameters removed. */
  readonly connectionString: string;
  /** The connection string without its password, for messages. */
  readonly redacted: string;
  /** The first host (and port, default 2113) named, for messages and for probing a failed connection. */
  readonly host: string;
  readonly port: number;
  /** Whether the client connects with TLS (`tls=false` turns it off; on by default). */
  readonly tls: boolean;
  /** `tlsVerifyCert=false` turns certificate checks off. */
  readonly verifyCert: boolean;
  /** `tlsCAFile=`: a CA certificate file that signed the server's certificate. */
  readonly caFile: string | undefined;
  readonly limits: StoreLimits;
}

/**
 * The options the client (1.3.1) reads, flat-cased as it matches them. The client prints an
 * unknown one to the console with the whole connection string, password and all, so weft refuses
 * it first.
 */
const CLIENT_OPTIONS = new Set(
  [
    'userCertFile',
    'userKeyFile',
    'maxDiscoverAttempts',
    'connectionName',
    'defaultDeadline',
    'discoveryInterval',
    'gossipTimeout',
    'nodePreference',
    'tls',
    'tlsVerifyCert',
    'tlsCAFile',
    'throwOnAppendFailure',
    'keepAliveInterval',
    'keepAliveTimeout',
    'dnsDiscover',
  ].map((key) => flat(key)),
);

/** A key as the client compares keys: trimmed, lower case, without `_` and `-`. */
function flat(key: string): string {
  return key.trim().toLowerCase().replace(/[_-]/g, '');
}

const CONNECTION = /^([a-z+]+):\/\/(?:([^@/]*)@)?([^/?]*)\/?(?:\?(.*))?$/i;

/**
 * Reads a `kurrentdb://` connection string (also `kurrentdb+discover://`) for what weft needs
 * besides the client: the host to name, TLS settings, and `maxAppendSize=<bytes>`, weft's own
 * parameter (removed before the client sees it, which would warn about it) stating the server's
 * `MaxAppendSize` when it is not the default 1,048,576. Pure; throws on a malformed
 * `maxAppendSize` and on an option the client does not know (naming it, never the password). A
 * string this cannot read otherwise is left for the client to reject.
 */
export const parseKurrentConnection = (connectionString: string): KurrentConfig => {
  const match = CONNECTION.exec(connectionString);
  const params = (match?.[4] ?? '').split('&').filter((p) => p !== '');
  const keyOf = (param: string): string => flat(param.split('=')[0] ?? '');
  const get = (key: string): string | undefined => {
    const param = params.find((p) => keyOf(p) === flat(key));
    return param?.slice(param.indexOf('=') + 1);
  };
  for (const param of params) {
    const key = keyOf(param);
    if (key !== 'maxappendsize' && !CLIENT_OPTIONS.has(key))
      throw new Error(
        `kurrentdb connection string: unknown option ${JSON.stringify(param.split('=')[0])} (known: maxAppendSize and the client's ${[...CLIENT_OPTIONS].join(', ')}, case and - _ aside)`,
      );
  }
  const given = get('maxAppendSize');
  const maxAppendSize = given === undefined ? KURRENTDB_MAX_APPEND_SIZE : Number(given);
  if (!Number.isSafeInteger(maxAppendSize) || maxAppendSize < 1024)
    throw new Error(
      `kurrentdb connection string: maxAppendSize must be a whole number of bytes (at least 1024), got ${JSON.stringify(given)}`,
    );
  const kept = params.filter((p) => keyOf(p) !== 'maxappendsize');
  const stripped =
    match === null || given === undefined
      ? connectionString
      : `${match[1] ?? ''}://${match[2] === undefined ? '' : `${match[2]}@`}${match[3] ?? ''}${kept.length === 0 ? '' : `?${kept.join('&')}`}`;
  const [host = 'localhost', port = '2113'] = (match?.[3] ?? '').split(',')[0]?.split(':') ?? [];
  const max = maxAppendSize - margin(maxAppendSize);
  return {
    connectionString: stripped,
    redacted: redactStoreUrl(connectionString),
    host: host === '' ? 'localhost' : host,
    port: Number(port) || 2113,
    tls: get('tls')?.toLowerCase() !== 'false',
    verifyCert: get('tlsVerifyCert')?.toLowerCase() !== 'false',
    caFile: ((file) => (file === undefined ? undefined : decodeURIComponent(file)))(
      get('tlsCAFile'),
    ),
    limits: { maxEventBytes: max, maxAppendBytes: max },
  };
};
