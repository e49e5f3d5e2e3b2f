/**
 * Following a topic from its end: what a worker does with its commands and what `coordctl
 * changelog tail` does. The end offsets are read before the consumer joins and it seeks there
 * on every assignment, so nothing published after `start()` resolves is missed.
 */
import { createConsumer, seekOnJoin, subscribe, topicOffsets, type Consumer, type IHeaders, type Kafka } from './clients';

export interface TailRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers?: IHeaders;
  readonly timestamp: string;
}

export interface Tail {
  /** Resolves once the consumer is positioned at the ends read before it joined. */
  start(): Promise<void>;
  close(): Promise<void>;
}

export interface TailOptions {
  readonly kafka: Kafka;
  readonly topic: string;
  /** Unique per follower: each follower reads every record. */
  readonly groupId: string;
  /** `end`: only what is published from now on; `beginning`: everything retained. */
  readonly from?: 'end' | 'beginning';
  readonly onRecord: (r: TailRecord) => Promise<void>;
}

export const tailTopic = (o: TailOptions): Tail => {
  let consumer: Consumer | undefined;
  return {
    start: async () => {
      const positions = (await topicOffsets(o.kafka, [o.topic])).map((p) => ({ topic: p.topic, partition: p.partition, offset: o.from === 'beginning' ? p.low : p.high }));
      const ends = new Map(positions.map((p) => [p.partition, p.offset]));
      const c = createConsumer(o.kafka, { groupId: o.groupId });
      consumer = c;
      await c.connect();
      await subscribe(c, [o.topic], true);
      // Only the first time: after a rejoin the group's committed offsets say where it was.
      const positioned = seekOnJoin(c, positions, 'first-join');
      await c.run({
        autoCommit: true,
        eachMessage: async ({ topic, partition, message }) => {
          const end = ends.get(partition);
          if (end !== undefined && BigInt(message.offset) < BigInt(end)) return;
          await o.onRecord({ topic, partition, offset: message.offset, key: message.key, value: message.value, headers: message.headers, timestamp: message.timestamp });
        },
      });
      await positioned;
    },
    close: async () => {
      await consumer?.disconnect().catch(() => undefined);
    },
  };
};
