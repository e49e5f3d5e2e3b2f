import { strict as assert } from 'node:assert';
import * as avro from 'avsc';
import { packLong, unpackLong } from '../../src/messaging/avro-long';
import { parseAvro } from '../../src/messaging/schemas';
import { runSeed, seeded } from '../support/random';

/** The zig-zag varint of a signed 64-bit value, written the plain way, to hold the packer against. */
const reference = (n: bigint): Buffer => {
  let z = BigInt.asUintN(64, (n << 1n) ^ (n >> 63n));
  const out: number[] = [];
  while (z >= 0x80n) {
    out.push(Number(z & 0x7fn) | 0x80);
    z >>= 7n;
  }
  out.push(Number(z));
  return Buffer.from(out);
};

const MAX = 2n ** 63n - 1n;
const MIN = -(2n ** 63n);

describe('avro-long: Avro longs as bigint without a Buffer a value', () => {
  const seed = runSeed();
  const random = seeded(seed);
  /** Random 64-bit values of every magnitude (a random bit length, then random bits), and their negatives. */
  const samples = (n: number): bigint[] =>
    Array.from({ length: n }, () => {
      const bits = 1 + Math.floor(random() * 63);
      let v = 0n;
      for (let i = 0; i < bits; i++) v = (v << 1n) | (random() < 0.5 ? 1n : 0n);
      return random() < 0.5 ? v : -v - 1n;
    });
  const edges = [0n, 1n, -1n, 63n, -64n, 64n, -65n, 2n ** 31n - 1n, -(2n ** 31n), 2n ** 52n - 1n, 2n ** 52n, -(2n ** 52n), -(2n ** 52n) - 1n, 2n ** 53n + 1n, MAX, MIN];

  it(`packs as Java's Avro writer does: Long.MAX, Long.MIN and small values (seed ${seed})`, () => {
    assert.deepStrictEqual(Buffer.from(packLong(0n)), Buffer.from([0x00]));
    assert.deepStrictEqual(Buffer.from(packLong(-1n)), Buffer.from([0x01]));
    assert.deepStrictEqual(Buffer.from(packLong(1n)), Buffer.from([0x02]));
    assert.deepStrictEqual(Buffer.from(packLong(-64n)), Buffer.from([0x7f]));
    assert.deepStrictEqual(Buffer.from(packLong(64n)), Buffer.from([0x80, 0x01]));
    assert.deepStrictEqual(Buffer.from(packLong(MAX)), Buffer.from([0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]));
    assert.deepStrictEqual(Buffer.from(packLong(MIN)), Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]));
  });

  it('packs every value as the plain zig-zag varint, and unpacks it back', () => {
    for (const n of [...edges, ...samples(20_000)]) {
      const packed = Buffer.from(packLong(n));
      assert.deepStrictEqual(packed, reference(n), `packing ${n}`);
      assert.equal(unpackLong(packed), n, `unpacking ${n}`);
    }
  });

  it("writes the bytes avsc's own long writes, where its double arithmetic is exact (zig-zag below 2^53)", () => {
    const plainLong = avro.Type.forSchema('long');
    const ours = parseAvro('long');
    for (const n of [...edges, ...samples(5_000)].filter((v) => v >= -(2n ** 52n) && v < 2n ** 52n)) {
      assert.deepStrictEqual(ours.toBuffer(n), plainLong.toBuffer(Number(n)), `writing ${n}`);
      assert.equal(ours.fromBuffer(plainLong.toBuffer(Number(n))), n, `reading ${n}`);
    }
  });

  it('reads and writes longs inside a record, each value its own (the scratch buffer is copied at once)', () => {
    const type = parseAvro({ type: 'record', name: 'T', fields: [{ name: 'a', type: 'long' }, { name: 'b', type: { type: 'array', items: 'long' } }, { name: 'c', type: ['null', 'long'] }] });
    const value = { a: MAX, b: [MIN, -1n, 2n ** 60n + 7n, 300n], c: { long: -(2n ** 40n) } };
    const copy = type.fromBuffer(type.toBuffer(value)) as typeof value;
    assert.equal(copy.a, value.a);
    assert.deepStrictEqual(copy.b, value.b);
    assert.deepStrictEqual({ ...copy.c }, value.c);
  });

  it('keeps the low 64 bits of a varint longer than a long needs (input meets the 10-byte limit before it gets here)', () => {
    const overLong = Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x82, 0x00]);
    assert.equal(unpackLong(overLong), 0n);
  });
});
