/**
 * The kafkajs admin and consumer set-ups the rest of the code shares, so that only
 * src/messaging/ speaks kafkajs: an admin connected for one job and always disconnected,
 * the log ends read before a consumer joins, and a consumer made the project's way (no
 * auto-created topics, a short fetch wait) that seeks to given positions when it joins.
 * The kafkajs types other layers name are re-exported here; the lint rule forbids importing
 * kafkajs anywhere else under src/.
 */
import type { Admin, AdminConfig, Consumer, ConsumerConfig, Kafka } from 'kafkajs';

export type { Admin, Consumer, ConsumerCrashEvent, ConsumerGroupJoinEvent, EachBatchPayload, IHeaders, Kafka, KafkaMessage, PartitionAssigner, Producer, RecordMetadata } from 'kafkajs';

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
 * A partition whose leader moved or is being elected answers these; kafkajs's fetchTopicOffsets
 * gives them up at once (it retries only an unknown topic), though the next leader answers in a
 * moment.
 */
const LEADER_MOVED: ReadonlySet<unknown> = new Set(['NOT_LEADER_FOR_PARTITION', 'LEADER_NOT_AVAILABLE']);

/** Reads of the offsets after a leader moved, each with a new admin (and so new metadata): 100 ms, 200 ms, … 3.1 s in all. */
const OFFSETS_ATTEMPTS = 6;

/** The low and high offsets of every partition of `topics`, read with one admin an attempt, asked again while a leader moves. */
export const topicOffsets = async (kafka: Kafka, topics: readonly string[]): Promise<PartitionOffsets[]> => {
  for (let attempt = 1; ; attempt++) {
    try {
      return await withAdmin(kafka, async (admin) => {
        const out: PartitionOffsets[] = [];
        for (const topic of topics) for (const p of await admin.fetchTopicOffsets(topic)) out.push({ topic, partition: p.partition, low: p.low, high: p.high });
        return out;
      });
    } catch (err) {
      if (attempt >= OFFSETS_ATTEMPTS || !LEADER_MOVED.has((err as { type?: unknown }).type)) throw err;
      await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** (attempt - 1)));
    }
  }
};

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
 * Call it before `run()`: the seek must come before the first fetch.
 */
export const seekOnJoin = (consumer: Consumer, positions: readonly Position[], when: 'every-join' | 'first-join' = 'every-join'): Promise<void> =>
  new Promise<void>((resolve) => {
    let first = true;
    consumer.on(consumer.events.GROUP_JOIN, () => {
      if (first || when === 'every-join') for (const p of positions) consumer.seek({ topic: p.topic, partition: p.partition, offset: p.offset });
      first = false;
      resolve();
    });
  });
