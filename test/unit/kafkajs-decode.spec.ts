/**
 * The patched kafkajs record decoder (patches/kafkajs+2.2.4.patch): a record's offset and
 * timestamp in plain numbers where they are exact, and its headers gathered without a spread a
 * header, where kafkajs made `Long` objects a record and copied the headers object a header. What
 * it returns must be what kafkajs's own decoder returned, which the reference below is (its code
 * as 2.2.4 shipped it), on records written by kafkajs's Encoder: offsets and timestamps near and
 * past 2^53, long and negative deltas, repeated headers, and header names an object inherits.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { draws } from '../support/random';

interface KafkaEncoder {
  readonly buffer: Buffer;
  writeInt8(v: number): KafkaEncoder;
  writeVarInt(v: number): KafkaEncoder;
  writeVarLong(v: number | bigint): KafkaEncoder;
  writeVarIntBytes(v: unknown): KafkaEncoder;
  writeVarIntString(v: unknown): KafkaEncoder;
  writeVarIntArray(v: KafkaEncoder[]): KafkaEncoder;
}
interface KafkaDecoder {
  offset: number;
  readInt8(): number;
  readVarLong(): { add(x: unknown): { toString(): string } };
  readVarInt(): number;
  readVarIntBytes(): Buffer | null;
  readVarIntArray<T>(f: (d: KafkaDecoder) => T): T[];
}
interface BatchContext {
  firstOffset?: string;
  firstTimestamp?: string;
  magicByte?: number;
  isControlBatch?: boolean;
  timestampType?: number;
  maxTimestamp?: string;
}
/* eslint-disable @typescript-eslint/no-require-imports */
const RecordDecoder = require('kafkajs/src/protocol/recordBatch/record/v0/decoder') as (d: KafkaDecoder, c?: BatchContext) => unknown;
const Encoder = require('kafkajs/src/protocol/encoder') as new () => KafkaEncoder;
const Decoder = require('kafkajs/src/protocol/decoder') as new (b: Buffer) => KafkaDecoder;
const HeaderDecoder = require('kafkajs/src/protocol/recordBatch/header/v0/decoder') as (d: KafkaDecoder) => { key: string; value: Buffer | null };
const Long = require('kafkajs/src/utils/long') as { fromValue(v: unknown): { add(x: unknown): { toString(): string } } };
/* eslint-enable @typescript-eslint/no-require-imports */
const LOG_APPEND_TIME = 1;

/** kafkajs 2.2.4's record decoder, unpatched. */
const reference = (decoder: KafkaDecoder, batchContext: BatchContext = {}): unknown => {
  const { firstOffset, firstTimestamp, magicByte, isControlBatch = false, timestampType, maxTimestamp } = batchContext;
  const attributes = decoder.readInt8();
  const timestampDelta = decoder.readVarLong();
  const timestamp = timestampType === LOG_APPEND_TIME && maxTimestamp ? maxTimestamp : Long.fromValue(firstTimestamp).add(timestampDelta).toString();
  const offsetDelta = decoder.readVarInt();
  const offset = Long.fromValue(firstOffset).add(offsetDelta).toString();
  const key = decoder.readVarIntBytes();
  const value = decoder.readVarIntBytes();
  const headers = decoder.readVarIntArray(HeaderDecoder).reduce(
    (obj: Record<string, unknown>, { key: k, value: v }) => ({
      ...obj,
      [k]: obj[k] === undefined ? v : Array.isArray(obj[k]) ? (obj[k] as unknown[]).concat([v]) : [obj[k], v],
    }),
    {},
  );
  return { magicByte, attributes, timestamp, offset, key, value, headers, isControlRecord: isControlBatch, batchContext };
};

describe('the patched kafkajs record decoder', () => {
  const { int, pick } = draws(20261203);
  const bases = ['0', '1', '42', '-1', '1733000000000', String(2 ** 53 - 5), String(2 ** 53), '9007199254740993', '9223372036854775000', '-9223372036854775808'];
  const deltas: (number | bigint)[] = [0, 1, -1, 63, 64, -65, 8191, 8192, 2 ** 31 - 1, -(2 ** 31), 2 ** 40 + 17, -(2 ** 40), 2 ** 48 - 1, -(2 ** 48), 2 ** 48, 2 ** 52, -(2 ** 52), 2n ** 60n, -(2n ** 62n)];
  const names = ['coord-correlation-id', 'h', 'é', '__proto__', 'constructor', 'toString', '1', '0', ''];
  const bytes = (): Buffer | null => pick([null, Buffer.alloc(0), Buffer.from(String(int(1e6))), Buffer.alloc(int(300), int(256))]);

  const write = (timestampDelta: number | bigint, offsetDelta: number, headers: readonly [string, Buffer | null][]): Buffer =>
    new Encoder()
      .writeInt8(0)
      .writeVarLong(timestampDelta)
      .writeVarInt(offsetDelta)
      .writeVarIntBytes(bytes())
      .writeVarIntBytes(bytes())
      .writeVarIntArray(headers.map(([k, v]) => new Encoder().writeVarIntString(k).writeVarIntBytes(v))).buffer;

  it("returns kafkajs's own record, and reads as many bytes, for every kind of offset, timestamp and header", () => {
    for (let i = 0; i < 5_000; i++) {
      const headers: [string, Buffer | null][] = Array.from({ length: int(7) }, () => [pick(names), bytes()]);
      const body = Buffer.concat([write(int(3) === 0 ? pick(deltas) : int(2_000) - 1_000, pick([0, 1, 63, 64, 8191, 2 ** 31 - 1, int(500)]), headers), Buffer.from([7, 7])]);
      const context: BatchContext = {
        firstOffset: pick(bases),
        firstTimestamp: pick(bases),
        magicByte: 2,
        isControlBatch: int(2) === 0,
        timestampType: pick([0, 1, -1]),
        maxTimestamp: pick(['', '0', '1733000000123']),
      };
      const [mine, theirs] = [new Decoder(body), new Decoder(body)];
      const [got, want] = [RecordDecoder(mine, context), reference(theirs, context)];
      assert.deepStrictEqual(got, want, `record ${i}: ${JSON.stringify({ context, headers: headers.map(([k]) => k) })}`);
      assert.equal(mine.offset, theirs.offset, `record ${i}: read ${mine.offset} bytes, kafkajs ${theirs.offset}`);
      // A `__proto__` header is an own property, never the object's prototype.
      assert.equal(Object.getPrototypeOf((got as { headers: object }).headers), Object.prototype);
    }
  });

  it('fails as kafkajs did on a record whose batch gives no offset', () => {
    const body = write(0, 0, []);
    assert.throws(() => reference(new Decoder(body), {}));
    assert.throws(() => RecordDecoder(new Decoder(body), {}));
  });

  it('is the patched decoder (patch-package applied the patch)', () => {
    assert.match(readFileSync(require.resolve('kafkajs/src/protocol/recordBatch/record/v0/decoder'), 'utf8'), /const readSmallVarLong = /);
  });
});
