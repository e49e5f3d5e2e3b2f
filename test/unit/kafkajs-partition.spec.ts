/**
 * The patched kafkajs partitioning (patches/kafkajs+2.2.4.patch): murmur2 in 32-bit integer
 * arithmetic rather than a 64-bit Long an operation, the partitions with a leader looked for
 * only when a message has neither a partition nor a key, and messages grouped per partition
 * without copying the partition's list for each. A key must still land where kafkajs (and the
 * Java client) put it: the reference below is kafkajs 2.2.4's murmur2, unpatched, on its own
 * Long.
 */
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';

interface Long {
  xor(v: Long | number): Long;
  multiply(v: Long): Long;
  toInt(): number;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const LongOf = require('kafkajs/src/utils/long') as { fromValue(v: unknown): Long };
// eslint-disable-next-line @typescript-eslint/no-require-imports
const murmur2 = require('kafkajs/src/producer/partitioners/default/murmur2') as (key: unknown) => number;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const createPartitioner = require('kafkajs/src/producer/partitioners/default') as () => (a: { topic: string; partitionMetadata: { partitionId: number; leader: number }[]; message: { key?: unknown; partition?: number } }) => number;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const groupMessagesPerPartition = require('kafkajs/src/producer/groupMessagesPerPartition') as (a: unknown) => Record<string, { key: string }[]>;

/** kafkajs 2.2.4's murmur2, unpatched. */
const reference = (key: unknown): number => {
  const M = LongOf.fromValue(0x5bd1e995);
  const data = Buffer.isBuffer(key) ? key : Buffer.from(String(key));
  const length = data.length;
  let h = LongOf.fromValue(LongOf.fromValue(0x9747b28c).xor(length));
  for (let i = 0; i < Math.floor(length / 4); i++) {
    const i4 = i * 4;
    let k = LongOf.fromValue((data[i4] & 0xff) + ((data[i4 + 1] & 0xff) << 8) + ((data[i4 + 2] & 0xff) << 16) + ((data[i4 + 3] & 0xff) << 24));
    k = k.multiply(M);
    k = k.xor(k.toInt() >>> 24);
    k = LongOf.fromValue(k).multiply(M);
    h = h.multiply(M);
    h = h.xor(k);
  }
  const tail = length & ~3;
  const rest = length % 4;
  if (rest >= 3) h = h.xor((data[tail + 2] & 0xff) << 16);
  if (rest >= 2) h = h.xor((data[tail + 1] & 0xff) << 8);
  if (rest >= 1) h = h.xor(data[tail] & 0xff).multiply(M);
  h = h.xor(h.toInt() >>> 13);
  h = h.multiply(M);
  h = h.xor(h.toInt() >>> 15);
  return h.toInt();
};

describe('the patched kafkajs partitioning', () => {
  it('is the patched partitioning (patch-package applied the patch)', () => {
    assert.match(readFileSync(require.resolve('kafkajs/src/producer/partitioners/default/murmur2'), 'utf8'), /Math\.imul/);
    assert.match(readFileSync(require.resolve('kafkajs/src/producer/groupMessagesPerPartition'), 'utf8'), /current\.push\(message\)/);
  });

  it("hashes keys as kafkajs's own murmur2 did: bytes, text and every tail length", () => {
    for (let i = 0; i < 20_000; i++) {
      const length = i % 67;
      const key = i % 3 === 0 ? randomBytes(length) : i % 3 === 1 ? randomBytes(length).toString('base64') : `corr-${i}-é日`;
      assert.equal(murmur2(key), reference(key), `key ${String(key)}`);
    }
    for (const key of ['', 'a', 'ab', 'abc', 'abcd', 21]) assert.equal(murmur2(key), reference(key), String(key));
  });

  it('puts a keyed message on its hash, a message with a partition on it, and one with neither on a partition with a leader', () => {
    const partitioner = createPartitioner();
    const partitionMetadata = [0, 1, 2, 3, 4].map((partitionId) => ({ partitionId, leader: partitionId === 2 ? -1 : 1 }));
    for (let i = 0; i < 200; i++) {
      const key = `c-${i}`;
      assert.equal(partitioner({ topic: 't', partitionMetadata, message: { key } }), (reference(key) & 0x7fffffff) % 5);
      assert.equal(partitioner({ topic: 't', partitionMetadata, message: { key, partition: 3 } }), 3);
      assert.notEqual(partitioner({ topic: 't', partitionMetadata, message: {} }), 2);
    }
  });

  it('groups a send per partition, in order, however many messages go to one partition', () => {
    const partitioner = createPartitioner();
    const partitionMetadata = [0, 1, 2].map((partitionId) => ({ partitionId, leader: 1 }));
    const messages = Array.from({ length: 3_000 }, (_, i) => ({ key: `k${i % 7}`, seq: i }));
    const grouped = groupMessagesPerPartition({ topic: 't', partitionMetadata, messages, partitioner });
    const expected: Record<string, unknown[]> = {};
    for (const m of messages) (expected[(reference(m.key) & 0x7fffffff) % 3] ??= []).push(m);
    assert.deepEqual(grouped, expected);
    assert.deepEqual(groupMessagesPerPartition({ topic: 't', partitionMetadata: [], messages, partitioner }), {});
  });
});
