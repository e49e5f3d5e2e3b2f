/**
 * A changelog table as a consumer rebuilds it: every record of `<prefix>.changelog.<entity>`
 * from the start, read_committed (whole snapshots only), the newest image per key, a delete
 * removing the key. What `coordctl changelog table` prints, and what tests compare with the
 * coordinator's own answers.
 */
import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { CoordError } from '../errors';
import type { Codec } from './codec';
import { TABLE_GROUP_PREFIX } from './acl';
import { subscribe, withAdmin } from './clients';

/** One decoded record of a table's topic: an envelope, or (value null) a tombstone. */
export interface TableRecord {
  readonly key: string;
  readonly envelope: Envelope | null;
}

export interface Envelope {
  readonly op: 'c' | 'u' | 'd';
  readonly before: Record<string, unknown> | null;
  readonly after: Record<string, unknown> | null;
  readonly snapshotId: bigint;
  readonly snapshotTs: bigint;
  readonly generation: number;
}

export interface Row {
  readonly image: Record<string, unknown>;
  readonly snapshotId: bigint;
  readonly snapshotTs: bigint;
}

export interface Table {
  readonly rows: ReadonlyMap<string, Row>;
  /** Records read, tombstones included. */
  readonly records: number;
  /**
   * With `asOfTs`: keys whose image at that time compaction has removed (their oldest record
   * left is an update or delete made later), so the table cannot say what they were.
   */
  readonly unknownAsOf: readonly string[];
}

/** The image inside an Avro-wrapped nullable union (`{ 'coord.v1.changelog.XImage': {...} }`), or null. */
const unwrap = (v: unknown): Record<string, unknown> | null => {
  if (v === null || v === undefined) return null;
  const [inner] = Object.values(v as Record<string, unknown>);
  return (inner ?? null) as Record<string, unknown> | null;
};

export const envelopeOf = (value: Record<string, unknown>): Envelope => {
  const source = value.source as Record<string, unknown>;
  return {
    op: value.op as Envelope['op'],
    before: unwrap(value.before),
    after: unwrap(value.after),
    snapshotId: source.snapshot_id as bigint,
    snapshotTs: source.snapshot_ts as bigint,
    generation: source.generation as number,
  };
};

/**
 * Folds a table's records, in log order, into its rows: the newest snapshot's image per key (a
 * record repeated by a re-published snapshot changes nothing), a delete removing the key, a
 * tombstone only confirming it. With `asOfTs`, only changes at or before that snapshot timestamp.
 */
export const rebuildTable = (records: Iterable<TableRecord>, asOfTs?: bigint): Table => {
  const rows = new Map<string, Row>();
  const lastSnapshot = new Map<string, bigint>();
  const firstLater = new Map<string, Envelope['op']>();
  let count = 0;
  for (const r of records) {
    count++;
    const e = r.envelope;
    if (e === null) continue;
    if (asOfTs !== undefined && e.snapshotTs > asOfTs) {
      if (!lastSnapshot.has(r.key) && !firstLater.has(r.key)) firstLater.set(r.key, e.op);
      continue;
    }
    const last = lastSnapshot.get(r.key);
    if (last !== undefined && e.snapshotId < last) continue;
    lastSnapshot.set(r.key, e.snapshotId);
    if (e.op === 'd' || e.after === null) rows.delete(r.key);
    else rows.set(r.key, { image: e.after, snapshotId: e.snapshotId, snapshotTs: e.snapshotTs });
  }
  const unknownAsOf = [...firstLater].filter(([key, op]) => op !== 'c' && !lastSnapshot.has(key)).map(([key]) => key);
  return { rows, records: count, unknownAsOf };
};

export interface ReadOptions {
  readonly kafka: Kafka;
  readonly codec: Codec;
  readonly topic: string;
  /** How long to read before giving up; the topic's end as it was when asked must be reached by then. */
  readonly timeoutMs?: number;
}

/**
 * Every committed record of `topic` from its start up to its end as it was when asked. A
 * read_committed consumer (kafkajs's default) sees no record of an aborted or open transaction,
 * and never a transaction's commit marker: a partition is read once the last record seen is
 * within two offsets of that end, or once nothing more has come for a second.
 */
export const readTableTopic = async (o: ReadOptions): Promise<TableRecord[]> => {
  const timeoutMs = o.timeoutMs ?? 30_000;
  const ends = await withAdmin(o.kafka, (admin) => admin.fetchTopicOffsets(o.topic));
  const pending = ends.filter((e) => BigInt(e.high) > BigInt(e.low));
  if (pending.length === 0) return [];
  const byPartition = new Map<number, { offset: bigint; record: TableRecord }[]>();
  const seen = new Map<number, bigint>();
  let lastArrival = Date.now();
  const consumer = o.kafka.consumer({ groupId: `${TABLE_GROUP_PREFIX}${randomUUID()}`, allowAutoTopicCreation: false, maxWaitTimeInMs: 100 });
  await consumer.connect();
  try {
    await subscribe(consumer, [o.topic], true);
    let failure: unknown;
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        lastArrival = Date.now();
        seen.set(partition, BigInt(message.offset));
        if (message.key === null) return;
        try {
          const envelope = message.value === null ? null : envelopeOf((await o.codec.decode(message.value)).value);
          let list = byPartition.get(partition);
          if (list === undefined) byPartition.set(partition, (list = []));
          list.push({ offset: BigInt(message.offset), record: { key: message.key.toString(), envelope } });
        } catch (err) {
          failure ??= err;
        }
      },
    });
    const started = Date.now();
    for (;;) {
      if (failure !== undefined) throw failure;
      const reached = pending.every((e) => (seen.get(e.partition) ?? -1n) >= BigInt(e.high) - 2n);
      if (reached || (seen.size > 0 && Date.now() - lastArrival > 1_000)) break;
      if (Date.now() - started > timeoutMs)
        throw new CoordError('CHANGELOG_READ_TIMEOUT', `reading ${o.topic} did not reach its end in ${timeoutMs} ms (read ${[...seen.values()].length} partitions of ${pending.length}); is the broker reachable?`, {
          retriable: true,
        });
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    await consumer.disconnect().catch(() => undefined);
  }
  // One key lives in one partition: the order within a partition is the order of the key's changes.
  return [...byPartition.keys()].sort((a, b) => a - b).flatMap((p) => (byPartition.get(p) ?? []).map((x) => x.record));
};
