import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuthorizationError, nkeys, type Auth } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidRequestError, UnavailableError } from '../../src/client/errors.ts';
import {
  natsAuthOf,
  natsConnectFailure,
  natsConnectOptions,
  redactNatsUrl,
  refusedCredentials,
  urlCredentials,
} from '../../src/natsAuth.ts';

/**
 * The NATS connection settings (CONTRACT §6 "Security"): flags over environment, the nats.js
 * options built from them (files read and checked here), redacted URLs and the one-line error of
 * a refused connection. Connecting with each kind: test/integration/natsAuth.test.ts.
 */

let dir: string;
const file = (name: string, content: string): string => {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'weft-natsauth-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A `.creds` file as `nsc` writes it: a user JWT (any text will do here) and the user's seed. */
const credsFile = (jwt: string, seed: string) =>
  [
    '-----BEGIN NATS USER JWT-----',
    jwt,
    '------END NATS USER JWT------',
    '',
    '************************* IMPORTANT *************************',
    'NKEY Seed printed below can be used to sign and prove identity.',
    '',
    '-----BEGIN USER NKEY SEED-----',
    seed,
    '------END USER NKEY SEED------',
    '',
  ].join('\n');

const signedBy = (auth: Auth, nonce: string): boolean => {
  const { nkey, sig } = auth as { nkey: string; sig: string };
  return nkeys.fromPublic(nkey).verify(new TextEncoder().encode(nonce), nkeys.decode(sig));
};

describe('natsAuthOf', () => {
  const flags =
    (given: Record<string, string>) =>
    (name: string): string | undefined =>
      given[name];

  it('reads the WEFT_NATS_* variables when no flag is given, blanks counting as absent', () => {
    expect(
      natsAuthOf(flags({}), {
        WEFT_NATS_USER: 'alice',
        WEFT_NATS_PASSWORD: 'pw',
        WEFT_NATS_TLS_CA: '/ca.pem',
        WEFT_NATS_TOKEN: ' ',
      }),
    ).toEqual({ user: 'alice', password: 'pw', tlsCa: '/ca.pem' });
    expect(natsAuthOf(flags({}), {})).toEqual({});
  });

  it('lets credential flags replace the environment credentials, and each TLS flag its variable', () => {
    const env = {
      WEFT_NATS_USER: 'alice',
      WEFT_NATS_PASSWORD: 'pw',
      WEFT_NATS_TLS_CA: '/env-ca.pem',
      WEFT_NATS_TLS_CERT: '/env-cert.pem',
      WEFT_NATS_TLS_KEY: '/env-key.pem',
    };
    expect(natsAuthOf(flags({ token: 't0k', 'tls-ca': '/ca.pem' }), env)).toEqual({
      token: 't0k',
      tlsCa: '/ca.pem',
      tlsCert: '/env-cert.pem',
      tlsKey: '/env-key.pem',
    });
    expect(natsAuthOf(flags({ creds: '/u.creds' }), { WEFT_NATS_NKEY: '/seed' })).toEqual({
      creds: '/u.creds',
    });
  });

  it('refuses two kinds of credentials, a password without a user, a certificate without its key', () => {
    const problem = (given: Record<string, string>, env: Record<string, string> = {}) => {
      try {
        natsAuthOf(flags(given), env);
      } catch (error) {
        expect(error).toBeInstanceOf(InvalidRequestError);
        return (error as Error).message;
      }
      return undefined;
    };
    expect(problem({ token: 'x', user: 'alice' })).toBe(
      'give one kind of NATS credentials, not --user (WEFT_NATS_USER) and --token (WEFT_NATS_TOKEN)',
    );
    expect(problem({}, { WEFT_NATS_CREDS: '/a', WEFT_NATS_NKEY: '/b' })).toMatch(
      /--creds .* and --nkey/,
    );
    expect(problem({ password: 'secret-pw' })).toBe(
      '--password (WEFT_NATS_PASSWORD) needs --user (WEFT_NATS_USER)',
    );
    expect(problem({ 'tls-cert': '/c.pem' })).toBe(
      '--tls-cert (WEFT_NATS_TLS_CERT) and --tls-key (WEFT_NATS_TLS_KEY) go together',
    );
    expect(problem({ token: 'secret-token', user: 'u' })).not.toContain('secret-token');
  });

  it('takes an inbox prefix by flag over variable, and refuses one with wildcards, spaces or empty tokens', () => {
    expect(natsAuthOf(flags({}), { WEFT_NATS_INBOX_PREFIX: '_INBOX_acme_worker' })).toEqual({
      inboxPrefix: '_INBOX_acme_worker',
    });
    expect(
      natsAuthOf(flags({ 'inbox-prefix': 'acme._in' }), { WEFT_NATS_INBOX_PREFIX: '_INBOX_x' }),
    ).toEqual({ inboxPrefix: 'acme._in' });
    for (const bad of ['_INBOX.>', 'a.*.b', 'two words', 'a..b', '.a', 'a.'])
      expect(() => natsAuthOf(flags({ 'inbox-prefix': bad }), {})).toThrow(
        /^--inbox-prefix \(WEFT_NATS_INBOX_PREFIX\) must be subject tokens without wildcards or spaces/u,
      );
  });
});

describe('natsConnectOptions', () => {
  it('passes user and password, or a token, as nats.js takes them', () => {
    expect(natsConnectOptions({ user: 'alice', password: 'pw' })).toEqual({
      user: 'alice',
      pass: 'pw',
    });
    expect(natsConnectOptions({ token: 't0k' })).toEqual({ token: 't0k' });
    expect(natsConnectOptions({ inboxPrefix: '_INBOX_a' })).toEqual({ inboxPrefix: '_INBOX_a' });
    expect(natsConnectOptions({})).toEqual({});
  });

  it('reads a JWT credentials file into a credsAuthenticator: the JWT, signed with its seed', () => {
    const user = nkeys.createUser();
    const seed = new TextDecoder().decode(user.getSeed());
    const jwt = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJzdWIiOiJVIn0.c2ln';
    const options = natsConnectOptions({ creds: file('user.creds', credsFile(jwt, seed)) });
    expect(Object.keys(options)).toEqual(['authenticator']);
    const authenticator = options.authenticator;
    if (typeof authenticator !== 'function') throw new Error('expected one authenticator');
    const auth = authenticator('nonce-1');
    expect(auth).toMatchObject({ jwt, nkey: user.getPublicKey() });
    expect(signedBy(auth, 'nonce-1')).toBe(true);
  });

  it('reads an nkey seed file into an nkeyAuthenticator', () => {
    const user = nkeys.createUser();
    const seed = new TextDecoder().decode(user.getSeed());
    const options = natsConnectOptions({ nkey: file('user.nk', `\n${seed}\n`) });
    const authenticator = options.authenticator;
    if (typeof authenticator !== 'function') throw new Error('expected one authenticator');
    const auth = authenticator('nonce-2');
    expect(auth).toMatchObject({ nkey: user.getPublicKey() });
    expect(signedBy(auth, 'nonce-2')).toBe(true);
  });

  it('gives nats.js the TLS file paths, each checked to be readable', () => {
    const ca = file('ca.pem', 'x');
    const cert = file('cert.pem', 'x');
    const key = file('key.pem', 'x');
    expect(natsConnectOptions({ tlsCa: ca, tlsCert: cert, tlsKey: key })).toEqual({
      tls: { caFile: ca, certFile: cert, keyFile: key },
    });
    expect(() => natsConnectOptions({ tlsCa: join(dir, 'missing.pem') })).toThrow(
      /^cannot read .*missing\.pem \(--tls-ca \(WEFT_NATS_TLS_CA\)\): ENOENT$/,
    );
  });

  it('names a missing or malformed file by its setting, never quoting what it holds', () => {
    const secret = 'SUSECRETSEEDTHATISNOTVALID';
    const attempts = [
      { creds: join(dir, 'nope.creds') },
      { creds: file('bad.creds', `not a creds file ${secret}`) },
      { nkey: file('bad.nk', secret) },
    ];
    const messages = attempts.map((auth) => {
      try {
        natsConnectOptions(auth);
      } catch (error) {
        expect(error).toBeInstanceOf(InvalidRequestError);
        return (error as Error).message;
      }
      return 'no error';
    });
    expect(messages[0]).toMatch(
      /^cannot read .*nope\.creds \(--creds \(WEFT_NATS_CREDS\)\): ENOENT$/,
    );
    expect(messages[1]).toMatch(
      /bad\.creds \(--creds \(WEFT_NATS_CREDS\)\) is not a NATS credentials file/,
    );
    expect(messages[2]).toMatch(/bad\.nk \(--nkey \(WEFT_NATS_NKEY\)\) holds no nkey seed/);
    for (const message of messages) expect(message).not.toContain(secret);
  });
});

describe('redactNatsUrl', () => {
  it('hides passwords and tokens in NATS URLs, leaving the rest', () => {
    expect(redactNatsUrl('nats://alice:s3cret@127.0.0.1:4222')).toBe(
      'nats://alice:***@127.0.0.1:4222',
    );
    expect(redactNatsUrl('tls://t0ken@nats.example:4443')).toBe('tls://***@nats.example:4443');
    expect(redactNatsUrl('bob:pw@host:4222, nats://c:4222')).toBe(
      'bob:***@host:4222,nats://c:4222',
    );
    expect(redactNatsUrl(['nats://a:4222', 'nats://u:p@b:4222'])).toBe(
      'nats://a:4222,nats://u:***@b:4222',
    );
  });
});

describe('urlCredentials', () => {
  it('takes user and password, or a token, from the first URL that has them (nats.js ignores them)', () => {
    expect(urlCredentials('nats://a:4222,nats://alice:p%40ss@b:4222')).toEqual({
      user: 'alice',
      password: 'p@ss',
    });
    expect(urlCredentials(['tls://t0ken@nats.example:4443'])).toEqual({ token: 't0ken' });
    expect(urlCredentials('nats://127.0.0.1:4222')).toEqual({});
  });
});

describe('natsConnectFailure', () => {
  it('one line naming the server and the cause: refused credentials, a refused certificate, or unreachable', () => {
    const refused = natsConnectFailure(
      'nats://alice:pw@127.0.0.1:4555',
      new AuthorizationError('Authorization Violation'),
    );
    expect(refused).toBeInstanceOf(UnavailableError);
    expect(refused.message).toBe(
      'NATS at nats://alice:***@127.0.0.1:4555 refused the credentials: Authorization Violation',
    );
    const alert = Object.assign(
      new Error(
        '409DC570317F0000:error:0A000412:SSL routines:ssl3_read_bytes:ssl/tls alert bad certificate:../deps/openssl/openssl/ssl/record/rec_layer_s3.c:918:SSL alert number 42\n',
      ),
      { code: 'ERR_SSL_SSL/TLS_ALERT_BAD_CERTIFICATE' },
    );
    expect(refusedCredentials(alert)).toBe(true);
    expect(natsConnectFailure(['nats://127.0.0.1:4556'], alert).message).toBe(
      'NATS at nats://127.0.0.1:4556 refused the credentials: TLS alert "bad certificate" (the client certificate: --tls-cert (WEFT_NATS_TLS_CERT), --tls-key (WEFT_NATS_TLS_KEY))',
    );
    const down = natsConnectFailure('nats://127.0.0.1:1', new Error('connection refused'));
    expect(down.message).toBe('cannot reach NATS at nats://127.0.0.1:1: connection refused');
    expect(refusedCredentials(new Error('connection refused'))).toBe(false);
  });
});
