/**
 * A walk of an Avro binary body against its writer schema before avsc decodes it: avsc trusts
 * declared counts and lengths (an `array<null>` of 2^50 items takes ten bytes and days), this walk
 * does not. It allocates nothing per value and runs in time proportional to the smaller of the
 * body's length and the step budget, never to a declared count.
 */
import type * as avro from 'avsc';
import type { ErrorCode } from '../errors';

export interface DecodeLimits {
  /** Most items in one array or map over all its blocks: a declared count is refused before any item is read. */
  readonly maxItemsPerCollection: number;
  /** Most values in one body, each a step even when it takes no byte (null, an empty record): bounds the walk and avsc's decode after it. */
  readonly maxSteps: number;
  /** Deepest nesting of records, arrays and maps: a recursive schema must not exhaust the stack of the walk or of avsc. */
  readonly maxDepth: number;
}

/**
 * Far above what the protocol's records hold (slots are capped at 1 000), far below what hurts.
 * Not limits but rules of the format, always checked: a string, bytes or block never claims more
 * bytes than are left; varints end within 5 (int) or 10 (long) bytes; union and enum indexes are in
 * range; the body ends exactly where the value does.
 */
export const DEFAULT_DECODE_LIMITS: DecodeLimits = Object.freeze({
  maxItemsPerCollection: 10_000,
  maxSteps: 100_000,
  maxDepth: 32,
});

/** What is wrong with a body: over a limit (`DECODE_LIMIT`), or not a value of the schema at all (`SCHEMA_INVALID`). */
export interface AvroBodyProblem {
  readonly code: Extract<ErrorCode, 'DECODE_LIMIT' | 'SCHEMA_INVALID'>;
  readonly message: string;
}

/** The parts of avsc's types the walk reads; avsc 5.7 has them on every type of the matching `typeName`. */
interface Node {
  readonly typeName: string;
  readonly name?: string;
  readonly fields?: readonly { readonly type: Node }[];
  readonly itemsType?: Node;
  readonly valuesType?: Node;
  readonly types?: readonly Node[];
  readonly symbols?: readonly string[];
  readonly size?: number;
  readonly underlyingType?: Node;
}

/** The one object a check allocates; the problem is set once and ends the walk. */
interface Walk {
  readonly buf: Buffer;
  pos: number;
  steps: number;
  readonly limits: DecodeLimits;
  problem: AvroBodyProblem | undefined;
}

const MAX_NAME = 80;

/** Names come from the registry, written by anyone who may register: never echoed unbounded. */
const nameOf = (t: Node): string => {
  const name = t.name ?? t.typeName;
  return name.length > MAX_NAME ? `${name.slice(0, MAX_NAME)}…` : name;
};

const fail = (w: Walk, code: AvroBodyProblem['code'], message: string): false => {
  w.problem = { code, message };
  return false;
};

const malformed = (w: Walk, message: string): false => fail(w, 'SCHEMA_INVALID', message);

const short = (w: Walk, what: string, need: number): false =>
  malformed(w, `body runs short: ${what} at byte ${w.pos} needs ${need} bytes, ${w.buf.length - w.pos} are left`);

/** The exact value of the zigzag varint at `at`, for messages only: a double loses digits past 2^53. */
const exact = (buf: Buffer, at: number): bigint => {
  let n = 0n;
  let shift = 0n;
  for (let i = at; i < buf.length; i++) {
    n |= BigInt(buf[i] & 0x7f) << shift;
    shift += 7n;
    if ((buf[i] & 0x80) === 0) break;
  }
  return n & 1n ? -(n >> 1n) - 1n : n >> 1n;
};

/** A zigzag varint of at most `maxBytes`, as a double (exact to 2^53, ordered beyond); NaN with the problem set. */
const varint = (w: Walk, maxBytes: 5 | 10, what: string): number => {
  const { buf } = w;
  const start = w.pos;
  let n = 0;
  let mul = 1;
  for (let len = 1; len <= maxBytes; len++) {
    if (w.pos >= buf.length) {
      short(w, what, len);
      return NaN;
    }
    const b = buf[w.pos++];
    n += (b & 0x7f) * mul;
    mul *= 128;
    if ((b & 0x80) !== 0) continue;
    // The last byte of a full-width varint carries only the bits the type has left: 4 of an int, 1 of a long.
    if (len === maxBytes && b > (maxBytes === 5 ? 0x0f : 0x01)) {
      malformed(w, `${what} at byte ${start} overflows ${maxBytes === 5 ? 32 : 64} bits`);
      return NaN;
    }
    const half = Math.floor(n / 2);
    return (buf[start] & 1) === 1 ? -half - 1 : half;
  }
  malformed(w, `${what} at byte ${start} is a varint longer than ${maxBytes} bytes`);
  return NaN;
};

const skip = (w: Walk, what: string, n: number): boolean => {
  if (n > w.buf.length - w.pos) return short(w, what, n);
  w.pos += n;
  return true;
};

/** A length-prefixed string or bytes: the length is checked against the bytes left before anything is skipped. */
const lengthPrefixed = (w: Walk, what: string): boolean => {
  const at = w.pos;
  const len = varint(w, 10, `${what} length`);
  if (Number.isNaN(len)) return false;
  const left = w.buf.length - w.pos;
  if (len < 0) return malformed(w, `${what} at byte ${at} has a negative length ${exact(w.buf, at)}`);
  if (len > left) return malformed(w, `${what} at byte ${at} of ${exact(w.buf, at)} bytes is longer than the ${left} bytes left in the body`);
  w.pos += len;
  return true;
};

/** A union branch or enum symbol index. */
const index = (w: Walk, what: string, count: number, maxBytes: 5 | 10): number => {
  const at = w.pos;
  const i = varint(w, maxBytes, what);
  if (Number.isNaN(i)) return -1;
  if (i >= 0 && i < count) return i;
  malformed(w, `${what} ${exact(w.buf, at)} at byte ${at} is outside 0..${count - 1}`);
  return -1;
};

/**
 * Arrays and maps: blocks of `count` items ended by a zero count; a negative count is followed by
 * the block's byte size, which must fit in what is left and match what its items take.
 */
const collection = (w: Walk, t: Node, items: Node, keyed: boolean, depth: number): boolean => {
  const kind = keyed ? 'map' : 'array';
  const { maxItemsPerCollection } = w.limits;
  let total = 0;
  for (;;) {
    const at = w.pos;
    let count = varint(w, 10, `${kind} block count`);
    if (Number.isNaN(count)) return false;
    if (count === 0) return true;
    let size = -1;
    if (count < 0) {
      count = -count;
      const sizeAt = w.pos;
      size = varint(w, 10, `${kind} block byte size`);
      if (Number.isNaN(size)) return false;
      const left = w.buf.length - w.pos;
      if (size < 0 || size > left)
        return malformed(w, `${kind} block at byte ${at} declares ${exact(w.buf, sizeAt)} bytes, but ${left} are left in the body`);
    }
    const itemsAt = w.pos;
    // Checked before the first item of the block: time and memory never follow a declared count.
    if (count > maxItemsPerCollection - total) {
      const declared = exact(w.buf, at);
      const items = BigInt(total) + (declared < 0n ? -declared : declared);
      return fail(w, 'DECODE_LIMIT', `${kind} of ${items} items exceeds the limit of ${maxItemsPerCollection} items per collection (${nameOf(t)} at byte ${at})`);
    }
    total += count;
    for (let i = 0; i < count; i++) {
      if (keyed && !lengthPrefixed(w, 'map key')) return false;
      if (!value(w, items, depth)) return false;
    }
    if (size >= 0 && w.pos - itemsAt !== size)
      return malformed(w, `${kind} block at byte ${at} declares ${size} bytes, but its ${count} items take ${w.pos - itemsAt}`);
  }
};

const value = (w: Walk, t: Node, depth: number): boolean => {
  if (++w.steps > w.limits.maxSteps)
    return fail(w, 'DECODE_LIMIT', `body holds more than ${w.limits.maxSteps} values (nulls included), over the limit of ${w.limits.maxSteps} values per record (at byte ${w.pos})`);
  switch (t.typeName) {
    case 'null':
      return true;
    case 'boolean': {
      if (w.pos >= w.buf.length) return short(w, 'boolean', 1);
      const b = w.buf[w.pos];
      if (b > 1) return malformed(w, `boolean at byte ${w.pos} is ${b}, not 0 or 1`);
      w.pos++;
      return true;
    }
    case 'int':
      return !Number.isNaN(varint(w, 5, 'int'));
    case 'long':
    case 'abstract:long':
      return !Number.isNaN(varint(w, 10, 'long'));
    case 'float':
      return skip(w, 'float', 4);
    case 'double':
      return skip(w, 'double', 8);
    case 'string':
    case 'bytes':
      return lengthPrefixed(w, t.typeName);
    case 'fixed':
      return skip(w, `fixed ${nameOf(t)}`, t.size ?? 0);
    case 'enum':
      return index(w, `enum ${nameOf(t)} index`, t.symbols?.length ?? 0, 5) >= 0;
    case 'union:wrapped':
    case 'union:unwrapped': {
      const types = t.types ?? [];
      const i = index(w, 'union branch index', types.length, 10);
      return i >= 0 && value(w, types[i], depth);
    }
    case 'array':
    case 'map':
    case 'record':
    case 'error': {
      if (depth >= w.limits.maxDepth)
        return fail(w, 'DECODE_LIMIT', `${nameOf(t)} at byte ${w.pos} is nested deeper than the limit of ${w.limits.maxDepth} records, arrays and maps`);
      if (t.typeName === 'array') return collection(w, t, t.itemsType as Node, false, depth + 1);
      if (t.typeName === 'map') return collection(w, t, t.valuesType as Node, true, depth + 1);
      for (const f of t.fields ?? []) if (!value(w, f.type, depth + 1)) return false;
      return true;
    }
    default:
      if (t.underlyingType !== undefined && t.typeName.startsWith('logical:')) return value(w, t.underlyingType, depth);
      return malformed(w, `the schema has a type the walk does not know: ${t.typeName.slice(0, MAX_NAME)}`);
  }
};

/** The problem with `body` as a value of the writer schema `type`, or undefined when avsc may decode it. */
export const checkAvroBody = (type: avro.Type, body: Buffer, limits: DecodeLimits = DEFAULT_DECODE_LIMITS): AvroBodyProblem | undefined => {
  const w: Walk = { buf: body, pos: 0, steps: 0, limits, problem: undefined };
  const t = type as unknown as Node;
  if (value(w, t, 0) && w.pos !== body.length)
    malformed(w, `${body.length - w.pos} bytes are left over after the ${nameOf(t)} that ends at byte ${w.pos}`);
  return w.problem;
};
