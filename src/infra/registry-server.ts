/** Apicurio Registry on 127.0.0.1 with its Confluent-compatible API, persisted in an H2 file so ids survive restarts. */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createRegistryClient } from '../messaging/registry';
import type { InfraDist } from './downloads';
import { freePort, spawnService, waitUntil, type Service } from './process';
import type { JavaRuntime } from './tools';

export interface RegistryServerOptions {
  readonly dist: InfraDist;
  readonly java: JavaRuntime;
  readonly dir: string;
  readonly port: number;
  readonly detached?: boolean;
  readonly pidFile?: string;
  readonly heapMb?: number;
  /** More JVM flags (the secured stack's OIDC settings) and the admin's `user:password` for the set-up write. */
  readonly extraArgs?: readonly string[];
  readonly adminAuth?: string;
}

export const CCOMPAT_PATH = '/apis/ccompat/v7';

export const registryUrl = (port: number): string => `http://127.0.0.1:${port}${CCOMPAT_PATH}`;
/** The same API on the secured registry's https listener (its certificate is the stack's, for 127.0.0.1). */
export const registryTlsUrl = (port: number): string => `https://127.0.0.1:${port}${CCOMPAT_PATH}`;

export const startRegistryServer = async (o: RegistryServerOptions): Promise<Service> => {
  mkdirSync(o.dir, { recursive: true });
  const service = spawnService({
    name: 'schema-registry',
    command: o.java.path,
    args: [
      '-Xms128m',
      `-Xmx${o.heapMb ?? 512}m`,
      '-Dquarkus.http.host=127.0.0.1',
      `-Dquarkus.http.port=${o.port}`,
      '-Dquarkus.http.access-log.enabled=false',
      // Its management interface is fixed at build time; left alone it listens on 0.0.0.0:9000, which two
      // registries on one machine (a `make run` beside a `make test`) would both want.
      '-Dquarkus.management.host=127.0.0.1',
      `-Dquarkus.management.port=${await freePort()}`,
      // Its tracer would call out to an OTLP collector.
      '-Dquarkus.otel.sdk.disabled=true',
      `-Dapicurio.datasource.url=jdbc:h2:file:${join(o.dir, 'registry')}`,
      // A small pool: this registry serves one deployment on a 2-core machine.
      '-Dapicurio.datasource.jdbc.initial-size=2',
      '-Dapicurio.datasource.jdbc.min-size=2',
      '-Dapicurio.datasource.jdbc.max-size=20',
      ...(o.extraArgs ?? []),
      '-jar',
      o.dist.registryJar,
    ],
    cwd: o.dir,
    logFile: join(o.dir, 'registry.log'),
    detached: o.detached,
    pidFile: o.pidFile,
  });
  const client = createRegistryClient({ url: registryUrl(o.port), timeoutMs: 2_000 });
  await waitUntil(`Schema Registry on 127.0.0.1:${o.port}`, async () => Array.isArray(await client.subjects()), {
    timeoutMs: 120_000,
    service,
  });
  // Concurrent first registrations from several producers must agree on one rule. The first write of a registry
  // just up (its database warming) can take seconds on a busy machine: a patient client, asked again within the start budget.
  const patient = createRegistryClient({ url: registryUrl(o.port), timeoutMs: 30_000, auth: o.adminAuth });
  await waitUntil(`Schema Registry on 127.0.0.1:${o.port} to take the BACKWARD rule`, async () => (await patient.setCompatibility('BACKWARD'), true), { timeoutMs: 90_000, service });
  return service;
};
