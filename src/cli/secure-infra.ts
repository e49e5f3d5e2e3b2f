/** What SECURE=1 changes in `make infra` / `make run`: the secured broker's folders, run.env, ACLs and private reply topics. */
import { join } from 'node:path';
import { loadConfig, type Config } from '../config';
import type { SecureBroker } from '../infra/secure';
import { secureRunEnv } from '../infra/secure';
import type { Logger } from '../log';
import { applyAcls, planAcls, privateReplyTopic, ROLES, type Role } from '../messaging/acl';
import { withAdmin } from '../messaging/clients';
import { createKafka, ensureTopics } from '../messaging/kafka';
import { RUN_DIR } from './run-env';

/** run.env keys a secured stack sets; a plain one blanks them, so an earlier secured run's values do not linger. */
const SECURE_KEYS = ['KAFKA_SECURITY_PROTOCOL', 'KAFKA_SASL_MECHANISM', 'KAFKA_SSL_CA_LOCATION', 'COORD_SECRETS_DIR', 'COORD_REQUIRE_SIGNATURES', 'SCHEMA_REGISTRY_TLS_URL', 'SCHEMA_REGISTRY_CA_LOCATION'] as const;

export const secureInfra = {
  enabled: (env: NodeJS.ProcessEnv): boolean => env.SECURE === '1' || env.SECURE === 'true',
  /** With SECURE=1 the registry sits behind Keycloak as well, unless SECURE_REGISTRY=0 leaves it open to writes. */
  registryEnabled: (env: NodeJS.ProcessEnv): boolean => env.SECURE_REGISTRY !== '0' && env.SECURE_REGISTRY !== 'false',
  /** `.coord/tls` and `.coord/secrets`. */
  secureDir: (root: string): string => join(root, RUN_DIR),
  /** Its own data folder: a plain broker's storage has no SCRAM principals. */
  infraDir: (root: string, secure: boolean): string => join(root, RUN_DIR, secure ? 'infra-secure' : 'infra'),
  /** The secured stack's run.env keys (with the registry's https address and its CA when it has one); a plain stack's blanks. */
  runEnv: (secure: SecureBroker | undefined, registryTlsUrl?: string): Record<string, string> =>
    secure === undefined
      ? Object.fromEntries(SECURE_KEYS.map((k) => [k, '']))
      : { SCHEMA_REGISTRY_TLS_URL: '', SCHEMA_REGISTRY_CA_LOCATION: '', ...secureRunEnv(secure), ...(registryTlsUrl === undefined ? {} : { SCHEMA_REGISTRY_TLS_URL: registryTlsUrl, SCHEMA_REGISTRY_CA_LOCATION: secure.tls.caFile }) },
  /** Whether a running stack described by run.env is of the profile asked for. */
  sameProfile: (runEnv: Record<string, string>, secure: boolean): boolean => (runEnv.KAFKA_SECURITY_PROTOCOL === 'SASL_SSL') === secure,
  /** The admin's view of the stack, for provisioning. */
  adminConfig: (env: NodeJS.ProcessEnv): Config => loadConfig(env).config,
};

/** The roles' ACLs and each frontend's and worker's private reply topic, as the super user; idempotent. */
export const provisionAccess = async (
  config: Config,
  log: Logger,
  opts: { roles?: readonly Role[]; principals?: Partial<Record<Role, readonly string[]>> } = {},
): Promise<{ created: number; present: number; replyTopics: string[] }> => {
  const roles = opts.roles ?? ROLES;
  const plan = planAcls({ topicPrefix: config.topicPrefix, groupId: config.groupId }, { roles, principals: opts.principals });
  const replyTopics = (['frontend', 'worker'] as const)
    .filter((r) => roles.includes(r))
    .flatMap((r) => opts.principals?.[r] ?? [r])
    .map((p) => ({ topic: privateReplyTopic(config.topicPrefix, p), numPartitions: 1 }));
  return withAdmin(createKafka(config, 'coord-acl', log), async (admin) => {
    await ensureTopics(admin, replyTopics);
    const r = await applyAcls(admin, plan);
    log.info('ACLs in place', { ...r, replyTopics: replyTopics.map((t) => t.topic) });
    return { ...r, replyTopics: replyTopics.map((t) => t.topic) };
  });
};
