/** Outgoing records as they wait in RocksDB between the commit of a snapshot and their publication. */

export interface OutRecord {
  readonly topic: string;
  readonly key: string | null;
  readonly value: Buffer;
  readonly headers: Readonly<Record<string, string>>;
}

export const encodeOutRecord = (r: OutRecord): Buffer =>
  Buffer.from(JSON.stringify({ t: r.topic, k: r.key, v: r.value.toString('base64'), h: r.headers }));

export const decodeOutRecord = (b: Buffer): OutRecord => {
  const o = JSON.parse(b.toString()) as { t: string; k: string | null; v: string; h: Record<string, string> };
  return { topic: o.t, key: o.k, value: Buffer.from(o.v, 'base64'), headers: o.h };
};
