/**
 * The secured profile of the local broker (SECURE=1): a SASL_SSL listener with SCRAM-SHA-512,
 * TLS from the project's own CA, StandardAuthorizer refusing whatever no ACL allows, one super
 * user (`admin`) for provisioning, and one SCRAM principal per role whose password is written
 * to `<secrets>/<principal>.env`. Principals are created when the storage is formatted.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config';
import { namedFor, ROLES } from '../messaging/acl';
import { generateSigningKey, publicKeyOfFile } from '../messaging/signing';
import { ensureTlsMaterial, type TlsMaterial } from './tls';

/** The broker's own principal on the controller listener (SASL PLAIN over TLS, never seen by clients). */
const CONTROLLER_PRINCIPAL = 'controller';
export const SUPER_USER = 'admin';

export interface SecureBroker {
  readonly tls: TlsMaterial;
  /** Password of each SCRAM principal, by name. */
  readonly passwords: ReadonlyMap<string, string>;
  /** The registry's clients (every principal but the broker's own) and their secrets, for Keycloak. */
  readonly registryClients: ReadonlyMap<string, string>;
  readonly secretsDir: string;
  /** Each principal's signing key, registered on a deployment's log by `registerSigningKeys` (src/messaging/keys.ts). */
  readonly signingKeys: ReadonlyMap<string, SigningKey>;
  /** Lines appended to server.properties: later keys override the plain profile's listeners. */
  properties(port: number, controllerPort: number): string;
  /** StorageTool arguments that create the SCRAM principals when the storage is formatted. */
  readonly formatArgs: readonly string[];
  /** How `principal` connects: the settings every tool reads (KAFKA_SECURITY_PROTOCOL, …). */
  connection(
    principal: string,
  ): Pick<
    Config,
    'kafkaSecurityProtocol' | 'kafkaSaslMechanism' | 'kafkaSaslUsername' | 'kafkaSaslPassword' | 'kafkaSslCaLocation' | 'kafkaSsl' | 'schemaRegistryAuth' | 'signingKey' | 'signingKeyId'
  >;
}

const readSecret = (file: string, key: string): string | undefined => {
  if (!existsSync(file)) return undefined;
  const m = new RegExp(`^${key}=(.*)$`, 'm').exec(readFileSync(file, 'utf8'));
  return m?.[1];
};

/** A principal's signing key: its id, its PEM private key file, and its public key as RegisterPrincipalKey takes it. */
export interface SigningKey {
  readonly keyId: string;
  readonly file: string;
  readonly publicKey: string;
}

/**
 * `<dir>/<principal>.env` with the principal's SCRAM credentials and its signing key's file and
 * id (0600), and `<dir>/<principal>.key`, its Ed25519 signing key (0600): made once and kept.
 */
export const ensureSecrets = (
  dir: string,
  principals: readonly string[],
  signing: (principal: string) => boolean = () => true,
): { passwords: Map<string, string>; signingKeys: Map<string, SigningKey> } => {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const passwords = new Map<string, string>();
  const signingKeys = new Map<string, SigningKey>();
  for (const p of principals) {
    const file = join(dir, `${p}.env`);
    let password = readSecret(file, 'KAFKA_SASL_PASSWORD');
    if (password === undefined) {
      // base64url: no character SCRAM's `[name=…,password=…]` syntax or a shell would read specially.
      password = randomBytes(24).toString('base64url');
      // The same secret is the principal's registry client secret (Keycloak's client credentials, as basic auth).
      writeFileSync(file, `KAFKA_SASL_USERNAME=${p}\nKAFKA_SASL_PASSWORD=${password}\nSCHEMA_REGISTRY_AUTH=${p}:${password}\n`, { mode: 0o600 });
      chmodSync(file, 0o600);
    }
    passwords.set(p, password);
    if (!signing(p)) continue;
    // Secrets folders made before records were signed get a key on their next start.
    const keyFile = join(dir, `${p}.key`);
    let keyId = readSecret(file, 'COORD_SIGNING_KEY_ID');
    if (keyId === undefined || !existsSync(keyFile)) {
      keyId = `${p}-1`;
      writeFileSync(keyFile, generateSigningKey().privateKeyPem, { mode: 0o600 });
      chmodSync(keyFile, 0o600);
      const kept = readFileSync(file, 'utf8').replace(/^COORD_SIGNING_KEY(_ID)?=.*\n/gm, '');
      writeFileSync(file, `${kept}COORD_SIGNING_KEY=${keyFile}\nCOORD_SIGNING_KEY_ID=${keyId}\n`, { mode: 0o600 });
    }
    signingKeys.set(p, { keyId, file: keyFile, publicKey: publicKeyOfFile(keyFile) });
  }
  return { passwords, signingKeys };
};

/** The roles a principal's signing key is registered with, by the name the secured stack gives it. */
export const signingRoles = (principal: string): string[] =>
  principal === SUPER_USER ? ['admin'] : (['coordinator', 'worker', 'frontend', 'reader'] as const).filter((r) => namedFor(principal, r));

/**
 * The secured broker's material in `dir` (`tls/`, `secrets/`): every role's principal and the
 * `extraPrincipals` (a second frontend or worker, for tests that one cannot act for another).
 */
export const secureBroker = (dir: string, extraPrincipals: readonly string[] = []): SecureBroker => {
  const tls = ensureTlsMaterial(join(dir, 'tls'));
  const secretsDir = join(dir, 'secrets');
  const principals = [...new Set([...ROLES, CONTROLLER_PRINCIPAL, ...extraPrincipals])];
  // The broker's own principal never sends a record of the protocol: it signs nothing.
  const { passwords, signingKeys } = ensureSecrets(secretsDir, principals, (p) => p !== CONTROLLER_PRINCIPAL);
  const pw = (p: string): string => passwords.get(p) ?? '';
  const scram = (p: string): string => `org.apache.kafka.common.security.scram.ScramLoginModule required username="${p}" password="${pw(p)}";`;
  return {
    tls,
    passwords,
    registryClients: new Map([...passwords].filter(([p]) => p !== CONTROLLER_PRINCIPAL)),
    secretsDir,
    signingKeys,
    formatArgs: principals.filter((p) => p !== CONTROLLER_PRINCIPAL).flatMap((p) => ['--add-scram', `SCRAM-SHA-512=[name=${p},password=${pw(p)}]`]),
    properties: (port, controllerPort) =>
      [
        `listeners=SASL_SSL://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
        `advertised.listeners=SASL_SSL://127.0.0.1:${port}`,
        'listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:SASL_SSL',
        'inter.broker.listener.name=SASL_SSL',
        'sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512',
        'listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512',
        `listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=${scram(SUPER_USER)}`,
        // SCRAM credentials live in the metadata log, which the controller serves: it authenticates its own broker with PLAIN.
        'sasl.mechanism.controller.protocol=PLAIN',
        'listener.name.controller.sasl.enabled.mechanisms=PLAIN',
        `listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="${CONTROLLER_PRINCIPAL}" password="${pw(CONTROLLER_PRINCIPAL)}" user_${CONTROLLER_PRINCIPAL}="${pw(CONTROLLER_PRINCIPAL)}";`,
        'ssl.keystore.type=PKCS12',
        `ssl.keystore.location=${tls.keystoreFile}`,
        `ssl.keystore.password=${tls.keystorePassword}`,
        `ssl.key.password=${tls.keystorePassword}`,
        'ssl.truststore.type=PEM',
        `ssl.truststore.location=${tls.caFile}`,
        'authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer',
        'allow.everyone.if.no.acl.found=false',
        `super.users=User:${SUPER_USER};User:${CONTROLLER_PRINCIPAL}`,
        '',
      ].join('\n'),
    connection: (principal) => ({
      kafkaSsl: true,
      kafkaSecurityProtocol: 'SASL_SSL',
      kafkaSaslMechanism: 'scram-sha-512',
      kafkaSaslUsername: principal,
      kafkaSaslPassword: pw(principal),
      kafkaSslCaLocation: tls.caFile,
      schemaRegistryAuth: `${principal}:${pw(principal)}`,
      signingKey: signingKeys.get(principal)?.file,
      signingKeyId: signingKeys.get(principal)?.keyId,
    }),
  };
};

/** The run.env lines of a secured stack (no password: those are in the secrets folder). */
export const secureRunEnv = (s: SecureBroker): Record<string, string> => ({
  KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
  KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
  KAFKA_SSL_CA_LOCATION: s.tls.caFile,
  COORD_SECRETS_DIR: s.secretsDir,
  // The coordinator's initial settings require signed records (src/engine/initial-settings.ts).
  COORD_REQUIRE_SIGNATURES: 'true',
});
