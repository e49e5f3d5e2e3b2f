/**
 * A changelog table as a consumer rebuilds it: every record of `<prefix>.changelog.<entity>`
 * from the start, read_committed (whole snapshots only), the newest image per key, a delete
 * removing the key. What `coordctl changelog table` prints, and what tests compare with the
 * coordinator's own answers.
 */
import { randomUUID } from 'node:crypto';
import { ConfigResourceTypes, type Kafka } from 'kafkajs';
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
   * With `asOfTs`: compaction may have removed records written after it (a hole after it in a
   * partition's offsets). A key deleted since whose tombstone has expired too
   * (`delete.retention.ms`) left no record at all: the table may lack it, and nothing can name it.
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

/** What a read of a table's topic says about compaction besides its records (readTableLog). */
export interface Removals {
  /** Partitions with a hole after their last record read: their last records were removed, or their end never came. */
  readonly holesAtEnd?: readonly number[];
  /** Every record compaction can have removed has a snapshot timestamp below this (TableLog's `removableBeforeMs`). Undefined if unknown. */
  readonly removableBeforeTs?: bigint;
}

/**
 * Folds a table's records, in log order, into its rows: the newest snapshot's image per key (a
 * record repeated by a re-published snapshot changes nothing), a delete removing the key, a
 * tombstone confirming it. With `asOfTs`, only changes at or before that snapshot timestamp.
 *
 * As of a time, a row is exact whenever a record of its key at or before that time is left:
 * compaction keeps a key's record only if no later record of it was in the part it cleaned.
 * What compaction may have hidden is said, never guessed: `unknownAsOf`, `removedAfterAsOf`.
 * Nothing is hidden as of a time at or after `removableBeforeTs`: no record since can be gone.
 */
export const rebuildTable = (records: Iterable<TableRecord>, asOfTs?: bigint, removals: Removals = {}): Table => {
  const rows = new Map<string, Row>();
  const lastSnapshot = new Map<string, bigint>();
  /** Keys first met in a record after `asOfTs`, and whether that record proves them absent then. */
  const firstLater = new Map<string, boolean>();
  const holesMatter = asOfTs !== undefined && (removals.removableBeforeTs === undefined || asOfTs < removals.removableBeforeTs);
  /** Partitions that, up to the record at hand, lost records written after `asOfTs`. */
  const removedLater = new Set<number>();
  let count = 0;
  for (const r of records) {
    count++;
    const at: SnapshotAt | undefined = r.envelope ?? r.deletedIn;
    if (asOfTs !== undefined && (at === undefined || at.snapshotTs > asOfTs)) {
      const partition = r.partition ?? 0;
      if (r.afterRemoved === true && holesMatter) removedLater.add(partition);
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
  if (holesMatter) for (const p of removals.holesAtEnd ?? []) removedLater.add(p);
  const unknownAsOf = [...firstLater].filter(([key, absent]) => !absent && !lastSnapshot.has(key)).map(([key]) => key);
  return { rows, records: count, unknownAsOf, removedAfterAsOf: removedLater.size > 0 };
};

export interface ReadOptions {
  readonly kafka: Kafka;
  readonly codec: Codec;
  readonly topic: string;
  /** How long to read before giving up; the topic's end as it was when asked must be reached by then. */
  readonly timeoutMs?: number;
  /** How long a partition may bring nothing before its end is taken as unreachable (a hole at its end). */
  readonly idleMs?: number;
}

/** A table's topic as read: its records, and what compaction may have removed. */
export interface TableLog {
  readonly records: TableRecord[];
  /** Partitions with a hole after their last record read (rebuildTable's `holesAtEnd`). */
  readonly holesAtEnd: readonly number[];
  /** Partitions whose end never came within `idleMs`: how far they were read, and their end when asked. */
  readonly shortOfEnd: readonly { readonly partition: number; readonly readTo: bigint; readonly end: bigint }[];
  /**
   * Every record compaction can have removed was published before this time (epoch ms): the
   * topic's `min.compaction.lag.ms` before the read, clocks a minute apart at most. As a hybrid
   * timestamp (ms shifted left), rebuildTable's `removableBeforeTs`. Undefined if unknown.
   */
  readonly removableBeforeMs?: number;
}

/** What a fetch found on the log, in offset order: aborted records and transaction markers too (kafkajs's Batch, pinned at 2.2.4). */
const presentOffsets = (batch: object): readonly string[] => {
  const present = (batch as { messagesWithinOffset?: readonly { offset: string }[] }).messagesWithinOffset;
  if (!Array.isArray(present)) throw new Error('kafkajs no longer says which records a fetch found (Batch.messagesWithinOffset); update src/messaging/changelog-table.ts');
  return present.map((m) => m.offset);
};

/**
 * Per partition, the offsets found on the log so far: where the next one should be, and whether
 * a hole came since the last record kept. A log that starts above 0 starts with a hole.
 */
export class Holes {
  private readonly next = new Map<number, bigint>();
  private readonly open = new Set<number>();

  constructor(starts: readonly { partition: number; low: string }[]) {
    for (const s of starts) {
      this.next.set(s.partition, BigInt(s.low));
      if (BigInt(s.low) > 0n) this.open.add(s.partition);
    }
  }

  /** Offsets `first` to `last` were found on the log, with no hole between them. */
  found(partition: number, first: bigint, last = first): void {
    if (first > (this.next.get(partition) ?? first)) this.open.add(partition);
    this.next.set(partition, last + 1n);
  }

  /** Records may be missing here, though the offsets do not say so. */
  suspect(partition: number): void {
    this.open.add(partition);
  }

  /** The offset the partition is read up to (exclusive). */
  readTo(partition: number): bigint | undefined {
    return this.next.get(partition);
  }

  /** Whether records were removed between the previous record kept and this one; the next starts afresh. */
  take(partition: number): boolean {
    return this.open.delete(partition);
  }

  /** Partitions not read up to their end (`high`, exclusive). */
  shortOf(ends: readonly { partition: number; high: string }[]): { partition: number; readTo: bigint; end: bigint }[] {
    return ends.map((e) => ({ partition: e.partition, readTo: this.next.get(e.partition) ?? 0n, end: BigInt(e.high) })).filter((e) => e.readTo < e.end);
  }

  /** Partitions with a hole after their last record kept, or not read up to their end. */
  atEnd(ends: readonly { partition: number; high: string }[]): number[] {
    const short = new Set(this.shortOf(ends).map((e) => e.partition));
    return ends.filter((e) => this.open.has(e.partition) || short.has(e.partition)).map((e) => e.partition);
  }
}

/** How long, by default, a partition may bring nothing before its end is taken as unreachable. */
export const TABLE_READ_IDLE_MS = 5_000;

/** Clocks (the brokers', the coordinator's, this one's) may be this far apart. */
const CLOCK_SKEW_MS = 60_000;

/** The topic's `min.compaction.lag.ms`, or undefined if it cannot be read (the reader lacks DescribeConfigs, say). */
const compactionLagMs = async (kafka: Kafka, topic: string): Promise<number | undefined> => {
  try {
    const described = await withAdmin(kafka, (admin) =>
      admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['min.compaction.lag.ms'] }] }),
    );
    const value = described.resources[0]?.configEntries.find((e) => e.configName === 'min.compaction.lag.ms')?.configValue;
    return value === undefined || !/^\d+$/.test(value) ? undefined : Number(value);
  } catch {
    return undefined;
  }
};

/** Every committed record of `topic` (readTableLog), without what it says of compaction. */
export const readTableTopic = async (o: ReadOptions): Promise<TableRecord[]> => (await readTableLog(o)).records;

/**
 * Every committed record of `topic` from its start up to its end as it was when asked, and
 * what compaction may have removed. A read_committed consumer (kafkajs's default) sees no
 * record of an aborted or open transaction, and never a transaction marker.
 *
 * Each record says whether compaction removed records just before it. Aborted records and
 * markers stay on the log until the cleaner takes them, and a fetch returns them (kafkajs then
 * drops them), so a hole in the offsets a fetch found is what the cleaner took out: superseded
 * records, expired tombstones, the data of aborted transactions. A partition is read once every
 * offset up to its end is accounted for. One whose end never comes (kafkajs cannot step over a
 * batch that compaction emptied, and a transaction may stay open) is left after `idleMs` with
 * nothing new, and counted as a hole at its end. A fetch that found nothing but markers and
 * aborted records reaches us only as its first and last offsets: if they are not one and the
 * same, it is taken for a hole.
 */
export const readTableLog = async (o: ReadOptions): Promise<TableLog> => {
  const timeoutMs = o.timeoutMs ?? 30_000;
  const idleMs = o.idleMs ?? TABLE_READ_IDLE_MS;
  const startedAt = Date.now();
  // `high` is each partition's last stable offset: kafkajs's admin lists offsets read_committed, so an open transaction is not waited for.
  const ends = await withAdmin(o.kafka, (admin) => admin.fetchTopicOffsets(o.topic));
  const lagMs = await compactionLagMs(o.kafka, o.topic);
  /** Taken once the read is over: the cleaner may have run while it lasted. */
  const removableBefore = (): number | undefined => (lagMs === undefined ? undefined : Math.max(0, Date.now() - lagMs + CLOCK_SKEW_MS));
  const holes = new Holes(ends);
  const pending = ends.filter((e) => BigInt(e.high) > BigInt(e.low));
  if (pending.length === 0) return { records: [], holesAtEnd: holes.atEnd(ends), shortOfEnd: [], removableBeforeMs: removableBefore() };
  const byPartition = new Map<number, TableRecord[]>();
  /** When a fetch last brought something (set once the group is joined, below). */
  let lastArrival: number;
  const consumer = o.kafka.consumer({ groupId: `${TABLE_GROUP_PREFIX}${randomUUID()}`, allowAutoTopicCreation: false, maxWaitTimeInMs: 100 });
  // A fetch of only markers and aborted records never reaches eachBatch; kafkajs announces it, with its offsets.
  consumer.on(consumer.events.START_BATCH_PROCESS, ({ payload }) => {
    if (payload.batchSize !== 0 || payload.firstOffset === null) return;
    lastArrival = Date.now();
    const first = BigInt(payload.firstOffset);
    const last = BigInt(payload.lastOffset);
    holes.found(payload.partition, first, last);
    // Only its ends are known: whatever lies between (an aborted transaction's records, or a hole) is taken for a hole.
    if (last > first) holes.suspect(payload.partition);
  });
  let failure: unknown;
  await consumer.connect();
  try {
    await subscribe(consumer, [o.topic], true);
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
    // The group is joined once run() returns: the idle clock starts now, not before the join.
    lastArrival = Date.now();
    for (;;) {
      if (failure !== undefined) break;
      if (pending.every((e) => (holes.readTo(e.partition) ?? 0n) >= BigInt(e.high)) || Date.now() - lastArrival > idleMs) break;
      if (Date.now() - startedAt > timeoutMs)
        throw new CoordError('CHANGELOG_READ_TIMEOUT', `reading ${o.topic} did not reach its end in ${timeoutMs} ms (read ${byPartition.size} partitions of ${pending.length}); is the broker reachable?`, {
          retriable: true,
        });
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    // Waits for a batch in hand: its records, or its failure, count.
    await consumer.disconnect().catch(() => undefined);
  }
  if (failure !== undefined) throw failure;
  // One key lives in one partition: the order within a partition is the order of the key's changes.
  const records = [...byPartition.keys()].sort((a, b) => a - b).flatMap((p) => byPartition.get(p) ?? []);
  return { records, holesAtEnd: holes.atEnd(ends), shortOfEnd: holes.shortOf(ends), removableBeforeMs: removableBefore() };
};

/** A tombstone's snapshot from its headers, if it carries both. */
const snapshotOf = (headers: Headers): SnapshotAt | undefined => {
  const id = headers[H.snapshotId];
  const ts = headers[H.snapshotTs];
  if (id === undefined || ts === undefined || !/^\d{1,20}$/.test(id) || !/^\d{1,20}$/.test(ts)) return undefined;
  return { snapshotId: BigInt(id), snapshotTs: BigInt(ts) };
};
