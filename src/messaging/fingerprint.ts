/**
 * A request's fingerprint: what makes a retry a retry. The same correlation id with the same
 * record type, key and value bytes is the same request; with anything else it is another
 * request that reused the id, which gets CONFLICT and never the first request's reply.
 * Clients compute it too, to take only the reply to their own request.
 */
import { createHash } from 'node:crypto';

export const requestFingerprint = (type: string, key: Buffer | string | null, value: Buffer | null): string => {
  const h = createHash('sha256');
  h.update(type);
  h.update(Buffer.from([0]));
  // A null key and an empty one differ: the marker byte says which.
  if (key === null) h.update(Buffer.from([0]));
  else {
    h.update(Buffer.from([1]));
    h.update(key);
  }
  h.update(Buffer.from([0]));
  if (value !== null) h.update(value);
  return h.digest('hex').slice(0, 32);
};
