/** The secured stack's registry: Keycloak first, then Apicurio trusting it, stopped together as one service. */
import { join } from 'node:path';
import type { Logger } from '../log';
import { ensureKeycloakDist, registryOidcArgs, startKeycloak } from './keycloak';
import { freePort, type Service } from './process';
import { startRegistryServer, type RegistryServerOptions } from './registry-server';
import { SUPER_USER, type SecureBroker } from './secure';

export const KEYCLOAK_PID = 'keycloak.pid';

export const startSecuredRegistry = async (o: RegistryServerOptions & { root: string; secure: SecureBroker; log: Logger }): Promise<Service> => {
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
    registry = await startRegistryServer({ ...o, extraArgs: registryOidcArgs(keycloak.realmUrl), adminAuth: o.secure.connection(SUPER_USER).schemaRegistryAuth });
  } catch (err) {
    await keycloak.service.stop();
    throw err;
  }
  o.log.info('the registry trusts Keycloak', { realm: keycloak.realmUrl });
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
