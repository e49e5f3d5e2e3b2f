/**
 * Avro's long as a JavaScript bigint (hybrid timestamps, ms << 18, pass 2^53, and offsets must
 * never round), written and read as the zig-zag varint the wire holds, with no Buffer made per
 * value. avsc's own hook for a custom long hands each value over as 8 fresh bytes
 * (`Buffer.alloc(8)`, then its generic repacking): about 0.6 µs a long, and a changelog envelope
 * holds seven. Here avsc is told the bytes are already packed (`noUnpack`): a write packs into
 * one scratch buffer that avsc copies at once, and a read gets the varint's bytes.
 */

/** The longest varint of a 64-bit value. */
const MAX_BYTES = 10;
const SCRATCH = Buffer.alloc(MAX_BYTES);
/** A view of the scratch's first n bytes for each n: avsc copies `view.length` bytes, so no view is made per value. */
const VIEWS: readonly Buffer[] = Array.from({ length: MAX_BYTES + 1 }, (_, n) => SCRATCH.subarray(0, n));

/** Values this far from zero zig-zag below 2^53, exact in a double. */
const SAFE = 2n ** 52n;
const LOW32 = 0xffffffffn;

/** The zig-zag varint of `n` (a signed 64-bit value), in a view of a shared scratch buffer that the next call overwrites. */
export const packLong = (n: bigint): Buffer => {
  let i = 0;
  if (n > -SAFE && n < SAFE) {
    const x = Number(n);
    let z = x >= 0 ? x * 2 : -x * 2 - 1;
    while (z >= 0x80) {
      SCRATCH[i++] = (z % 0x80) | 0x80;
      z = Math.floor(z / 0x80);
    }
    SCRATCH[i++] = z;
    return VIEWS[i];
  }
  // Beyond 2^52: the zig-zag over 64 bits, as two unsigned 32-bit halves.
  const z = BigInt.asUintN(64, (n << 1n) ^ (n >> 63n));
  let lo = Number(z & LOW32);
  let hi = Number(z >> 32n);
  while (hi > 0 || lo >= 0x80) {
    SCRATCH[i++] = (lo & 0x7f) | 0x80;
    lo = ((lo >>> 7) | ((hi & 0x7f) << 25)) >>> 0;
    hi >>>= 7;
  }
  SCRATCH[i++] = lo;
  return VIEWS[i];
};

/** The signed 64-bit value of one zig-zag varint (its bytes only; a longer one keeps its low 64 bits: input meets the decode limits' 10 bytes before it gets here). */
export const unpackLong = (bytes: Buffer): bigint => {
  if (bytes.length <= 7) {
    // At most 49 bits: exact in a double.
    let z = 0;
    let scale = 1;
    for (let i = 0; i < bytes.length; i++) {
      z += (bytes[i] & 0x7f) * scale;
      scale *= 0x80;
    }
    return BigInt(z % 2 === 0 ? z / 2 : -(z + 1) / 2);
  }
  let z = 0n;
  let shift = 0n;
  for (let i = 0; i < bytes.length; i++) {
    z |= BigInt(bytes[i] & 0x7f) << shift;
    shift += 7n;
  }
  z = BigInt.asUintN(64, z);
  return (z >> 1n) ^ -(z & 1n);
};
