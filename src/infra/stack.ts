/** The local stack: Kafka and the Schema Registry started together from the cached Maven downloads. */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../log';
import { ensureInfraDist } from './downloads';
import { clusterService, startKafkaCluster, type KafkaCluster } from './cluster';
import { startKafkaServer } from './kafka-server';
import { registryTlsUrl, registryUrl, startRegistryServer, type RegistryServerOptions } from './registry-server';
import { startSecuredRegistry } from './secure-registry';
import type { Service } from './process';
import { findJava } from './tools';
import { secureBroker, type SecureBroker } from './secure';

export interface StackOptions {
  /** The project checkout, which holds compose/local/pom.xml and the .cache folder. */
  readonly root: string;
  /** Where the services keep their data and logs. */
  readonly dir: string;
  readonly kafkaPort: number;
  readonly controllerPort: number;
  readonly registryPort: number;
  /** Outlive this process, with pid files in `dir` (for `make infra`). */
  readonly detached?: boolean;
  /** Kafka nodes: 1 (the default) is the single-node stack; more start a replicated cluster (src/infra/cluster.ts). */
  readonly brokers?: number;
  /** The secured profile (SECURE=1): its CA in `<secureDir>/tls`, its principals' passwords in `<secureDir>/secrets`. */
  readonly secureDir?: string;
  /** SCRAM principals beyond one per role. */
  readonly extraPrincipals?: readonly string[];
  /** With `secureDir`: the registry behind Keycloak too (minutes more to start on a small machine). */
  readonly secureRegistry?: boolean;
  /** With `secureRegistry`: the registry also answers https on this port, with a certificate from the stack's CA. */
  readonly registryTlsPort?: number;
}

export interface Stack {
  /** Present on a secured stack: its CA, principals and connection settings. */
  readonly secure?: SecureBroker;
  readonly brokers: string;
  readonly registryUrl: string;
  /** The registry's https address, when `registryTlsPort` opened one (clients trust `secure.tls.caFile`). */
  readonly registryTlsUrl?: string;
  readonly services: readonly Service[];
  /** The replicated cluster when `brokers` > 1, for tests that kill one node. */
  readonly cluster?: KafkaCluster;
  /** Stops the broker (SIGTERM, or SIGKILL with `hard`) and starts it again on the same data and port. */
  restartKafka(opts?: { hard?: boolean; downMs?: number }): Promise<void>;
  stop(): Promise<void>;
}

export const KAFKA_PID = 'kafka.pid';
export const REGISTRY_PID = 'registry.pid';

export const startLocalStack = async (o: StackOptions, log: Logger): Promise<Stack> => {
  const dist = ensureInfraDist(o.root, log);
  const kafkaJava = findJava(17, `Kafka ${dist.kafkaVersion}`);
  const registryJava = findJava(21, `Apicurio Registry ${dist.apicurioVersion}`);
  const kafkaDir = join(o.dir, 'kafka');
  const registryDir = join(o.dir, 'registry');
  mkdirSync(kafkaDir, { recursive: true });
  mkdirSync(registryDir, { recursive: true });

  const secure = o.secureDir === undefined ? undefined : secureBroker(o.secureDir, o.extraPrincipals);
  const kafkaOptions = { dist, java: kafkaJava, dir: kafkaDir, port: o.kafkaPort, controllerPort: o.controllerPort, detached: o.detached, pidFile: o.detached ? join(o.dir, KAFKA_PID) : undefined, secure };
  let cluster: KafkaCluster | undefined;
  const startKafka = async (): Promise<Service> => {
    if ((o.brokers ?? 1) <= 1) return startKafkaServer(kafkaOptions);
    if (secure !== undefined) throw new Error('the secured profile runs one Kafka node; start it without BROKERS');
    // Brokers on KAFKA_PORT, +1, …; controllers on KAFKA_PORT+100, +101, …; free ports when KAFKA_PORT is 0.
    const firstPort = o.kafkaPort > 0 ? o.kafkaPort : undefined;
    cluster = await startKafkaCluster({ dist, java: kafkaJava, dir: kafkaDir, nodes: o.brokers ?? 1, firstPort, firstControllerPort: firstPort === undefined ? undefined : firstPort + 100, detached: o.detached, recordDir: o.dir });
    return clusterService(cluster);
  };
  // Both JVMs start at once; on two cores that roughly halves the cold start.
  const [kafka, registry] = await Promise.allSettled([
    startKafka(),
    (secure === undefined || o.secureRegistry !== true ? startRegistryServer : (r: RegistryServerOptions) => startSecuredRegistry({ ...r, root: o.root, secure, log, tlsPort: o.registryTlsPort }))({
      dist,
      java: registryJava,
      dir: registryDir,
      port: o.registryPort,
      detached: o.detached,
      pidFile: o.detached ? join(o.dir, REGISTRY_PID) : undefined,
    }),
  ]);
  let started = [kafka, registry].flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = [kafka, registry].find((r): r is PromiseRejectedResult => r.status === 'rejected');
  const stop = async (): Promise<void> => {
    // The registry first: it may hold connections to nothing here, but Kafka clients should see a broker until the end.
    for (const s of [...started].reverse()) await s.stop();
  };
  if (failed !== undefined) {
    await stop();
    throw failed.reason;
  }
  log.info('local stack is up', { kafka: `127.0.0.1:${o.kafkaPort}`, registry: registryUrl(o.registryPort) });
  const restartKafka = async (opts: { hard?: boolean; downMs?: number } = {}): Promise<void> => {
    if (cluster !== undefined) throw new Error('a cluster restarts node by node: use stack.cluster.stopNode and startNode');
    const old = started.find((x) => x.name === 'kafka');
    if (old !== undefined) await old.stop(opts.hard ? 0 : 15_000);
    await new Promise((r) => setTimeout(r, opts.downMs ?? 0));
    const fresh = await startKafka();
    started = [fresh, ...started.filter((x) => x.name !== 'kafka')];
  };
  return {
    secure,
    brokers: cluster?.brokers ?? `127.0.0.1:${o.kafkaPort}`,
    get cluster() {
      return cluster;
    },
    registryUrl: registryUrl(o.registryPort),
    registryTlsUrl: secure !== undefined && o.secureRegistry === true && o.registryTlsPort !== undefined ? registryTlsUrl(o.registryTlsPort) : undefined,
    get services() {
      return started;
    },
    restartKafka,
    stop,
  };
};
