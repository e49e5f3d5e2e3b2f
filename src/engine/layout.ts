/**
 * The snapshot's RocksDB layout, owned here: which key holds what, how the snapshot's meta and
 * its marker's position are encoded, and the verbs the engine uses on a store. src/store/keys.ts
 * spells the keys; nothing else in the engine names one (a lint rule keeps it so). The bytes
 * are the layout's contract: existing folders and replay digests depend on every one of them.
 */
import { parseDigest, digestHex } from '../store/digest';
import {
  DEDUPE,
  DEDUPE_BY_TIME,
  EXPLAIN,
  HISTORY,
  historyPrefix,
  META,
  OFFSETS,
  OUTBOX,
  parseHistoryKey,
  parseOffsetKey,
  parseRemovableKey,
  parseStateKey,
  REMOVABLE,
  removableKey,
  STATE,
  stateKey,
  statePrefix,
} from '../store/keys';
import { decodeOutbox, type OutRecord } from '../store/outbox';
import type { Store, StoreSnapshot, WriteOps } from '../store/rocks';
import { LOGIC_VERSION, type Lineage } from './logic-version';
import type { Image } from '../../projections';

// What a pass and a fold write, key by key: re-exported as they are, so a pass builds its write batch itself.
export { dedupeKey, dedupeTimeKey, DEDUPE_BY_TIME, explainKey, historyKey, offsetKey, outboxKey, parseDedupeTimeKey, removableKey, META, stateKey } from '../store/keys';
export { decodeRemembered, encodeOutbox, encodeRemembered, type OutRecord, type RememberedRequest } from '../store/outbox';

/** What the store records of its last committed snapshot (m/snapshot), with the lineage beside it. */
export interface SnapshotMeta {
  readonly id: bigint;
  /** Hybrid timestamp: physical ms << 18 | logical. */
  readonly ts: bigint;
  /** The newest log time folded so far (ms). */
  readonly logTimeMs: number;
  /** Digest of the projections' state after this snapshot (src/store/digest.ts). */
  readonly digest: bigint;
}

/** A committed snapshot's outputs, and the store key they wait under until published. */
export interface Outbox {
  readonly key: string;
  readonly records: readonly OutRecord[];
}

/** Where the last marker this store knows published stands on the snapshots topic, and the activation that published it. */
export interface MarkerPosition {
  readonly id: bigint;
  readonly offset: bigint;
  /** Absent in a store written before generations were recorded. */
  readonly generation?: number;
}

// ---- the snapshot's meta (m/snapshot) ----

/** `lineage`: the version of the deciding logic that folded the snapshot, and whether its state is proven to be the log's. */
export const encodeMeta = (m: SnapshotMeta, lineage: Lineage = { logicVersion: LOGIC_VERSION, proven: true }): Buffer =>
  Buffer.from(
    JSON.stringify({
      id: m.id.toString(),
      ts: m.ts.toString(),
      logTimeMs: m.logTimeMs,
      digest: digestHex(m.digest),
      logicVersion: lineage.logicVersion,
      ...(lineage.proven ? {} : { proven: false }),
    }),
  );

/** The lineage a store's meta records: a store written before it was recorded was folded by version 1, and proven. */
export const readLineage = (raw: Buffer | null): Lineage => {
  if (raw === null) return { logicVersion: LOGIC_VERSION, proven: true };
  const o = JSON.parse(raw.toString()) as { logicVersion?: unknown; proven?: unknown };
  return { logicVersion: typeof o.logicVersion === 'number' ? o.logicVersion : 1, proven: o.proven !== false };
};

export const decodeMeta = (b: Buffer): SnapshotMeta => {
  const o = JSON.parse(b.toString()) as { id: string; ts: string; logTimeMs: number; digest: string };
  return { id: BigInt(o.id), ts: BigInt(o.ts), logTimeMs: o.logTimeMs, digest: parseDigest(o.digest) };
};

/** The last committed snapshot's meta; undefined for an empty store. */
export const storedMeta = async (store: Pick<Store, 'get'>): Promise<SnapshotMeta | undefined> => {
  const raw = await store.get(META.snapshot);
  return raw === null ? undefined : decodeMeta(raw);
};

/** How the store's last snapshot relates to the log. */
export const storedLineage = async (store: Store): Promise<Lineage> => readLineage(await store.get(META.snapshot));

/** The logic version the last snapshot's meta records, if it records one (a store from before it was recorded does not). */
export const recordedLogicVersion = async (store: Store): Promise<number | undefined> => {
  const raw = await store.get(META.snapshot);
  const recorded = raw === null ? undefined : (JSON.parse(raw.toString()) as { logicVersion?: unknown }).logicVersion;
  return typeof recorded === 'number' ? recorded : undefined;
};

// ---- the state, its history and the input offsets (s/, h/, o/) ----

/** Reads each entity's current image as stored, in key order; `k` and `v` are the raw pair, for a digest. */
export const readImages = async (store: Pick<Store, 'scan'> | StoreSnapshot, each: (k: string, v: Buffer, entity: string, key: string) => void): Promise<void> => {
  for await (const [k, v] of store.scan(STATE)) {
    const { entity, key } = parseStateKey(k);
    each(k, v, entity, key);
  }
};

/** The raw pairs of the entities' current images, in key order (what `diffEntities` compares). */
export const storedImageEntries = (store: Store): AsyncIterable<readonly [string, Buffer]> => store.scan(STATE);

/** The entity and key a stored image's key names. */
export const imageKeyOf = (k: string): { entity: string; key: string } => parseStateKey(k);

/** Reads each versioned entity's stored versions, by entity and key, oldest first (keys sort by entity, key, then zero-padded ts). */
export const readVersions = async (store: Pick<Store, 'scan'> | StoreSnapshot, each: (k: string, v: Buffer, entity: string, key: string, ts: bigint) => void): Promise<void> => {
  for await (const [k, v] of store.scan(HISTORY)) {
    const { entity, key, ts } = parseHistoryKey(k);
    each(k, v, entity, key, ts);
  }
};

// ---- an entity read through the store (src/engine/state.ts): its images, versions and what compaction looks at (s/, h/, r/) ----

/** Every current image of one entity, in key order. */
export const readEntity = async (store: Pick<Store, 'scan'>, entity: string, each: (key: string, v: Buffer) => void): Promise<void> => {
  const prefix = statePrefix(entity);
  for await (const [k, v] of store.scan(prefix)) each(k.slice(prefix.length), v);
};

/** The first `limit` current images of one entity, in key order. */
export const readFirstImages = async (store: Pick<Store, 'scan'>, entity: string, limit: number): Promise<[string, Image][]> => {
  const prefix = statePrefix(entity);
  const out: [string, Image][] = [];
  for await (const [k, v] of store.scan(prefix, { limit })) out.push([k.slice(prefix.length), JSON.parse(v.toString()) as Image]);
  return out;
};

/** The stored images of `keys` of one entity, in one multi-get (null: absent). */
export const readImagesOf = (store: Pick<Store, 'getMany'>, entity: string, keys: readonly string[]): Promise<(Buffer | null)[]> =>
  store.getMany(keys.map((k) => stateKey(entity, k)));

/** The stored versions of one entity (or of one of its keys), by key, oldest first. */
export const readEntityVersions = async (
  store: Pick<Store, 'scan'>,
  entity: string,
  key: string | undefined,
  each: (k: string, v: Buffer, key: string, ts: bigint) => void,
): Promise<void> => {
  for await (const [k, v] of store.scan(historyPrefix(entity, key))) {
    const parsed = parseHistoryKey(k);
    // A key with a slash in it shares the prefix of a shorter one: only the key asked for counts.
    if (parsed.entity === entity && (key === undefined || parsed.key === key)) each(k, v, parsed.key, parsed.ts);
  }
};

/**
 * The `r/` entries at or below `frontier`, oldest first: the keys whose history compaction at
 * that frontier must look at. `next` is the ts of the first entry above it (null: none left).
 */
export const removableUpTo = async (store: Pick<Store, 'scan'>, frontier: bigint): Promise<{ entries: { k: string; entity: string; key: string }[]; next: bigint | null }> => {
  const entries: { k: string; entity: string; key: string }[] = [];
  for await (const [k] of store.scan(REMOVABLE)) {
    const { ts, entity, key } = parseRemovableKey(k);
    if (ts > frontier) return { entries, next: ts };
    entries.push({ k, entity, key });
  }
  return { entries, next: null };
};

/** The ts of the oldest `r/` entry (null: none). */
export const firstRemovable = async (store: Pick<Store, 'scan'>): Promise<bigint | null> => {
  for await (const [k] of store.scan(REMOVABLE, { limit: 1 })) return parseRemovableKey(k).ts;
  return null;
};

/** Written with every snapshot a state reading through the store folds: the index is whole up to that snapshot. */
export const historyIndexedEntry = (snapshotId: bigint): [string, Buffer] => [META.historyIndexed, Buffer.from(snapshotId.toString())];

/**
 * Writes the `r/` entries of `entities`' stored versions when the store's last snapshot was not
 * folded with them (a store written before they were kept, a build without them that folded
 * the folder since, a restored checkpoint); false when the index was whole. Entries already
 * there are written again, which changes nothing. The entries go in writes of a bounded size
 * and the flag that the index is whole goes last, so a stop midway leaves the flag unwritten
 * and the next start writes them all again.
 */
export const indexHistory = async (store: Store, entities: ReadonlySet<string>, snapshotId: bigint): Promise<boolean> => {
  if ((await store.get(META.historyIndexed))?.toString() === snapshotId.toString()) return false;
  let puts: [string, Buffer][] = [];
  for (const entity of entities)
    for await (const [k] of store.scan(historyPrefix(entity))) {
      const { key, ts } = parseHistoryKey(k);
      puts.push([removableKey(ts, entity, key), EMPTY_VALUE]);
      if (puts.length < INDEX_WRITE_ENTRIES) continue;
      await store.write({ puts });
      puts = [];
    }
  puts.push(historyIndexedEntry(snapshotId));
  await store.write({ puts });
  return true;
};

/** How many index entries one write of `indexHistory` carries: its memory, whatever the history's length. */
const INDEX_WRITE_ENTRIES = 10_000;

const EMPTY_VALUE = Buffer.alloc(0);

/** The next input offset to fold, per partition, as the last snapshot left it. */
export const storedOffsets = async (store: Store): Promise<{ topic: string; partition: number; next: bigint }[]> => {
  const out: { topic: string; partition: number; next: bigint }[] = [];
  for await (const [k, v] of store.scan(OFFSETS)) out.push({ ...parseOffsetKey(k), next: BigInt(v.toString()) });
  return out;
};

// ---- the outbox and the marker's position (x/, m/marker) ----

/** The outboxes committed and not yet published, in snapshot order. */
export const pendingOutboxes = async (store: Store): Promise<Outbox[]> => {
  const left: Outbox[] = [];
  for await (const [key, v] of store.scan(OUTBOX)) left.push({ key, records: decodeOutbox(v) });
  return left;
};

/** Whether any committed outbox waits for publication. */
export const hasPendingOutbox = async (store: Store): Promise<boolean> => {
  for await (const _ of store.scan(OUTBOX, { limit: 1 })) return true;
  return false;
};

/** What the store keeps of where a snapshot's marker stands on the log. */
export const markerPositionEntry = (m: { readonly snapshotId: bigint; readonly offset: bigint; readonly generation: number }): [string, Buffer] => [
  META.marker,
  Buffer.from(JSON.stringify({ id: m.snapshotId.toString(), offset: m.offset.toString(), generation: m.generation })),
];

/** The last marker this store knows published, if any. */
export const storedMarkerPosition = async (store: Store): Promise<MarkerPosition | undefined> => {
  const raw = await store.get(META.marker);
  return raw === null ? undefined : markerPositionOf(raw);
};

/** The write after a publication: the outboxes under `keys` are gone, and the last marker published stands at `marker`. */
export const publishedOps = (keys: readonly string[], marker: Parameters<typeof markerPositionEntry>[0] | undefined): WriteOps => ({
  puts: marker === undefined ? [] : [markerPositionEntry(marker)],
  deletes: [...keys],
});

// ---- the replay's stop (m/replay) and the whole store ----

/** The write that records where a replay stopped (its encoding is src/engine/replay-stop.ts's). */
export const replayStopOps = (encoded: Buffer): WriteOps => ({ puts: [[META.replayStop, encoded]] });

export const storedReplayStop = (store: Store): Promise<Buffer | null> => store.get(META.replayStop);

/** Why a check found the store damaged, if one did and no start has checked it since. */
export const storedSuspicion = async (store: Pick<Store, 'get'>): Promise<string | undefined> => (await store.get(META.suspect))?.toString();

/** Records that the store is damaged, so the next start checks it whole (and rebuilds it). */
export const suspectOps = (problem: string): WriteOps => ({ puts: [[META.suspect, Buffer.from(problem)]] });

/** The write after a whole check found the store sound. */
export const clearSuspicionOps: WriteOps = { puts: [], deletes: [META.suspect] };

/** The write that empties the store: a corrupt or diverged one is rebuilt from the log. */
export const WIPE: WriteOps = { puts: [], deleteRanges: [['', '\uffff']] };

// ---- a checkpoint's content (src/engine/checkpoint.ts) ----

/** The kinds a checkpoint holds besides the two meta keys: every one the passes read; not the outbox (a checkpoint is of published snapshots) nor a replay's stop. */
const CHECKPOINTED = [STATE, HISTORY, REMOVABLE, OFFSETS, DEDUPE, DEDUPE_BY_TIME, EXPLAIN] as const;

/** A store's entries as a checkpoint holds them, in the order it writes them: the snapshot's meta and its marker's position, then the kinds in key order. */
export async function* checkpointEntries(snap: StoreSnapshot): AsyncIterable<readonly [string, Buffer]> {
  for (const key of [META.snapshot, META.marker]) {
    const value = await snap.get(key);
    if (value !== null) yield [key, value];
  }
  for (const prefix of CHECKPOINTED) yield* snap.scan(prefix);
}

/** What an entry of a checkpoint is to a restore: the meta and the marker's position go in last; images and versions count in the state digest. */
export const checkpointEntryKind = (key: string): 'meta' | 'marker' | 'digested' | 'other' =>
  key === META.snapshot ? 'meta' : key === META.marker ? 'marker' : key.startsWith(STATE) || key.startsWith(HISTORY) ? 'digested' : 'other';

/** The marker position a checkpoint's entry holds. */
export const markerPositionOf = (raw: Buffer): MarkerPosition => {
  const o = JSON.parse(raw.toString()) as { id: string; offset: string; generation?: number };
  return { id: BigInt(o.id), offset: BigInt(o.offset), ...(o.generation === undefined ? {} : { generation: o.generation }) };
};

/** The write that ends a restore: the marker's position, and the snapshot's meta, without which the folder holds no snapshot. */
export const restoredOps = (marker: Parameters<typeof markerPositionEntry>[0], meta: Buffer): WriteOps => ({ puts: [markerPositionEntry(marker), [META.snapshot, meta]] });
