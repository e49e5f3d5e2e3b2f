/** Long-running commands: the local infrastructure, the coordinator, and both at once (`make run`). */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { createClient } from '../client/client';
import { signerFromConfig } from '../messaging/signing';
import { loadConfig, type Config } from '../config';
import { restoreCheckpoint, startCheckpointer, type Checkpointer } from '../engine/checkpoint';
import { createCoordinator } from '../engine/coordinator';
import { startAdminServer } from '../http/server';
import { startLocalStack, KAFKA_PID, REGISTRY_PID, type Stack } from '../infra/stack';
import { BROKERS_FILE, clusterPidFile } from '../infra/cluster';
import { stopByPidFile } from '../infra/process';
import { createLogger, type Logger } from '../log';
import { errorMessage } from '../errors';
import { brokerAnswers, checkpointProducer, plaintext } from '../messaging/kafka';
import { provision, recordTopics } from '../messaging/provision';
import { createRegistryClient } from '../messaging/registry';
import { loadContracts, projectRoot } from '../messaging/schemas';
import { topicName } from '../messaging/topics';
import { createEngineMetrics, registerCoordinatorGauges } from '../metrics/coordinator';
import { registerStoreGauges } from '../metrics/store';
import { createParts } from '../runtime';
import { openStore } from '../store/rocks';
import { createWorkerAgent } from '../worker/agent';
import { readRunEnv, roleSecrets, RUN_DIR, runEnvPath, writeRunEnv } from './run-env';
import { startupRegistration } from './startup';
import { KEYCLOAK_PID } from '../infra/secure-registry';
import { provisionAccess, secureInfra } from './secure-infra';
import { signingRoles } from '../infra/secure';
import { registerSigningKeys } from '../messaging/keys';

/** A small whole number from the environment: a port, or a count when `min` is 0. */
const port = (env: NodeJS.ProcessEnv, name: string, fallback: number, min = 1): number => {
  const raw = env[name];
  const n = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isInteger(n) || n < min || n > 65535) throw new Error(`${name} must be a whole number from ${min} to 65535, got ${raw}`);
  return n;
};

/** run.env, then the role's secrets on a secured deployment (operators' tools default to `admin`), then the environment. */
export const envWithRunFile = (root: string, role = 'admin'): NodeJS.ProcessEnv => {
  const runEnv = readRunEnv(runEnvPath(root));
  return { ...runEnv, ...roleSecrets(runEnv, role), ...process.env };
};

export const untilSignal = (): Promise<NodeJS.Signals> =>
  new Promise((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });

const infraDir = (root: string): string => join(root, RUN_DIR, 'infra');

const stackAnswers = async (env: Record<string, string>, secure: boolean): Promise<boolean> => {
  if (env.KAFKA_BROKERS === undefined || env.SCHEMA_REGISTRY_URL === undefined || !secureInfra.sameProfile(env, secure)) return false;
  const conn = secure ? secureInfra.adminConfig({ ...env, ...roleSecrets(env, 'admin', {}) }) : plaintext(env.KAFKA_BROKERS.split(','));
  const registry = createRegistryClient({ url: env.SCHEMA_REGISTRY_URL, timeoutMs: 2_000 });
  const [k, r] = await Promise.all([brokerAnswers(conn), registry.subjects().then(() => true, () => false)]);
  return k && r;
};

/** Starts Kafka and the registry (or reuses running ones), creates topics, registers schemas, writes run.env. */
export const infraUp = async (opts: { detached: boolean }, log: Logger): Promise<{ stack: Stack | undefined; env: Record<string, string> }> => {
  const root = projectRoot();
  const runEnv = readRunEnv(runEnvPath(root));
  const httpPort = port(process.env, 'COORD_HTTP_PORT', 8090);
  let stack: Stack | undefined;
  let vars: Record<string, string>;
  const secure = secureInfra.enabled(process.env);
  if (opts.detached && (await stackAnswers(runEnv, secure))) {
    log.info('reusing the running Kafka and Schema Registry', { kafka: runEnv.KAFKA_BROKERS, registry: runEnv.SCHEMA_REGISTRY_URL });
    vars = { ...runEnv, KAFKA_BROKERS: runEnv.KAFKA_BROKERS, SCHEMA_REGISTRY_URL: runEnv.SCHEMA_REGISTRY_URL };
  } else {
    stack = await startLocalStack(
      {
        root,
        dir: secureInfra.infraDir(root, secure),
        secureDir: secure ? secureInfra.secureDir(root) : undefined,
        secureRegistry: secure && secureInfra.registryEnabled(process.env),
        // Beside its http address for the local tools, the secured registry answers https for readers elsewhere (run.env's SCHEMA_REGISTRY_TLS_URL).
        registryTlsPort: secure && secureInfra.registryEnabled(process.env) ? port(process.env, 'REGISTRY_TLS_PORT', 8443) : undefined,
        kafkaPort: port(process.env, 'KAFKA_PORT', 9092),
        controllerPort: port(process.env, 'KAFKA_CONTROLLER_PORT', 9093),
        registryPort: port(process.env, 'REGISTRY_PORT', 8081),
        detached: opts.detached,
        brokers: port(process.env, 'BROKERS', 1),
      },
      log,
    );
    vars = { KAFKA_BROKERS: stack.brokers, SCHEMA_REGISTRY_URL: stack.registryUrl, ...secureInfra.runEnv(stack.secure, stack.registryTlsUrl) };
  }
  vars.COORD_HTTP = `http://127.0.0.1:${httpPort}`;
  // On a secured stack the super user provisions: topics, schemas, every role's ACLs.
  const { config } = loadConfig({ ...process.env, ...vars, ...roleSecrets(vars, 'admin', {}) });
  const parts = createParts(config, 'coord-provision', log);
  await provision({ config, codec: parts.codec, log });
  if (secure) await provisionAccess(config, log);
  // Every role's public key, on the log before the coordinator proposes to require signatures; signed by the admin's key.
  if (stack?.secure !== undefined) {
    const keys = [...stack.secure.signingKeys].map(([principal, k]) => ({ keyId: k.keyId, principal, roles: signingRoles(principal), publicKey: k.publicKey }));
    await registerSigningKeys({ kafka: parts.kafka, codec: parts.codec, topicPrefix: config.topicPrefix, signer: parts.signer }, keys);
    log.info('signing keys registered', { keys: keys.map((k) => k.keyId) });
  }
  writeRunEnv(runEnvPath(root), vars);
  return { stack, env: vars };
};

export const infraDown = async (log: Logger): Promise<void> => {
  let registry = false;
  let kafka = false;
  for (const dir of [infraDir(projectRoot()), secureInfra.infraDir(projectRoot(), true)]) {
    registry = (await stopByPidFile(join(dir, REGISTRY_PID))) || registry;
    kafka = (await stopByPidFile(join(dir, KAFKA_PID))) || kafka;
    registry = (await stopByPidFile(join(dir, KEYCLOAK_PID))) || registry;
  }
  // The nodes of a BROKERS=N cluster (src/infra/cluster.ts), all at once.
  const dir = infraDir(projectRoot());
  const nodes = await Promise.all(Array.from({ length: 9 }, (_, i) => stopByPidFile(join(dir, clusterPidFile(i + 1)))));
  kafka = kafka || nodes.some(Boolean);
  rmSync(join(dir, BROKERS_FILE), { force: true });
  log.info(kafka || registry ? 'stopped the local infrastructure' : 'nothing was running', { kafka, registry });
};

/** Runs a coordinator until `stop` resolves; returns once it has closed. */
export const serveCoordinator = async (config: Config, log: Logger, stop: Promise<unknown>, pidFile?: string): Promise<void> => {
  const parts = createParts(config, 'coord-coordinator', log);
  const store = await openStore(config.dataDir);
  // One registry for this coordinator and its process: /metrics serves it, nothing else writes to it.
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const reply = loadContracts().get('coord.v1.Reply');
  if (reply === undefined) throw new Error('schemas/coord.v1.Reply.avsc is missing');
  const observer = createEngineMetrics({ registry, dlqTopic: topicName(config.topicPrefix, 'dlq'), reply });
  const coordinator = createCoordinator({ config, kafka: parts.kafka, codec: parts.codec, store, log, observer });
  const startup = startupRegistration(coordinator, log);
  registerCoordinatorGauges({ registry, coordinator: startup.shown });
  registerStoreGauges({ registry, store });
  const http = await startAdminServer({ host: config.httpHost, port: config.httpPort, coordinator: startup.shown, registry });
  log.info('coordinator admin HTTP listening; the console is at /', { url: http.url });
  if (pidFile !== undefined) writeFileSync(pidFile, `${process.pid}\n`);
  let checkpoints: { stop: () => Promise<void> } | undefined;
  try {
    let stopped = false;
    void stop.then(() => (stopped = true));
    await startup.register(() => parts.codec.registerAll(recordTopics(config.topicPrefix)), () => stopped);
    if (stopped) return;
    await Promise.race([restoreFromCheckpoint(config, parts, store, log), stop]);
    if (stopped) return;
    checkpoints = await checkpointsOf(config, parts, store, log, registry, () => coordinator.status().role === 'active');
    await coordinator.start();
    log.info('coordinator joined its group', { groupId: config.groupId, dataDir: config.dataDir });
    await Promise.race([stop, coordinator.closed]);
  } finally {
    log.info('coordinator stopping');
    // A stop is bounded whatever the coordinator waits on (a broker away, a full disk): past
    // closeTimeoutMs the process exits anyway, and the next start resumes from RocksDB.
    const watchdog = setTimeout(() => {
      log.error('the coordinator did not stop within closeTimeoutMs; exiting now (the next start resumes from RocksDB)', { closeTimeoutMs: config.closeTimeoutMs });
      if (pidFile !== undefined) rmSync(pidFile, { force: true });
      process.exit(1);
    }, config.closeTimeoutMs);
    watchdog.unref();
    await checkpoints?.stop();
    await coordinator.close();
    await http.close();
    await store.close();
    clearTimeout(watchdog);
    if (pidFile !== undefined) rmSync(pidFile, { force: true });
  }
};

/** An empty folder starts from the newest checkpoint the log proves; anything else (none, a broker away) rebuilds by following the log. */
const restoreFromCheckpoint = async (config: Config, parts: ReturnType<typeof createParts>, store: Awaited<ReturnType<typeof openStore>>, log: Logger): Promise<void> => {
  try {
    const r = await restoreCheckpoint({
      store,
      kafka: parts.kafka,
      codec: parts.codec,
      topic: topicName(config.topicPrefix, 'checkpoints'),
      snapshotsTopic: topicName(config.topicPrefix, 'snapshots'),
      log,
    });
    if (r.kind === 'none') log.info('no checkpoint to start from; this folder is rebuilt by following the log from its first snapshot', { why: r.why });
  } catch (err) {
    log.warn('could not read the checkpoints; this folder is rebuilt by following the log from its first snapshot', { error: errorMessage(err) });
  }
};

/** The active instance's checkpoints every checkpointIntervalMs, with their gauges; nothing when the interval is 0. */
const checkpointsOf = async (
  config: Config,
  parts: ReturnType<typeof createParts>,
  store: Awaited<ReturnType<typeof openStore>>,
  log: Logger,
  registry: Registry,
  active: () => boolean,
): Promise<{ stop: () => Promise<void> } | undefined> => {
  if (config.checkpointIntervalMs === 0) return undefined;
  const written = new Gauge({ name: 'coord_checkpoint_snapshot_id', help: 'The snapshot of the last checkpoint this instance wrote', registers: [registry] });
  const failures = new Counter({ name: 'coord_checkpoint_failures_total', help: 'Checkpoints this instance failed to write (each tried again at the next interval)', registers: [registry] });
  const producer = checkpointProducer(parts.kafka);
  await producer.connect();
  const checkpointer: Checkpointer = startCheckpointer({
    store,
    codec: parts.codec,
    producer,
    topic: topicName(config.topicPrefix, 'checkpoints'),
    log,
    intervalMs: config.checkpointIntervalMs,
    active,
    onWritten: (w) => written.set(Number(w.snapshotId)),
    onFailure: () => failures.inc(),
  });
  return {
    stop: async () => {
      await checkpointer.stop();
      await producer.disconnect().catch(() => undefined);
    },
  };
};

export const runCoordinatorCommand = async (argv: readonly string[]): Promise<void> => {
  const { config } = loadConfig(envWithRunFile(projectRoot(), 'coordinator'), argv);
  const log = createLogger(config.logLevel, { component: 'coordinator' });
  const pidFile = process.env.COORD_PID_FILE ?? join(projectRoot(), RUN_DIR, 'coordinator.pid');
  mkdirSync(dirname(pidFile), { recursive: true });
  await serveCoordinator(config, log, untilSignal(), pidFile);
};

/** Demo workers for `make run`, so a newcomer has a deployment to look at. */
const startDemoWorkers = async (config: Config, count: number, log: Logger): Promise<() => Promise<void>> => {
  if (count === 0) return async () => undefined;
  const { kafka, codec } = createParts(config, 'coord-demo-workers', log);
  const client = createClient({ kafka, codec, log, topicPrefix: config.topicPrefix, replyTopic: config.replyTopic, askTimeoutMs: config.askTimeoutMs, signer: signerFromConfig(config) });
  await client.start();
  const agents = Array.from({ length: count }, (_, i) => createWorkerAgent({ client, commands: { kafka, codec, topicPrefix: config.topicPrefix }, log, workerId: `demo-worker-${i + 1}`, slots: 4, capabilities: i === 0 ? ['gpu'] : [] }));
  for (const a of agents) await a.start();
  log.info('demo workers registered', { workers: agents.map((a) => a.workerId) });
  return async () => {
    await Promise.all(agents.map((a) => a.stop().catch(() => undefined)));
    await client.close();
  };
};

/** `make run`: everything in the foreground; Ctrl-C stops all of it. */
export const runAllCommand = async (argv: readonly string[]): Promise<void> => {
  const log = createLogger('info', { component: 'run' });
  const { stack, env } = await infraUp({ detached: false }, log);
  let stopWorkers: () => Promise<void> = async () => undefined;
  try {
    const { config } = loadConfig({ ...process.env, ...env, ...roleSecrets(env, 'coordinator', {}) }, argv);
    const stop = untilSignal();
    const served = serveCoordinator(config, log.child({ component: 'coordinator' }), stop);
    served.catch(() => undefined); // awaited below; a failure must not surface as unhandled meanwhile
    stopWorkers = await startDemoWorkers(config, port(process.env, 'DEMO_WORKERS', 3, 0), log.child({ component: 'demo-worker' }));
    log.info('ready: Ctrl-C stops everything', env);
    await served;
  } finally {
    await stopWorkers();
    await stack?.stop();
  }
};
