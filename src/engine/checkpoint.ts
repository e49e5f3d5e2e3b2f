/**
 * Checkpoints: the store's state at one snapshot, on `<prefix>.checkpoints`, so that a new
 * instance with an empty folder starts from it and follows the log's tail, in time that grows
 * with the state and not with the history (Kafka Streams restores a store from a compacted
 * topic; KRaft loads a metadata snapshot and reads the log after it).
 *
 * The active instance writes one every `checkpointIntervalMs`: the store's entries at one instant
 * (a RocksDB snapshot, so the passes go on meanwhile) in key order, cut into chunks, then a
 * manifest. Checkpoints alternate between two slots of keys on the compacted topic, so a writer
 * that dies half-way never overwrites the last complete one, and the topic holds about two
 * states whatever the age of the log.
 *
 * Nothing on the topic is trusted for what it says. A restore takes the newest manifest whose
 * chunks are all there, checks them against its content hash, recomputes the state digest, and
 * accepts it only when the snapshot's marker, read on the snapshots topic through the chain the
 * followers trust, carries that digest. It writes the store in batches with its snapshot meta
 * last, so a restore cut short leaves a folder with no snapshot, which the next start wipes and
 * restores again.
 */
import { createHash, type Hash } from 'node:crypto';
import type { CheckpointManifest } from '../../projections/protocol.gen';
import { errorMessage } from '../errors';
import type { Logger } from '../log';
import { type Kafka, type Producer } from '../messaging/clients';
import type { Codec } from '../messaging/codec';
import { readToEnd } from '../messaging/read-to-end';
import { REPLAY_GROUP_PREFIX } from '../messaging/acl';
import { DigestSum, digestHex } from '../store/digest';
import type { Store } from '../store/rocks';
import { checkpointEntries, checkpointEntryKind, decodeMeta, markerPositionOf, readLineage, restoredOps, storedMeta, WIPE } from './layout';
import { isRegistryDown } from './markers';
import { readMarkerChain } from './replay';

export const CHUNK_RECORD = 'coord.v1.CheckpointChunk';
export const MANIFEST_RECORD = 'coord.v1.CheckpointManifest';
/** The header that names a chunk's snapshot, so a restore finds a checkpoint's chunks without decoding the others. */
export const SNAPSHOT_HEADER = 'snapshot-id';

/** A chunk stays well under the broker's 1 MB record limit, and under the decoder's 10 000 items a collection. */
const CHUNK_BYTES = 256 * 1024;
const CHUNK_ENTRIES = 4_000;
/** Chunks sent and not yet acknowledged. */
const IN_FLIGHT = 4;

export type Slot = 0 | 1;

export const chunkKey = (slot: Slot, index: number): string => `${slot}/chunk/${index}`;
export const manifestKey = (slot: Slot): string => `${slot}/manifest`;

/** A checkpoint's manifest as its schema declares it, with the slot one of the two there are. */
export type Manifest = Omit<CheckpointManifest, 'slot'> & { readonly slot: Slot };

/** The content hash of a checkpoint: every entry in order, each `key, 0, length (4 bytes), value`. */
export class ContentHash {
  private readonly hash: Hash = createHash('sha256');
  private readonly len = Buffer.alloc(4);
  count = 0n;

  add(key: string, value: Buffer): void {
    this.hash.update(key);
    this.len.writeUInt32BE(0, 0);
    this.hash.update(this.len.subarray(0, 1));
    this.len.writeUInt32BE(value.length, 0);
    this.hash.update(this.len);
    this.hash.update(value);
    this.count++;
  }

  hex(): string {
    return this.hash.digest('hex');
  }
}

export interface CheckpointWriterDeps {
  readonly store: Store;
  readonly codec: Codec;
  readonly producer: Producer;
  readonly topic: string;
  readonly log: Logger;
  readonly now?: () => number;
}

export interface Written {
  readonly snapshotId: bigint;
  readonly chunks: number;
  readonly entries: bigint;
  readonly slot: Slot;
}

/**
 * Writes the store as it stands now to `slot`: its chunks, tombstones for the chunks a previous
 * checkpoint in the slot had beyond this one's (`previousChunks`), then the manifest.
 * Undefined when the store has no snapshot yet.
 */
export const writeCheckpoint = async (deps: CheckpointWriterDeps, slot: Slot, previousChunks = 0): Promise<Written | undefined> => {
  const { store, codec, producer, topic } = deps;
  const startedMs = (deps.now ?? Date.now)();
  const snap = await store.snapshot();
  try {
    let rawMeta: Buffer | undefined;
    const content = new ContentHash();
    const inFlight = new Set<Promise<unknown>>();
    let chunk: { key: string; value: Buffer }[] = [];
    let bytes = 0;
    let index = 0;
    let meta: ReturnType<typeof decodeMeta> | undefined;
    const flush = async (snapshotId: bigint): Promise<void> => {
      const value = await codec.encode(topic, CHUNK_RECORD, { snapshotId, slot, index, entries: chunk });
      const sent = producer.send({ topic, messages: [{ key: chunkKey(slot, index), value, headers: { [SNAPSHOT_HEADER]: snapshotId.toString() } }] });
      inFlight.add(sent);
      void sent.finally(() => inFlight.delete(sent)).catch(() => undefined);
      if (inFlight.size >= IN_FLIGHT) await Promise.race(inFlight);
      index++;
      chunk = [];
      bytes = 0;
    };
    for await (const [key, value] of checkpointEntries(snap)) {
      // The meta comes first: a store with none has no snapshot to checkpoint.
      if (meta === undefined) {
        if (checkpointEntryKind(key) !== 'meta') return undefined;
        rawMeta = value;
        meta = decodeMeta(value);
      }
      content.add(key, value);
      chunk.push({ key, value });
      bytes += key.length + value.length + 8;
      if (bytes >= CHUNK_BYTES || chunk.length >= CHUNK_ENTRIES) await flush(meta.id);
    }
    if (meta === undefined || rawMeta === undefined) return undefined;
    if (chunk.length > 0) await flush(meta.id);
    await Promise.all(inFlight);
    if (previousChunks > index)
      await producer.send({ topic, messages: Array.from({ length: previousChunks - index }, (_, i) => ({ key: chunkKey(slot, index + i), value: null })) });
    const manifest = {
      snapshotId: meta.id,
      slot,
      chunks: index,
      entries: content.count,
      digest: digestHex(meta.digest),
      contentSha256: content.hex(),
      logicVersion: readLineage(rawMeta).logicVersion,
      writtenAtMs: BigInt(startedMs),
    };
    await producer.send({ topic, messages: [{ key: manifestKey(slot), value: await codec.encode(topic, MANIFEST_RECORD, manifest) }] });
    return { snapshotId: meta.id, chunks: index, entries: content.count, slot };
  } finally {
    await snap.close();
  }
};

export interface RestoreDeps {
  readonly store: Store;
  readonly kafka: Kafka;
  readonly codec: Codec;
  readonly topic: string;
  readonly snapshotsTopic: string;
  readonly log: Logger;
  /** How long each read of a topic to its end may take. */
  readonly timeoutMs?: number;
}

export type Restored =
  | { readonly kind: 'restored'; readonly snapshotId: bigint; readonly entries: bigint; readonly ms: number }
  | { readonly kind: 'not-empty' }
  | { readonly kind: 'none'; readonly why: string };

const asManifest = (v: Record<string, unknown>): Manifest => ({
  snapshotId: v.snapshotId as bigint,
  slot: (v.slot as number) === 1 ? 1 : 0,
  chunks: v.chunks as number,
  entries: v.entries as bigint,
  digest: v.digest as string,
  contentSha256: v.contentSha256 as string,
  logicVersion: v.logicVersion as number,
  writtenAtMs: v.writtenAtMs as bigint,
});

/**
 * Restores the newest checkpoint the log proves into an empty store. A store with a snapshot is
 * left as it is (`not-empty`); with no checkpoint that checks out, the store is left empty and
 * `none` says why: the instance then rebuilds by following the log from its first snapshot.
 */
export const restoreCheckpoint = async (deps: RestoreDeps): Promise<Restored> => {
  const { store, kafka, codec, topic, log } = deps;
  const timeoutMs = deps.timeoutMs ?? 300_000;
  if ((await storedMeta(store)) !== undefined) return { kind: 'not-empty' };
  const started = Date.now();
  // The newest manifest of each slot; a chunk's key is compacted, so only the last one of a key counts.
  const manifests = new Map<Slot, { manifest: Manifest; offset: bigint }>();
  const chunkAt = new Map<string, { snapshotId: string; offset: bigint }>();
  await readToEnd(
    kafka,
    topic,
    async (_partition, m) => {
      const key = m.key?.toString() ?? '';
      const offset = BigInt(m.offset);
      if (key.endsWith('/manifest')) {
        if (m.value === null) return;
        try {
          const d = await codec.decode(m.value, topic);
          if (d.fullName === MANIFEST_RECORD) {
            const manifest = asManifest(d.value);
            manifests.set(manifest.slot, { manifest, offset });
          }
        } catch (err) {
          // A registry that does not answer says nothing about the record: the restore fails and says why.
          if (isRegistryDown(err)) throw err;
          log.warn('skipped a record on the checkpoints topic that is not a manifest', { offset: m.offset, error: errorMessage(err) });
        }
      } else if (m.value === null) chunkAt.delete(key);
      else chunkAt.set(key, { snapshotId: m.headers?.[SNAPSHOT_HEADER]?.toString() ?? '', offset });
    },
    { timeoutMs, groupPrefix: `${REPLAY_GROUP_PREFIX}checkpoints-` },
  );
  const candidates = [...manifests.values()].sort((a, b) => (a.manifest.snapshotId > b.manifest.snapshotId ? -1 : 1));
  if (candidates.length === 0) return { kind: 'none', why: `${topic} holds no checkpoint` };
  const why: string[] = [];
  for (const { manifest } of candidates) {
    const chunks = Array.from({ length: manifest.chunks }, (_, i) => chunkAt.get(chunkKey(manifest.slot, i)));
    const missing = chunks.findIndex((c) => c === undefined || c.snapshotId !== manifest.snapshotId.toString());
    if (missing >= 0) {
      why.push(`the checkpoint of snapshot ${manifest.snapshotId} lacks chunk ${missing}`);
      continue;
    }
    const problem = await load(deps, manifest, chunks[0]?.offset ?? 0n, timeoutMs);
    if (problem === undefined) {
      const ms = Date.now() - started;
      log.info('restored the state from a checkpoint; following the log from there', { snapshotId: manifest.snapshotId.toString(), entries: manifest.entries.toString(), ms });
      return { kind: 'restored', snapshotId: manifest.snapshotId, entries: manifest.entries, ms };
    }
    why.push(problem);
    log.warn('a checkpoint did not check out; trying an older one', { snapshotId: manifest.snapshotId.toString(), problem });
    await store.write(WIPE);
  }
  return { kind: 'none', why: why.join('; ') };
};

/** Loads one checkpoint's chunks (from `fromOffset`) into the empty store and checks it; the problem, or undefined when it is the log's. */
const load = async (deps: RestoreDeps, manifest: Manifest, fromOffset: bigint, timeoutMs: number): Promise<string | undefined> => {
  const { store, kafka, codec, topic } = deps;
  await store.write(WIPE); // what a restore cut short left
  const content = new ContentHash();
  const digest = new DigestSum();
  let next = 0;
  let meta: Buffer | undefined;
  let marker: Buffer | undefined;
  await readToEnd(
    kafka,
    topic,
    async (_partition, m) => {
      if (next >= manifest.chunks || m.value === null || m.key?.toString() !== chunkKey(manifest.slot, next)) return;
      if (m.headers?.[SNAPSHOT_HEADER]?.toString() !== manifest.snapshotId.toString()) return;
      let d: Awaited<ReturnType<Codec['decode']>>;
      try {
        d = await codec.decode(m.value, topic);
      } catch (err) {
        // A record under a chunk's key that does not decode is not the chunk: the checkpoint then lacks it and is not used.
        if (isRegistryDown(err)) throw err;
        deps.log.warn('skipped a record on the checkpoints topic that does not decode', { offset: m.offset, error: errorMessage(err) });
        return;
      }
      if (d.fullName !== CHUNK_RECORD) return;
      const puts: [string, Buffer][] = [];
      for (const e of d.value.entries as { key: string; value: Buffer }[]) {
        content.add(e.key, e.value);
        const kind = checkpointEntryKind(e.key);
        if (kind === 'digested') digest.add(e.key, e.value);
        // The snapshot's meta goes in last: until then the folder holds no snapshot.
        if (kind === 'meta') meta = e.value;
        else if (kind === 'marker') marker = e.value;
        else puts.push([e.key, e.value]);
      }
      await store.write({ puts });
      next++;
    },
    { timeoutMs, groupPrefix: `${REPLAY_GROUP_PREFIX}checkpoints-`, from: new Map([[0, fromOffset]]) },
  );
  if (next < manifest.chunks) return `the checkpoint of snapshot ${manifest.snapshotId} has ${next} of its ${manifest.chunks} chunks in order`;
  if (content.count !== manifest.entries || content.hex() !== manifest.contentSha256) return `the checkpoint of snapshot ${manifest.snapshotId} does not match its content hash`;
  if (meta === undefined) return `the checkpoint of snapshot ${manifest.snapshotId} holds no snapshot meta`;
  const m = decodeMeta(meta);
  if (m.id !== manifest.snapshotId || digestHex(m.digest) !== manifest.digest || digest.value !== m.digest)
    return `the checkpoint of snapshot ${manifest.snapshotId} holds a state whose digest is ${digestHex(digest.value)}, not ${manifest.digest}`;
  // The log's word: the snapshot's own marker, through the chain from the last marker the writer knew published.
  const known = marker === undefined ? undefined : markerPositionOf(marker);
  const chain = await readMarkerChain(kafka, codec, deps.snapshotsTopic, known?.offset, {
    knownSnapshotId: known?.id,
    log: deps.log,
    timeoutMs,
  });
  const own = chain.markers.find((x) => x.snapshotId === m.id);
  if (own === undefined) return `the snapshots topic holds no trusted marker of snapshot ${m.id} (not published, or deleted by retention)`;
  if (own.digest !== manifest.digest) return `the marker of snapshot ${m.id} has the digest ${own.digest}, the checkpoint ${manifest.digest}`;
  await store.write(restoredOps(own, meta));
  return undefined;
};

export interface Checkpointer {
  /** Writes a checkpoint now if the store moved on since the last one; what was written, or undefined. */
  tick(): Promise<Written | undefined>;
  /** No more checkpoints; resolves once the one being written (if any) has ended. */
  stop(): Promise<void>;
}

/**
 * Writes a checkpoint every `intervalMs` while `active()` says this instance is the active one,
 * alternating slots; a failure is logged and counted (`onFailure`) and tried again next time.
 */
export const startCheckpointer = (
  deps: CheckpointWriterDeps & { readonly intervalMs: number; readonly active: () => boolean; readonly onWritten?: (w: Written) => void; readonly onFailure?: (err: unknown) => void },
): Checkpointer => {
  let slot: Slot = 0;
  const previous: [number, number] = [0, 0];
  let lastSnapshot: bigint | undefined;
  let running: Promise<Written | undefined> | undefined;
  const tick = async (): Promise<Written | undefined> => {
    if (running !== undefined) return running;
    running = (async () => {
      const now = await storedMeta(deps.store);
      if (now === undefined || now.id === lastSnapshot) return undefined;
      const written = await writeCheckpoint(deps, slot, previous[slot]);
      if (written === undefined) return undefined;
      previous[slot] = written.chunks;
      slot = slot === 0 ? 1 : 0;
      lastSnapshot = written.snapshotId;
      deps.log.info('wrote a checkpoint', { snapshotId: written.snapshotId.toString(), chunks: written.chunks, entries: written.entries.toString(), slot: written.slot });
      deps.onWritten?.(written);
      return written;
    })().finally(() => (running = undefined));
    return running;
  };
  const timer = setInterval(() => {
    if (!deps.active()) return;
    tick().catch((err: unknown) => {
      deps.log.warn('writing a checkpoint failed; trying again at the next interval', { error: errorMessage(err) });
      deps.onFailure?.(err);
    });
  }, deps.intervalMs);
  timer.unref();
  return {
    tick,
    stop: async () => {
      clearInterval(timer);
      await running?.catch(() => undefined);
    },
  };
};
