/** The secured stack's registry: Keycloak first, then Apicurio trusting it, stopped together as one service. */
import { join } from 'node:path';
import type { Logger } from '../log';
import { ensureKeycloakDist, registryOidcArgs, startKeycloak } from './keycloak';
import { freePort, type Service } from './process';
import { registryTlsUrl, startRegistryServer, type RegistryServerOptions } from './registry-server';
import { SUPER_USER, type SecureBroker } from './secure';

export const KEYCLOAK_PID = 'keycloak.pid';

/**
 * Quarkus's flags for a second listener, https on `port`, with the broker's certificate from the stack's CA (the
 * default TLS configuration, so the management interface turns https as well); plain http stays where it was.
 */
export const registryTlsArgs = (secure: SecureBroker, port: number): string[] => [
  `-Dquarkus.http.ssl-port=${port}`,
  `-Dquarkus.tls.key-store.pem.0.cert=${secure.tls.certFile}`,
  `-Dquarkus.tls.key-store.pem.0.key=${secure.tls.keyFile}`,
];

export const startSecuredRegistry = async (o: RegistryServerOptions & { root: string; secure: SecureBroker; log: Logger; tlsPort?: number }): Promise<Service> => {
  const keycloak = await startKeycloak({
    dist: ensureKeycloakDist(o.root, o.log),
    dir: join(o.dir, 'keycloak'),
    port: await freePort(),
    secrets: o.secure.registryClients,
    detached: o.detached,
    pidFile: o.pidFile === undefined ? undefined : join(o.pidFile, '..', KEYCLOAK_PID),
  });
  let registry: Service;
  try {
    registry = await startRegistryServer({
      ...o,
      extraArgs: [...registryOidcArgs(keycloak.realmUrl), ...(o.tlsPort === undefined ? [] : registryTlsArgs(o.secure, o.tlsPort))],
      adminAuth: o.secure.connection(SUPER_USER).schemaRegistryAuth,
    });
  } catch (err) {
    await keycloak.service.stop();
    throw err;
  }
  o.log.info('the registry trusts Keycloak', { realm: keycloak.realmUrl, ...(o.tlsPort === undefined ? {} : { https: registryTlsUrl(o.tlsPort) }) });
  return {
    name: registry.name,
    pid: registry.pid,
    logFile: registry.logFile,
    exited: registry.exited,
    stop: async (graceMs) => {
      await registry.stop(graceMs);
      await keycloak.service.stop(graceMs);
    },
  };
};
