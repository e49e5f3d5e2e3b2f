/**
 * Reads a topic from given offsets (default: each partition's start) to its end as of the call:
 * the shape every reader of a whole coordinator-written topic needs (the snapshot markers, a
 * checkpoint). Bounded by a timeout; a consumer that gives up, or `onRecord` throwing, ends it
 * with that error.
 */
import { randomUUID } from 'node:crypto';
import { createConsumer, subscribe, topicOffsets, type Kafka, type KafkaMessage } from './clients';

export interface ReadToEndOptions {
  /** Where to start per partition; a partition not named, or an offset below its start, starts at its start. */
  readonly from?: ReadonlyMap<number, bigint>;
  /** How long reading to the end may take, ms. */
  readonly timeoutMs: number;
  /** The consumer's group id prefix (a new group each read; ACLs name the prefix). */
  readonly groupPrefix: string;
  /** Whether every partition started at offset 0 (the topic's real beginning) is reported to `onStart`. */
  readonly onStart?: (fromBeginning: boolean) => void;
}

/** Calls `onRecord` for each record in offset order per partition, and resolves once every partition is read to its end. */
export const readToEnd = async (kafka: Kafka, topic: string, onRecord: (partition: number, m: KafkaMessage) => Promise<void> | void, options: ReadToEndOptions): Promise<void> => {
  const ends = await topicOffsets(kafka, [topic]);
  const start = (partition: number, low: string): bigint => {
    const from = options.from?.get(partition);
    return from !== undefined && from > BigInt(low) ? from : BigInt(low);
  };
  options.onStart?.(ends.every((e) => start(e.partition, e.low) === 0n));
  const remaining = new Map(ends.filter((e) => BigInt(e.high) > start(e.partition, e.low)).map((e) => [e.partition, BigInt(e.high)]));
  if (remaining.size === 0) return;
  const consumer = createConsumer(kafka, { groupId: `${options.groupPrefix}${randomUUID()}`, maxWaitTimeInMs: 50, sessionTimeout: 30_000 });
  consumer.on(consumer.events.GROUP_JOIN, () => {
    for (const e of ends) consumer.seek({ topic, partition: e.partition, offset: start(e.partition, e.low).toString() });
  });
  await consumer.connect();
  try {
    await subscribe(consumer, [topic], true);
    let failure: unknown;
    let timer: NodeJS.Timeout | undefined;
    const done = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        failure = new Error(`reading ${topic} to its end did not finish within ${options.timeoutMs} ms`);
        resolve();
      }, options.timeoutMs);
      consumer.on(consumer.events.CRASH, ({ payload }) => {
        if (payload.restart) return;
        failure = payload.error;
        resolve();
      });
      // End of batch, including batches of transaction markers only, which never reach eachBatch.
      consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
        const end = remaining.get(payload.partition);
        if (end !== undefined && BigInt(payload.lastOffset) + 1n >= end) remaining.delete(payload.partition);
        if (remaining.size === 0) resolve();
      });
      void consumer.run({
        eachBatch: async ({ batch }) => {
          for (const m of batch.messages) {
            if (failure !== undefined) return;
            const end = remaining.get(batch.partition);
            if (end !== undefined && BigInt(m.offset) >= end) continue;
            try {
              await onRecord(batch.partition, m);
            } catch (err) {
              failure = err;
              resolve();
              return;
            }
          }
        },
      });
    });
    await done;
    clearTimeout(timer);
    if (failure !== undefined) throw failure;
  } finally {
    await consumer.disconnect();
  }
};
