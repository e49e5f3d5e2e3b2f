/**
 * The state digest: the sum, modulo 2^256, of sha256(key, 0, value) over every entity
 * image. A sum does not depend on order, so it is updated per change in O(1) and equals
 * the digest computed from scratch over the same state, on any machine.
 */
import { createHash } from 'node:crypto';

const MOD = 1n << 256n;

const entryHash = (key: string, value: Buffer): bigint => {
  const h = createHash('sha256');
  h.update(key);
  h.update(Buffer.from([0]));
  h.update(value);
  return BigInt(`0x${h.digest('hex')}`);
};

export const EMPTY_DIGEST = 0n;

/** `digest` after `key` changes from `before` to `after` (either may be absent). */
export const updateDigest = (digest: bigint, key: string, before: Buffer | undefined, after: Buffer | undefined): bigint => {
  let d = digest;
  if (before !== undefined) d = (d - entryHash(key, before) + MOD) % MOD;
  if (after !== undefined) d = (d + entryHash(key, after)) % MOD;
  return d;
};

export const digestHex = (d: bigint): string => d.toString(16).padStart(64, '0');

export const parseDigest = (hex: string): bigint => BigInt(`0x${hex}`);
