/** The kafkajs client built from the configuration, and the admin calls the rest of the code needs. */
import { ConfigResourceTypes, Kafka, logLevel as KafkaLogLevel, Partitioners, type Admin, type KafkaConfig, type Producer } from 'kafkajs';
import type { Config } from '../config';
import { CoordError } from '../errors';
import { silentLogger, type Logger } from '../log';
import { topicOffsets, withAdmin } from './clients';
import { kafkaSaslOptions, kafkaSslOptions, type KafkaSecurityHooks, type KafkaSecuritySettings } from './security';
import type { TopicSpec } from './topics';

export type KafkaConnection = Pick<Config, 'kafkaBrokers'> & KafkaSecuritySettings;

const LEVELS: Record<number, keyof Logger> = {
  [KafkaLogLevel.ERROR]: 'error',
  [KafkaLogLevel.WARN]: 'warn',
  [KafkaLogLevel.INFO]: 'info',
  [KafkaLogLevel.DEBUG]: 'debug',
};

const CONCURRENT = /another concurrent operation on the same transaction/;

export const createKafka = (conn: KafkaConnection, clientId: string, log: Logger, hooks: KafkaSecurityHooks = {}): Kafka => {
  const cfg: KafkaConfig = {
    clientId,
    brokers: [...conn.kafkaBrokers],
    ssl: kafkaSslOptions(conn),
    sasl: kafkaSaslOptions(conn, hooks),
    connectionTimeout: 3_000,
    requestTimeout: 30_000,
    retry: { initialRetryTime: 100, retries: 8 },
    // kafkajs logs its own rebalances and retries at WARN/ERROR; they go through our JSON log.
    logLevel: KafkaLogLevel.WARN,
    logCreator: () => (entry) => {
      const { message, ...rest } = entry.log;
      // A transaction begun while the broker still writes the last one's markers is answered
      // CONCURRENT_TRANSACTIONS and retried at once (see outboxProducer): expected, so not an error.
      const method = CONCURRENT.test(`${message} ${String(rest.error ?? '')}`) ? 'debug' : (LEVELS[entry.level] ?? 'info');
      (log[method] as (m: string, f?: Record<string, unknown>) => void)(`kafkajs: ${message}`, { namespace: entry.namespace, ...rest });
    },
  };
  return new Kafka(cfg);
};

/** Creates the topics that do not exist yet; existing ones are left as they are. */
export const ensureTopics = async (admin: Admin, specs: readonly TopicSpec[]): Promise<string[]> => {
  const existing = new Set(await admin.listTopics());
  const missing = specs.filter((s) => !existing.has(s.topic));
  if (missing.length === 0) return [];
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: missing.map((s) => ({ topic: s.topic, numPartitions: s.numPartitions, configEntries: [...(s.configEntries ?? [])] })),
    });
  } catch (err) {
    // A concurrent creator may have won the race; only a topic still missing is an error. On a
    // cluster, the broker asked for leaders may not know a topic another one just created: its
    // metadata catches up within a few seconds, so the topics are looked for until then.
    let still = missing;
    for (const until = Date.now() + 15_000; still.length > 0 && Date.now() < until; ) {
      const now = new Set(await admin.listTopics());
      still = still.filter((s) => !now.has(s.topic));
      if (still.length > 0) await new Promise((r) => setTimeout(r, 250));
    }
    if (still.length === 0) await admin.fetchTopicMetadata({ topics: missing.map((s) => s.topic) }).catch(() => undefined);
    if (still.length > 0)
      throw new CoordError('INFRA_START_FAILED', `could not create topics ${still.map((s) => s.topic).join(', ')}: ${(err as Error).message}`, {
        cause: err,
      });
  }
  return missing.map((s) => s.topic);
};

/** A connection without TLS or SASL, as the local stack serves it. */
export const plaintext = (brokers: readonly string[]): KafkaConnection => ({
  kafkaBrokers: brokers,
  kafkaSsl: false,
  kafkaSaslMechanism: undefined,
  kafkaSaslUsername: undefined,
  kafkaSaslPassword: undefined,
});

/** True once a broker answers metadata requests. */
export const brokerAnswers = async (conn: KafkaConnection): Promise<boolean> => {
  try {
    await withAdmin(createKafka(conn, 'coord-probe', silentLogger()), (admin) => admin.describeCluster(), { retry: { retries: 0 } });
    return true;
  } catch {
    return false;
  }
};

/**
 * What is wrong with the input topics for a coordinator whose clock is the log: each must be
 * stamped by the broker (`message.timestamp.type=LogAppendTime`), or a producer's clock (the
 * year 2527, say) becomes the log's, and the log's clock never comes back.
 */
export const inputTopicProblems = async (admin: Admin, topics: readonly string[]): Promise<string[]> => {
  const described = await admin.describeConfigs({
    includeSynonyms: false,
    resources: topics.map((name) => ({ type: ConfigResourceTypes.TOPIC, name, configNames: ['message.timestamp.type'] })),
  });
  const problems: string[] = [];
  for (const r of described.resources) {
    const type = r.configEntries.find((e) => e.configName === 'message.timestamp.type')?.configValue;
    if (type !== 'LogAppendTime')
      problems.push(
        `input topic ${r.resourceName} has message.timestamp.type=${type ?? 'unknown'}; the coordinator needs LogAppendTime, so the broker stamps every input ` +
          `(kafka-configs.sh --alter --entity-type topics --entity-name ${r.resourceName} --add-config message.timestamp.type=LogAppendTime)`,
      );
  }
  return problems;
};

/** Log end offset of every partition of `topics`, keyed `topic:partition`. */
export const highWatermarks = async (kafka: Kafka, topics: readonly string[]): Promise<Map<string, string>> =>
  new Map((await topicOffsets(kafka, topics)).map((p) => [`${p.topic}:${p.partition}`, p.high]));

/** Earliest offset of every partition of `topics`, keyed `topic:partition`. */
export const lowWatermarks = async (kafka: Kafka, topics: readonly string[]): Promise<Map<string, string>> =>
  new Map((await topicOffsets(kafka, topics)).map((p) => [`${p.topic}:${p.partition}`, p.low]));

/**
 * The coordinator's producer: transactional under one id per deployment, so the instance that
 * becomes active fences every earlier one (a paused zombie's next send fails, and what it had
 * begun is aborted, invisible to read_committed consumers); acks from all replicas. Its retries
 * are few and short: a send that keeps failing comes back to the publisher, which classes the
 * error, sets aside what can never be published and shows the rest on /readyz (never an endless
 * retry inside kafkajs, where one deleted topic in its metadata would stall every later send).
 */
export const outboxProducer = (kafka: Kafka, transactionalId: string): Producer =>
  kafka.producer({
    transactionalId,
    transactionTimeout: 60_000,
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
    // A snapshot's transaction begins while the broker may still be writing the last one's markers
    // (CONCURRENT_TRANSACTIONS, a few ms): like the Java client (KAFKA-5477) it is retried after a
    // short fixed wait, not an exponential one; a retry is one AddPartitionsToTxn (no metadata
    // refresh, patches/README.md). At 200 asks/s about one transaction in two meets it. A wait of
    // about 1 ms rather than 3-4 took the transaction's send (AddPartitionsToTxn and the records)
    // from 7.4 to 4.6 ms at the 90th percentile and the ask's from 14.3 to 9.9 ms, in alternated
    // rounds; under a fleet's heartbeats, where every transaction starts right after the last, the
    // ask's p99 fell from 300 and 126 ms to 156 and 91 ms in two alternated pairs of scale runs.
    // The same retries serve every failed send (a leader moving, a broker away), each with a
    // metadata refresh and a log line, so their number stays 120: an attempt that keeps failing
    // comes back to the publisher sooner than before (about 0.15 s rather than 0.45 s when the
    // broker answers at once), whose own backoff and /readyz take over; one still in the broker's
    // CONCURRENT_TRANSACTIONS after 120 ms of them is published again by the publisher.
    retry: { retries: 120, initialRetryTime: 1, factor: 0.2, multiplier: 1, maxRetryTime: 1.2 },
  });

/**
 * The kafkajs protocol error types in an error and the errors it wraps (retries exceeded wrap the
 * last one). A code this kafkajs has no name for comes as KAFKAJS_UNKNOWN_ERROR_CODE with the
 * code in its message; it is named here as the broker's error table names it.
 */
const errorTypes = (err: unknown): string[] => {
  const types: string[] = [];
  for (let e = err, depth = 0; typeof e === 'object' && e !== null && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    const type = (e as { type?: unknown }).type;
    if (type === 'KAFKAJS_UNKNOWN_ERROR_CODE') {
      const code = /^Unknown error code (\d+)$/.exec(String((e as { message?: unknown }).message))?.[1];
      const named = code === undefined ? undefined : UNNAMED_CODES[Number(code)];
      if (named !== undefined) types.push(named);
    } else if (typeof type === 'string') types.push(type);
  }
  return types;
};

/** Broker error codes kafkajs 2.2 has no entry for: PRODUCER_FENCED, which brokers answer newer transactional clients in place of INVALID_PRODUCER_EPOCH. */
const UNNAMED_CODES: Readonly<Record<number, string>> = { 90: 'PRODUCER_FENCED' };
const FENCING = new Set(['INVALID_PRODUCER_EPOCH', 'PRODUCER_FENCED']);
/** The principal may not use the transactional id: a missing ACL, not another instance. */
const TRANSACTIONAL_ID_REFUSED = new Set(['TRANSACTIONAL_ID_AUTHORIZATION_FAILED']);
/** A record the broker will never take, however often it is sent. */
const RECORD_REFUSED = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'INVALID_RECORD', 'CORRUPT_MESSAGE']);
/** A topic the coordinator cannot write: gone, never there, internal, or not ours to write. */
const TOPIC_REFUSED = new Set(['UNKNOWN_TOPIC_OR_PARTITION', 'INVALID_TOPIC_EXCEPTION', 'TOPIC_AUTHORIZATION_FAILED', 'POLICY_VIOLATION']);

export type ProduceFailure = 'fenced' | 'transactional-id-refused' | 'record-refused' | 'topic-refused' | 'retriable';

/**
 * What a failed produce means: fenced (another instance took over), the transactional id
 * refused to this principal (an ACL missing), a record or a topic the broker refuses for good,
 * or a passing trouble (broker away, leader moving) worth another try.
 */
export const classifyProduceError = (err: unknown): ProduceFailure => {
  const types = errorTypes(err);
  if (types.some((t) => FENCING.has(t))) return 'fenced';
  if (types.some((t) => TRANSACTIONAL_ID_REFUSED.has(t))) return 'transactional-id-refused';
  if (types.some((t) => RECORD_REFUSED.has(t))) return 'record-refused';
  if (types.some((t) => TOPIC_REFUSED.has(t))) return 'topic-refused';
  // By type only: a message that mentions fencing or an epoch (TRANSACTION_COORDINATOR_FENCED, a leader's epoch) is not our producer fenced.
  return 'retriable';
};

/** After these a producer must publish nothing more: it was fenced, or it may not use its transactional id at all. */
export const endsPublication = (kind: ProduceFailure): boolean => kind === 'fenced' || kind === 'transactional-id-refused';

/**
 * The error a producer refused its transactional id ends with: an authorization refusal, named
 * with the ACL that would grant it, so a missing ACL is not taken for another instance's fencing.
 */
export const transactionalIdRefused = (transactionalId: string, err: unknown): CoordError =>
  new CoordError(
    'TRANSACTIONAL_ID_FORBIDDEN',
    `the broker refuses this principal the transactional id ${transactionalId} (TRANSACTIONAL_ID_AUTHORIZATION_FAILED): a missing ACL, not a fencing; ` +
      `it publishes nothing until the principal may WRITE and DESCRIBE transactional id ${transactionalId} ('coordctl acl apply --role coordinator' grants both on the group id's prefix)`,
    { cause: err },
  );

/** kafkajs errors that say the cluster could not answer this time, not that it refuses. */
const PASSING = new Set(['KafkaJSConnectionError', 'KafkaJSConnectionClosedError', 'KafkaJSRequestTimeoutError', 'KafkaJSBrokerNotFound', 'KafkaJSMetadataNotLoaded', 'KafkaJSLockTimeout', 'KafkaJSNumberOfRetriesExceeded']);

/**
 * Whether `err` is a passing trouble of the cluster (a broker away, a leader or a coordinator
 * moving, a request timing out, kafkajs's retries running out on such), worth the same step
 * again later; never when it or an error it wraps is a fencing or a refused transactional id.
 */
export const isPassingKafkaTrouble = (err: unknown): boolean => {
  if (errorTypes(err).some((t) => FENCING.has(t) || TRANSACTIONAL_ID_REFUSED.has(t))) return false;
  for (let e = err, depth = 0; typeof e === 'object' && e !== null && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    const { name, retriable } = e as { name?: unknown; retriable?: unknown };
    if (typeof name === 'string' && name.startsWith('KafkaJS') && (retriable === true || PASSING.has(name))) return true;
  }
  return false;
};

/** A client's producer: bounded retries, since a retried request keeps its correlation id and has no second effect. */
export const requestProducer = (kafka: Kafka): Producer =>
  kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner, retry: { retries: 5 } });

/**
 * The checkpoint writer's producer: idempotent, so a retried chunk is not written twice and the
 * chunks stay in order with several in flight; bounded retries, since a failed checkpoint is
 * simply written again at the next interval.
 */
export const checkpointProducer = (kafka: Kafka): Producer =>
  kafka.producer({ idempotent: true, maxInFlightRequests: 5, allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner, retry: { retries: 5 } });
