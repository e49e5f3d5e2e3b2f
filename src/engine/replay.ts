/**
 * Replay: rebuild the projections from the input topics into a new store, cutting the same
 * batches the live coordinator cut (from its snapshot markers), and with `verify` compare the
 * digest of every snapshot with the one the marker recorded.
 */
import { randomUUID } from 'node:crypto';
import { createConsumer, subscribe, type Kafka, type KafkaMessage } from '../messaging/clients';
import { readToEnd } from '../messaging/read-to-end';
import type { Projection } from '../../projections';
import { errorMessage } from '../errors';
import { createLogger, type Logger } from '../log';
import type { Codec } from '../messaging/codec';
import { readHeaders } from '../messaging/headers';
import { INPUT_KINDS, topicName, type TopicKind } from '../messaging/topics';
import { digestHex } from '../store/digest';
import { markerPositionEntry, replayStopOps, storedLineage } from './layout';
import type { Store } from '../store/rocks';
import type { RawRecord } from './decode';
import { createFold } from './fold';
import { LOGIC_VERSION, ProofChain } from './logic-version';
import { recordId } from './pass';
import { isRegistryDown, trustMarkers, type Marker, type MarkerChain, type MarkerRecord, type SkippedRecord } from './markers';
import { failPoint } from './failpoints';
import { encodeStop, markersUntil, targetText, type ReplayStop, type ReplayTarget } from './replay-stop';
import { DEFAULTS } from '../config';
import { loadState, readThroughOf } from './load';
import { tpKey, type SnapshotMeta, type WorkingState } from './state';

export type { Marker, MarkerChain, SkippedRecord } from './markers';
export type { ReplayStop, ReplayTarget, StopReason } from './replay-stop';

export interface ReplayProgress {
  readonly snapshots: number;
  readonly totalSnapshots: number;
  readonly records: number;
  readonly elapsedMs: number;
}

export interface ReplayReport extends ReplayProgress {
  /** Digest after the last replayed snapshot. */
  readonly digest: string;
  readonly lastSnapshotId: bigint;
  /** Hybrid timestamp of the last replayed snapshot (0 for none). */
  readonly lastSnapshotTs: bigint;
  /** Log time of the last replayed snapshot, ms. */
  readonly logTimeMs: number;
  /** Where `replay` stopped and why, as the folder records it (m/replay); not set by `replayOnto`. */
  readonly stop?: ReplayStop;
  /**
   * Snapshots whose digests are not comparable, so not verified (and never a mismatch): folded
   * by another version of the deciding logic, or by this one on a state another version decided.
   */
  readonly otherVersion: number;
  /** The first snapshot whose digest differed, when verifying. */
  readonly mismatch?: { readonly snapshotId: bigint; readonly expected: string; readonly actual: string };
}

export interface ReplayDeps {
  readonly kafka: Kafka;
  readonly codec: Codec;
  readonly store: Store;
  readonly log: Logger;
  readonly topicPrefix: string;
  readonly verify: boolean;
  readonly onProgress?: (p: ReplayProgress) => void;
  /** Most input records held ahead of the snapshot being replayed. */
  readonly maxBuffered?: number;
  /** Replay through other projections (a new or changed one); the default is the registry's. */
  readonly projections?: readonly Projection[];
  /** The logic version of `projections` (LOGIC_VERSION for the registry's own): digests are compared within it. */
  readonly logicVersion?: number;
  /** Stop after this snapshot (e.g. where a live coordinator stands), rather than at the end of the log. */
  readonly untilSnapshotId?: bigint;
  /**
   * Stop at the last snapshot at or before this point (a snapshot id or a hybrid timestamp):
   * point-in-time recovery. Takes precedence over `untilSnapshotId`.
   */
  readonly until?: ReplayTarget;
  /** Called after each snapshot is folded, with its marker and the input records it folded, in offset order per partition. */
  readonly onSnapshot?: (s: ReplayedSnapshot) => void | Promise<void>;
  /** Most images of the entities read through the store kept in memory (as the coordinator's stateCacheEntries). */
  readonly stateCacheEntries?: number;
}

export interface ReplayedSnapshot {
  readonly marker: Marker;
  readonly records: readonly RawRecord[];
  readonly meta: SnapshotMeta;
}

export interface ReadMarkersOptions {
  /** The id of the marker at `fromOffset`, when the reader knows it: the chain must go on from it. */
  readonly knownSnapshotId?: bigint;
  /** Where each skipped record is reported, at warn; default: stderr. */
  readonly log?: Logger;
  /** Called once for each record skipped, after it is logged (e.g. to count them). */
  readonly onSkip?: (s: SkippedRecord) => void;
  /** How long reading to the end of the topic may take. */
  readonly timeoutMs?: number;
}

/**
 * One record of the snapshots topic, decoded, or with the error decoding it gave; a registry
 * that does not answer says nothing about the record, so that error is thrown instead.
 */
export const markerRecordOf = async (codec: Codec, m: KafkaMessage): Promise<MarkerRecord> => {
  // kafkajs keeps each record's batch attributes at run time, though not in its types.
  const batchContext = (m as { batchContext?: { producerId?: unknown; inTransaction?: unknown } }).batchContext;
  const writer = batchContext === undefined ? undefined : { producerId: String(batchContext.producerId), inTransaction: batchContext.inTransaction === true };
  const base = { offset: BigInt(m.offset), headers: readHeaders(m.headers), writer };
  try {
    return { ...base, decoded: await codec.decode(m.value) };
  } catch (err) {
    if (isRegistryDown(err)) throw err;
    return { ...base, error: err };
  }
};

/**
 * The trusted chain of markers on the snapshots topic from `fromOffset` (default: the
 * beginning) up to its end as of now, and the records skipped as not the coordinator's
 * (see `trustMarkers`). No record's content makes it throw; a registry that does not
 * answer, a broker that fails or the timeout do.
 */
export const readMarkerChain = async (kafka: Kafka, codec: Codec, topic: string, fromOffset?: bigint, options: ReadMarkersOptions = {}): Promise<MarkerChain> => {
  const { timeoutMs = 300_000 } = options;
  const log = options.log ?? createLogger('warn', { component: 'markers' });
  const read: { partition: number; record: MarkerRecord }[] = [];
  // Snapshot 1 is only required where the topic really begins, not where a truncated one now starts.
  let fromBeginning = true;
  await readToEnd(
    kafka,
    topic,
    async (partition, m) => {
      read.push({ partition, record: await markerRecordOf(codec, m) });
    },
    {
      timeoutMs,
      groupPrefix: 'coord-replay-markers-',
      from: fromOffset === undefined ? undefined : new Map([[0, fromOffset]]),
      onStart: (b) => (fromBeginning = b),
    },
  );
  if (read.length === 0) return { markers: [], skipped: [] };
  // The topic has one partition; were there more, each is its own sequence of offsets.
  read.sort((a, b) => a.partition - b.partition || (a.record.offset < b.record.offset ? -1 : a.record.offset > b.record.offset ? 1 : 0));
  const chain = trustMarkers(
    read.map((r) => r.record),
    { knownSnapshotId: options.knownSnapshotId, fromBeginning },
  );
  for (const s of chain.skipped) {
    log.warn('skipped a record on the snapshots topic that is not part of the snapshot chain', { topic, offset: s.offset.toString(), reason: s.reason });
    options.onSkip?.(s);
  }
  return chain;
};

/**
 * The trusted markers on the snapshots topic from `fromOffset` (default: the beginning), in
 * snapshot order, duplicates (re-published outboxes) dropped and poison skipped; see
 * `readMarkerChain`. A number as `options` is the timeout, as in earlier versions.
 */
export const readMarkers = async (kafka: Kafka, codec: Codec, topic: string, fromOffset?: bigint, options: ReadMarkersOptions | number = {}): Promise<Marker[]> =>
  [...(await readMarkerChain(kafka, codec, topic, fromOffset, typeof options === 'number' ? { timeoutMs: options } : options)).markers];

/** Input records per partition, fetched ahead of need and bounded; records no marker needs are dropped at once. */
class InputBuffer {
  private readonly queues = new Map<string, RawRecord[]>();
  private size = 0;
  private waiter: (() => void) | undefined;
  private spaceWaiter: (() => void) | undefined;
  private closed = false;

  /** `needed`: per `topic:partition`, the offsets [from, to] the markers name. */
  constructor(
    private readonly maxBuffered: number,
    private readonly needed: ReadonlyMap<string, { readonly from: bigint; readonly to: bigint }>,
  ) {}

  close(): void {
    this.closed = true;
    this.spaceWaiter?.();
  }

  async push(all: RawRecord[]): Promise<void> {
    if (all.length === 0) return;
    const k = tpKey(all[0].topic, all[0].partition);
    const need = this.needed.get(k);
    const records = need === undefined ? [] : all.filter((r) => BigInt(r.offset) >= need.from && BigInt(r.offset) <= need.to);
    if (records.length === 0) return;
    const q = this.queues.get(k) ?? [];
    q.push(...records);
    this.queues.set(k, q);
    this.size += records.length;
    this.waiter?.();
    while (this.size > this.maxBuffered && !this.closed) await new Promise<void>((r) => (this.spaceWaiter = r));
  }

  /** The records of [from, to] on one partition, once they have all arrived. */
  async take(topic: string, partition: number, from: bigint, to: bigint, timeoutMs: number): Promise<RawRecord[]> {
    const k = tpKey(topic, partition);
    const until = Date.now() + timeoutMs;
    for (;;) {
      const q = this.queues.get(k) ?? [];
      while (q.length > 0 && BigInt(q[0].offset) < from) {
        q.shift();
        this.size--;
      }
      const last = q.length === 0 ? -1n : BigInt(q[q.length - 1].offset);
      if (last >= to) {
        let n = 0;
        while (n < q.length && BigInt(q[n].offset) <= to) n++;
        const out = q.splice(0, n);
        this.size -= n;
        this.spaceWaiter?.();
        return out;
      }
      // The consumer may be waiting for room while we wait for records: make room.
      this.spaceWaiter?.();
      if (Date.now() > until) throw new Error(`input ${topic}[${partition}] offsets ${from}..${to} did not arrive within ${timeoutMs} ms; are they still retained?`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 200);
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }
}

/**
 * Folds the snapshots of `markers` onto `state` and `store`, cutting each batch at its
 * marker's offset ranges. Used by `replay` (from an empty store) and by a standby taking
 * over (from where its own store stands).
 */
export const replayOnto = async (
  deps: ReplayDeps,
  markers: readonly Marker[],
  state: WorkingState,
  from: SnapshotMeta,
): Promise<ReplayReport> => {
  const { kafka, codec, store, log } = deps;
  const started = Date.now();
  const kindByTopic = new Map<string, TopicKind>(INPUT_KINDS.map((k) => [topicName(deps.topicPrefix, k), k]));
  const fold = createFold({
    store,
    codec,
    options: { topicPrefix: deps.topicPrefix, kindOf: (t) => kindByTopic.get(t), projections: deps.projections, logicVersion: deps.logicVersion },
  });
  let meta = from;
  let records = 0;
  let snapshots = 0;
  let otherVersion = 0;
  const report = (mismatch?: ReplayReport['mismatch']): ReplayReport => ({
    snapshots,
    otherVersion,
    totalSnapshots: markers.length,
    records,
    elapsedMs: Date.now() - started,
    digest: digestHex(meta.digest),
    lastSnapshotId: meta.id,
    lastSnapshotTs: meta.ts,
    logTimeMs: meta.logTimeMs,
    mismatch,
  });
  if (markers.length === 0) return report();

  // Each partition is read from the first offset any marker needs, up to the last; partitions no marker names are not read.
  const needed = new Map<string, { from: bigint; to: bigint }>();
  for (const m of markers)
    for (const r of m.inputs) {
      const k = tpKey(r.topic, r.partition);
      const cur = needed.get(k);
      needed.set(k, { from: cur === undefined || r.fromOffset < cur.from ? r.fromOffset : cur.from, to: cur === undefined || r.toOffset > cur.to ? r.toOffset : cur.to });
    }
  const buffer = new InputBuffer(deps.maxBuffered ?? 50_000, needed);
  const consumer = createConsumer(kafka, { groupId: `coord-replay-${randomUUID()}`, maxWaitTimeInMs: 50, maxBytes: 16 * 1024 * 1024, sessionTimeout: 30_000 });
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    for (const [topic, partitions] of Object.entries(payload.memberAssignment)) {
      const idle = partitions.filter((p) => !needed.has(tpKey(topic, p)));
      if (idle.length > 0) consumer.pause([{ topic, partitions: idle }]);
      for (const p of partitions) {
        const need = needed.get(tpKey(topic, p));
        if (need !== undefined) consumer.seek({ topic, partition: p, offset: need.from.toString() });
      }
    }
  });
  await consumer.connect();
  try {
    await subscribe(consumer, [...kindByTopic.keys()], true);
    await consumer.run({
      eachBatch: async ({ batch, heartbeat }) => {
        const rs = batch.messages.map((m) => ({ topic: batch.topic, partition: batch.partition, offset: m.offset, key: m.key, value: m.value, headers: m.headers, timestamp: m.timestamp }));
        const hb = setInterval(() => void heartbeat().catch(() => undefined), 2_000);
        try {
          await buffer.push(rs);
        } finally {
          clearInterval(hb);
        }
      },
    });
    // Whether the state folded on is the log's: a store's meta says (an empty store is).
    const proofs = new ProofChain(from.id === 0n ? undefined : await storedLineage(store));
    for (const marker of markers) {
      const batch: RawRecord[] = [];
      for (const r of marker.inputs) batch.push(...(await buffer.take(r.topic, r.partition, r.fromOffset, r.toOffset, 60_000)));
      // The verdicts the live pass reached on inputs it refused before deciding, whatever the registry says today.
      const recorded = marker.rejected === undefined ? undefined : new Map(marker.rejected.map((r) => [recordId(r), r.code]));
      // Replay publishes nothing: no outbox is kept, and the store knows where the marker stands, as after a publication.
      const result = await fold(batch, state, meta, { recorded, published: { alsoPut: [markerPositionEntry(marker)], marker, baseProven: proofs.baseProven() } });
      meta = result.meta;
      records += batch.length;
      snapshots++;
      await deps.onSnapshot?.({ marker, records: batch, meta });
      const actual = digestHex(meta.digest);
      if (meta.id !== marker.snapshotId) throw new Error(`replay reached snapshot ${meta.id} where the log has marker ${marker.snapshotId}; the markers are not contiguous`);
      const check = result.check ?? 'diverged';
      proofs.folded(check);
      if (check === 'other-version' || check === 'unprovable') otherVersion++;
      if (deps.verify && check === 'diverged') {
        log.error('digest mismatch', { snapshotId: marker.snapshotId.toString(), expected: marker.digest, actual });
        return report({ snapshotId: marker.snapshotId, expected: marker.digest, actual });
      }
      deps.onProgress?.(report());
      failPoint('catch-up.mid');
    }
  } catch (err) {
    log.error('replay failed', { error: errorMessage(err) });
    throw err;
  } finally {
    // A fetch callback waiting for room must return, or the disconnect waits for it.
    buffer.close();
    await consumer.disconnect();
  }
  return report();
};

/**
 * What a snapshot folded, by record type: the full name of each input record's schema, or
 * `rejected:<code>` for a record its pass refused before any decider saw it (as the marker
 * records), or `undecodable` for one that does not decode today and was not refused then.
 */
export const recordTypeCounts = async (codec: Codec, s: Pick<ReplayedSnapshot, 'marker' | 'records'>): Promise<Map<string, number>> => {
  const refused = new Map((s.marker.rejected ?? []).map((r) => [recordId(r), r.code]));
  const counts = new Map<string, number>();
  for (const r of s.records) {
    const code = refused.get(recordId(r));
    const type = code !== undefined ? `rejected:${code}` : await codec.decode(r.value).then((d) => d.fullName, () => 'undecodable');
    counts.set(type, (counts.get(type) ?? 0) + 1);
  }
  return counts;
};

/**
 * Rebuilds the state from the log into an empty store, to the end of the log or to the last
 * snapshot at or before `until`, and records in the store where it stopped (m/replay).
 */
export const replay = async (deps: ReplayDeps): Promise<ReplayReport> => {
  // Folded as the coordinator folds: what it reads through the store, the replay does too, so its memory stays bounded.
  const loaded = await loadState(deps.store, readThroughOf(deps.projections, deps.stateCacheEntries ?? DEFAULTS.stateCacheEntries));
  if (loaded.meta.id !== 0n) throw new Error(`the replay target ${deps.store.dir} already holds snapshot ${loaded.meta.id}; replay into an empty folder`);
  const all = await readMarkers(deps.kafka, deps.codec, topicName(deps.topicPrefix, 'snapshots'), undefined, { log: deps.log });
  const target: ReplayTarget | undefined = deps.until ?? (deps.untilSnapshotId === undefined ? undefined : { kind: 'snapshot', snapshotId: deps.untilSnapshotId });
  const { within, next } = markersUntil(all, target);
  if (target !== undefined && within.length === 0 && all.length > 0)
    throw new Error(`the log holds no snapshot at or before ${targetText(target)}: its first is snapshot ${all[0].snapshotId} at hybrid timestamp ${all[0].snapshotTs}`);
  const report = await replayOnto(deps, within, loaded.state, loaded.meta);
  const last = within.find((m) => m.snapshotId === report.lastSnapshotId);
  // A mismatch stops short of the point: the snapshot after the stop is then the next one on the chain.
  const after = report.mismatch === undefined ? next : within.find((m) => m.snapshotId === report.lastSnapshotId + 1n);
  const stop: ReplayStop = {
    target,
    reason: report.mismatch !== undefined ? 'mismatch' : next !== undefined ? 'until' : 'log-end',
    snapshotId: report.lastSnapshotId,
    snapshotTs: report.lastSnapshotTs,
    logTimeMs: report.logTimeMs,
    digest: report.digest,
    inputs: last?.inputs ?? [],
    next: after === undefined ? undefined : { snapshotId: after.snapshotId, snapshotTs: after.snapshotTs },
    verified: deps.verify,
    logicVersion: deps.logicVersion ?? LOGIC_VERSION,
    replayedAtMs: Date.now(),
  };
  await deps.store.write(replayStopOps(encodeStop(stop)));
  return { ...report, stop };
};
