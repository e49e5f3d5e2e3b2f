/**
 * The state digest: the sum, modulo 2^256, of sha256(key, 0, value) over every entity
 * image. A sum does not depend on order, so it is updated per change in O(1) and equals
 * the digest computed from scratch over the same state, on any machine.
 */
import { hash } from 'node:crypto';

const MOD = 1n << 256n;

/** What an entry's term hashes: key, 0, value, laid out once so sha256 takes them in one call. */
const entryBytes = (key: string, value: Buffer): Buffer => {
  const bytes = Buffer.allocUnsafe(Buffer.byteLength(key) + 1 + value.length);
  const at = bytes.write(key, 0);
  bytes[at] = 0;
  value.copy(bytes, at + 1);
  return bytes;
};

/** One entry's term of the sum. */
export const entryHash = (key: string, value: Buffer): bigint => BigInt(`0x${hash('sha256', entryBytes(key, value), 'hex')}`);

export const EMPTY_DIGEST = 0n;

/** `digest` after `key` changes from `before` to `after` (either may be absent). */
export const updateDigest = (digest: bigint, key: string, before: Buffer | undefined, after: Buffer | undefined): bigint => {
  let d = digest;
  if (before !== undefined) d = (d - entryHash(key, before) + MOD) % MOD;
  if (after !== undefined) d = (d + entryHash(key, after)) % MOD;
  return d;
};

/** `digest` after an entry whose term was `before` now has term `after` (either may be absent). */
export const updateDigestTerms = (digest: bigint, before: bigint | undefined, after: bigint | undefined): bigint => {
  let d = digest;
  if (before !== undefined) d = (d - before + MOD) % MOD;
  if (after !== undefined) d = (d + after) % MOD;
  return d;
};

/**
 * Each entry's digest term, remembered with the value it was computed from (values are never
 * changed in place) by the pass that wrote it: the next pass that changes the entry needs
 * neither its bytes nor its hash again. A Map by key rather than a WeakMap by value: a heartbeat
 * of a fleet paid about 0.65 µs for the WeakMap (its set and get, and the collector's work on
 * ephemerons) against 0.09 µs. It holds a reference to each value, so its user keeps in it only
 * values it holds anyway (see termOf in src/engine/pass.ts), and forgets a deleted key.
 */
export class TermCache<V extends object> {
  private readonly terms = new Map<string, { readonly value: V; readonly term: bigint }>();
  private owner: object | undefined;

  /**
   * The values now come from `owner` (the state a pass folds into): another one (a state loaded
   * again) has values of its own, so the ones held for the last would only be held twice.
   */
  follow(owner: object): void {
    if (owner === this.owner) return;
    this.terms.clear();
    this.owner = owner;
  }

  /** The term of `key` if it was remembered for this very value. */
  get(key: string, value: V): bigint | undefined {
    const known = this.terms.get(key);
    return known !== undefined && known.value === value ? known.term : undefined;
  }

  set(key: string, value: V, term: bigint): void {
    this.terms.set(key, { value, term });
  }

  delete(key: string): void {
    this.terms.delete(key);
  }

  get size(): number {
    return this.terms.size;
  }

  keys(): IterableIterator<string> {
    return this.terms.keys();
  }
}

export const digestHex = (d: bigint): string => d.toString(16).padStart(64, '0');

export const parseDigest = (hex: string): bigint => BigInt(`0x${hex}`);

/**
 * The same sum over many entries at once (a whole store at start-up), without a BigInt
 * operation per entry: each hash is added as eight 32-bit limbs into plain numbers, which
 * stay exact for 2^21 additions, and folded into a BigInt only then and at the end.
 */
export class DigestSum {
  private readonly limbs = new Float64Array(8);
  private pending = 0;
  private total = 0n;

  add(key: string, value: Buffer): void {
    const b = hash('sha256', entryBytes(key, value), 'buffer');
    for (let i = 0; i < 8; i++) this.limbs[i] += b.readUInt32BE(i * 4);
    if (++this.pending === 1 << 21) this.fold();
  }

  /** The digest of everything added, mod 2^256. */
  get value(): bigint {
    this.fold();
    return this.total;
  }

  private fold(): void {
    let sum = 0n;
    // Limb 0 is the most significant 32 bits of the hash.
    for (let i = 0; i < 8; i++) sum += BigInt(this.limbs[i]) << BigInt(32 * (7 - i));
    this.total = (this.total + sum) % MOD;
    this.limbs.fill(0);
    this.pending = 0;
  }
}
