/**
 * The patched kafkajs send (patches/kafkajs+2.2.4.patch): a retry after a broker was lost
 * sends every partition not answered yet to whichever broker leads it now, even a broker that
 * already answered for other partitions of the same send. Unpatched, that partition's records
 * were dropped without an error, and a transaction committed without them (found by the
 * fault tier: snapshot markers missing after a controller restart). The cluster here is a
 * stand-in for kafkajs's own, playing the leader move; the fault tier plays it on real brokers.
 */
import { strict as assert } from 'node:assert';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const createSendMessages = require('kafkajs/src/producer/sendMessages') as (deps: unknown) => (req: unknown) => Promise<{ topicName: string; partition: number }[]>;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const createRetry = require('kafkajs/src/retry') as (opts: unknown) => unknown;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { KafkaJSConnectionError } = require('kafkajs/src/errors') as { KafkaJSConnectionError: new (m: string) => Error };

interface Produced {
  readonly broker: number;
  readonly partitions: { topic: string; partition: number; firstSequence: number; keys: string[] }[];
}

const logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

/** Two brokers; partition 0 of `t` is led by broker 1 until it fails, then by broker 2, which leads partition 1 all along. */
const world = () => {
  const produced: Produced[] = [];
  let leaderOf0 = 1;
  let broker1Fails = true;
  const broker = (nodeId: number) => ({
    nodeId,
    produce: async ({ topicData }: { topicData: { topic: string; partitions: { partition: number; firstSequence: number; messages: { key: string }[] }[] }[] }) => {
      if (nodeId === 1 && broker1Fails) {
        broker1Fails = false;
        leaderOf0 = 2;
        throw new KafkaJSConnectionError('Connection error: read ECONNRESET');
      }
      produced.push({ broker: nodeId, partitions: topicData.flatMap((t) => t.partitions.map((p) => ({ topic: t.topic, partition: p.partition, firstSequence: p.firstSequence, keys: p.messages.map((m) => m.key) }))) });
      return { topics: topicData.map((t) => ({ topicName: t.topic, partitions: t.partitions.map((p) => ({ partition: p.partition, errorCode: 0, baseOffset: '0' })) })) };
    },
  });
  const brokers = new Map([1, 2].map((id) => [id, broker(id)]));
  const cluster = {
    refreshMetadataIfNecessary: async () => undefined,
    refreshMetadata: async () => undefined,
    addMultipleTargetTopics: async () => undefined,
    isConnected: () => true,
    removeBroker: () => undefined,
    findTopicPartitionMetadata: () => [{ partitionId: 0 }, { partitionId: 1 }],
    findLeaderForPartitions: (_topic: string, partitions: string[]) => {
      const out: Record<string, number[]> = {};
      for (const p of partitions.map(Number)) (out[p === 0 ? leaderOf0 : 2] ??= []).push(p);
      return out;
    },
    findBroker: async ({ nodeId }: { nodeId: string }) => brokers.get(Number(nodeId)),
  };
  const sequences = new Map<string, number>();
  const eosManager = {
    isTransactional: () => false,
    acquireBrokerLock: async () => undefined,
    releaseBrokerLock: async () => undefined,
    getSequence: (t: string, p: number) => sequences.get(`${t}:${p}`) ?? 0,
    updateSequence: (t: string, p: number, n: number) => sequences.set(`${t}:${p}`, (sequences.get(`${t}:${p}`) ?? 0) + n),
    getProducerId: () => 1,
    getProducerEpoch: () => 0,
    getTransactionalId: () => undefined,
  };
  const partitioner = ({ message }: { message: { key: string } }) => Number(message.key.slice(1));
  const send = createSendMessages({ logger: { ...logger, namespace: () => logger }, cluster, partitioner, eosManager, retrier: createRetry({ retries: 3, initialRetryTime: 1, maxRetryTime: 2 }) });
  return { send, produced };
};

describe('kafkajs send, as patched: a retry after a lost broker', () => {
  it('sends a partition whose leader moved to a broker that already answered for another', async () => {
    const { send, produced } = world();
    const result = await send({ acks: -1, timeout: 1_000, topicMessages: [{ topic: 't', messages: [{ key: 'p0', value: 'a' }, { key: 'p1', value: 'b' }] }] });
    const sent = produced.flatMap((p) => p.partitions.map((x) => `${x.topic}/${x.partition}@${p.broker}:${x.keys.join(',')}`)).sort();
    assert.deepEqual(sent, ['t/0@2:p0', 't/1@2:p1'], 'each partition reaches a broker once: partition 1 before the loss, partition 0 after it');
    assert.deepEqual(result.map((r) => `${r.topicName}/${r.partition}`).sort(), ['t/0', 't/1'], 'the answer covers both partitions');
  });

  it('sends partition 0 again with the sequence it had, and partition 1 only once', async () => {
    const { send, produced } = world();
    await send({ acks: -1, timeout: 1_000, topicMessages: [{ topic: 't', messages: [{ key: 'p0', value: 'a' }, { key: 'p1', value: 'b' }] }] });
    const p0 = produced.flatMap((p) => p.partitions).filter((x) => x.partition === 0);
    assert.deepEqual(p0.map((x) => x.firstSequence), [0], 'the failed request gave its sequence numbers back');
    assert.equal(produced.flatMap((p) => p.partitions).filter((x) => x.partition === 1).length, 1);
  });
});
