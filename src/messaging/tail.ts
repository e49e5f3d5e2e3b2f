/**
 * Following a topic from its end: what a worker does with its commands and what `coordctl
 * changelog tail` does. The end offsets are read before the consumer joins and it seeks there
 * on every assignment, so nothing published after `start()` resolves is missed.
 */
import type { Consumer, IHeaders, Kafka } from 'kafkajs';

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
      const admin = o.kafka.admin();
      await admin.connect();
      const ends = new Map<number, string>();
      try {
        for (const p of await admin.fetchTopicOffsets(o.topic)) ends.set(p.partition, o.from === 'beginning' ? p.low : p.high);
      } finally {
        await admin.disconnect();
      }
      const c = o.kafka.consumer({ groupId: o.groupId, allowAutoTopicCreation: false, maxWaitTimeInMs: 100, sessionTimeout: 10_000 });
      consumer = c;
      await c.connect();
      await c.subscribe({ topic: o.topic, fromBeginning: true });
      let joined!: () => void;
      const positioned = new Promise<void>((r) => (joined = r));
      let first = true;
      c.on(c.events.GROUP_JOIN, () => {
        // Only the first time: after a rejoin the group's committed offsets say where it was.
        if (first) for (const [partition, offset] of ends) c.seek({ topic: o.topic, partition, offset });
        first = false;
        joined();
      });
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
