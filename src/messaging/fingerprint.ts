/**
 * A request's fingerprint: what makes a retry a retry. The same correlation id with the same
 * record type, key and value bytes is the same request; with anything else it is another
 * request that reused the id, which gets CONFLICT and never the first request's reply.
 * Clients compute it too, to take only the reply to their own request.
 */
import { hash } from 'node:crypto';

/**
 * sha256 over type, 0, a key marker (0: null, 1: a key follows) and the key, 0, the value; the
 * first 32 hex digits. The bytes are laid out once and hashed in one call.
 */
export const requestFingerprint = (type: string, key: Buffer | string | null, value: Buffer | null): string => {
  const keyBytes = key === null ? null : typeof key === 'string' ? Buffer.from(key) : key;
  const bytes = Buffer.allocUnsafe(Buffer.byteLength(type) + 3 + (keyBytes?.length ?? 0) + (value?.length ?? 0));
  let at = bytes.write(type, 0);
  bytes[at++] = 0;
  // A null key and an empty one differ: the marker byte says which.
  if (keyBytes === null) bytes[at++] = 0;
  else {
    bytes[at++] = 1;
    at += keyBytes.copy(bytes, at);
  }
  bytes[at++] = 0;
  if (value !== null) value.copy(bytes, at);
  return hash('sha256', bytes, 'hex').slice(0, 32);
};
