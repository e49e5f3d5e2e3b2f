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
import { H, readHeaders, type Headers } from './headers';

/** One decoded record of a table's topic: an envelope, or (value null) a tombstone. */
export interface TableRecord {
  readonly key: string;
  readonly envelope: Envelope | null;
  /** A tombstone's snapshot, from its `snapshot-id` and `snapshot-ts` headers: a null value has no `source`. */
  readonly deletedIn?: SnapshotAt;
  /** The partition it was read from (0 if not said). */
  readonly partition?: number;
  /** Compaction removed records of its partition just before it: its offset follows a hole (readTableTopic). */
  readonly afterRemoved?: boolean;
}

export interface SnapshotAt {
  readonly snapshotId: bigint;
  readonly snapshotTs: bigint;
}

export interface Envelope extends SnapshotAt {
  readonly op: 'c' | 'u' | 'd';
  readonly before: Record<string, unknown> | null;
  readonly after: Record<string, unknown> | null;
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
   * With `asOfTs`: keys whose image at that time compaction has removed, so the table cannot
   * say what they were. Their oldest record left was made later and is an update, a delete, a
   * tombstone, or a create that may follow an earlier life: one after a hole in its partition
   * that began after `asOfTs`.
   */
  readonly unknownAsOf: readonly string[];
  /**
   * With `asOfTs`: compaction removed records of a partition that were written after it. A
   * key deleted since then whose tombstone has also expired (`delete.retention.ms`) left no
   * record at all, so the table may lack it and nothing can name it.
   */
  readonly removedAfterAsOf: boolean;
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
 * tombstone confirming it. With `asOfTs`, only changes at or before that snapshot timestamp.
 *
 * As of a time, a row is exact whenever a record of its key at or before that time is left:
 * compaction keeps a key's record only if no later record of it was in the part it cleaned.
 * What compaction may have hidden is said, never guessed: `unknownAsOf`, `removedAfterAsOf`.
 */
export const rebuildTable = (records: Iterable<TableRecord>, asOfTs?: bigint): Table => {
  const rows = new Map<string, Row>();
  const lastSnapshot = new Map<string, bigint>();
  /** Keys first met in a record after `asOfTs`, and whether that record proves them absent then. */
  const firstLater = new Map<string, boolean>();
  /** Partitions that, up to the record at hand, lost records written after `asOfTs`. */
  const removedLater = new Set<number>();
  let count = 0;
  for (const r of records) {
    count++;
    const at: SnapshotAt | undefined = r.envelope ?? r.deletedIn;
    if (asOfTs !== undefined && (at === undefined || at.snapshotTs > asOfTs)) {
      const partition = r.partition ?? 0;
      if (r.afterRemoved === true) removedLater.add(partition);
      // A create proves the key was absent only if no earlier life of it, deleted after asOfTs, can have been removed.
      if (!lastSnapshot.has(r.key) && !firstLater.has(r.key)) firstLater.set(r.key, r.envelope?.op === 'c' && !removedLater.has(partition));
      continue;
    }
    // A tombstone that does not say its snapshot (one published before tombstones did) only confirms the delete before it.
    if (at === undefined) continue;
    const last = lastSnapshot.get(r.key);
    if (last !== undefined && at.snapshotId < last) continue;
    lastSnapshot.set(r.key, at.snapshotId);
    const image = r.envelope?.op === 'd' ? null : (r.envelope?.after ?? null);
    if (image === null) rows.delete(r.key);
    else rows.set(r.key, { image, snapshotId: at.snapshotId, snapshotTs: at.snapshotTs });
  }
  const unknownAsOf = [...firstLater].filter(([key, absent]) => !absent && !lastSnapshot.has(key)).map(([key]) => key);
  return { rows, records: count, unknownAsOf, removedAfterAsOf: removedLater.size > 0 };
};

export interface ReadOptions {
  readonly kafka: Kafka;
  readonly codec: Codec;
  readonly topic: string;
  /** How long to read before giving up; the topic's end as it was when asked must be reached by then. */
  readonly timeoutMs?: number;
}

/** What a fetch found on the log, in offset order: aborted records and transaction markers too (kafkajs's Batch, pinned at 2.2.4). */
const presentOffsets = (batch: object): readonly string[] => {
  const present = (batch as { messagesWithinOffset?: readonly { offset: string }[] }).messagesWithinOffset;
  if (!Array.isArray(present)) throw new Error('kafkajs no longer says which records a fetch found (Batch.messagesWithinOffset); update src/messaging/changelog-table.ts');
  return present.map((m) => m.offset);
};

/** Per partition, the offsets found on the log so far: where the next one should be, the last one, and whether a hole came since the last record kept. */
class Holes {
  private readonly next = new Map<number, bigint>();
  private readonly open = new Set<number>();
  readonly last = new Map<number, bigint>();

  constructor(starts: readonly { partition: number; low: string }[]) {
    for (const s of starts) this.next.set(s.partition, BigInt(s.low));
  }

  /** Offsets `first` to `last` were found on the log, without a hole between them. */
  found(partition: number, first: bigint, last = first): void {
    if (first > (this.next.get(partition) ?? first)) this.open.add(partition);
    this.next.set(partition, last + 1n);
    this.last.set(partition, last);
  }

  /** Whether records were removed between the previous record kept and this one; the next starts afresh. */
  take(partition: number): boolean {
    return this.open.delete(partition);
  }
}

/**
 * Every committed record of `topic` from its start up to its end as it was when asked. A
 * read_committed consumer (kafkajs's default) sees no record of an aborted or open transaction,
 * and never a transaction's commit marker: a partition is read once the last record seen is
 * within two offsets of that end, or once nothing more has come for a second.
 *
 * Each record says whether compaction removed records just before it. Aborted records and
 * markers stay on the log until the cleaner takes them, and a fetch returns them (kafkajs then
 * drops them), so a hole in the offsets a fetch found is what the cleaner took out: superseded
 * records, expired tombstones, the data of aborted transactions. A fetch that found nothing but
 * markers and aborted records reaches us only as its first and last offsets, so a hole inside one
 * goes unseen; holes before and after it do not.
 */
export const readTableTopic = async (o: ReadOptions): Promise<TableRecord[]> => {
  const timeoutMs = o.timeoutMs ?? 30_000;
  const ends = await withAdmin(o.kafka, (admin) => admin.fetchTopicOffsets(o.topic));
  const pending = ends.filter((e) => BigInt(e.high) > BigInt(e.low));
  if (pending.length === 0) return [];
  const byPartition = new Map<number, TableRecord[]>();
  const holes = new Holes(ends);
  let lastArrival = Date.now();
  const consumer = o.kafka.consumer({ groupId: `${TABLE_GROUP_PREFIX}${randomUUID()}`, allowAutoTopicCreation: false, maxWaitTimeInMs: 100 });
  // A fetch of only markers and aborted records never reaches eachBatch; kafkajs announces it, with its offsets.
  consumer.on(consumer.events.START_BATCH_PROCESS, ({ payload }) => {
    if (payload.batchSize !== 0 || payload.firstOffset === null) return;
    lastArrival = Date.now();
    holes.found(payload.partition, BigInt(payload.firstOffset), BigInt(payload.lastOffset));
  });
  await consumer.connect();
  try {
    await subscribe(consumer, [o.topic], true);
    let failure: unknown;
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        lastArrival = Date.now();
        const partition = batch.partition;
        const kept = new Map(batch.messages.map((m) => [m.offset, m]));
        let list = byPartition.get(partition);
        if (list === undefined) byPartition.set(partition, (list = []));
        try {
          for (const offset of presentOffsets(batch)) {
            holes.found(partition, BigInt(offset));
            const message = kept.get(offset);
            if (message?.key === null || message?.key === undefined) continue;
            const envelope = message.value === null ? null : envelopeOf((await o.codec.decode(message.value)).value);
            const deletedIn = envelope === null ? snapshotOf(readHeaders(message.headers)) : undefined;
            list.push({ key: message.key.toString(), envelope, partition, afterRemoved: holes.take(partition), ...(deletedIn === undefined ? {} : { deletedIn }) });
          }
        } catch (err) {
          failure ??= err;
        }
      },
    });
    const started = Date.now();
    for (;;) {
      if (failure !== undefined) throw failure;
      const reached = pending.every((e) => (holes.last.get(e.partition) ?? -1n) >= BigInt(e.high) - 2n);
      if (reached || (holes.last.size > 0 && Date.now() - lastArrival > 1_000)) break;
      if (Date.now() - started > timeoutMs)
        throw new CoordError('CHANGELOG_READ_TIMEOUT', `reading ${o.topic} did not reach its end in ${timeoutMs} ms (read ${holes.last.size} partitions of ${pending.length}); is the broker reachable?`, {
          retriable: true,
        });
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    await consumer.disconnect().catch(() => undefined);
  }
  // One key lives in one partition: the order within a partition is the order of the key's changes.
  return [...byPartition.keys()].sort((a, b) => a - b).flatMap((p) => byPartition.get(p) ?? []);
};

/** A tombstone's snapshot from its headers, if it carries both. */
const snapshotOf = (headers: Headers): SnapshotAt | undefined => {
  const id = headers[H.snapshotId];
  const ts = headers[H.snapshotTs];
  if (id === undefined || ts === undefined || !/^\d{1,20}$/.test(id) || !/^\d{1,20}$/.test(ts)) return undefined;
  return { snapshotId: BigInt(id), snapshotTs: BigInt(ts) };
};
