/** The one configuration object: frozen defaults, merged from a file, the environment and flags, validated once. */
import { readFileSync } from 'node:fs';
import { settingsProblems } from '../projections/system/settings';
import { CoordError } from './errors';
import { ownReplyTopic } from './messaging/acl';

export type SaslMechanism = 'plain' | 'scram-sha-256' | 'scram-sha-512' | 'oauthbearer';
export type SecurityProtocol = 'PLAINTEXT' | 'SSL' | 'SASL_PLAINTEXT' | 'SASL_SSL';
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Config {
  /** Prefix of every topic name (`coord.requests.catalog`, …). */
  readonly topicPrefix: string;
  /** Kafka bootstrap servers. */
  readonly kafkaBrokers: readonly string[];
  /** TLS to the brokers. */
  readonly kafkaSsl: boolean;
  /** SASL mechanism, or undefined for none. */
  readonly kafkaSaslMechanism: SaslMechanism | undefined;
  readonly kafkaSaslUsername: string | undefined;
  readonly kafkaSaslPassword: string | undefined;
  /** Kafka's own name for the listener's protocol; SSL and SASL_SSL turn TLS on, SASL_* need a mechanism. */
  readonly kafkaSecurityProtocol: SecurityProtocol | undefined;
  /** PEM file of the CA that signed the brokers' certificates (TLS on); unset trusts Node's default CAs. */
  readonly kafkaSslCaLocation: string | undefined;
  /** PEM client certificate and key for mutual TLS; both or neither. */
  readonly kafkaSslCertLocation: string | undefined;
  readonly kafkaSslKeyLocation: string | undefined;
  /** OAUTHBEARER: a command whose output is the token (raw, or JSON with `value`/`access_token`); run again as the token ages. */
  readonly kafkaOauthTokenCommand: string | undefined;
  /** SASL PLAIN sends the password as it is: refused without TLS unless this is set (a lab network). */
  readonly kafkaAllowPlainWithoutTls: boolean;
  /** Confluent-compatible Schema Registry base URL. */
  readonly schemaRegistryUrl: string;
  /** Basic-auth credentials for the registry, `user:password`. */
  readonly schemaRegistryAuth: string | undefined;
  /** Consumer group of the coordinator instances. */
  readonly groupId: string;
  /** RocksDB directory of this instance. */
  readonly dataDir: string;
  /** Admin HTTP listener (`/healthz`, `/readyz`, `/metrics`). Port 0 picks a free one. */
  readonly httpHost: string;
  readonly httpPort: number;
  /** Consumer-group session timeout: how soon a dead coordinator's partitions move to another. */
  readonly sessionTimeoutMs: number;
  /** How often the active coordinator appends a Tick, the log's clock for the check loop. */
  readonly tickIntervalMs: number;
  /** Log time without a heartbeat after which a worker is SUSPECT. */
  readonly workerSuspectMs: number;
  /** Log time without a heartbeat after which a worker is DEAD. */
  readonly workerTimeoutMs: number;
  /** Log time without a heartbeat after which a frontend's session is EXPIRED. */
  readonly clientSessionTimeoutMs: number;
  /** Slots the whole deployment may hold, in use and cached; a start beyond it is RESOURCE_EXHAUSTED. */
  readonly maxAllocations: number;
  /** Log time a stopped query's slots stay cached for its session. */
  readonly allocationIdleMs: number;
  /** Cached slots one session may keep. */
  readonly maxCachedAllocations: number;
  /** Log time the history stays readable `asOf` without a read hold. */
  readonly historyRetentionMs: number;
  /** Most messages folded into one snapshot, as a rule: see maxBatchSize for a backlog. */
  readonly batchSize: number;
  /**
   * Most messages one snapshot folds while a backlog waits (a catch-up, a burst): a batch grows
   * from batchSize, doubling while at least a batch's worth more waits, and falls back to
   * batchSize once the backlog is gone or a request comes in with none behind it, so an ask is
   * not kept waiting behind a large pass. A batch that takes requests never grows (see
   * src/engine/gather.ts for the measurement). Equal to batchSize: batches never grow.
   */
  readonly maxBatchSize: number;
  /**
   * Longest linger for a batch to fill once a first record is there. Under load batches fill
   * while the previous pass runs, so a long linger only adds latency to a quiet system.
   */
  readonly batchTimeoutMs: number;
  /** Values larger than this are refused to the DLQ. */
  readonly maxValueBytes: number;
  /** Default reply topic of clients that name none. */
  readonly replyTopic: string;
  /** How long (log time) a request's reply is kept for retries with the same correlation id. */
  readonly dedupeRetentionMs: number;
  /** Log time a worker or session gone for good (DEAD, DEREGISTERED, CLOSED, EXPIRED) stays in the state. */
  readonly goneRetentionMs: number;
  /** The longest a request's `deadline-ms` may hold a deferred reply or slots past the log time it was applied at. */
  readonly maxDeadlineMs: number;
  /**
   * Most bytes in one produce request of the outbox; a snapshot's outputs are split into as
   * many requests as this needs, in the same transaction. Keep it under the broker's
   * `message.max.bytes` (1 048 588 by default).
   */
  readonly maxRequestBytes: number;
  /** How long a retried trouble (publication, a store write, the registry) may last before /readyz turns 503 with the reason. */
  readonly stallThresholdMs: number;
  /**
   * How long a batch may wait for the registry to learn a schema id it does not know yet (a
   * registry restored or catching up), in all per minute, before such records are refused.
   */
  readonly schemaWaitMs: number;
  /** How long a stop (SIGINT, SIGTERM) may take to finish the pass and publish before the process exits anyway. */
  readonly closeTimeoutMs: number;
  /**
   * How often the active instance writes a checkpoint of its state to `<prefix>.checkpoints`, from
   * which a new instance with an empty folder starts (0: never). Inputs must be kept at least this
   * long, and the snapshots topic a little longer, for a new instance to start from a checkpoint.
   */
  readonly checkpointIntervalMs: number;
  /**
   * Most images of the entities read through RocksDB (logical sources, sinks) kept in memory
   * between passes; the rest are read from the store when a message needs them.
   */
  readonly stateCacheEntries: number;
  /** Client: default ask timeout. */
  readonly askTimeoutMs: number;
  /**
   * PEM (PKCS#8) Ed25519 private key file this process signs its records with, under the key id
   * `signingKeyId` an admin registered (RegisterPrincipalKey); both or neither. Unset: unsigned.
   */
  readonly signingKey: string | undefined;
  readonly signingKeyId: string | undefined;
  /** The initial settings this instance proposes require signed records (`signaturesRequired=1`): on under SECURE=1. */
  readonly requireSignatures: boolean;
  readonly logLevel: LogLevel;
}

export const DEFAULTS: Config = Object.freeze({
  topicPrefix: 'coord',
  kafkaBrokers: Object.freeze(['127.0.0.1:9092']),
  kafkaSsl: false,
  kafkaSaslMechanism: undefined,
  kafkaSaslUsername: undefined,
  kafkaSaslPassword: undefined,
  kafkaSecurityProtocol: undefined,
  kafkaSslCaLocation: undefined,
  kafkaSslCertLocation: undefined,
  kafkaSslKeyLocation: undefined,
  kafkaOauthTokenCommand: undefined,
  kafkaAllowPlainWithoutTls: false,
  schemaRegistryUrl: 'http://127.0.0.1:8081/apis/ccompat/v7',
  schemaRegistryAuth: undefined,
  groupId: 'coord-coordinator',
  dataDir: '.coord/data/coordinator',
  httpHost: '127.0.0.1',
  httpPort: 8090,
  sessionTimeoutMs: 10_000,
  tickIntervalMs: 1_000,
  workerSuspectMs: 5_000,
  workerTimeoutMs: 15_000,
  clientSessionTimeoutMs: 30_000,
  maxAllocations: 1_000,
  allocationIdleMs: 60_000,
  maxCachedAllocations: 8,
  historyRetentionMs: 600_000,
  batchSize: 500,
  maxBatchSize: 5_000,
  batchTimeoutMs: 2,
  maxValueBytes: 1_000_000,
  replyTopic: 'coord.replies',
  dedupeRetentionMs: 86_400_000,
  goneRetentionMs: 86_400_000,
  maxDeadlineMs: 600_000,
  maxRequestBytes: 900_000,
  stallThresholdMs: 10_000,
  schemaWaitMs: 5_000,
  closeTimeoutMs: 15_000,
  checkpointIntervalMs: 600_000,
  stateCacheEntries: 50_000,
  askTimeoutMs: 10_000,
  signingKey: undefined,
  signingKeyId: undefined,
  requireSignatures: false,
  logLevel: 'info',
});

const INT32_MAX = 2 ** 31 - 1;

type Kind = 'string' | 'list' | 'bool' | 'int' | 'sasl' | 'level' | 'protocol';

/** Each field's kind and environment variable; flags are the field name in kebab case. */
const FIELDS: Readonly<Record<keyof Config, { kind: Kind; env: string }>> = {
  topicPrefix: { kind: 'string', env: 'COORD_TOPIC_PREFIX' },
  kafkaBrokers: { kind: 'list', env: 'KAFKA_BROKERS' },
  kafkaSsl: { kind: 'bool', env: 'KAFKA_SSL' },
  kafkaSaslMechanism: { kind: 'sasl', env: 'KAFKA_SASL_MECHANISM' },
  kafkaSaslUsername: { kind: 'string', env: 'KAFKA_SASL_USERNAME' },
  kafkaSaslPassword: { kind: 'string', env: 'KAFKA_SASL_PASSWORD' },
  kafkaSecurityProtocol: { kind: 'protocol', env: 'KAFKA_SECURITY_PROTOCOL' },
  kafkaSslCaLocation: { kind: 'string', env: 'KAFKA_SSL_CA_LOCATION' },
  kafkaSslCertLocation: { kind: 'string', env: 'KAFKA_SSL_CERT_LOCATION' },
  kafkaSslKeyLocation: { kind: 'string', env: 'KAFKA_SSL_KEY_LOCATION' },
  kafkaOauthTokenCommand: { kind: 'string', env: 'KAFKA_OAUTH_TOKEN_COMMAND' },
  kafkaAllowPlainWithoutTls: { kind: 'bool', env: 'KAFKA_ALLOW_PLAIN_WITHOUT_TLS' },
  schemaRegistryUrl: { kind: 'string', env: 'SCHEMA_REGISTRY_URL' },
  schemaRegistryAuth: { kind: 'string', env: 'SCHEMA_REGISTRY_AUTH' },
  groupId: { kind: 'string', env: 'COORD_GROUP_ID' },
  dataDir: { kind: 'string', env: 'COORD_DATA_DIR' },
  httpHost: { kind: 'string', env: 'COORD_HTTP_HOST' },
  httpPort: { kind: 'int', env: 'COORD_HTTP_PORT' },
  sessionTimeoutMs: { kind: 'int', env: 'COORD_SESSION_TIMEOUT_MS' },
  tickIntervalMs: { kind: 'int', env: 'COORD_TICK_INTERVAL_MS' },
  workerSuspectMs: { kind: 'int', env: 'COORD_WORKER_SUSPECT_MS' },
  workerTimeoutMs: { kind: 'int', env: 'COORD_WORKER_TIMEOUT_MS' },
  clientSessionTimeoutMs: { kind: 'int', env: 'COORD_CLIENT_SESSION_TIMEOUT_MS' },
  maxAllocations: { kind: 'int', env: 'COORD_MAX_ALLOCATIONS' },
  allocationIdleMs: { kind: 'int', env: 'COORD_ALLOCATION_IDLE_MS' },
  maxCachedAllocations: { kind: 'int', env: 'COORD_MAX_CACHED_ALLOCATIONS' },
  historyRetentionMs: { kind: 'int', env: 'COORD_HISTORY_RETENTION_MS' },
  batchSize: { kind: 'int', env: 'COORD_BATCH_SIZE' },
  maxBatchSize: { kind: 'int', env: 'COORD_MAX_BATCH_SIZE' },
  batchTimeoutMs: { kind: 'int', env: 'COORD_BATCH_TIMEOUT_MS' },
  maxValueBytes: { kind: 'int', env: 'COORD_MAX_VALUE_BYTES' },
  replyTopic: { kind: 'string', env: 'COORD_REPLY_TOPIC' },
  dedupeRetentionMs: { kind: 'int', env: 'COORD_DEDUPE_RETENTION_MS' },
  goneRetentionMs: { kind: 'int', env: 'COORD_GONE_RETENTION_MS' },
  maxDeadlineMs: { kind: 'int', env: 'COORD_MAX_DEADLINE_MS' },
  maxRequestBytes: { kind: 'int', env: 'COORD_MAX_REQUEST_BYTES' },
  stallThresholdMs: { kind: 'int', env: 'COORD_STALL_THRESHOLD_MS' },
  schemaWaitMs: { kind: 'int', env: 'COORD_SCHEMA_WAIT_MS' },
  closeTimeoutMs: { kind: 'int', env: 'COORD_CLOSE_TIMEOUT_MS' },
  checkpointIntervalMs: { kind: 'int', env: 'COORD_CHECKPOINT_INTERVAL_MS' },
  stateCacheEntries: { kind: 'int', env: 'COORD_STATE_CACHE_ENTRIES' },
  askTimeoutMs: { kind: 'int', env: 'COORD_ASK_TIMEOUT_MS' },
  signingKey: { kind: 'string', env: 'COORD_SIGNING_KEY' },
  signingKeyId: { kind: 'string', env: 'COORD_SIGNING_KEY_ID' },
  requireSignatures: { kind: 'bool', env: 'COORD_REQUIRE_SIGNATURES' },
  logLevel: { kind: 'level', env: 'COORD_LOG_LEVEL' },
};

const kebab = (s: string): string => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

const parseField = (key: keyof Config, raw: unknown): unknown => {
  const { kind } = FIELDS[key];
  const bad = (what: string): never => {
    throw new CoordError('CONFIG_INVALID', `configuration ${key}=${JSON.stringify(raw)}: ${what}`);
  };
  switch (kind) {
    case 'string':
      return typeof raw === 'string' ? raw : bad('expected a string');
    case 'list': {
      const list = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(',') : bad('expected a comma-separated list');
      const items = list.map((x) => String(x).trim()).filter((x) => x.length > 0);
      return items.length > 0 ? Object.freeze(items) : bad('expected at least one entry');
    }
    case 'bool':
      if (typeof raw === 'boolean') return raw;
      if (raw === 'true' || raw === '1') return true;
      if (raw === 'false' || raw === '0') return false;
      return bad('expected true or false');
    case 'int': {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\d+$/.test(raw.trim()) ? Number(raw) : NaN;
      return Number.isSafeInteger(n) && n >= 0 ? n : bad('expected a non-negative integer');
    }
    case 'sasl': {
      const m = typeof raw === 'string' ? raw.toLowerCase() : raw;
      return m === 'plain' || m === 'scram-sha-256' || m === 'scram-sha-512' || m === 'oauthbearer' ? m : bad('expected plain, scram-sha-256, scram-sha-512 or oauthbearer');
    }
    case 'protocol':
      return raw === 'PLAINTEXT' || raw === 'SSL' || raw === 'SASL_PLAINTEXT' || raw === 'SASL_SSL' ? raw : bad('expected PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL');
    case 'level':
      return raw === 'debug' || raw === 'info' || raw === 'warn' || raw === 'error' ? raw : bad('expected debug, info, warn or error');
    default: {
      const never: never = kind;
      return never;
    }
  }
};

const validate = (c: Config): Config => {
  const bad = (msg: string): never => {
    throw new CoordError('CONFIG_INVALID', msg);
  };
  if (c.batchSize < 1) bad(`batchSize must be at least 1, got ${c.batchSize}`);
  if (c.checkpointIntervalMs !== 0 && c.checkpointIntervalMs < 1_000) bad(`checkpointIntervalMs must be 0 (never) or at least 1000, got ${c.checkpointIntervalMs}`);
  if (c.stateCacheEntries < 0) bad(`stateCacheEntries must be 0 or more, got ${c.stateCacheEntries}`);
  if (c.tickIntervalMs < 10) bad(`tickIntervalMs must be at least 10, got ${c.tickIntervalMs}`);
  if (c.workerTimeoutMs <= c.workerSuspectMs) bad(`workerTimeoutMs (${c.workerTimeoutMs}) must be longer than workerSuspectMs (${c.workerSuspectMs})`);
  if (c.sessionTimeoutMs < 6_000) bad(`sessionTimeoutMs must be at least 6000 (the broker's group.min.session.timeout.ms), got ${c.sessionTimeoutMs}`);
  // The settings that travel on the Tick must fit the Avro types they are encoded in.
  for (const key of ['maxAllocations', 'maxCachedAllocations', 'maxValueBytes'] as const)
    if (c[key] > INT32_MAX) bad(`${key} must be at most ${INT32_MAX} (an Avro int on the Tick), got ${c[key]}`);
  if (c.maxValueBytes < 1024) bad(`maxValueBytes must be at least 1024, got ${c.maxValueBytes}`);
  if (c.dedupeRetentionMs < c.maxDeadlineMs) bad(`dedupeRetentionMs (${c.dedupeRetentionMs}) must be at least maxDeadlineMs (${c.maxDeadlineMs}): a deferred reply must still be remembered when it comes`);
  if ((c.signingKey === undefined) !== (c.signingKeyId === undefined)) bad('signingKey and signingKeyId go together: give both (COORD_SIGNING_KEY, COORD_SIGNING_KEY_ID) or neither');
  if (c.maxDeadlineMs < 1_000) bad(`maxDeadlineMs must be at least 1000, got ${c.maxDeadlineMs}`);
  // The initial settings this instance may propose must be ones the log accepts, or it would propose them in vain.
  const refused = settingsProblems({
    workerSuspectMs: c.workerSuspectMs,
    workerTimeoutMs: c.workerTimeoutMs,
    sessionTimeoutMs: c.clientSessionTimeoutMs,
    maxAllocations: c.maxAllocations,
    allocationIdleMs: c.allocationIdleMs,
    maxCachedAllocations: c.maxCachedAllocations,
    historyRetentionMs: c.historyRetentionMs,
    maxValueBytes: c.maxValueBytes,
    dedupeRetentionMs: c.dedupeRetentionMs,
    goneRetentionMs: c.goneRetentionMs,
    maxDeadlineMs: c.maxDeadlineMs,
    signaturesRequired: c.requireSignatures ? 1 : 0,
  });
  if (refused.length > 0) bad(`initial settings out of bounds: ${refused.join('; ')}`);
  // A snapshot marker records every input its pass refused before deciding: it must stay far below the broker's limit.
  if (c.batchSize > 5_000) bad(`batchSize must be at most 5000, got ${c.batchSize}`);
  if (c.maxBatchSize > 5_000) bad(`maxBatchSize must be at most 5000, got ${c.maxBatchSize}`);
  if (c.maxBatchSize < c.batchSize) bad(`maxBatchSize must be at least batchSize (${c.batchSize}), got ${c.maxBatchSize}`);
  if (c.maxRequestBytes < 16_384) bad(`maxRequestBytes must be at least 16384, got ${c.maxRequestBytes}`);
  if (c.httpPort > 65535) bad(`httpPort must be a port number, got ${c.httpPort}`);
  if (!/^[A-Za-z0-9._-]+$/.test(c.topicPrefix)) bad(`topicPrefix may hold letters, digits, '.', '_' and '-', got ${c.topicPrefix}`);
  for (const problem of securityProblems(c)) bad(problem);
  if (!/^https?:\/\//.test(c.schemaRegistryUrl)) bad(`schemaRegistryUrl must be an http(s) URL, got ${c.schemaRegistryUrl}`);
  return Object.freeze(c);
};

/** Whether the Kafka connection uses TLS: asked for directly, by the protocol, or implied by a CA or client certificate. */
export const kafkaTls = (c: Pick<Config, 'kafkaSsl' | 'kafkaSecurityProtocol' | 'kafkaSslCaLocation' | 'kafkaSslCertLocation'>): boolean =>
  c.kafkaSsl || c.kafkaSecurityProtocol === 'SSL' || c.kafkaSecurityProtocol === 'SASL_SSL' || c.kafkaSslCaLocation !== undefined || c.kafkaSslCertLocation !== undefined;

/** What is inconsistent or unsafe in the Kafka security settings, one sentence each. */
const securityProblems = (c: Config): string[] => {
  const out: string[] = [];
  const m = c.kafkaSaslMechanism;
  const p = c.kafkaSecurityProtocol;
  if ((m === 'plain' || m === 'scram-sha-256' || m === 'scram-sha-512') && (c.kafkaSaslUsername === undefined || c.kafkaSaslPassword === undefined))
    out.push(`kafkaSaslMechanism needs kafkaSaslUsername and kafkaSaslPassword (KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD) for ${m}`);
  if (p !== undefined && p.startsWith('SASL_') && m === undefined) out.push(`kafkaSecurityProtocol ${p} needs kafkaSaslMechanism`);
  if ((p === 'PLAINTEXT' || p === 'SSL') && m !== undefined) out.push(`kafkaSecurityProtocol ${p} has no SASL, but kafkaSaslMechanism is ${m}: use SASL_${p === 'SSL' ? 'SSL' : 'PLAINTEXT'}`);
  if (p === 'PLAINTEXT' || p === 'SASL_PLAINTEXT')
    if (c.kafkaSsl || c.kafkaSslCaLocation !== undefined || c.kafkaSslCertLocation !== undefined) out.push(`kafkaSecurityProtocol ${p} is without TLS, but TLS settings are given`);
  if ((c.kafkaSslCertLocation === undefined) !== (c.kafkaSslKeyLocation === undefined))
    out.push('kafkaSslCertLocation and kafkaSslKeyLocation go together (mutual TLS needs both the certificate and its key)');
  if (m === 'plain' && !kafkaTls(c) && !c.kafkaAllowPlainWithoutTls)
    out.push('SASL PLAIN without TLS would send the password in clear: set KAFKA_SECURITY_PROTOCOL=SASL_SSL (and KAFKA_SSL_CA_LOCATION), or KAFKA_ALLOW_PLAIN_WITHOUT_TLS=true on a trusted network');
  return out;
};

/** Merges overrides onto the defaults without mutating either, and validates the result. */
export const makeConfig = (overrides: Partial<Config> = {}): Config => {
  const merged: Record<string, unknown> = { ...DEFAULTS };
  for (const [key, value] of Object.entries(overrides)) {
    if (!(key in FIELDS)) throw new CoordError('CONFIG_INVALID', `unknown configuration key ${key}`);
    if (value !== undefined) merged[key] = parseField(key as keyof Config, value);
  }
  if (overrides.replyTopic === undefined) {
    // A frontend's or a worker's principal may read its own reply topic only; anyone else shares the prefix's.
    const own = overrides.kafkaSaslUsername === undefined ? undefined : ownReplyTopic(merged.topicPrefix as string, overrides.kafkaSaslUsername);
    if (own !== undefined) merged.replyTopic = own;
    else if (overrides.topicPrefix !== undefined) merged.replyTopic = `${overrides.topicPrefix}.replies`;
  }
  return validate(merged as unknown as Config);
};

/**
 * Reads configuration in rising precedence: defaults, a JSON file (`--config FILE` or
 * `COORD_CONFIG`), the environment, then `--kebab-name=value` flags. Unknown flags are left
 * to the caller, who gets them back in `rest`.
 */
export const loadConfig = (env: NodeJS.ProcessEnv, argv: readonly string[] = []): { config: Config; rest: string[] } => {
  const fromFlags: Record<string, unknown> = {};
  const rest: string[] = [];
  let file = env.COORD_CONFIG;
  const byFlag = new Map(Object.keys(FIELDS).map((k) => [kebab(k), k]));
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const m = /^--([a-z0-9-]+)(?:=(.*))?$/.exec(arg);
    const name = m?.[1];
    if (m === null || name === undefined || (name !== 'config' && !byFlag.has(name))) {
      rest.push(arg);
      continue;
    }
    const isBool = name !== 'config' && FIELDS[byFlag.get(name) as keyof Config].kind === 'bool';
    // A boolean flag stands alone (`--kafka-ssl`) or takes `=value`; other flags take the next argument too.
    const value = m[2] ?? (isBool && (argv[i + 1] === undefined || argv[i + 1].startsWith('--')) ? 'true' : argv[++i]);
    if (value === undefined) throw new CoordError('CONFIG_INVALID', `flag --${name} needs a value`);
    if (name === 'config') file = value;
    else fromFlags[byFlag.get(name) as string] = value;
  }
  const fromFile: Record<string, unknown> = {};
  if (file !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new CoordError('CONFIG_INVALID', `cannot read configuration file ${file}: ${(err as Error).message}`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new CoordError('CONFIG_INVALID', `configuration file ${file} must hold a JSON object`);
    Object.assign(fromFile, parsed);
  }
  const fromEnv: Record<string, unknown> = {};
  for (const [key, { env: name }] of Object.entries(FIELDS)) {
    const v = env[name];
    if (v !== undefined && v !== '') fromEnv[key] = v;
  }
  return { config: makeConfig({ ...fromFile, ...fromEnv, ...fromFlags } as Partial<Config>), rest };
};
