/**
 * Reading the working state from RocksDB: at start (only the entities held whole, when some
 * are read through the store), for an inspection or a replay's target (everything, with the
 * digest), and the whole store's digest for the background check.
 */
import { allEntities, onDemandEntities, PROJECTIONS, versionedEntities, type Image, type Projection } from '../../projections';
import { DigestSum } from '../store/digest';
import type { Store } from '../store/rocks';
import { indexHistory, readEntity, readEntityVersions, readImages, readVersions, storedMeta, storedOffsets, type SnapshotMeta } from './layout';
import { GENESIS, tpKey, WorkingState } from './state';

export interface Loaded {
  readonly state: WorkingState;
  readonly offsets: Map<string, bigint>;
  readonly meta: SnapshotMeta;
  /**
   * The digest of what was read, to hold against the one the last snapshot recorded: a corrupt
   * store shows here. Undefined when only part was read (`storeDigest` reads the rest).
   */
  readonly digest: bigint | undefined;
}

/** Which entities a state reads through the store (the rest it holds whole), and how many of their images it keeps. */
export interface ReadThrough {
  /** Every entity the projections own. */
  readonly entities: readonly string[];
  readonly versioned: ReadonlySet<string>;
  readonly onDemand: ReadonlySet<string>;
  readonly cacheEntries: number;
}

/** What `projections` read through the store, with a cache of `cacheEntries` images. */
export const readThroughOf = (projections: readonly Projection[] = PROJECTIONS, cacheEntries: number): ReadThrough => ({
  entities: allEntities(projections),
  versioned: versionedEntities(projections),
  onDemand: onDemandEntities(projections),
  cacheEntries,
});


/**
 * The state as the store holds it. Without `through`, everything, with the digest of what was
 * read (a replay's target, an inspection). With it, only the entities held whole and their
 * versions, so the time it takes grows with those alone; a store written before `r/` existed
 * gets its entries first (once).
 */
export const loadState = async (store: Store, through?: ReadThrough): Promise<Loaded> => {
  const offsets = new Map<string, bigint>();
  for (const { topic, partition, next } of await storedOffsets(store)) offsets.set(tpKey(topic, partition), next);
  const meta = (await storedMeta(store)) ?? GENESIS;
  if (through === undefined || through.onDemand.size === 0) {
    const state = new WorkingState();
    const digest = new DigestSum();
    await readImages(store, (k, v, entity, key) => {
      state.apply({ entity, key, image: JSON.parse(v.toString()) as Image });
      digest.add(k, v);
    });
    // Versions arrive oldest first.
    await readVersions(store, (k, v, entity, key, ts) => {
      state.addVersion(entity, key, ts, JSON.parse(v.toString()) as Image | null);
      digest.add(k, v);
    });
    return { state, offsets, meta, digest: digest.value };
  }
  await indexHistory(store, new Set([...through.onDemand].filter((e) => through.versioned.has(e))), meta.id);
  const state = new WorkingState({ store, onDemand: through.onDemand, cacheEntries: through.cacheEntries });
  for (const entity of through.entities) {
    if (through.onDemand.has(entity)) continue;
    await readEntity(store, entity, (key, v) => state.apply({ entity, key, image: JSON.parse(v.toString()) as Image }));
    if (through.versioned.has(entity)) await readEntityVersions(store, entity, undefined, (_k, v, key, ts) => state.addVersion(entity, key, ts, JSON.parse(v.toString()) as Image | null));
  }
  return { state, offsets, meta, digest: undefined };
};

/**
 * The digest of every image and version the store holds, read at one instant, with the meta of
 * that instant; undefined when `stopped` says so before the end.
 */
export const storeDigest = async (store: Store, stopped: () => boolean = () => false): Promise<{ digest: bigint; meta: SnapshotMeta } | undefined> => {
  const snap = await store.snapshot();
  try {
    const digest = new DigestSum();
    let n = 0;
    const add = (k: string, v: Buffer): void => {
      if ((++n & 1023) === 0 && stopped()) throw STOPPED;
      digest.add(k, v);
    };
    await readImages(snap, add);
    await readVersions(snap, add);
    return { digest: digest.value, meta: (await storedMeta(snap)) ?? GENESIS };
  } catch (err) {
    if (err === STOPPED) return undefined;
    throw err;
  } finally {
    await snap.close();
  }
};

const STOPPED = new Error('stopped');
