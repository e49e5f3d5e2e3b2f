/**
 * Keycloak for the secured stack's registry: fetched once from Maven Central
 * (`org.keycloak:keycloak-quarkus-dist`, compose/local/keycloak/pom.xml) into `.cache/keycloak`,
 * built once for an in-memory database, then started per stack from a home folder of its own
 * (the shared jars linked in, the realm to import beside them) on 127.0.0.1.
 *
 * The realm `registry` has one confidential client per role, whose service account holds the
 * registry role Apicurio checks: `admin` sr-admin, `coordinator` sr-developer (it registers
 * the protocol's schemas), every other role sr-readonly. Apicurio takes the client id and
 * secret as HTTP basic credentials and trades them for a token at Keycloak, so the registry
 * client needs nothing but `SCHEMA_REGISTRY_AUTH=<role>:<secret>`.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoordError } from '../errors';
import type { Logger } from '../log';
import { spawnService, freePort, waitUntil, type Service } from './process';
import { findJava, findMaven } from './tools';

export const KEYCLOAK_REALM = 'registry';
/** The client Apicurio itself is known as in the realm. */
export const REGISTRY_CLIENT = 'registry-api';

export interface KeycloakDist {
  readonly version: string;
  readonly home: string;
}

const BUILT_MARK = '.coord-built';
/**
 * Fixed when Keycloak is built: an in-memory database (the realm is imported at every start),
 * and a local cache, since the default clustered one looks for peers and listens beyond 127.0.0.1.
 */
const BUILD_OPTIONS = ['--db=dev-mem', '--cache=local', '--health-enabled=true'] as const;

const pomVersion = (root: string): string => {
  const pom = readFileSync(join(root, 'compose', 'local', 'keycloak', 'pom.xml'), 'utf8');
  const m = /<keycloak\.version>([^<]+)<\/keycloak\.version>/.exec(pom);
  if (m === null) throw new CoordError('INFRA_START_FAILED', 'compose/local/keycloak/pom.xml has no <keycloak.version>');
  return m[1];
};

/** Fetches and builds Keycloak once (Maven, then `kc.sh build`: minutes on a small machine, never again). */
export const ensureKeycloakDist = (root: string, log: Logger): KeycloakDist => {
  const version = pomVersion(root);
  const home = join(root, '.cache', 'keycloak', `keycloak-${version}`);
  if (!existsSync(join(home, 'lib', 'quarkus-run.jar'))) {
    log.info('fetching Keycloak from Maven Central (once)', { version });
    const res = spawnSync(findMaven(), ['-B', '-q', '-f', join(root, 'compose', 'local', 'keycloak', 'pom.xml'), 'package'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    if (res.status !== 0 || !existsSync(join(home, 'lib', 'quarkus-run.jar')))
      throw new CoordError('INFRA_START_FAILED', `Maven could not fetch Keycloak ${version} (exit ${res.status}):\n${`${res.stdout}${res.stderr}`.slice(-4000)}`);
  }
  const mark = join(home, BUILT_MARK);
  const built = `${version} ${BUILD_OPTIONS.join(' ')}`;
  if (!existsSync(mark) || readFileSync(mark, 'utf8').trim() !== built) {
    log.info('building Keycloak for an in-memory database (once; a few minutes)', { version });
    const java = findJava(21, `Keycloak ${version}`);
    const res = spawnSync(join(home, 'bin', 'kc.sh'), ['build', ...BUILD_OPTIONS], {
      encoding: 'utf8',
      env: { ...process.env, JAVA_HOME: join(java.path, '..', '..') },
      maxBuffer: 64 * 1024 * 1024,
    });
    if (res.status !== 0) throw new CoordError('INFRA_START_FAILED', `kc.sh build failed (exit ${res.status}):\n${`${res.stdout}${res.stderr}`.slice(-4000)}`);
    writeFileSync(mark, `${built}\n`);
  }
  return { version, home };
};

/** Registry role of each principal; anyone not named reads only. */
const REGISTRY_ROLES: Readonly<Record<string, string>> = { admin: 'sr-admin', coordinator: 'sr-developer' };

/** The realm Keycloak imports: the registry's roles, its own client, one service-account client per principal. */
export const registryRealm = (secrets: ReadonlyMap<string, string>): Record<string, unknown> => ({
  realm: KEYCLOAK_REALM,
  enabled: true,
  sslRequired: 'none',
  roles: { realm: ['sr-admin', 'sr-developer', 'sr-readonly'].map((name) => ({ name })) },
  clients: [
    { clientId: REGISTRY_CLIENT, enabled: true, publicClient: false, bearerOnly: true, standardFlowEnabled: false, directAccessGrantsEnabled: false },
    ...[...secrets].map(([clientId, secret]) => ({
      clientId,
      enabled: true,
      publicClient: false,
      secret,
      serviceAccountsEnabled: true,
      standardFlowEnabled: false,
      directAccessGrantsEnabled: false,
    })),
  ],
  users: [...secrets.keys()].map((clientId) => ({
    username: `service-account-${clientId}`,
    enabled: true,
    serviceAccountClientId: clientId,
    realmRoles: [REGISTRY_ROLES[clientId] ?? 'sr-readonly'],
  })),
});

export interface KeycloakServer {
  readonly service: Service;
  /** The realm's issuer, as Apicurio's `quarkus.oidc.auth-server-url`. */
  readonly realmUrl: string;
}

/** Starts Keycloak from its own home in `dir` with the realm imported; resolves once the realm answers. */
export const startKeycloak = async (o: {
  dist: KeycloakDist;
  dir: string;
  port: number;
  secrets: ReadonlyMap<string, string>;
  detached?: boolean;
  pidFile?: string;
}): Promise<KeycloakServer> => {
  const home = join(o.dir, 'home');
  mkdirSync(join(home, 'bin'), { recursive: true });
  mkdirSync(join(home, 'data', 'import'), { recursive: true });
  // kc.sh finds its home from its own real path: a copy here, with the shared jars linked in.
  copyFileSync(join(o.dist.home, 'bin', 'kc.sh'), join(home, 'bin', 'kc.sh'));
  for (const d of ['lib', 'providers', 'conf', 'themes']) {
    const target = join(o.dist.home, d);
    if (existsSync(target) && !existsSync(join(home, d))) symlinkSync(target, join(home, d));
  }
  writeFileSync(join(home, 'data', 'import', `${KEYCLOAK_REALM}-realm.json`), JSON.stringify(registryRealm(o.secrets)), { mode: 0o600 });
  const java = findJava(21, `Keycloak ${o.dist.version}`);
  const service = spawnService({
    name: 'keycloak',
    command: join(home, 'bin', 'kc.sh'),
    args: [
      'start',
      '--optimized',
      '--http-enabled=true',
      '--http-host=127.0.0.1',
      `--http-port=${o.port}`,
      '--hostname-strict=false',
      // Also at start: without it this build still began a JGroups cluster on every interface.
      '--cache=local',
      '--import-realm',
      // Its management interface (health) would take 0.0.0.0:9000.
      `--http-management-port=${await freePort()}`,
    ],
    cwd: home,
    logFile: join(o.dir, 'keycloak.log'),
    detached: o.detached,
    pidFile: o.pidFile,
    env: { ...process.env, JAVA_HOME: join(java.path, '..', '..'), JAVA_OPTS_KC_HEAP: '-Xms64m -Xmx384m' },
  });
  const realmUrl = `http://127.0.0.1:${o.port}/realms/${KEYCLOAK_REALM}`;
  const answered = waitUntil(
    `Keycloak on 127.0.0.1:${o.port}`,
    async () => (await fetch(`${realmUrl}/.well-known/openid-configuration`, { signal: AbortSignal.timeout(2_000) })).ok,
    // It creates its schema at every start (in-memory database): minutes on a loaded 2-core machine.
    { timeoutMs: 480_000, service },
  );
  // One that never answered must not outlive the failed start (a detached one would otherwise stay).
  await answered.catch(async (err: unknown) => {
    await service.stop();
    throw err;
  });
  return { service, realmUrl };
};

/** Apicurio's flags for a registry behind Keycloak: OIDC, client credentials over basic auth, roles from the token, anyone reads. */
export const registryOidcArgs = (realmUrl: string): string[] => [
  '-Dquarkus.oidc.tenant-enabled=true',
  `-Dquarkus.oidc.auth-server-url=${realmUrl}`,
  `-Dquarkus.oidc.client-id=${REGISTRY_CLIENT}`,
  '-Dapicurio.authn.basic-client-credentials.enabled=true',
  '-Dapicurio.auth.role-based-authorization=true',
  '-Dapicurio.auth.role-source=token',
  '-Dapicurio.auth.anonymous-read-access.enabled=true',
];
