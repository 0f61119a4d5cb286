import { createHash } from 'node:crypto';
import { nkeys } from '@nats-io/transport-node';

/**
 * A NATS operator setup (decentralized JWT auth) made in the test, as `nsc` would make it: an
 * operator, a system account, an account with JetStream, and `.creds` files for its users. JWTs
 * are signed here with nkeys (header `ed25519-nkey`, claims version 2); nats-server checks the
 * signatures up to the operator it is configured with.
 */
export interface OperatorSetup {
  /** nats-server configuration: `operator`, `system_account`, a memory resolver preloaded. */
  readonly config: string;
  /** A `.creds` file's text for a new user of the account. */
  userCreds(): string;
  /** A `.creds` file's text for a user of an account the server does not know. */
  strangerCreds(): string;
}

type KeyPair = ReturnType<typeof nkeys.createUser>;

const base64url = (data: string | Uint8Array): string => Buffer.from(data).toString('base64url');

/** A JWT about `subject`, issued and signed by `issuer` (its `jti`: a hash of the claims). */
const jwt = (issuer: KeyPair, subject: KeyPair, name: string, nats: object): string => {
  const header = base64url(JSON.stringify({ typ: 'JWT', alg: 'ed25519-nkey' }));
  const claims = {
    jti: '',
    iat: Math.floor(Date.now() / 1000),
    iss: issuer.getPublicKey(),
    name,
    sub: subject.getPublicKey(),
    nats: { ...nats, version: 2 },
  };
  claims.jti = createHash('sha256').update(JSON.stringify(claims)).digest('hex').toUpperCase();
  const payload = base64url(JSON.stringify(claims));
  const signature = issuer.sign(new TextEncoder().encode(`${header}.${payload}`));
  return `${header}.${payload}.${base64url(signature)}`;
};

const UNLIMITED = { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true };

const account = (operator: KeyPair, key: KeyPair, name: string, jetstream: boolean) =>
  jwt(operator, key, name, {
    type: 'account',
    limits: {
      ...UNLIMITED,
      conn: -1,
      leaf: -1,
      ...(jetstream ? { mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 } : {}),
    },
    default_permissions: { pub: {}, sub: {} },
  });

const creds = (issuer: KeyPair): string => {
  const user = nkeys.createUser();
  const token = jwt(issuer, user, 'weft', { type: 'user', pub: {}, sub: {}, ...UNLIMITED });
  return [
    '-----BEGIN NATS USER JWT-----',
    token,
    '------END NATS USER JWT------',
    '',
    '-----BEGIN USER NKEY SEED-----',
    new TextDecoder().decode(user.getSeed()),
    '------END USER NKEY SEED------',
    '',
  ].join('\n');
};

export const operatorSetup = (): OperatorSetup => {
  const operator = nkeys.createOperator();
  const system = nkeys.createAccount();
  const weft = nkeys.createAccount();
  const operatorJwt = jwt(operator, operator, 'weft-test', {
    type: 'operator',
    system_account: system.getPublicKey(),
  });
  return {
    config: [
      `operator: ${operatorJwt}`,
      `system_account: ${system.getPublicKey()}`,
      'resolver: MEMORY',
      'resolver_preload: {',
      `  ${system.getPublicKey()}: ${account(operator, system, 'SYS', false)}`,
      `  ${weft.getPublicKey()}: ${account(operator, weft, 'weft', true)}`,
      '}',
      '',
    ].join('\n'),
    userCreds: () => creds(weft),
    strangerCreds: () => creds(nkeys.createAccount()),
  };
};
