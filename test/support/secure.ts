/**
 * The secured test stack (TEST_SECURE=1): the run's own principal and its ACLs. Every test
 * deployment has its own topic prefix (`t<pid>x…`, see deployment.ts), so the principal that
 * runs the coordinator and the suites' clients gets the coordinator role's rights over that
 * whole family of prefixes, and nothing beyond it.
 */
import { provisionAccess } from '../../src/cli/secure-infra';
import { makeConfig, type Config } from '../../src/config';
import { signingRoles, SUPER_USER, type SecureBroker } from '../../src/infra/secure';
import { registerSigningKeys } from '../../src/messaging/keys';
import type { Parts } from '../../src/runtime';
import { applyAcls, REPLAY_GROUP_PREFIX, CLIENT_GROUP_PREFIX, TAIL_GROUP_PREFIX, type PlannedAcl, type Role } from '../../src/messaging/acl';
import { createKafka } from '../../src/messaging/kafka';
import { silentLogger } from '../../src/log';

export const RUN_PRINCIPAL = 'coordinator';
/** Principals beyond one per role, so tests can show one frontend or worker cannot act for another. */
export const EXTRA_PRINCIPALS = ['frontend-2', 'worker-2'] as const;
/** The first letter of every test prefix. */
const TEST_PREFIX_FAMILY = 't';

export const secureEnabled = (env: NodeJS.ProcessEnv = process.env): boolean => env.TEST_SECURE === '1' || secureRegistryEnabled(env);
/** TEST_SECURE_REGISTRY=1: the secured stack with its registry behind Keycloak as well. */
export const secureRegistryEnabled = (env: NodeJS.ProcessEnv = process.env): boolean => env.TEST_SECURE_REGISTRY === '1';

/** Configuration keys as environment variables, for the processes the tests start (coordinator, coordctl). */
export const connectionEnv = (c: Partial<Config>): Record<string, string> => {
  const names: Partial<Record<keyof Config, string>> = {
    kafkaSecurityProtocol: 'KAFKA_SECURITY_PROTOCOL',
    kafkaSaslMechanism: 'KAFKA_SASL_MECHANISM',
    kafkaSaslUsername: 'KAFKA_SASL_USERNAME',
    kafkaSaslPassword: 'KAFKA_SASL_PASSWORD',
    kafkaSslCaLocation: 'KAFKA_SSL_CA_LOCATION',
    schemaRegistryAuth: 'SCHEMA_REGISTRY_AUTH',
    signingKey: 'COORD_SIGNING_KEY',
    signingKeyId: 'COORD_SIGNING_KEY_ID',
    requireSignatures: 'COORD_REQUIRE_SIGNATURES',
  };
  return Object.fromEntries(Object.entries(names).flatMap(([k, env]) => (c[k as keyof Config] === undefined ? [] : [[env, String(c[k as keyof Config])]])));
};

const runAcls = (principal: string): PlannedAcl[] => {
  const rule = (resource: PlannedAcl['resource'], pattern: PlannedAcl['pattern'], name: string, operation: PlannedAcl['operation']): PlannedAcl => ({
    role: 'coordinator',
    principal,
    resource,
    pattern,
    name,
    operation,
  });
  return [
    ...(['READ', 'WRITE', 'DESCRIBE', 'DESCRIBE_CONFIGS', 'CREATE'] as const).map((op) => rule('TOPIC', 'PREFIXED', TEST_PREFIX_FAMILY, op)),
    // analytics- and reader-: the suites' outside readers of a topic (test/e2e/changelog.spec.ts, test/support/topics.ts).
    ...[TEST_PREFIX_FAMILY, REPLAY_GROUP_PREFIX, CLIENT_GROUP_PREFIX, TAIL_GROUP_PREFIX, 'analytics-', 'reader-'].map((g) => rule('GROUP', 'PREFIXED', g, 'READ')),
    rule('TRANSACTIONAL_ID', 'PREFIXED', TEST_PREFIX_FAMILY, 'WRITE'),
    rule('TRANSACTIONAL_ID', 'PREFIXED', TEST_PREFIX_FAMILY, 'DESCRIBE'),
    rule('CLUSTER', 'LITERAL', 'kafka-cluster', 'IDEMPOTENT_WRITE'),
  ];
};

/** The roles each principal's key is registered with on a test deployment: the run's principal does everything, as an admin. */
export const testSigningRoles = (principal: string): string[] => (principal === RUN_PRINCIPAL ? ['admin', 'coordinator'] : signingRoles(principal));

/**
 * Registers every principal's signing key on a new deployment's log, signed by the run's key,
 * before its coordinator proposes to require signatures (TEST_SECURE's initial settings).
 */
export const registerTestKeys = async (secure: SecureBroker, parts: Parts, topicPrefix: string): Promise<void> =>
  registerSigningKeys(
    { kafka: parts.kafka, codec: parts.codec, topicPrefix, signer: parts.signer },
    [...secure.signingKeys].map(([principal, k]) => ({ keyId: k.keyId, principal, roles: testSigningRoles(principal), publicKey: k.publicKey })),
  );

/** Grants the run's principal its rights, as the super user. */
export const grantRunPrincipal = async (brokers: string, secure: SecureBroker): Promise<void> => {
  const admin = createKafka({ kafkaBrokers: [brokers], ...secure.connection(SUPER_USER) }, 'test-acl', silentLogger()).admin();
  await admin.connect();
  try {
    await applyAcls(admin, runAcls(RUN_PRINCIPAL));
  } finally {
    await admin.disconnect();
  }
};

/** A deployment's configuration as the super user: on a plain stack, the deployment's own. */
export const asAdmin = (secure: SecureBroker | undefined, config: Config): Config => (secure === undefined ? config : makeConfig({ ...config, ...secure.connection(SUPER_USER) }));

/**
 * A deployment's configuration as the principal of `role`, once that role's ACLs for the deployment's prefix are in
 * place, as `coordctl acl apply --role ROLE` puts them (the plan of `coordctl acl plan`); on a plain stack, the deployment's own.
 */
export const asRole = async (secure: SecureBroker | undefined, config: Config, role: Role): Promise<Config> => {
  if (secure === undefined) return config;
  await provisionAccess(asAdmin(secure, config), silentLogger(), { roles: [role] });
  return makeConfig({ ...config, ...secure.connection(role) });
};
