/**
 * The patched kafkajs record encoder (patches/kafkajs+2.2.4.patch): a record is written once
 * into a buffer of its exact size, where kafkajs's Encoder allocated a buffer per record, per
 * header and per varint. The bytes must be kafkajs's own, which the reference below writes with
 * kafkajs's Encoder as the unpatched file did, for every kind of key, value and header the
 * producer accepts, and for parts the lean path leaves to the Encoder.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { draws } from '../support/random';

interface KafkaEncoder {
  readonly buffer: Buffer;
  writeVarInt(v: number): KafkaEncoder;
  writeInt8(v: number): KafkaEncoder;
  writeVarLong(v: number): KafkaEncoder;
  writeVarIntBytes(v: unknown): KafkaEncoder;
  writeVarIntString(v: unknown): KafkaEncoder;
  writeVarIntArray(v: KafkaEncoder[]): KafkaEncoder;
}
interface EncoderClass {
  new (): KafkaEncoder;
  sizeOfVarInt(v: number): number;
  sizeOfVarLong(v: number): number;
  sizeOfVarIntBytes(v: unknown): number;
}
type Message = { offsetDelta?: number; timestampDelta?: number; key?: unknown; value?: unknown; headers?: Record<string, unknown> };

// eslint-disable-next-line @typescript-eslint/no-require-imports
const Record = require('kafkajs/src/protocol/recordBatch/record/v0') as (m: Message) => KafkaEncoder;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const Encoder = require('kafkajs/src/protocol/encoder') as EncoderClass;

/** kafkajs 2.2.4's record encoder, unpatched. */
const reference = ({ offsetDelta = 0, timestampDelta = 0, key, value, headers = {} }: Message): Buffer => {
  const flat = Object.keys(headers).flatMap((k) => {
    const v = headers[k];
    return Array.isArray(v) ? v.map((x: unknown) => ({ key: k, value: x })) : [{ key: k, value: v }];
  });
  let headersSize = Encoder.sizeOfVarInt(flat.length);
  for (const h of flat) {
    const k = Buffer.byteLength(h.key);
    const v = Buffer.byteLength(h.value as string);
    headersSize += Encoder.sizeOfVarInt(k) + k + Encoder.sizeOfVarInt(v) + v;
  }
  const size = 1 + Encoder.sizeOfVarLong(timestampDelta) + Encoder.sizeOfVarInt(offsetDelta) + Encoder.sizeOfVarIntBytes(key) + Encoder.sizeOfVarIntBytes(value) + headersSize;
  return new Encoder()
    .writeVarInt(size)
    .writeInt8(0)
    .writeVarLong(timestampDelta)
    .writeVarInt(offsetDelta)
    .writeVarIntBytes(key)
    .writeVarIntBytes(value)
    .writeVarIntArray(flat.map((h) => new Encoder().writeVarIntString(h.key).writeVarIntBytes(h.value))).buffer;
};

describe('the patched kafkajs record encoder', () => {
  const { int, pick } = draws(20261203);
  // Short ASCII (written by the lean path itself), empty, non-ASCII, long, and lone surrogates (which UTF-8 writes as U+FFFD).
  const text = (): string => pick(['', 'coord-snapshot-id', String(int(1e6)), 'é', '日'.repeat(int(100)), 'x'.repeat(int(300)), '\u{1F600}', '\uD800', `a\uDC00b${int(9)}`, '\uD800'.repeat(70)]) + pick(['', String(int(1e6))]);
  const part = (): unknown => pick([null, undefined, text(), Buffer.from(text()), Buffer.alloc(int(70_000), int(256))]);
  const deltas = [0, 1, -1, 63, 64, -64, -65, 8191, 8192, 2 ** 31, -(2 ** 31), 2 ** 40 + 17, -(2 ** 40), 2 ** 52, -(2 ** 52)];
  const offsets = [0, 1, 63, 64, 8191, 8192, 2 ** 30, 2 ** 31 - 1];

  it("writes kafkajs's own bytes for keys, values and headers of every kind", () => {
    for (let i = 0; i < 5_000; i++) {
      const headers: Record<string, unknown> = {};
      for (let j = int(6); j > 0; j--) headers[text()] = pick([text(), Buffer.from(text()), [text(), Buffer.from(text())]]);
      const m: Message = { offsetDelta: pick(offsets), timestampDelta: int(3) === 0 ? pick(deltas) : int(2_000) - 1_000, key: part(), value: part(), ...(int(10) === 0 ? {} : { headers }) };
      assert.ok(Record(m).buffer.equals(reference(m)), `record ${i} differs: ${JSON.stringify({ ...m, key: String(m.key).slice(0, 40), value: String(m.value).slice(0, 40) })}`);
    }
  });

  it("leaves what it does not write to kafkajs's Encoder, with the same bytes", () => {
    // Timestamp deltas beyond 2^52 (the Encoder's way), and a record of defaults only.
    for (const m of [{ timestampDelta: 2 ** 60, key: 'k', value: 'v' }, { timestampDelta: -(2 ** 53), key: null, value: null }, {}] as Message[])
      assert.ok(Record(m).buffer.equals(reference(m)), JSON.stringify(m));
  });

  it('is the patched encoder (patch-package applied the patch)', () => {
    assert.match(readFileSync(require.resolve('kafkajs/src/protocol/recordBatch/record/v0'), 'utf8'), /const leanRecord = /);
  });

  it('hands the batch an Encoder holding exactly the record', () => {
    const r = Record({ offsetDelta: 3, timestampDelta: 5, key: 'k', value: Buffer.from('v'), headers: { h: 'x' } });
    assert.ok(r instanceof (Encoder as unknown as new () => object));
    assert.equal(r.buffer.length, reference({ offsetDelta: 3, timestampDelta: 5, key: 'k', value: Buffer.from('v'), headers: { h: 'x' } }).length);
  });
});
