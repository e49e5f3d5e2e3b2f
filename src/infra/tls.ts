/**
 * The secured stack's certificates: a private CA and a broker certificate for 127.0.0.1 and
 * localhost, made once with openssl into a folder the project ignores (`.coord/tls`, or a test
 * run's temporary folder). Kept when present, so clients that trusted the CA keep trusting it.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { CoordError } from '../errors';

export interface TlsMaterial {
  /** The CA certificate clients trust (PEM). */
  readonly caFile: string;
  /** The broker's key and certificate as a PKCS#12 keystore, and its password. */
  readonly keystoreFile: string;
  readonly keystorePassword: string;
  /** The same certificate (issued by the CA, for 127.0.0.1 and localhost) and its unencrypted key as PEM files, for servers that read PEM (the registry's https). */
  readonly certFile: string;
  readonly keyFile: string;
}

const openssl = (args: readonly string[], cwd: string): void => {
  const res = spawnSync('openssl', [...args], { cwd, encoding: 'utf8' });
  if (res.error !== undefined)
    throw new CoordError('INFRA_START_FAILED', `the secured stack needs openssl to make its certificates: 'apt-get install openssl' (${res.error.message})`);
  if (res.status !== 0) throw new CoordError('INFRA_START_FAILED', `openssl ${args[0]} failed (exit ${res.status}):\n${res.stderr.slice(-2000)}`);
};

const FILES = { ca: 'ca.pem', caKey: 'ca.key', key: 'broker.key', csr: 'broker.csr', cert: 'broker.pem', ext: 'broker.ext', p12: 'broker.p12', pass: 'broker.p12.pass' };

/** The CA and the broker's keystore in `dir`, made on first use (openssl, RSA 2048, 10 years). */
export const ensureTlsMaterial = (dir: string): TlsMaterial => {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const f = Object.fromEntries(Object.entries(FILES).map(([k, v]) => [k, join(dir, v)])) as Record<keyof typeof FILES, string>;
  if (!(existsSync(f.ca) && existsSync(f.p12) && existsSync(f.pass))) {
    const password = randomBytes(18).toString('base64url');
    openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '3650', '-subj', '/CN=coord local CA', '-keyout', f.caKey, '-out', f.ca], dir);
    openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', f.key, '-out', f.csr], dir);
    // Clients check the broker's address against the certificate's subject alternative names.
    writeFileSync(f.ext, 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n');
    openssl(['x509', '-req', '-in', f.csr, '-CA', f.ca, '-CAkey', f.caKey, '-CAcreateserial', '-days', '3650', '-extfile', f.ext, '-out', f.cert], dir);
    // Java reads PKCS#12; the legacy-free default (AES) is read by Java 17.
    openssl(['pkcs12', '-export', '-in', f.cert, '-inkey', f.key, '-certfile', f.ca, '-name', 'broker', '-passout', `pass:${password}`, '-out', f.p12], dir);
    writeFileSync(f.pass, password, { mode: 0o600 });
    for (const k of [f.caKey, f.key, f.p12]) chmodSync(k, 0o600);
  }
  return { caFile: f.ca, keystoreFile: f.p12, keystorePassword: readPass(f.pass), certFile: f.cert, keyFile: f.key };
};

const readPass = (file: string): string => readFileSync(file, 'utf8').trim();
