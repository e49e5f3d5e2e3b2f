/**
 * Outgoing records as they wait in RocksDB between the commit of a snapshot and their
 * publication: one binary value per snapshot (one put and one delete a pass, whatever it
 * published), and the same layout for one remembered reply.
 *
 * Layout, big-endian: a u32 record count, then per record: u16 topic length, topic (UTF-8),
 * i32 key length (-1: null), key, u32 value length (0xFFFFFFFF: null, a tombstone), value, u16 header count, then per header
 * u16 name length, name, u32 value length, value.
 */

export interface OutRecord {
  readonly topic: string;
  readonly key: string | null;
  /** null: a tombstone (a compacted changelog topic's delete). */
  readonly value: Buffer | null;
  readonly headers: Readonly<Record<string, string>>;
}

/** The value length that stands for a null value (no real value is 4 GiB). */
const NULL_VALUE = 0xffffffff;

const sizeOf = (r: OutRecord): number => {
  let n = 2 + Buffer.byteLength(r.topic) + 4 + (r.key === null ? 0 : Buffer.byteLength(r.key)) + 4 + (r.value?.length ?? 0) + 2;
  for (const name in r.headers) n += 2 + Buffer.byteLength(name) + 4 + Buffer.byteLength(r.headers[name]);
  return n;
};

const write = (out: Buffer, at: number, r: OutRecord): number => {
  let o = at;
  const topicLen = out.write(r.topic, o + 2);
  out.writeUInt16BE(topicLen, o);
  o += 2 + topicLen;
  if (r.key === null) {
    out.writeInt32BE(-1, o);
    o += 4;
  } else {
    const keyLen = out.write(r.key, o + 4);
    out.writeInt32BE(keyLen, o);
    o += 4 + keyLen;
  }
  out.writeUInt32BE(r.value === null ? NULL_VALUE : r.value.length, o);
  o += 4;
  if (r.value !== null) o += r.value.copy(out, o);
  const names = Object.keys(r.headers);
  out.writeUInt16BE(names.length, o);
  o += 2;
  for (const name of names) {
    const nameLen = out.write(name, o + 2);
    out.writeUInt16BE(nameLen, o);
    o += 2 + nameLen;
    const valueLen = out.write(r.headers[name], o + 4);
    out.writeUInt32BE(valueLen, o);
    o += 4 + valueLen;
  }
  return o;
};

const read = (b: Buffer, at: number): { record: OutRecord; next: number } => {
  let o = at;
  const topicLen = b.readUInt16BE(o);
  const topic = b.toString('utf8', o + 2, o + 2 + topicLen);
  o += 2 + topicLen;
  const keyLen = b.readInt32BE(o);
  o += 4;
  const key = keyLen < 0 ? null : b.toString('utf8', o, o + keyLen);
  if (keyLen > 0) o += keyLen;
  const valueLen = b.readUInt32BE(o);
  o += 4;
  // A copy: the record outlives the buffer RocksDB handed over.
  const value = valueLen === NULL_VALUE ? null : Buffer.from(b.subarray(o, o + valueLen));
  if (value !== null) o += valueLen;
  const count = b.readUInt16BE(o);
  o += 2;
  const headers: Record<string, string> = {};
  for (let i = 0; i < count; i++) {
    const nameLen = b.readUInt16BE(o);
    const name = b.toString('utf8', o + 2, o + 2 + nameLen);
    o += 2 + nameLen;
    const len = b.readUInt32BE(o);
    headers[name] = b.toString('utf8', o + 4, o + 4 + len);
    o += 4 + len;
  }
  return { record: { topic, key, value, headers }, next: o };
};

/**
 * A record's bytes, kept by the record (records are never changed) when it is written for a
 * remembered reply, so the snapshot's outbox copies them rather than writing the record again.
 */
const written = new WeakMap<OutRecord, Buffer>();

const bytesOf = (r: OutRecord): Buffer => {
  let bytes = written.get(r);
  if (bytes === undefined) {
    bytes = Buffer.allocUnsafe(sizeOf(r));
    write(bytes, 0, r);
    written.set(r, bytes);
  }
  return bytes;
};

/** A snapshot's outbox as one value. */
export const encodeOutbox = (records: readonly OutRecord[]): Buffer => {
  let size = 4;
  for (const r of records) size += written.get(r)?.length ?? sizeOf(r);
  const out = Buffer.allocUnsafe(size);
  out.writeUInt32BE(records.length, 0);
  let o = 4;
  for (const r of records) {
    const bytes = written.get(r);
    o = bytes === undefined ? write(out, o, r) : o + bytes.copy(out, o);
  }
  return out;
};

export const decodeOutbox = (b: Buffer): OutRecord[] => {
  const count = b.readUInt32BE(0);
  const records: OutRecord[] = [];
  let o = 4;
  for (let i = 0; i < count; i++) {
    const { record, next } = read(b, o);
    records.push(record);
    o = next;
  }
  return records;
};

/**
 * What is remembered of a request under its correlation id: its fingerprint, and once given,
 * its reply. Layout: u8 fingerprint length, the fingerprint (ASCII), then the reply as an
 * outbox of one, or nothing while the reply is deferred.
 */
export interface RememberedRequest {
  readonly fingerprint?: string;
  readonly reply?: OutRecord;
}

export const encodeRemembered = (r: RememberedRequest): Buffer => {
  const fp = r.fingerprint ?? '';
  const fpLen = Buffer.byteLength(fp, 'latin1');
  // The reply is an outbox of one after the fingerprint; its bytes are kept for the snapshot's outbox.
  const reply = r.reply === undefined ? undefined : bytesOf(r.reply);
  const out = Buffer.allocUnsafe(1 + fpLen + (reply === undefined ? 0 : 4 + reply.length));
  out.writeUInt8(fpLen, 0);
  out.write(fp, 1, 'latin1');
  if (reply !== undefined) {
    out.writeUInt32BE(1, 1 + fpLen);
    reply.copy(out, 1 + fpLen + 4);
  }
  return out;
};

export const decodeRemembered = (b: Buffer): RememberedRequest => {
  const fpLen = b.readUInt8(0);
  const fingerprint = fpLen === 0 ? undefined : b.toString('latin1', 1, 1 + fpLen);
  const rest = b.subarray(1 + fpLen);
  return { fingerprint, reply: rest.length === 0 ? undefined : decodeOutbox(rest)[0] };
};
