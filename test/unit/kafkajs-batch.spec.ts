/**
 * The patched kafkajs Batch (patches/kafkajs+2.2.4.patch): the messages of a fetch at or past the
 * fetched offset, found by parsing only the leading run before it (a fetch's messages are in
 * offset order; a compressed batch may begin before the offset asked for), where kafkajs parsed
 * every message's offset into a `Long`. What it keeps must be what kafkajs's own rule kept, which
 * the reference below is (its filter as 2.2.4 shipped it).
 */
import { strict as assert } from 'node:assert';
import { draws } from '../support/random';

/* eslint-disable @typescript-eslint/no-require-imports */
interface Message {
  readonly offset: string;
  readonly key: Buffer | null;
  readonly isControlRecord?: boolean;
}
const Batch = require('kafkajs/src/consumer/batch') as new (topic: string, fetchedOffset: string, data: { partition: number; highWatermark: string; messages: Message[]; abortedTransactions: unknown[] }) => {
  readonly messagesWithinOffset: Message[];
  readonly messages: Message[];
};
const Long = require('kafkajs/src/utils/long') as { fromValue(v: string): { gte(o: unknown): boolean } };
/* eslint-enable @typescript-eslint/no-require-imports */

/** kafkajs 2.2.4's own rule. */
const reference = (fetchedOffset: string, messages: readonly Message[]): Message[] => messages.filter((m) => Long.fromValue(m.offset).gte(Long.fromValue(fetchedOffset)));

const run = (from: bigint, n: number): Message[] => Array.from({ length: n }, (_, i) => ({ offset: (from + BigInt(i)).toString(), key: null }));

describe('kafkajs Batch: the messages at or past the fetched offset', () => {
  const batch = (fetchedOffset: string, messages: Message[]) => new Batch('t', fetchedOffset, { partition: 0, highWatermark: '0', messages, abortedTransactions: [] });

  it('keeps every message when the fetch begins at the offset asked for', () => {
    const messages = run(100n, 50);
    assert.deepStrictEqual(batch('100', messages).messages, messages);
    assert.equal(batch('100', messages).messagesWithinOffset, messages, 'the fetched messages as they are, not a filtered copy (the patch applied)');
  });

  it('drops the leading run of a compressed batch begun before the offset asked for', () => {
    const messages = run(90n, 30);
    assert.deepStrictEqual(
      batch('100', messages).messages.map((m) => m.offset),
      run(100n, 20).map((m) => m.offset),
    );
  });

  it('keeps nothing when every message is before the offset, and nothing of an empty fetch', () => {
    assert.deepStrictEqual(batch('200', run(90n, 30)).messagesWithinOffset, []);
    assert.deepStrictEqual(batch('0', []).messagesWithinOffset, []);
  });

  it('keeps what kafkajs kept, offsets past 2^53 included', () => {
    const { int: draw } = draws(0xba7c4);
    for (let i = 0; i < 500; i++) {
      const base = draw(2) === 0 ? BigInt(draw(1_000_000)) : 2n ** 53n - 50n + BigInt(draw(100));
      const messages = run(base, draw(40));
      const fetched = (base + BigInt(draw(50)) - 5n).toString();
      assert.deepStrictEqual(batch(fetched, messages).messagesWithinOffset, reference(fetched, messages), `fetched ${fetched}, from ${base}, ${messages.length} messages`);
    }
  });
});
