/** Reading a topic from its beginning, as any outside consumer would. */
import { randomUUID } from 'node:crypto';
import type { Kafka, KafkaMessage } from 'kafkajs';
import { readToEnd } from '../../src/messaging/read-to-end';
import { waitFor } from './wait';

export interface Read {
  readonly topic: string;
  readonly partition: number;
  readonly message: KafkaMessage;
}

/** Reads `topic` from the start until `done` says enough (or the timeout), then disconnects. */
export const readTopic = async (kafka: Kafka, topic: string, done: (all: readonly Read[]) => boolean, timeoutMs = 30_000): Promise<Read[]> => {
  const consumer = kafka.consumer({ groupId: `reader-${randomUUID()}`, maxWaitTimeInMs: 50 });
  const seen: Read[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({ eachMessage: async ({ topic: t, partition, message }) => void seen.push({ topic: t, partition, message }) });
    await waitFor(`records on ${topic} (have ${seen.length})`, () => done(seen), timeoutMs).catch(() => undefined);
  } finally {
    await consumer.disconnect();
  }
  return seen;
};

export const header = (m: KafkaMessage, name: string): string | undefined => {
  const v = m.headers?.[name];
  const first = Array.isArray(v) ? v[0] : v;
  return first === undefined ? undefined : first.toString();
};

/** Every record of `topic` up to its end as of the call, in offset order per partition: for a check of all that is there. */
export const readTopicToEnd = async (kafka: Kafka, topic: string, timeoutMs = 60_000): Promise<Read[]> => {
  const seen: Read[] = [];
  await readToEnd(kafka, topic, (partition, message) => void seen.push({ topic, partition, message }), { timeoutMs, groupPrefix: 'reader-' });
  return seen;
};
