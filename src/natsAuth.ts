import { accessSync, constants, readFileSync } from 'node:fs';
import {
  AuthorizationError,
  connect,
  createInbox,
  PermissionViolationError,
  credsAuthenticator,
  nkeyAuthenticator,
  nkeys,
  UserAuthenticationExpiredError,
  type Authenticator,
  type ConnectionOptions,
  type NatsConnection,
  type TlsOptions,
} from '@nats-io/transport-node';
import { QuietLog } from './actors/quietLog.ts';
import { InvalidRequestError, UnavailableError } from './client/errors.ts';
import { natsServers } from './config.ts';

/**
 * How every weft process connects to NATS like any NATS client (README "Configuration"): the
 * credentials and TLS files of `--user`/`--password`, `--token`, `--creds`, `--nkey`, `--tls-ca`,
 * `--tls-cert`, `--tls-key` and their `WEFT_NATS_*` variables, turned into nats.js options in one
 * place; the NATS URLs as they may be printed; and the one error a refused connection becomes.
 * Secrets never reach a message: errors name the setting and the file, never a password, token or
 * the contents of a file.
 */

/** NATS credentials and TLS files (paths, not contents: the files are read when connecting), and the inbox prefix. */
export interface NatsAuth {
  readonly user?: string;
  readonly password?: string;
  readonly token?: string;
  /** A JWT credentials file (`.creds`, as `nsc` writes it). */
  readonly creds?: string;
  /** A file holding a user nkey seed (`SU…`). */
  readonly nkey?: string;
  /** PEM file of the CA that signed the server's certificate. */
  readonly tlsCa?: string;
  /** The client's certificate and key (PEM files), for a server that verifies clients. */
  readonly tlsCert?: string;
  readonly tlsKey?: string;
  /**
   * The first token(s) of this process's reply subjects instead of `_INBOX`, so that NATS
   * permissions can let each user read its own replies alone (`_INBOX_acme_worker.>`).
   */
  readonly inboxPrefix?: string;
}

/** Each setting's flag and environment variable (CONTRACT §6 "Security"). */
export const NATS_AUTH_SETTINGS = {
  user: { flag: 'user', env: 'WEFT_NATS_USER' },
  password: { flag: 'password', env: 'WEFT_NATS_PASSWORD' },
  token: { flag: 'token', env: 'WEFT_NATS_TOKEN' },
  creds: { flag: 'creds', env: 'WEFT_NATS_CREDS' },
  nkey: { flag: 'nkey', env: 'WEFT_NATS_NKEY' },
  tlsCa: { flag: 'tls-ca', env: 'WEFT_NATS_TLS_CA' },
  tlsCert: { flag: 'tls-cert', env: 'WEFT_NATS_TLS_CERT' },
  tlsKey: { flag: 'tls-key', env: 'WEFT_NATS_TLS_KEY' },
  inboxPrefix: { flag: 'inbox-prefix', env: 'WEFT_NATS_INBOX_PREFIX' },
} as const satisfies Record<keyof NatsAuth, { readonly flag: string; readonly env: string }>;

type Setting = keyof NatsAuth;
const CREDENTIALS: readonly Setting[] = ['user', 'password', 'token', 'creds', 'nkey'];
const hasCredentials = (auth: NatsAuth): boolean => CREDENTIALS.some((s) => auth[s] !== undefined);
/** The settings that are not credentials: each flag wins over its own variable. */
const CONNECTION: readonly Setting[] = ['tlsCa', 'tlsCert', 'tlsKey', 'inboxPrefix'];
/** Subject tokens without wildcards or whitespace, as NATS takes an inbox prefix. */
const INBOX_PREFIX = /^[^\s.*>]+(\.[^\s.*>]+)*$/u;

const named = (setting: Setting): string =>
  `--${NATS_AUTH_SETTINGS[setting].flag} (${NATS_AUTH_SETTINGS[setting].env})`;

/**
 * What is wrong with `auth`, or undefined: more than one kind of credentials, a password without
 * a user, a client certificate without its key (or the reverse). Pure.
 */
export const natsAuthProblem = (auth: NatsAuth): string | undefined => {
  const kinds = (['user', 'token', 'creds', 'nkey'] as const).filter((k) => auth[k] !== undefined);
  if (kinds.length > 1)
    return `give one kind of NATS credentials, not ${kinds.map(named).join(' and ')}`;
  if (auth.password !== undefined && auth.user === undefined)
    return `${named('password')} needs ${named('user')}`;
  if ((auth.tlsCert === undefined) !== (auth.tlsKey === undefined))
    return `${named('tlsCert')} and ${named('tlsKey')} go together`;
  if (auth.inboxPrefix !== undefined && !INBOX_PREFIX.test(auth.inboxPrefix))
    return `${named('inboxPrefix')} must be subject tokens without wildcards or spaces, e.g. _INBOX_acme_worker (got ${JSON.stringify(auth.inboxPrefix)})`;
  return undefined;
};

/**
 * The settings given by flags (`flag(name)`, the flag's name without `--`) and the environment.
 * Flags win: when any credential flag is given, the environment's credentials are left out (so a
 * `--token` never meets a `WEFT_NATS_USER`); each TLS flag wins over its variable. Empty values
 * count as absent. Throws `InvalidRequestError` with `natsAuthProblem`'s text; reads nothing.
 */
export const natsAuthOf = (
  flag: (name: string) => string | undefined,
  env: Readonly<Record<string, string | undefined>> = process.env,
): NatsAuth => {
  const fromFlag = (s: Setting) => nonEmpty(flag(NATS_AUTH_SETTINGS[s].flag));
  const fromEnv = (s: Setting) => nonEmpty(env[NATS_AUTH_SETTINGS[s].env]);
  const credentialFlags = CREDENTIALS.some((s) => fromFlag(s) !== undefined);
  const auth: Partial<Record<Setting, string>> = {};
  for (const s of CREDENTIALS) {
    const value = credentialFlags ? fromFlag(s) : fromEnv(s);
    if (value !== undefined) auth[s] = value;
  }
  for (const s of CONNECTION) {
    const value = fromFlag(s) ?? fromEnv(s);
    if (value !== undefined) auth[s] = value;
  }
  const problem = natsAuthProblem(auth);
  if (problem !== undefined) throw new InvalidRequestError(problem);
  return auth;
};

/** The settings of the `WEFT_NATS_*` environment variables alone (the SDKs' default). */
export const natsAuthFromEnv = (
  env: Readonly<Record<string, string | undefined>> = process.env,
): NatsAuth => natsAuthOf(() => undefined, env);

const nonEmpty = (value: string | undefined): string | undefined =>
  value === undefined || value.trim() === '' ? undefined : value;

/** The nats.js options `natsConnectOptions` sets. */
export type NatsAuthOptions = Pick<
  ConnectionOptions,
  'user' | 'pass' | 'token' | 'authenticator' | 'tls' | 'inboxPrefix'
>;

/**
 * `auth` as nats.js takes it: `user`/`pass`, `token`, a `credsAuthenticator` or an
 * `nkeyAuthenticator` over the file's contents (read once, here), and `tls` with the file paths
 * (nats.js reads those). Every file is checked now, so a missing or malformed one is reported
 * before any connection, by the setting that names it. Throws `InvalidRequestError`; no secret is
 * in its message.
 */
export const natsConnectOptions = (auth: NatsAuth): NatsAuthOptions => {
  const problem = natsAuthProblem(auth);
  if (problem !== undefined) throw new InvalidRequestError(problem);
  const tls = {
    ...(auth.tlsCa === undefined ? {} : { caFile: readable('tlsCa', auth.tlsCa) }),
    ...(auth.tlsCert === undefined ? {} : { certFile: readable('tlsCert', auth.tlsCert) }),
    ...(auth.tlsKey === undefined ? {} : { keyFile: readable('tlsKey', auth.tlsKey) }),
  };
  const authenticator =
    auth.creds === undefined
      ? auth.nkey === undefined
        ? undefined
        : nkeyFrom(auth.nkey)
      : credsFrom(auth.creds);
  return {
    ...(auth.user === undefined ? {} : { user: auth.user }),
    ...(auth.password === undefined ? {} : { pass: auth.password }),
    ...(auth.token === undefined ? {} : { token: auth.token }),
    ...(authenticator === undefined ? {} : { authenticator }),
    ...(Object.keys(tls).length === 0 ? {} : { tls }),
    ...(auth.inboxPrefix === undefined ? {} : { inboxPrefix: auth.inboxPrefix }),
  };
};

/**
 * A new reply subject under the connection's inbox prefix (nats.js keeps it in the options its
 * connection was opened with; `_INBOX` when none was given), for the reply subscriptions weft
 * makes itself. nats.js's own requests and JetStream consumers already use that prefix.
 */
export const newInbox = (nc: NatsConnection): string =>
  createInbox((nc as { readonly options?: ConnectionOptions }).options?.inboxPrefix);

const readable = (setting: Setting, path: string): string => {
  try {
    accessSync(path, constants.R_OK);
  } catch (error) {
    throw cannotRead(setting, path, error);
  }
  return path;
};

const read = (setting: Setting, path: string): Uint8Array => {
  try {
    return readFileSync(path);
  } catch (error) {
    throw cannotRead(setting, path, error);
  }
};

const cannotRead = (setting: Setting, path: string, error: unknown) =>
  new InvalidRequestError(
    `cannot read ${path} (${named(setting)}): ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
  );

/** The authenticator of a JWT credentials file, tried once so a malformed file fails here. */
const credsFrom = (path: string): Authenticator => {
  const authenticator = credsAuthenticator(read('creds', path));
  try {
    authenticator('check');
  } catch {
    throw new InvalidRequestError(
      `${path} (${named('creds')}) is not a NATS credentials file (a user JWT and its nkey seed)`,
    );
  }
  return authenticator;
};

/** The authenticator of an nkey seed file (the seed is the file's first non-blank line). */
const nkeyFrom = (path: string): Authenticator => {
  const text = new TextDecoder().decode(read('nkey', path));
  const seed = new TextEncoder().encode(
    text
      .split('\n')
      .map((line) => line.trim())
      .find((line) => line !== '') ?? '',
  );
  try {
    nkeys.fromSeed(seed);
  } catch {
    throw new InvalidRequestError(`${path} (${named('nkey')}) holds no nkey seed`);
  }
  return nkeyAuthenticator(seed);
};

const USERINFO = /^([a-z][a-z0-9+.-]*:\/\/)?([^@/]*)@/iu;

/**
 * NATS URL(s) fit for messages and logs: the password of `user:password@` replaced by `***`, and
 * a lone `token@` by `***@`. Pure; comma-separated lists stay lists.
 */
export const redactNatsUrl = (urls: string | readonly string[]): string =>
  natsServers(urls)
    .map((url) =>
      url.replace(USERINFO, (_match, scheme: string | undefined, info: string) => {
        const colon = info.indexOf(':');
        return `${scheme ?? ''}${colon === -1 ? '***' : `${info.slice(0, colon)}:***`}@`;
      }),
    )
    .join(',');

const decoded = (text: string): string => {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
};

/**
 * The credentials written into NATS URLs (`nats://user:password@host`, `nats://token@host`), which
 * nats.js itself ignores: those of the first URL that has any. Pure.
 */
export const urlCredentials = (urls: string | readonly string[]): NatsAuth => {
  for (const url of natsServers(urls)) {
    const info = USERINFO.exec(url)?.[2];
    if (info === undefined || info === '') continue;
    const colon = info.indexOf(':');
    return colon === -1
      ? { token: decoded(info) }
      : { user: decoded(info.slice(0, colon)), password: decoded(info.slice(colon + 1)) };
  }
  return {};
};

/** A TLS alert the server sends when it does not accept the client's certificate (or its lack). */
const CERTIFICATE_ALERT =
  /^ERR_SSL_.*ALERT_(BAD_CERTIFICATE|UNSUPPORTED_CERTIFICATE|CERTIFICATE_[A-Z_]+|UNKNOWN_CA|ACCESS_DENIED)$/u;

const codeOf = (error: unknown): string =>
  typeof (error as { code?: unknown } | undefined)?.code === 'string'
    ? (error as { code: string }).code
    : '';

/** Node's codes for a server certificate that no CA given (or known to Node) vouches for. */
const UNTRUSTED_SERVER = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
]);

/**
 * The cause on one line: a TLS alert as `TLS alert "<name>"`, not OpenSSL's whole report; an
 * untrusted server certificate with the setting that fixes it, not Node's advice.
 */
const causeOf = (error: unknown): string => {
  const message = (error instanceof Error ? error.message : String(error))
    .replace(/\s+/gu, ' ')
    .trim();
  const code = codeOf(error);
  if (UNTRUSTED_SERVER.has(code))
    return `${message.split(';')[0] ?? message} (the server's certificate: give its CA with ${named('tlsCa')})`;
  const alert = /\balert ([a-z ]+)/iu.exec(message)?.[1];
  return code.startsWith('ERR_SSL_') && alert !== undefined
    ? `TLS alert "${alert.trim()}"`
    : message;
};

/**
 * Why the server refused this client, or undefined when it did not: its credentials (nats.js's
 * `AuthorizationError`, or expired credentials), or its certificate (a TLS alert from the server
 * during the handshake, as when it verifies clients and got no certificate it trusts).
 */
const refusal = (error: unknown): string | undefined => {
  if (error instanceof AuthorizationError || error instanceof UserAuthenticationExpiredError)
    return error.message;
  if (!CERTIFICATE_ALERT.test(codeOf(error))) return undefined;
  return `${causeOf(error)} (the client certificate: ${named('tlsCert')}, ${named('tlsKey')})`;
};

/** Whether a connection failed because the server refused the client's credentials or certificate. */
export const refusedCredentials = (error: unknown): boolean => refusal(error) !== undefined;

/**
 * The error a failed connection becomes, on one line with the servers redacted: `NATS at <url>
 * refused the credentials: <cause>`, or `cannot reach NATS at <url>: <cause>`. The nats.js error
 * is its `cause`.
 */
export const natsConnectFailure = (
  servers: string | readonly string[],
  error: unknown,
): UnavailableError => {
  const where = redactNatsUrl(servers);
  const refused = refusal(error);
  const failure = new UnavailableError(
    refused === undefined
      ? `cannot reach NATS at ${where}: ${causeOf(error)}`
      : `NATS at ${where} refused the credentials: ${refused}`,
  );
  failure.cause = error;
  return failure;
};

/**
 * Connects with `auth` (else the credentials written into the URLs) and the other nats.js
 * `options`. A first connection that fails is not retried: throws `natsConnectFailure`'s
 * `UnavailableError` at once, or `InvalidRequestError` for unusable settings.
 *
 * Over TLS, a connection that reconnects is opened after a one-shot check (no reconnects, closed
 * at once), over TLS 1.2 at most. A TLS 1.3 server rejects a client certificate only
 * after the handshake, and then nats.js hands a reconnecting first connection to its reconnect loop
 * and waits out `timeout` (20 s by default), or sees a reset instead of the alert; over TLS 1.2 the
 * rejection is part of the handshake. A server that refuses TLS 1.2 is checked over its own.
 */
export const connectNats = async (
  servers: string | readonly string[],
  auth: NatsAuth,
  options: Omit<ConnectionOptions, 'servers'> = {},
): Promise<NatsConnection> => {
  const list = natsServers(servers);
  // nats.js's own credential options (the SDK passes them through) count as credentials given.
  const given =
    hasCredentials(auth) ||
    options.user !== undefined ||
    options.token !== undefined ||
    options.authenticator !== undefined;
  const base = {
    ...natsConnectOptions(given ? auth : { ...auth, ...urlCredentials(list) }),
    ...options,
    servers: list.map((url) => url.replace(USERINFO, '$1')),
  };
  const open = (more: Partial<ConnectionOptions>) => connect({ ...base, ...more });
  const check = async () => {
    if (base.tls === undefined || base.tls === null) return open({ reconnect: false });
    const tls12: TlsOptions & { readonly maxVersion: string } = {
      ...base.tls,
      maxVersion: 'TLSv1.2',
    };
    return open({ reconnect: false, tls: tls12 }).catch((error: unknown) => {
      if (!codeOf(error).endsWith('ALERT_PROTOCOL_VERSION')) throw error;
      return open({ reconnect: false });
    });
  };
  try {
    // Only TLS needs the throwaway check (below); without it a refusal fails the first connect.
    if (options.reconnect === false || base.tls === undefined || base.tls === null)
      return await open({});
    await (await check()).close();
    return await open({});
  } catch (error) {
    throw natsConnectFailure(list, error);
  }
};

/**
 * Logs the NATS Permissions Violations a long-lived connection hears: a publish the server dropped
 * or a subscription it refused, which nats.js reports only on the connection's status. Without it
 * a permission the process lacks (run events it may not publish, say) would fail in silence. One
 * line per operation at once, the repeats within 5 s summed up in one more.
 */
export const logPermissionViolations = (
  nc: NatsConnection,
  log: (message: string) => void,
): void => {
  const quiet = new QuietLog(log);
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type !== 'error' || !(status.error instanceof PermissionViolationError)) continue;
      const { operation, subject } = status.error;
      quiet.say(
        operation,
        `NATS refused this user ${operation === 'publish' ? 'a publish to' : 'a subscription to'} "${subject}" (Permissions Violation): its permissions must allow it`,
      );
    }
    quiet.close();
  })();
};
