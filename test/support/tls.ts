import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** PEM files of a throwaway PKI for TLS tests, all in one directory. */
export interface TestCertificates {
  /** The CA that signed both certificates below. */
  readonly ca: string;
  /** For 127.0.0.1 and localhost (subjectAltName), `serverAuth`. */
  readonly serverCert: string;
  readonly serverKey: string;
  /** `clientAuth`, for a server that verifies clients. */
  readonly clientCert: string;
  readonly clientKey: string;
}

const openssl = (dir: string, args: readonly string[]): void => {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
};

/** A new P-256 key in `<name>.key` and a signing request for `subject` in `<name>.csr`. */
const request = (dir: string, name: string, subject: string): void =>
  openssl(dir, [
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.csr`,
    '-subj',
    subject,
  ]);

/** `<name>.pem`: `<name>.csr` signed by the CA, with the given X.509 extensions. */
const sign = (dir: string, name: string, serial: number, extensions: string): void => {
  writeFileSync(join(dir, `${name}.ext`), extensions);
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-set_serial',
    String(serial),
    '-days',
    '2',
    '-out',
    `${name}.pem`,
    '-extfile',
    `${name}.ext`,
  ]);
};

/**
 * A CA, a server certificate for loopback and a client certificate, made with the `openssl` CLI
 * into `dir` (valid for two days). Throws when `openssl` is missing or fails.
 */
export const makeTestCertificates = (dir: string): TestCertificates => {
  openssl(dir, [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '2',
    '-subj',
    '/CN=weft test CA',
  ]);
  request(dir, 'server', '/CN=localhost');
  sign(
    dir,
    'server',
    2,
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n',
  );
  request(dir, 'client', '/CN=weft test client');
  sign(dir, 'client', 3, 'extendedKeyUsage=clientAuth\n');
  return {
    ca: join(dir, 'ca.pem'),
    serverCert: join(dir, 'server.pem'),
    serverKey: join(dir, 'server.key'),
    clientCert: join(dir, 'client.pem'),
    clientKey: join(dir, 'client.key'),
  };
};
