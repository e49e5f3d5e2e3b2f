/**
 * The kafkajs admin and consumer set-ups the rest of the code shares, so that only
 * src/messaging/ speaks kafkajs: an admin connected for one job and always disconnected,
 * the log ends read before a consumer joins, and a consumer made the project's way (no
 * auto-created topics, a short fetch wait) that seeks to given positions when it joins.
 * The kafkajs types other layers name are re-exported here; the lint rule forbids importing
 * kafkajs anywhere else under src/.
 */
import type { Admin, AdminConfig, Consumer, ConsumerConfig, Kafka } from 'kafkajs';

export type { Admin, Consumer, IHeaders, Kafka, KafkaMessage, Producer, RecordMetadata } from 'kafkajs';

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

/** The low and high offsets of every partition of `topics`, read with one admin. */
export const topicOffsets = (kafka: Kafka, topics: readonly string[]): Promise<PartitionOffsets[]> =>
  withAdmin(kafka, async (admin) => {
    const out: PartitionOffsets[] = [];
    for (const topic of topics) for (const p of await admin.fetchTopicOffsets(topic)) out.push({ topic, partition: p.partition, low: p.low, high: p.high });
    return out;
  });

/**
 * How long a consumer trusts its metadata (where each partition's leader is). kafkajs refreshes
 * it on a NOT_LEADER answer, but not when the leader's connection is refused (kill -9): its
 * fetches would go on to the dead node for `metadataMaxAge` (kafkajs's default: 5 min). Read
 * again every 3 s while fetching, it finds the new leader within 3 s of the move (one small
 * Metadata request per consumer every 3 s).
 */
export const CONSUMER_METADATA_MAX_AGE_MS = 3_000;

/**
 * How kafkajs retries a consumer's failing fetch loop (a leader away, the group coordinator
 * moving): promptly and often, never more than 1 s apart. The loop is also where kafkajs sends
 * heartbeats, so a backoff that grew to kafkajs's 30 s would let the session lapse (a rejoin,
 * and for the coordinator a new activation) over a leader move of a few seconds. After 30 tries
 * (about 25 s) kafkajs restarts the consumer, which rejoins.
 */
export const CONSUMER_RETRY = { retries: 30, initialRetryTime: 100, maxRetryTime: 1_000 } as const;

/**
 * A consumer with the project's defaults: topics are never auto-created, an idle fetch waits
 * `maxWaitTimeInMs` (kafkajs's 5 s default would be a 5 s floor on latency), a lost member
 * is noticed after `sessionTimeout` (10 s), metadata is read again every 3 s and failures are
 * retried at most 1 s apart (above). Anything else in `config` is passed on as it is.
 */
export const createConsumer = (kafka: Kafka, config: ConsumerConfig): Consumer =>
  kafka.consumer({
    allowAutoTopicCreation: false,
    maxWaitTimeInMs: 100,
    sessionTimeout: 10_000,
    metadataMaxAge: CONSUMER_METADATA_MAX_AGE_MS,
    retry: { ...CONSUMER_RETRY },
    ...config,
  });

export interface Position {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
}

/**
 * Seeks `consumer` to `positions` when it joins its group (every time, or only the first time,
 * after which the group's committed offsets say where it was), and resolves on the first join.
 * `positions` may be a function, asked at each join: a consumer that commits nothing passes
 * where it has read up to, so a rejoin neither skips nor reads again. Call it before `run()`:
 * the seek must come before the first fetch.
 */
export const seekOnJoin = (consumer: Consumer, positions: readonly Position[] | (() => readonly Position[]), when: 'every-join' | 'first-join' = 'every-join'): Promise<void> =>
  new Promise<void>((resolve) => {
    let first = true;
    consumer.on(consumer.events.GROUP_JOIN, () => {
      if (first || when === 'every-join')
        for (const p of typeof positions === 'function' ? positions() : positions) consumer.seek({ topic: p.topic, partition: p.partition, offset: p.offset });
      first = false;
      resolve();
    });
  });
