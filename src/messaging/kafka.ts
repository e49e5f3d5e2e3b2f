/** The kafkajs client built from the configuration, and the admin calls the rest of the code needs. */
import { Kafka, logLevel as KafkaLogLevel, Partitioners, type Admin, type KafkaConfig, type Producer, type SASLOptions } from 'kafkajs';
import type { Config } from '../config';
import { CoordError } from '../errors';
import { silentLogger, type Logger } from '../log';
import type { TopicSpec } from './topics';

export type KafkaConnection = Pick<
  Config,
  'kafkaBrokers' | 'kafkaSsl' | 'kafkaSaslMechanism' | 'kafkaSaslUsername' | 'kafkaSaslPassword'
>;

const LEVELS: Record<number, keyof Logger> = {
  [KafkaLogLevel.ERROR]: 'error',
  [KafkaLogLevel.WARN]: 'warn',
  [KafkaLogLevel.INFO]: 'info',
  [KafkaLogLevel.DEBUG]: 'debug',
};

export const createKafka = (conn: KafkaConnection, clientId: string, log: Logger): Kafka => {
  const cfg: KafkaConfig = {
    clientId,
    brokers: [...conn.kafkaBrokers],
    ssl: conn.kafkaSsl,
    connectionTimeout: 3_000,
    requestTimeout: 30_000,
    retry: { initialRetryTime: 100, retries: 8 },
    // kafkajs logs its own rebalances and retries at WARN/ERROR; they go through our JSON log.
    logLevel: KafkaLogLevel.WARN,
    logCreator: () => (entry) => {
      const method = LEVELS[entry.level] ?? 'info';
      const { message, ...rest } = entry.log;
      (log[method] as (m: string, f?: Record<string, unknown>) => void)(`kafkajs: ${message}`, { namespace: entry.namespace, ...rest });
    },
  };
  if (conn.kafkaSaslMechanism !== undefined) {
    cfg.sasl = {
      mechanism: conn.kafkaSaslMechanism,
      username: conn.kafkaSaslUsername ?? '',
      password: conn.kafkaSaslPassword ?? '',
    } as SASLOptions;
  }
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
    // A concurrent creator may have won the race; only a topic still missing is an error.
    const now = new Set(await admin.listTopics());
    const still = missing.filter((s) => !now.has(s.topic));
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
  const admin = createKafka(conn, 'coord-probe', silentLogger()).admin({ retry: { retries: 0 } });
  try {
    await admin.connect();
    await admin.describeCluster();
    return true;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
};

/** Earliest offset of every partition of `topics`, keyed `topic:partition`. */
export const lowWatermarks = async (admin: Admin, topics: readonly string[]): Promise<Map<string, string>> => {
  const out = new Map<string, string>();
  for (const topic of topics) {
    for (const p of await admin.fetchTopicOffsets(topic)) out.set(`${topic}:${p.partition}`, p.low);
  }
  return out;
};

/**
 * The coordinator's producer: transactional under one id per deployment, so the instance that
 * becomes active fences every earlier one (a paused zombie's next send fails, and what it had
 * begun is aborted, invisible to read_committed consumers); acks from all replicas; retries
 * without end, since an outbox that cannot be published must wait for the broker.
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
    // (CONCURRENT_TRANSACTIONS): a short first backoff keeps that from adding 100 ms to a reply.
    retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 5, factor: 0.2, multiplier: 2, maxRetryTime: 5_000 },
  });

/** Errors that mean another producer with our transactional id took over. */
export const isFenced = (err: unknown): boolean => {
  const type = (err as { type?: unknown }).type;
  return type === 'INVALID_PRODUCER_EPOCH' || type === 'PRODUCER_FENCED' || type === 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED' || /fenced|epoch/i.test(String((err as Error).message));
};

/** A client's producer: bounded retries, since a retried request keeps its correlation id and has no second effect. */
export const requestProducer = (kafka: Kafka): Producer =>
  kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner, retry: { retries: 5 } });
