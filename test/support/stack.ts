/**
 * The real Kafka and Schema Registry the integration tiers run against: started once per
 * test run on free ports in a temporary folder (or, with TEST_INFRA=testcontainers, in
 * Docker), and stopped when the run ends, even when a test failed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KafkaCluster } from '../../src/infra/cluster';
import { freePort } from '../../src/infra/process';
import { startLocalStack } from '../../src/infra/stack';
import { createLogger } from '../../src/log';
import { createRegistryClient } from '../../src/messaging/registry';
import { projectRoot } from '../../src/messaging/schemas';
import type { Config } from '../../src/config';
import type { SecureBroker } from '../../src/infra/secure';
import { warmRegistry } from './warm';
import { connectionEnv, EXTRA_PRINCIPALS, grantRunPrincipal, RUN_PRINCIPAL, secureEnabled, secureRegistryEnabled } from './secure';

export interface TestStack {
  readonly brokers: string;
  readonly registryUrl: string;
  /** With TEST_SECURE_REGISTRY=1: the same registry over https, its certificate from the stack's CA (`secure.tls.caFile`). */
  readonly registryTlsUrl?: string;
  /** Scratch space for this run, removed at the end. */
  readonly dir: string;
  /** The replicated cluster when TEST_BROKERS > 1 (the fault tier), so a test can kill one node. */
  readonly cluster?: KafkaCluster;
  /** With TEST_SECURE=1: the secured broker (CA, principals); the run connects as its coordinator principal. */
  readonly secure?: SecureBroker;
  /** How the run's clients connect (empty on a plain stack), and the same as environment variables for the processes it starts. */
  readonly connection: Partial<Config>;
  readonly env: Readonly<Record<string, string>>;
  /** Stops the broker and starts it again on the same data and port (local stack only). */
  restartKafka(opts?: { hard?: boolean; downMs?: number }): Promise<void>;
  stop(): Promise<void>;
}

let current: TestStack | undefined;

export const testStackIfStarted = (): TestStack | undefined => current;

export const testStack = (): TestStack => {
  if (current === undefined) throw new Error('the test stack is not started: run mocha with --require test/support/stack-hooks.ts');
  return current;
};

/** The small part of the testcontainers API used here. */
interface Container {
  getMappedPort(port: number): number;
  stop(): Promise<unknown>;
}
interface ContainerBuilder {
  withNetwork(n: unknown): ContainerBuilder;
  withNetworkAliases(...a: string[]): ContainerBuilder;
  withExposedPorts(...p: (number | { container: number; host: number })[]): ContainerBuilder;
  withEnvironment(e: Record<string, string>): ContainerBuilder;
  withWaitStrategy(w: unknown): ContainerBuilder;
  start(): Promise<Container>;
}
interface Testcontainers {
  Network: new () => { start(): Promise<{ stop(): Promise<unknown> }> };
  GenericContainer: new (image: string) => ContainerBuilder;
  Wait: { forLogMessage(re: RegExp): unknown; forHttp(path: string, port: number): unknown };
}

const startWithTestcontainers = async (): Promise<{ brokers: string; registryUrl: string; stop(): Promise<void> }> => {
  // Loaded only when asked for: the default path starts no container and needs no engine.
  await (await import('./container-runtime')).requireContainerRuntime();
  const tc = (await import('testcontainers')) as unknown as Testcontainers;
  const network = await new tc.Network().start();
  const hostPort = await freePort();
  const kafka = await new tc.GenericContainer('apache/kafka:3.9.1')
    .withNetwork(network)
    .withNetworkAliases('kafka')
    .withExposedPorts({ container: 9092, host: hostPort })
    .withEnvironment({
      KAFKA_NODE_ID: '1',
      KAFKA_PROCESS_ROLES: 'broker,controller',
      KAFKA_LISTENERS: 'PLAINTEXT://:9092,CONTROLLER://:9093',
      // The advertised port is the host's, so clients outside Docker reach the broker.
      KAFKA_ADVERTISED_LISTENERS: `PLAINTEXT://127.0.0.1:${hostPort}`,
      KAFKA_CONTROLLER_LISTENER_NAMES: 'CONTROLLER',
      KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: 'CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
      KAFKA_CONTROLLER_QUORUM_VOTERS: '1@localhost:9093',
      KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: '1',
      KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: '1',
      KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: '1',
      KAFKA_AUTO_CREATE_TOPICS_ENABLE: 'false',
      KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: '0',
    })
    .withWaitStrategy(tc.Wait.forLogMessage(/Kafka Server started/))
    .start();
  const registry = await new tc.GenericContainer('apicurio/apicurio-registry:3.3.3')
    .withNetwork(network)
    .withExposedPorts(8080)
    .withWaitStrategy(tc.Wait.forHttp('/apis/ccompat/v7/subjects', 8080))
    .start();
  const registryUrl = `http://127.0.0.1:${registry.getMappedPort(8080)}/apis/ccompat/v7`;
  await createRegistryClient({ url: registryUrl }).setCompatibility('BACKWARD');
  return {
    brokers: `127.0.0.1:${kafka.getMappedPort(9092)}`,
    registryUrl,
    stop: async () => {
      await registry.stop();
      await kafka.stop();
      await network.stop();
    },
  };
};

export const startTestStack = async (): Promise<TestStack> => {
  const dir = mkdtempSync(join(tmpdir(), 'coord-test-'));
  // This run, and every process it starts, reads its own run.env, never the checkout's .coord/run.env (a `SECURE=1 make infra` leaves a secured one there).
  process.env.COORD_RUN_ENV = join(dir, 'run.env');
  const log = createLogger(process.env.TEST_LOG === '1' ? 'info' : 'warn', { component: 'test-stack' });
  let inner: { brokers: string; registryUrl: string; registryTlsUrl?: string; cluster?: KafkaCluster; secure?: SecureBroker; restartKafka?: TestStack['restartKafka']; stop(): Promise<void> };
  const brokers = Number(process.env.TEST_BROKERS ?? 1);
  const secureDir = secureEnabled() ? join(dir, 'secure') : undefined;
  if (process.env.TEST_INFRA === 'testcontainers') inner = await startWithTestcontainers();
  else
    inner = await startLocalStack(
      // A cluster picks a free port for each of its nodes (kafkaPort 0).
      {
        root: projectRoot(),
        dir: join(dir, 'infra'),
        secureDir,
        secureRegistry: secureRegistryEnabled(),
        // Flink's reader of the changelog reads it over https (test/e2e/changelog-tables.spec.ts); everything else over http.
        registryTlsPort: secureRegistryEnabled() ? await freePort() : undefined,
        extraPrincipals: EXTRA_PRINCIPALS,
        kafkaPort: brokers > 1 ? 0 : await freePort(),
        controllerPort: await freePort(),
        registryPort: await freePort(),
        brokers,
      },
      log,
    );
  if (inner.secure !== undefined) await grantRunPrincipal(inner.brokers, inner.secure);
  // Secured: the run signs as its principal, and every deployment's coordinator proposes to require signatures.
  const connection: Partial<Config> = inner.secure === undefined ? {} : { ...inner.secure.connection(RUN_PRINCIPAL), requireSignatures: true };
  await warmRegistry(inner.registryUrl, connection.schemaRegistryAuth);
  current = {
    secure: inner.secure,
    connection,
    env: { ...connectionEnv(connection), COORD_RUN_ENV: join(dir, 'run.env') },
    brokers: inner.brokers,
    registryUrl: inner.registryUrl,
    registryTlsUrl: inner.registryTlsUrl,
    cluster: inner.cluster,
    dir,
    restartKafka: async (opts) => {
      if (inner.restartKafka === undefined) throw new Error('restarting the broker needs the local stack (not TEST_INFRA=testcontainers)');
      await inner.restartKafka(opts);
    },
    stop: async () => {
      await inner.stop();
      // TEST_KEEP=1 keeps the logs and data of a run for a look afterwards.
      if (process.env.TEST_KEEP !== '1') rmSync(dir, { recursive: true, force: true });
      current = undefined;
    },
  };
  return current;
};
