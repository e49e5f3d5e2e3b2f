/**
 * The kafkajs admin and consumer set-ups the rest of the code shares, so that only
 * src/messaging/ speaks kafkajs: an admin connected for one job and always disconnected,
 * the log ends read before a consumer joins, and a consumer made the project's way (no
 * auto-created topics, a short fetch wait) that seeks to given positions when it joins.
 * The kafkajs types other layers name are re-exported here; the lint rule forbids importing
 * kafkajs anywhere else under src/.
 */
import type { Admin, AdminConfig, Consumer, ConsumerConfig, Kafka } from 'kafkajs';

export type { Admin, Consumer, ConsumerCrashEvent, ConsumerGroupJoinEvent, EachBatchPayload, EachMessagePayload, IHeaders, Kafka, KafkaMessage, PartitionAssigner, Producer, RecordMetadata } from 'kafkajs';

/** Runs `fn` with an admin connected for it, and disconnects it however `fn` ends. */
export const withAdmin = async <T>(kafka: Kafka, fn: (admin: Admin) => Promise<T>, config?: AdminConfig): Promise<T> => {
  const admin = kafka.admin(config);
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
};

export interface PartitionOffsets {
  readonly topic: string;
  readonly partition: number;
  /** The earliest offset still in the log. */
  readonly low: string;
  /** The log end: the offset the next record will get. */
  readonly high: string;
}

/**
 * A partition whose leader moved or is being elected answers these, and a broker that has not
 * yet heard of a topic just created answers the third. kafkajs gives the first two up at once
 * from fetchTopicOffsets; a consumer's subscribe gives the third up at once, and the others after
 * its own few retries (wrapped, the broker's answer as the cause), though the next leader, or the
 * broker's next metadata, answers in a moment.
 */
const NOT_YET: ReadonlySet<unknown> = new Set(['NOT_LEADER_FOR_PARTITION', 'LEADER_NOT_AVAILABLE', 'UNKNOWN_TOPIC_OR_PARTITION']);

/** Attempts of a read the cluster's metadata is not yet ready for: 100 ms, 200 ms, … 3.1 s of waits in all. */
const METADATA_ATTEMPTS = 6;

/** Runs `attempt` again while the cluster answers that its metadata is not yet there, a bounded number of times. */
const untilMetadataSettles = async <T>(attempt: () => Promise<T>): Promise<T> => {
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (err) {
      const e = err as { type?: unknown; cause?: { type?: unknown } };
      if (n >= METADATA_ATTEMPTS || !(NOT_YET.has(e.type) || NOT_YET.has(e.cause?.type))) throw err;
      await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** (n - 1)));
    }
  }
};

/** The low and high offsets of every partition of `topics`, read with a new admin (and so new metadata) an attempt, asked again while a leader moves. */
export const topicOffsets = (kafka: Kafka, topics: readonly string[]): Promise<PartitionOffsets[]> =>
  untilMetadataSettles(() =>
    withAdmin(kafka, async (admin) => {
      const out: PartitionOffsets[] = [];
      for (const topic of topics) for (const p of await admin.fetchTopicOffsets(topic)) out.push({ topic, partition: p.partition, low: p.low, high: p.high });
      return out;
    }),
  );

/**
 * Subscribes `consumer` to `topics`, asked again while a broker has not yet heard of a topic
 * just created (a cluster's brokers learn of it one after another); a topic that stays unknown
 * fails it after the bounded attempts.
 */
export const subscribe = (consumer: Consumer, topics: readonly string[], fromBeginning: boolean): Promise<void> =>
  untilMetadataSettles(() => consumer.subscribe({ topics: [...topics], fromBeginning }));

/**
 * A consumer with the project's defaults: topics are never auto-created, an idle fetch waits
 * `maxWaitTimeInMs` (kafkajs's 5 s default would be a 5 s floor on latency), and a lost member
 * is noticed after `sessionTimeout` (10 s). Anything else in `config` is passed on as it is.
 */
export const createConsumer = (kafka: Kafka, config: ConsumerConfig): Consumer =>
  kafka.consumer({ allowAutoTopicCreation: false, maxWaitTimeInMs: 100, sessionTimeout: 10_000, ...config });

export interface Position {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
}

/**
 * Seeks `consumer` to `positions` when it joins its group (every time, or only the first time,
 * after which the group's committed offsets say where it was), and resolves on the first join.
 * `positions` may be a function, asked at each join (where a consumer has got to by then).
 * Call it before `run()`: the seek must come before the first fetch.
 */
export const seekOnJoin = (consumer: Consumer, positions: readonly Position[] | (() => readonly Position[]), when: 'every-join' | 'first-join' = 'every-join'): Promise<void> =>
  new Promise<void>((resolve) => {
    let first = true;
    consumer.on(consumer.events.GROUP_JOIN, () => {
      if (first || when === 'every-join') for (const p of typeof positions === 'function' ? positions() : positions) consumer.seek({ topic: p.topic, partition: p.partition, offset: p.offset });
      first = false;
      resolve();
    });
  });
